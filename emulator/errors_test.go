package emulator

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixture is a server with a few resources for the error table.
type fixture struct {
	srv       *Server
	fc        *fakeClock
	running   string // Running instance in cn-hangzhou-h, IP 172.16.0.100
	stopped   string // Stopped instance (CreateInstance) in cn-hangzhou-h
	protected string // Running, DeletionProtection
	sysDisk   string // system disk of running
	diskH     string // Available data disk in cn-hangzhou-h
	diskI     string // Available data disk in cn-hangzhou-i
	image     string // custom image, used by nobody
}

func newFixture(t *testing.T) *fixture {
	srv, fc := newTestServer(t, Options{STSKeys: map[string]STSCredential{
		"STS.ok":      {AccessKeySecret: "s1", SecurityToken: "tok"},
		"STS.expired": {AccessKeySecret: "s2", SecurityToken: "tok2", Expiration: time.Now().Add(-time.Hour)},
	}})
	f := &fixture{srv: srv, fc: fc}
	f.running = runIDs(t, api(t, srv, fc, runParams(map[string]string{"PrivateIpAddress": "172.16.0.100"})))[0]
	f.protected = runIDs(t, api(t, srv, fc, runParams(map[string]string{"DeletionProtection": "true"})))[0]
	cr := mustOK(t, api(t, srv, fc, runParams(map[string]string{"Action": "CreateInstance"})))
	f.stopped = cr.Body["InstanceId"].(string)
	srv.Advance(time.Minute)
	v, _ := srv.Instance(f.running)
	f.sysDisk = v.SystemDiskId
	f.diskH = mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateDisk", "RegionId": DefaultRegion, "ZoneId": "cn-hangzhou-h", "Size": "20"})).Body["DiskId"].(string)
	f.diskI = mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateDisk", "RegionId": DefaultRegion, "ZoneId": "cn-hangzhou-i", "Size": "20"})).Body["DiskId"].(string)
	f.image = mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateImage", "RegionId": DefaultRegion, "InstanceId": f.running, "ImageName": "golden"})).Body["ImageId"].(string)
	return f
}

func (f *fixture) req(p map[string]string) raw { return raw{params: p, baseURL: f.srv.URL()} }

type errCase struct {
	name   string
	build  func(f *fixture) raw
	status int
	code   string
}

func p(f *fixture, kv ...string) raw {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return f.req(m)
}

func run(f *fixture, kv ...string) raw {
	extra := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		extra[kv[i]] = kv[i+1]
	}
	return f.req(runParams(extra))
}

var errCases = []errCase{
	// Protocol and authentication.
	{"missing action", func(f *fixture) raw { return p(f, "RegionId", DefaultRegion) }, 400, "MissingParameter"},
	{"unknown action", func(f *fixture) raw { return p(f, "Action", "LaunchRockets") }, 404, "InvalidAction.NotFound"},
	{"bad version", func(f *fixture) raw { return p(f, "Action", "DescribeRegions", "Version", "2016-01-01") }, 400, "InvalidVersion"},
	{"missing signature", func(f *fixture) raw { r := p(f, "Action", "DescribeRegions"); r.noSign = true; return r }, 400, "MissingParameter"},
	{"wrong secret", func(f *fixture) raw { r := p(f, "Action", "DescribeRegions"); r.secret = "nope"; return r }, 400, "SignatureDoesNotMatch"},
	{"tampered after signing", func(f *fixture) raw {
		r := p(f, "Action", "DescribeRegions")
		r.mutate = func(m map[string]string) { m["RegionId"] = "cn-beijing" }
		return r
	}, 400, "SignatureDoesNotMatch"},
	{"signed as GET sent as POST", func(f *fixture) raw {
		r := p(f, "Action", "DescribeRegions")
		r.mutate = func(m map[string]string) { m["Signature"] = Sign("GET", m, DefaultAccessKeySecret) }
		r.method = http.MethodPost
		return r
	}, 400, "SignatureDoesNotMatch"},
	{"unknown key", func(f *fixture) raw { return p(f, "Action", "DescribeRegions", "AccessKeyId", "LTAIunknown") }, 404, "InvalidAccessKeyId.NotFound"},
	{"old timestamp", func(f *fixture) raw {
		return p(f, "Action", "DescribeRegions", "Timestamp", f.fc.Now().Add(-16*time.Minute).Format("2006-01-02T15:04:05Z"))
	}, 400, "InvalidTimeStamp.Expired"},
	{"future timestamp", func(f *fixture) raw {
		return p(f, "Action", "DescribeRegions", "Timestamp", f.fc.Now().Add(16*time.Minute).Format("2006-01-02T15:04:05Z"))
	}, 400, "InvalidTimeStamp.Expired"},
	{"malformed timestamp", func(f *fixture) raw { return p(f, "Action", "DescribeRegions", "Timestamp", "yesterday") }, 400, "InvalidTimeStamp.Format"},
	{"sts key without token", func(f *fixture) raw {
		r := p(f, "Action", "DescribeRegions", "AccessKeyId", "STS.ok")
		r.secret = "s1"
		return r
	}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
	{"sts key wrong token", func(f *fixture) raw {
		r := p(f, "Action", "DescribeRegions", "AccessKeyId", "STS.ok", "SecurityToken", "other")
		r.secret = "s1"
		return r
	}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
	{"token with permanent key", func(f *fixture) raw { return p(f, "Action", "DescribeRegions", "SecurityToken", "tok") }, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
	{"sts expired", func(f *fixture) raw {
		r := p(f, "Action", "DescribeRegions", "AccessKeyId", "STS.expired", "SecurityToken", "tok2")
		r.secret = "s2"
		return r
	}, 400, "InvalidSecurityToken.Expired"},
	{"unknown region", func(f *fixture) raw { return p(f, "Action", "DescribeZones", "RegionId", "mars-north-1") }, 404, "InvalidRegionId.NotFound"},
	{"method not allowed", func(f *fixture) raw { r := p(f, "Action", "DescribeRegions"); r.method = http.MethodPut; return r }, 405, "UnsupportedHTTPMethod"},

	// RunInstances / CreateInstance validation.
	{"run missing image", func(f *fixture) raw { return run(f, "ImageId", "\x00") }, 400, "MissingParameter"},
	{"run missing type", func(f *fixture) raw { return run(f, "InstanceType", "\x00") }, 400, "MissingParameter"},
	{"run missing region", func(f *fixture) raw { return run(f, "RegionId", "\x00") }, 400, "MissingParameter"},
	{"run missing security group", func(f *fixture) raw { return run(f, "SecurityGroupId", "\x00") }, 400, "MissingParameter"},
	{"run unknown image", func(f *fixture) raw { return run(f, "ImageId", "m-nope") }, 404, "InvalidImageId.NotFound"},
	{"run unknown type", func(f *fixture) raw { return run(f, "InstanceType", "ecs.x99.huge") }, 400, "InvalidInstanceType.ValueNotSupported"},
	{"run type not in zone", func(f *fixture) raw { return run(f, "InstanceType", "ecs.g5.large", "VSwitchId", DefaultVSwitchK) }, 403, "InvalidInstanceType.ZoneNotSupported"},
	{"run unknown vswitch", func(f *fixture) raw { return run(f, "VSwitchId", "vsw-nope") }, 404, "InvalidVSwitchId.NotFound"},
	{"run unknown zone", func(f *fixture) raw { return run(f, "VSwitchId", "\x00", "ZoneId", "cn-hangzhou-z") }, 404, "InvalidZoneId.NotFound"},
	{"run zone mismatch", func(f *fixture) raw { return run(f, "ZoneId", "cn-hangzhou-i") }, 400, "InvalidParameter"},
	{"run unknown sg", func(f *fixture) raw { return run(f, "SecurityGroupId", "sg-nope") }, 404, "InvalidSecurityGroupId.NotFound"},
	{"run unknown sg in list", func(f *fixture) raw { return run(f, "SecurityGroupId", "\x00", "SecurityGroupIds.1", "sg-nope") }, 404, "InvalidSecurityGroupId.NotFound"},
	{"run amount 0", func(f *fixture) raw { return run(f, "Amount", "0") }, 400, "InvalidParameter"},
	{"run amount 101", func(f *fixture) raw { return run(f, "Amount", "101") }, 400, "InvalidParameter"},
	{"run min > amount", func(f *fixture) raw { return run(f, "Amount", "2", "MinAmount", "3") }, 400, "InvalidParameter"},
	{"run bad userdata", func(f *fixture) raw { return run(f, "UserData", "!!!not base64") }, 400, "InvalidUserData.Base64FormatInvalid"},
	{"run userdata too big", func(f *fixture) raw {
		return run(f, "UserData", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32*1024+1))))
	}, 400, "InvalidUserData.SizeExceeded"},
	{"run userdata too big by POST", func(f *fixture) raw {
		r := run(f, "UserData", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32*1024+1))))
		r.method = http.MethodPost
		return r
	}, 400, "InvalidUserData.SizeExceeded"},
	{"run bad spot", func(f *fixture) raw { return run(f, "SpotStrategy", "Cheap") }, 400, "InvalidParameter"},
	{"run spot limit missing", func(f *fixture) raw { return run(f, "SpotStrategy", "SpotWithPriceLimit") }, 400, "MissingParameter"},
	{"run ip malformed", func(f *fixture) raw { return run(f, "PrivateIpAddress", "172.16.0.300") }, 400, "InvalidPrivateIpAddress.Malformed"},
	{"run ip outside vswitch", func(f *fixture) raw { return run(f, "PrivateIpAddress", "10.0.0.5") }, 400, "InvalidPrivateIpAddress.NotInVSwitch"},
	{"run ip reserved", func(f *fixture) raw { return run(f, "PrivateIpAddress", "172.16.15.255") }, 400, "InvalidPrivateIpAddress.NotInVSwitch"},
	{"run ip duplicated", func(f *fixture) raw { return run(f, "PrivateIpAddress", "172.16.0.100") }, 400, "InvalidPrivateIpAddress.Duplicated"},
	{"run ip with amount 2", func(f *fixture) raw { return run(f, "PrivateIpAddress", "172.16.0.101", "Amount", "2") }, 400, "InvalidParameter"},
	{"run unknown key pair", func(f *fixture) raw { return run(f, "KeyPairName", "nobody") }, 404, "InvalidKeyPairName.NotFound"},
	{"run unknown snapshot", func(f *fixture) raw { return run(f, "DataDisk.1.SnapshotId", "s-nope") }, 404, "InvalidSnapshotId.NotFound"},
	{"run data disk no size", func(f *fixture) raw { return run(f, "DataDisk.1.Category", "cloud_essd") }, 400, "MissingParameter"},
	{"run data disk too small", func(f *fixture) raw { return run(f, "DataDisk.1.Size", "5") }, 400, "InvalidParameter"},
	{"run system disk smaller than image", func(f *fixture) raw {
		return run(f, "ImageId", "win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd", "SystemDisk.Size", "30")
	}, 400, "InvalidParameter"},
	{"run bad disk category", func(f *fixture) raw { return run(f, "SystemDisk.Category", "floppy") }, 400, "InvalidParameter"},
	{"run tag key aliyun", func(f *fixture) raw { return run(f, "Tag.1.Key", "aliyun-x", "Tag.1.Value", "v") }, 400, "InvalidTagKey.Malformed"},
	{"run tag key url", func(f *fixture) raw { return run(f, "Tag.1.Key", "see http://x", "Tag.1.Value", "v") }, 400, "InvalidTagKey.Malformed"},
	{"run tag key too long", func(f *fixture) raw { return run(f, "Tag.1.Key", strings.Repeat("k", 129)) }, 400, "InvalidTagKey.Malformed"},
	{"run tag value only", func(f *fixture) raw { return run(f, "Tag.1.Value", "orphan") }, 400, "InvalidTagKey.Malformed"},
	{"run tag value acs", func(f *fixture) raw { return run(f, "Tag.1.Key", "k", "Tag.1.Value", "acs:x") }, 400, "InvalidTagValue.Malformed"},
	{"run 21 tags", func(f *fixture) raw {
		r := run(f)
		for i := 1; i <= 21; i++ {
			r.params["Tag."+itoa(i)+".Key"] = "k" + itoa(i)
		}
		return r
	}, 400, "InvalidTagCount"},
	{"run long client token", func(f *fixture) raw { return run(f, "ClientToken", strings.Repeat("t", 65)) }, 400, "InvalidParameter"},
	{"run dry run", func(f *fixture) raw { return run(f, "DryRun", "true") }, 400, "DryRunOperation"},
	{"create missing image", func(f *fixture) raw { return run(f, "Action", "CreateInstance", "ImageId", "\x00") }, 400, "MissingParameter"},

	// Lifecycle.
	{"start running", func(f *fixture) raw { return p(f, "Action", "StartInstance", "InstanceId", f.running) }, 403, "IncorrectInstanceStatus"},
	{"stop stopped", func(f *fixture) raw { return p(f, "Action", "StopInstance", "InstanceId", f.stopped) }, 403, "IncorrectInstanceStatus"},
	{"reboot stopped", func(f *fixture) raw { return p(f, "Action", "RebootInstance", "InstanceId", f.stopped) }, 403, "IncorrectInstanceStatus"},
	{"stop unknown", func(f *fixture) raw { return p(f, "Action", "StopInstance", "InstanceId", "i-nope") }, 404, "InvalidInstanceId.NotFound"},
	{"stop missing id", func(f *fixture) raw { return p(f, "Action", "StopInstance") }, 400, "MissingParameter"},
	{"stop other region", func(f *fixture) raw {
		return p(f, "Action", "StopInstance", "InstanceId", f.running, "RegionId", "cn-beijing")
	}, 404, "InvalidInstanceId.NotFound"},
	{"start dry run", func(f *fixture) raw {
		return p(f, "Action", "StartInstance", "InstanceId", f.stopped, "DryRun", "true")
	}, 400, "DryRunOperation"},
	{"delete running no force", func(f *fixture) raw { return p(f, "Action", "DeleteInstance", "InstanceId", f.running) }, 403, "IncorrectInstanceStatus"},
	{"delete protected", func(f *fixture) raw {
		return p(f, "Action", "DeleteInstance", "InstanceId", f.protected, "Force", "true")
	}, 403, "InvalidOperation.DeletionProtection"},
	{"delete unknown", func(f *fixture) raw { return p(f, "Action", "DeleteInstance", "InstanceId", "i-nope", "Force", "true") }, 404, "InvalidInstanceId.NotFound"},
	{"delete bad force", func(f *fixture) raw {
		return p(f, "Action", "DeleteInstance", "InstanceId", f.running, "Force", "maybe")
	}, 400, "InvalidParameter"},
	{"deletes one running", func(f *fixture) raw {
		return p(f, "Action", "DeleteInstances", "RegionId", DefaultRegion, "InstanceId.1", f.stopped, "InstanceId.2", f.running)
	}, 403, "IncorrectInstanceStatus"},
	{"deletes one unknown", func(f *fixture) raw {
		return p(f, "Action", "DeleteInstances", "RegionId", DefaultRegion, "InstanceId.1", f.stopped, "InstanceId.2", "i-nope", "Force", "true")
	}, 404, "InvalidInstanceId.NotFound"},
	{"deletes none", func(f *fixture) raw { return p(f, "Action", "DeleteInstances", "RegionId", DefaultRegion) }, 400, "MissingParameter"},
	{"starts all together", func(f *fixture) raw {
		return p(f, "Action", "StartInstances", "RegionId", DefaultRegion, "InstanceId.1", f.stopped, "InstanceId.2", f.running)
	}, 403, "IncorrectInstanceStatus"},
	{"modify userdata running", func(f *fixture) raw {
		return p(f, "Action", "ModifyInstanceAttribute", "InstanceId", f.running, "UserData", "ZWNobw==")
	}, 403, "IncorrectInstanceStatus"},
	{"modify name too short", func(f *fixture) raw {
		return p(f, "Action", "ModifyInstanceAttribute", "InstanceId", f.running, "InstanceName", "x")
	}, 400, "InvalidParameter"},
	{"attribute unknown", func(f *fixture) raw { return p(f, "Action", "DescribeInstanceAttribute", "InstanceId", "i-nope") }, 404, "InvalidInstanceId.NotFound"},

	// Describe.
	{"describe missing region", func(f *fixture) raw { return p(f, "Action", "DescribeInstances") }, 400, "MissingParameter"},
	{"describe page size 101", func(f *fixture) raw {
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "PageSize", "101")
	}, 400, "InvalidParameter"},
	{"describe max results 101", func(f *fixture) raw {
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "MaxResults", "101")
	}, 400, "InvalidParameter"},
	{"describe bad ids json", func(f *fixture) raw {
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "InstanceIds", "i-1,i-2")
	}, 400, "InvalidParameter"},
	{"describe 101 ids", func(f *fixture) raw {
		ids := make([]string, 101)
		for i := range ids {
			ids[i] = `"i-` + itoa(i) + `"`
		}
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "InstanceIds", "["+strings.Join(ids, ",")+"]")
	}, 400, "InvalidParameter"},
	{"describe bad token", func(f *fixture) raw {
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "NextToken", "zzz")
	}, 400, "InvalidParameter"},
	{"describe bad status", func(f *fixture) raw {
		return p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion, "Status", "Sleeping")
	}, 400, "InvalidParameter"},
	{"describe 21 tag filters", func(f *fixture) raw {
		r := p(f, "Action", "DescribeInstances", "RegionId", DefaultRegion)
		for i := 1; i <= 21; i++ {
			r.params["Tag."+itoa(i)+".Key"] = "k" + itoa(i)
		}
		return r
	}, 400, "InvalidTagCount"},
	{"zones missing region", func(f *fixture) raw { return p(f, "Action", "DescribeZones") }, 400, "MissingParameter"},
	{"available resource no destination", func(f *fixture) raw { return p(f, "Action", "DescribeAvailableResource", "RegionId", DefaultRegion) }, 400, "MissingParameter"},
	{"available resource bad type", func(f *fixture) raw {
		return p(f, "Action", "DescribeAvailableResource", "RegionId", DefaultRegion, "DestinationResource", "InstanceType", "InstanceType", "ecs.nope")
	}, 400, "InvalidInstanceType.ValueNotSupported"},

	// Tags.
	{"tag unknown resource", func(f *fixture) raw {
		return p(f, "Action", "TagResources", "RegionId", DefaultRegion, "ResourceType", "instance", "ResourceId.1", "i-nope", "Tag.1.Key", "a")
	}, 404, "InvalidResourceId.NotFound"},
	{"tag bad type", func(f *fixture) raw {
		return p(f, "Action", "TagResources", "RegionId", DefaultRegion, "ResourceType", "vpc", "ResourceId.1", f.running, "Tag.1.Key", "a")
	}, 400, "InvalidParameter"},
	{"tag no tags", func(f *fixture) raw {
		return p(f, "Action", "TagResources", "RegionId", DefaultRegion, "ResourceType", "instance", "ResourceId.1", f.running)
	}, 400, "MissingParameter"},
	{"tag 51 resources", func(f *fixture) raw {
		r := p(f, "Action", "TagResources", "RegionId", DefaultRegion, "ResourceType", "instance", "Tag.1.Key", "a")
		for i := 1; i <= 51; i++ {
			r.params["ResourceId."+itoa(i)] = f.running
		}
		return r
	}, 400, "InvalidParameter"},
	{"tag reserved acs", func(f *fixture) raw {
		return p(f, "Action", "TagResources", "RegionId", DefaultRegion, "ResourceType", "instance", "ResourceId.1", f.running, "Tag.1.Key", "acs:owner")
	}, 400, "InvalidTagKey.Malformed"},
	{"add tags unknown", func(f *fixture) raw {
		return p(f, "Action", "AddTags", "RegionId", DefaultRegion, "ResourceType", "disk", "ResourceId", "d-nope", "Tag.1.Key", "a")
	}, 404, "InvalidResourceId.NotFound"},

	// Disks and images.
	{"attach other zone", func(f *fixture) raw { return p(f, "Action", "AttachDisk", "InstanceId", f.running, "DiskId", f.diskI) }, 403, "InstanceDiskZone.Mismatch"},
	{"attach unknown disk", func(f *fixture) raw { return p(f, "Action", "AttachDisk", "InstanceId", f.running, "DiskId", "d-nope") }, 404, "InvalidDiskId.NotFound"},
	{"attach in-use disk", func(f *fixture) raw {
		return p(f, "Action", "AttachDisk", "InstanceId", f.stopped, "DiskId", f.sysDisk)
	}, 403, "IncorrectDiskStatus"},
	{"detach not attached", func(f *fixture) raw { return p(f, "Action", "DetachDisk", "InstanceId", f.running, "DiskId", f.diskH) }, 403, "IncorrectDiskStatus"},
	{"detach system disk", func(f *fixture) raw {
		return p(f, "Action", "DetachDisk", "InstanceId", f.running, "DiskId", f.sysDisk)
	}, 403, "OperationDenied"},
	{"delete in-use disk", func(f *fixture) raw { return p(f, "Action", "DeleteDisk", "DiskId", f.sysDisk) }, 403, "IncorrectDiskStatus"},
	{"create disk no size", func(f *fixture) raw {
		return p(f, "Action", "CreateDisk", "RegionId", DefaultRegion, "ZoneId", "cn-hangzhou-h")
	}, 400, "MissingParameter"},
	{"create disk bad zone", func(f *fixture) raw {
		return p(f, "Action", "CreateDisk", "RegionId", DefaultRegion, "ZoneId", "cn-beijing-g", "Size", "20")
	}, 404, "InvalidZoneId.NotFound"},
	{"modify unknown disk", func(f *fixture) raw {
		return p(f, "Action", "ModifyDiskAttribute", "DiskId", "d-nope", "DeleteWithInstance", "false")
	}, 404, "InvalidDiskId.NotFound"},
	{"snapshot unknown disk", func(f *fixture) raw { return p(f, "Action", "CreateSnapshot", "DiskId", "d-nope") }, 404, "InvalidDiskId.NotFound"},
	{"image duplicate name", func(f *fixture) raw {
		return p(f, "Action", "CreateImage", "RegionId", DefaultRegion, "InstanceId", f.running, "ImageName", "golden")
	}, 400, "InvalidImageName.Duplicated"},
	{"image no source", func(f *fixture) raw { return p(f, "Action", "CreateImage", "RegionId", DefaultRegion) }, 400, "MissingParameter"},
	{"delete system image", func(f *fixture) raw {
		return p(f, "Action", "DeleteImage", "RegionId", DefaultRegion, "ImageId", DefaultImageID)
	}, 404, "InvalidImageId.NotFound"},
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestErrorCodes checks HTTP status and Code for every error the emulator
// produces, over GET and POST, and that errors carry RequestId and HostId.
func TestErrorCodes(t *testing.T) {
	f := newFixture(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range errCases {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				r := tc.build(f)
				if r.method == "" {
					r.method = method
				}
				got := r.do(t, f.fc.Now())
				if got.Status != tc.status || got.Code() != tc.code {
					t.Fatalf("got %d %s, want %d %s\n%s", got.Status, got.Code(), tc.status, tc.code, got.Text)
				}
				if got.Body["RequestId"] == "" || got.Body["HostId"] != hostID || got.Body["Message"] == "" {
					t.Fatalf("incomplete error body %s", got.Text)
				}
			})
		}
	}
	// None of the failing calls may have changed the fixture.
	if n := len(f.srv.Instances()); n != 3 {
		t.Fatalf("instances after error table: %d, want 3", n)
	}
}

func TestNonceReuse(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	r := raw{params: map[string]string{"Action": "DescribeRegions", "SignatureNonce": "fixed-nonce"}, baseURL: srv.URL()}
	mustOK(t, r.do(t, fc.Now()))
	if got := r.do(t, fc.Now()); got.Status != 400 || got.Code() != "SignatureNonceUsed" {
		t.Fatalf("reuse: %d %s", got.Status, got.Code())
	}
	fc.Add(16 * time.Minute) // the nonce is forgotten after the window
	if got := r.do(t, fc.Now()); got.Status != 200 {
		t.Fatalf("after window: %d %s", got.Status, got.Text)
	}
}

func TestIdempotentParameterMismatch(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	first := runIDs(t, api(t, srv, fc, runParams(map[string]string{"ClientToken": "tok-1", "Amount": "2"})))
	again := runIDs(t, api(t, srv, fc, runParams(map[string]string{"ClientToken": "tok-1", "Amount": "2"})))
	if strings.Join(first, ",") != strings.Join(again, ",") || len(srv.Instances()) != 2 {
		t.Fatalf("retry with same token: %v vs %v, %d instances", first, again, len(srv.Instances()))
	}
	got := api(t, srv, fc, runParams(map[string]string{"ClientToken": "tok-1", "Amount": "3"}))
	if got.Status != 400 || got.Code() != "IdempotentParameterMismatch" {
		t.Fatalf("mismatch: %d %s", got.Status, got.Code())
	}
	// A token is per action: CreateDisk with the same token is independent.
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateDisk", "RegionId": DefaultRegion, "ZoneId": "cn-hangzhou-h", "Size": "20", "ClientToken": "tok-1"}))
}
