package inventory

import (
	"encoding/json"
	"testing"
)

func TestSpecPrintsGroupSpec(t *testing.T) {
	out, err := run(t, noClient(t), "spec",
		"--image", "m-img1", "--type", "ecs.g7.large", "--vswitch", "vsw-1", "--sg", "sg-1", "--size", "3")
	requireNoError(t, err)
	assertEqual(t, `{
  "ID": "workers",
  "Properties": {
    "Allocation": {
      "Size": 3
    },
    "Instance": {
      "Plugin": "instance-aliyun",
      "Properties": {
        "RunInstances": {
          "ImageId": "m-img1",
          "InstanceType": "ecs.g7.large",
          "VSwitchId": "vsw-1",
          "SecurityGroupId": "sg-1"
        },
        "Tags": {}
      }
    },
    "Flavor": {
      "Plugin": "flavor-vanilla",
      "Properties": {
        "Init": [
          "#!/bin/sh",
          "echo hello"
        ]
      }
    }
  }
}
`, out)
}

func TestSpecOptionalFlags(t *testing.T) {
	out, err := run(t, noClient(t), "spec", "--name", "cattle",
		"--image", "m-img1", "--type", "ecs.g7.large", "--vswitch", "vsw-1", "--sg", "sg-1",
		"--key-pair", "ops", "--spot")
	requireNoError(t, err)

	var got struct {
		ID         string
		Properties struct {
			Allocation struct{ Size int }
			Instance   struct {
				Properties struct {
					RunInstances map[string]string
				}
			}
		}
	}
	requireNoError(t, json.Unmarshal([]byte(out), &got))
	assertEqual(t, "cattle", got.ID)
	assertEqual(t, 1, got.Properties.Allocation.Size, "default size")
	assertEqual(t, map[string]string{
		"ImageId":         "m-img1",
		"InstanceType":    "ecs.g7.large",
		"VSwitchId":       "vsw-1",
		"SecurityGroupId": "sg-1",
		"KeyPairName":     "ops",
		"SpotStrategy":    "SpotAsPriceGo",
	}, got.Properties.Instance.Properties.RunInstances)
}

func TestSpecMissingFlags(t *testing.T) {
	out, err := run(t, noClient(t), "spec", "--type", "ecs.g7.large", "--vswitch", "vsw-1")
	requireError(t, err)
	assertEmpty(t, out)
	assertContains(t, err.Error(), "missing required flag(s): --image, --sg")

	_, err = run(t, noClient(t), "spec", "--image", "m-1", "--type", "t", "--vswitch", "v", "--sg", "s", "--name", "")
	requireError(t, err)
	assertContains(t, err.Error(), "--name")
}

// What spec prints, validate accepts (and it is checked against the plugin's
// own parser inside spec too).
func TestSpecOutputValidates(t *testing.T) {
	out, err := run(t, noClient(t), "spec",
		"--image", "m-img1", "--type", "ecs.g7.large", "--vswitch", "vsw-1", "--sg", "sg-1", "--spot", "--key-pair", "ops")
	requireNoError(t, err)
	path := writeFile(t, "workers.json", out)
	got, err := run(t, noClient(t), "validate", path)
	requireNoError(t, err)
	assertEqual(t, "ok   group spec "+path+" (group workers, instance plugin instance-aliyun)\n", got)
}
