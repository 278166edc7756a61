package inventory

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	aliecs "infrakit.aliyun/internal/ecs"
)

const goodGroupSpec = `{
  "ID": "workers",
  "Properties": {
    "Allocation": {"Size": 2},
    "Instance": {
      "Plugin": "instance-aliyun",
      "Properties": {
        "RunInstances": {"ImageId": "m-1", "InstanceType": "ecs.g7.large", "VSwitchId": "vsw-1", "SecurityGroupId": "sg-1"},
        "Tags": {"team": "ops"}
      }
    },
    "Flavor": {"Plugin": "flavor-vanilla", "Properties": {"Init": ["echo hi"]}}
  }
}`

func TestValidateOfflineAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"group spec", "g.json", goodGroupSpec, "ok   group spec %s (group workers, instance plugin instance-aliyun)\n"},
		{"bare properties", "p.json", `{"RunInstances": {"ImageId": "m-1", "InstanceType": "ecs.g7.large"}}`,
			"ok   instance properties %s\n"},
		{"legacy form", "p.json", `{"CreateInstanceArgs": {"ImageId": "m-1", "InstanceType": "ecs.g7.large"}}`,
			"ok   instance properties %s\n"},
		{"yaml group spec", "g.yml", `
ID: pets
Properties:
  Allocation:
    LogicalIDs: [10.0.0.10, 10.0.0.11]
  Instance:
    Plugin: instance-aliyun
    Properties:
      RunInstances:
        ImageId: m-1
        InstanceType: ecs.g7.large
  Flavor:
    Plugin: flavor-vanilla
`, "ok   group spec %s (group pets, instance plugin instance-aliyun)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.content)
			out, err := run(t, noClient(t), "validate", path)
			requireNoError(t, err)
			assertEqual(t, strings.ReplaceAll(tc.want, "%s", path), out)
		})
	}
}

func TestValidateOfflineRejects(t *testing.T) {
	withInstance := func(props string) string {
		return `{"ID": "workers", "Properties": {"Allocation": {"Size": 1},
			"Instance": {"Plugin": "instance-aliyun", "Properties": ` + props + `},
			"Flavor": {"Plugin": "flavor-vanilla"}}}`
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"missing image", withInstance(`{"RunInstances": {"InstanceType": "ecs.g7.large"}}`),
			"Properties.Instance.Properties: RunInstances.ImageId: required"},
		{"misspelt field", withInstance(`{"RunInstances": {"ImageId": "m-1", "InstanceType": "t", "VswitchId": "vsw-1"}}`),
			`RunInstances.VswitchId: unknown field (did you mean "VSwitchId"?)`},
		{"wrong type", withInstance(`{"RunInstances": {"ImageId": "m-1", "InstanceType": "t", "SecurityGroupIds": "sg-1"}}`),
			"RunInstances.SecurityGroupIds: want a list"},
		{"bare properties problem", `{"RunInstances": {"ImageId": "m-1", "InstanceType": "t", "Amount": 3}}`,
			"RunInstances.Amount: not allowed"},
		{"no instance properties", `{"ID": "w", "Properties": {"Allocation": {"Size": 1}, "Instance": {"Plugin": "instance-aliyun"}, "Flavor": {"Plugin": "flavor-vanilla"}}}`,
			"Properties.Instance.Properties: required"},
		{"no instance plugin", withInstance(`{}`)[:0] + `{"ID": "w", "Properties": {"Allocation": {"Size": 1}, "Instance": {"Properties": {}}, "Flavor": {"Plugin": "flavor-vanilla"}}}`,
			"Properties.Instance.Plugin: required"},
		{"no flavor", `{"ID": "w", "Properties": {"Allocation": {"Size": 1}, "Instance": {"Plugin": "instance-aliyun", "Properties": {}}}}`,
			"Properties.Flavor.Plugin: required"},
		{"no allocation", `{"ID": "w", "Properties": {"Instance": {"Plugin": "p", "Properties": {}}, "Flavor": {"Plugin": "f"}}}`,
			"Properties.Allocation: required"},
		{"no group ID", `{"Properties": {"Allocation": {"Size": 1}}}`, "ID: required"},
		{"size not a number", `{"ID": "w", "Properties": {"Allocation": {"Size": "three"}}}`,
			"Properties.Allocation.Size: want uint, got JSON string"},
		{"not an object", `["a"]`, "want a JSON object"},
		{"broken JSON", `{"ID": "w",, }`, "neither JSON (invalid character ',' looking for beginning of object key string)"},
		{"empty", "  \n", "empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "spec.json", tc.content)
			out, err := run(t, noClient(t), "validate", path)
			requireError(t, err)
			assertEmpty(t, out)
			assertContains(t, err.Error(), "validate "+path+": ")
			assertContains(t, err.Error(), tc.want)
		})
	}
}

func TestValidateInputs(t *testing.T) {
	_, err := run(t, noClient(t), "validate", "/nonexistent/spec.json")
	requireError(t, err)
	assertContains(t, err.Error(), "read spec /nonexistent/spec.json: ")

	_, err = run(t, noClient(t), "validate")
	requireError(t, err)
	assertContains(t, err.Error(), "accepts 1 arg(s)")
}

func TestCheckLine(t *testing.T) {
	assertEqual(t, "ok   image m-1 (ubuntu, Ubuntu 22.04)", pass("image m-1", "%s, %s", "ubuntu", "Ubuntu 22.04").String())
	assertEqual(t, "ok   key pair ops", pass("key pair ops", "").String())
	assertEqual(t, "FAIL vswitch vsw-1: not found in cn-hangzhou", fail("vswitch vsw-1", "not found in %s", "cn-hangzhou").String())
}

func TestStockStatus(t *testing.T) {
	for _, tc := range []struct {
		s       aliecs.Resource
		label   string
		inStock bool
	}{
		{aliecs.Resource{Status: "Available", StatusCategory: "WithStock"}, "WithStock", true},
		{aliecs.Resource{Status: "Available", StatusCategory: "ClosedWithStock"}, "ClosedWithStock", true},
		{aliecs.Resource{Status: "SoldOut", StatusCategory: "WithoutStock"}, "WithoutStock", false},
		{aliecs.Resource{Status: "Available"}, "Available", true},
		{aliecs.Resource{Status: "SoldOut"}, "SoldOut", false},
	} {
		assertEqual(t, tc.label, tc.s.Label())
		assertEqual(t, tc.inStock, tc.s.InStock(), tc.label)
	}
}

func TestValidateStdin(t *testing.T) {
	root := &cobra.Command{Use: "root", SilenceErrors: true}
	root.AddCommand(Commands(noClient(t))...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader(goodGroupSpec))
	root.SetArgs([]string{"validate", "-"})
	requireNoError(t, root.Execute())
	assertEqual(t, "ok   group spec - (group workers, instance plugin instance-aliyun)\n", out.String())
}
