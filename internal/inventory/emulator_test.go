package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"

	"infrakit.aliyun/emulator"
)

// startEmulator starts an ECS emulator with cat (nil: the default
// catalogue) and returns it with a ClientFunc for the default region.
func startEmulator(t *testing.T, cat *emulator.Catalog) (*emulator.Server, ClientFunc) {
	t.Helper()
	srv, err := emulator.New(emulator.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, clientFor(srv.URL(), emulator.DefaultAccessKeySecret)
}

func clientFor(endpoint, secret string) ClientFunc {
	return func() (*ecs.Client, string, error) {
		c := ecs.NewECSClientWithEndpointAndSecurityToken(endpoint, emulator.DefaultAccessKeyID, secret, "",
			common.Region(emulator.DefaultRegion))
		return c, emulator.DefaultRegion, nil
	}
}

// runJSON runs a command with --json and decodes its output into rows.
func runJSON[T any](t *testing.T, newClient ClientFunc, args ...string) []T {
	t.Helper()
	out, err := run(t, newClient, append(args, "--json")...)
	requireNoError(t, err)
	var rows []T
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return rows
}

func TestRegions(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "regions")
	requireNoError(t, err)
	assertEqual(t, `REGION          NAME
ap-southeast-1  新加坡
cn-beijing      华北2（北京）
cn-hangzhou     华东1（杭州）
cn-hongkong     中国香港
cn-shanghai     华东2（上海）
cn-shenzhen     华南1（深圳）
eu-central-1    德国（法兰克福）
us-west-1       美国（硅谷）
`, out)

	rows := runJSON[regionRow](t, newClient, "regions")
	assertEqual(t, 8, len(rows))
	assertEqual(t, regionRow{RegionId: "cn-hangzhou", LocalName: "华东1（杭州）"}, rows[2])
}

func TestZones(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "zones")
	requireNoError(t, err)
	assertEqual(t, `ZONE           NAME           INSTANCE TYPES
cn-hangzhou-h  华东1（杭州） 可用区 h  11
cn-hangzhou-i  华东1（杭州） 可用区 i  11
cn-hangzhou-j  华东1（杭州） 可用区 j  11
cn-hangzhou-k  华东1（杭州） 可用区 k  10
`, out)

	rows := runJSON[zoneRow](t, newClient, "zones")
	assertEqual(t, []zoneRow{
		{"cn-hangzhou-h", "华东1（杭州） 可用区 h", 11},
		{"cn-hangzhou-i", "华东1（杭州） 可用区 i", 11},
		{"cn-hangzhou-j", "华东1（杭州） 可用区 j", 11},
		{"cn-hangzhou-k", "华东1（杭州） 可用区 k", 10},
	}, rows)
}

func TestInstanceTypes(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "instance-types", "--family", "ecs.g6")
	requireNoError(t, err)
	assertEqual(t, `TYPE            VCPU  MEMORY(GiB)  FAMILY
ecs.g6.large    2     8            ecs.g6
ecs.g6.xlarge   4     16           ecs.g6
ecs.g6.2xlarge  8     32           ecs.g6
`, out)

	rows := runJSON[instanceTypeRow](t, newClient, "instance-types")
	assertEqual(t, len(emulator.DefaultCatalog().InstanceTypes), len(rows))
	assertEqual(t, instanceTypeRow{InstanceTypeId: "ecs.c6.large", CpuCoreCount: 2, MemorySize: 4, InstanceTypeFamily: "ecs.c6"}, rows[0])
	for _, r := range rows {
		if r.Stock != nil {
			t.Errorf("%s: Stock without --available", r.InstanceTypeId)
		}
	}
}

func TestInstanceTypesAvailable(t *testing.T) {
	srv, newClient := startEmulator(t, nil)
	srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-i"}}})

	out, err := run(t, newClient, "instance-types", "--available", "--family", "ecs.g5")
	requireNoError(t, err)
	assertEqual(t, `TYPE          VCPU  MEMORY(GiB)  FAMILY  cn-hangzhou-h  cn-hangzhou-i  cn-hangzhou-j  cn-hangzhou-k
ecs.g5.large  2     8            ecs.g5  WithStock      WithStock      WithStock      -
`, out)

	rows := runJSON[instanceTypeRow](t, newClient, "instance-types", "--available", "--family", "ecs.g6")
	assertEqual(t, 3, len(rows))
	assertEqual(t, "ecs.g6.large", rows[0].InstanceTypeId)
	assertEqual(t, map[string]string{
		"cn-hangzhou-h": "WithStock",
		"cn-hangzhou-i": "WithoutStock",
		"cn-hangzhou-j": "WithStock",
		"cn-hangzhou-k": "WithStock",
	}, rows[0].Stock)
}

func TestImages(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "images", "--name", "UBUNTU")
	requireNoError(t, err)
	assertEqual(t, `IMAGE                                      NAME                                       OS                 SIZE(GiB)  STATUS
ubuntu_20_04_x64_20G_alibase_20240101.vhd  ubuntu_20_04_x64_20G_alibase_20240101.vhd  Ubuntu  20.04 64位  20         Available
ubuntu_22_04_x64_20G_alibase_20240101.vhd  ubuntu_22_04_x64_20G_alibase_20240101.vhd  Ubuntu  22.04 64位  20         Available
`, out)

	rows := runJSON[imageRow](t, newClient, "images", "--owner", "system")
	assertEqual(t, len(emulator.DefaultCatalog().Images), len(rows))
	assertEqual(t, imageRow{
		ImageId: "win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd", ImageName: "win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd",
		OSName: "Windows Server  2022 数据中心版 64位英文版", OSType: "windows", Architecture: "x86_64", Size: 40,
		Status: "Available", ImageOwnerAlias: "system",
	}, rows[len(rows)-1])

	out, err = run(t, newClient, "images", "--owner", "self", "--json")
	requireNoError(t, err)
	assertEqual(t, "[]\n", out)

	_, err = run(t, newClient, "images", "--owner", "mine")
	requireError(t, err)
	assertContains(t, err.Error(), `invalid --owner "mine": want one of system, self, others, marketplace`)
}

func TestSecurityGroups(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "security-groups")
	requireNoError(t, err)
	assertEqual(t, `SECURITY GROUP            NAME              VPC
sg-bp1emulator0000000001  emulator-default  vpc-bp1emulator0000000001
`, out)
	assertEqual(t, []securityGroupRow{{emulator.DefaultSecurityGroupID, "emulator-default", emulator.DefaultVpcID}},
		runJSON[securityGroupRow](t, newClient, "security-groups"))
}

func TestVSwitches(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	rows := runJSON[vswitchRow](t, newClient, "vswitches")
	if len(rows) != 4 {
		t.Fatalf("want the 4 vswitches of the default VPC, got %+v", rows)
	}
	free := rows[0].AvailableIpAddressCount
	if free < 4000 || free > 4096 {
		t.Errorf("a fresh /20 has %d free IPs", free)
	}
	assertEqual(t, vswitchRow{emulator.DefaultVSwitchK, "emulator-k", "cn-hangzhou-k", "172.16.48.0/20", free, emulator.DefaultVpcID}, rows[3])

	out, err := run(t, newClient, "vswitches")
	requireNoError(t, err)
	assertEqual(t, fmt.Sprintf(`VSWITCH                    ZONE           CIDR            FREE IPS  VPC
vsw-bp1emulator000000000h  cn-hangzhou-h  172.16.0.0/20   %[1]d      vpc-bp1emulator0000000001
vsw-bp1emulator000000000i  cn-hangzhou-i  172.16.16.0/20  %[1]d      vpc-bp1emulator0000000001
vsw-bp1emulator000000000j  cn-hangzhou-j  172.16.32.0/20  %[1]d      vpc-bp1emulator0000000001
vsw-bp1emulator000000000k  cn-hangzhou-k  172.16.48.0/20  %[1]d      vpc-bp1emulator0000000001
`, free), out)
}

func TestKeyPairs(t *testing.T) {
	_, newClient := startEmulator(t, nil)
	out, err := run(t, newClient, "key-pairs")
	requireNoError(t, err)
	assertEqual(t, `KEY PAIR      FINGERPRINT
emulator-key  5f:3c:1e:7a:aa:01:22:33:44:55:66:77:88:99:aa:bb
infrakit      9a:8b:7c:6d:5e:4f:30:21:12:03:f4:e5:d6:c7:b8:a9
`, out)
}

// Lists longer than a page (50) are fetched page by page, and only as many
// pages as needed.
func TestPaging(t *testing.T) {
	cat := emulator.DefaultCatalog()
	cat.KeyPairs = nil
	cat.SecurityGroups = nil
	for i := range 120 {
		cat.KeyPairs = append(cat.KeyPairs, emulator.KeyPair{
			KeyPairName: fmt.Sprintf("key-%03d", i), RegionId: "cn-hangzhou", KeyPairFingerPrint: fmt.Sprintf("fp:%03d", i)})
	}
	for i := range 100 {
		cat.SecurityGroups = append(cat.SecurityGroups, emulator.SecurityGroup{
			SecurityGroupId: fmt.Sprintf("sg-%03d", i), RegionId: "cn-hangzhou", VpcId: emulator.DefaultVpcID,
			SecurityGroupName: fmt.Sprintf("group %d", i)})
	}
	srv, newClient := startEmulator(t, cat)

	keys := runJSON[keyPairRow](t, newClient, "key-pairs")
	if len(keys) != 120 {
		t.Fatalf("got %d key pairs, want 120", len(keys))
	}
	for i, k := range keys {
		assertEqual(t, keyPairRow{fmt.Sprintf("key-%03d", i), fmt.Sprintf("fp:%03d", i)}, k)
	}
	groups := runJSON[securityGroupRow](t, newClient, "security-groups")
	if len(groups) != 100 || groups[99].SecurityGroupId != "sg-099" {
		t.Fatalf("got %d security groups, want sg-000..sg-099", len(groups))
	}
	calls := srv.Stats().Calls
	assertEqual(t, 3, calls["DescribeKeyPairs"], "pages of key pairs (50+50+20)")
	assertEqual(t, 2, calls["DescribeSecurityGroups"], "pages of security groups (50+50)")
}

func TestListErrors(t *testing.T) {
	srv, _ := startEmulator(t, nil)
	_, err := run(t, clientFor(srv.URL(), "wrong-secret"), "key-pairs")
	requireError(t, err)
	assertContains(t, err.Error(), "describe key pairs in cn-hangzhou: ")
	assertContains(t, err.Error(), "SignatureDoesNotMatch")

	noCreds := errors.New("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID")
	_, err = run(t, func() (*ecs.Client, string, error) { return nil, "", noCreds }, "regions")
	if !errors.Is(err, noCreds) {
		t.Errorf("got %v, want the client error", err)
	}
}

// onlineSpec is a group spec for the default catalogue with RunInstances
// fields overridden.
func onlineSpec(t *testing.T, run map[string]any) string {
	t.Helper()
	ri := map[string]any{
		"ImageId":         emulator.DefaultImageID,
		"InstanceType":    emulator.DefaultInstanceType,
		"VSwitchId":       emulator.DefaultVSwitchH,
		"SecurityGroupId": emulator.DefaultSecurityGroupID,
		"KeyPairName":     emulator.DefaultKeyPairName,
	}
	for k, v := range run {
		if v == nil {
			delete(ri, k)
		} else {
			ri[k] = v
		}
	}
	spec := map[string]any{"ID": "workers", "Properties": map[string]any{
		"Allocation": map[string]any{"Size": 2},
		"Instance":   map[string]any{"Plugin": "instance-aliyun", "Properties": map[string]any{"RunInstances": ri}},
		"Flavor":     map[string]any{"Plugin": "flavor-vanilla"},
	}}
	b, err := json.Marshal(spec)
	requireNoError(t, err)
	return writeFile(t, "workers.json", string(b))
}

func TestValidateOnline(t *testing.T) {
	srv, newClient := startEmulator(t, nil)
	vswitches := runJSON[vswitchRow](t, newClient, "vswitches")
	freeH := vswitches[0].AvailableIpAddressCount

	path := onlineSpec(t, nil)
	out, err := run(t, newClient, "validate", "--online", path)
	requireNoError(t, err)
	assertEqual(t, fmt.Sprintf(`ok   group spec %s (group workers, instance plugin instance-aliyun)
ok   image ubuntu_22_04_x64_20G_alibase_20240101.vhd (ubuntu_22_04_x64_20G_alibase_20240101.vhd, Ubuntu  22.04 64位)
ok   vswitch vsw-bp1emulator000000000h (zone cn-hangzhou-h, vpc vpc-bp1emulator0000000001, 172.16.0.0/20, %d free IPs)
ok   security group sg-bp1emulator0000000001 (emulator-default, vpc vpc-bp1emulator0000000001)
ok   key pair emulator-key (5f:3c:1e:7a:aa:01:22:33:44:55:66:77:88:99:aa:bb)
ok   instance type ecs.g6.large (WithStock in zone cn-hangzhou-h)
`, path, freeH), out)

	// Offline validation makes no call; --online makes one per check.
	before := srv.Stats().Calls
	_, err = run(t, newClient, "validate", path)
	requireNoError(t, err)
	assertEqual(t, before, srv.Stats().Calls)
}

func TestValidateOnlineFailures(t *testing.T) {
	cat := emulator.DefaultCatalog()
	cat.VPCs = append(cat.VPCs, emulator.VPC{VpcId: "vpc-other", RegionId: "cn-hangzhou", VpcName: "other", CidrBlock: "10.0.0.0/8"})
	cat.SecurityGroups = append(cat.SecurityGroups, emulator.SecurityGroup{
		SecurityGroupId: "sg-other", RegionId: "cn-hangzhou", VpcId: "vpc-other", SecurityGroupName: "other"})
	srv, newClient := startEmulator(t, cat)

	for _, tc := range []struct {
		name    string
		noStock []emulator.StockKey
		run     map[string]any
		want    []string // lines after the offline "ok" line
	}{
		{
			name: "nothing exists",
			run: map[string]any{"ImageId": "m-missing", "VSwitchId": "vsw-missing", "SecurityGroupId": "sg-missing",
				"KeyPairName": "nobody"},
			want: []string{
				"FAIL image m-missing: not found in cn-hangzhou",
				"FAIL vswitch vsw-missing: not found in cn-hangzhou",
				"FAIL security group sg-missing: not found in cn-hangzhou",
				"FAIL key pair nobody: not found in cn-hangzhou",
				"FAIL instance type ecs.g6.large: stock not checked: the vswitch's zone is unknown",
			},
		},
		{
			name:    "no stock in the vswitch's zone",
			noStock: []emulator.StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}},
			want:    []string{"FAIL instance type ecs.g6.large: no stock in zone cn-hangzhou-h (WithoutStock)"},
		},
		{
			name: "type not sold in the vswitch's zone",
			run:  map[string]any{"InstanceType": "ecs.g5.large", "VSwitchId": emulator.DefaultVSwitchK},
			want: []string{"FAIL instance type ecs.g5.large: not offered in zone cn-hangzhou-k"},
		},
		{
			name: "unknown type",
			run:  map[string]any{"InstanceType": "ecs.nope.large"},
			want: []string{"FAIL instance type ecs.nope.large: no such instance type in cn-hangzhou"},
		},
		{
			name: "security group in another VPC",
			run:  map[string]any{"SecurityGroupId": nil, "SecurityGroupIds": []string{emulator.DefaultSecurityGroupID, "sg-other"}},
			want: []string{"FAIL security group sg-other: in vpc-other, but vswitch vsw-bp1emulator000000000h is in vpc-bp1emulator0000000001"},
		},
		{
			name: "zone and vswitch disagree",
			run:  map[string]any{"ZoneId": "cn-hangzhou-i"},
			want: []string{"FAIL vswitch vsw-bp1emulator000000000h: in zone cn-hangzhou-h, but RunInstances.ZoneId is cn-hangzhou-i"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetFaults(emulator.Faults{NoStock: tc.noStock})
			path := onlineSpec(t, tc.run)
			out, err := run(t, newClient, "validate", "--online", path)
			requireError(t, err)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			assertEqual(t, "ok   group spec "+path+" (group workers, instance plugin instance-aliyun)", lines[0])
			var failed []string
			for _, l := range lines[1:] {
				if strings.HasPrefix(l, "FAIL ") {
					failed = append(failed, l)
				} else if !strings.HasPrefix(l, "ok   ") {
					t.Errorf("line %q is neither ok nor FAIL", l)
				}
			}
			assertEqual(t, tc.want, failed)
			assertEqual(t, fmt.Sprintf("validate %s: %d of %d online checks failed", path, len(tc.want), len(lines)-1), err.Error())
		})
	}
}

// Without a vswitch the stock is checked across the region's zones.
func TestValidateOnlineWithoutVSwitch(t *testing.T) {
	srv, newClient := startEmulator(t, nil)
	srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{InstanceType: "ecs.g5.large", ZoneId: "cn-hangzhou-h"}}})
	path := onlineSpec(t, map[string]any{"VSwitchId": nil, "SecurityGroupId": nil, "KeyPairName": nil, "InstanceType": "ecs.g5.large"})
	out, err := run(t, newClient, "validate", "--online", path)
	requireNoError(t, err)
	assertContains(t, out, "\nok   instance type ecs.g5.large (in stock in cn-hangzhou-i, cn-hangzhou-j)\n")
}

// TestInstanceTypesPaging: DescribeInstanceTypes answers at most 100 types a
// call; instance-types follows NextToken to the last page.
func TestInstanceTypesPaging(t *testing.T) {
	cat := emulator.DefaultCatalog()
	base := cat.InstanceTypes[0]
	cat.InstanceTypes = nil
	for i := range 250 {
		it := base
		it.InstanceTypeId = fmt.Sprintf("ecs.t9.x%03d", i)
		it.InstanceTypeFamily = "ecs.t9"
		it.CpuCoreCount = i + 1
		cat.InstanceTypes = append(cat.InstanceTypes, it)
	}
	srv, newClient := startEmulator(t, cat)
	rows := runJSON[instanceTypeRow](t, newClient, "instance-types")
	if len(rows) != 250 {
		t.Fatalf("got %d instance types, want 250", len(rows))
	}
	for i, r := range rows {
		assertEqual(t, fmt.Sprintf("ecs.t9.x%03d", i), r.InstanceTypeId)
	}
	assertEqual(t, 3, srv.Stats().Calls["DescribeInstanceTypes"], "pages of instance types (100+100+50)")
}
