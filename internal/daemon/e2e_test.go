package daemon

import (
	"testing"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/testutil"
)

// The real root command with the real ECS plugin against the emulator,
// driven over the socket by infrakit's own rpc client.
func TestRootAgainstEmulator(t *testing.T) {
	srv, err := emulator.New(emulator.Options{TimeScale: 1000})
	noErr(t, err)
	defer srv.Close()

	const password = "Sup3r-Secret-Passw0rd"
	env := map[string]string{
		EnvPluginsDir:                     shortTempDir(t),
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     emulator.DefaultAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": emulator.DefaultAccessKeySecret,
		"ALIBABA_CLOUD_REGION_ID":         emulator.DefaultRegion,
	}
	out := &testutil.SyncBuffer{}
	socket, stop := runRoot(t, []string{"--endpoint", srv.URL(), "--namespace-tags", "cluster=e2e", "--log", "5", "--rate-limit", "50"},
		env, Deps{}, out)

	c, err := rpcinstance.NewClient(plugin.Name(DefaultName), socket)
	noErr(t, err)

	props := types.AnyValueMust(map[string]interface{}{
		"RunInstances": map[string]interface{}{
			"ImageId":         emulator.DefaultImageID,
			"InstanceType":    "ecs.g6.large",
			"VSwitchId":       emulator.DefaultVSwitchH,
			"SecurityGroupId": emulator.DefaultSecurityGroupID,
			"Password":        password,
		},
	})
	noErr(t, c.Validate(props))

	id, err := c.Provision(instance.Spec{
		Properties: props,
		Tags:       map[string]string{"infrakit.group": "workers", "infrakit.config.hash": "h1"},
		Init:       "#!/bin/sh\necho hello",
	})
	noErr(t, err)
	if id == nil || *id == "" {
		t.Fatal("no instance id")
	}

	descs, err := c.DescribeInstances(map[string]string{"infrakit.group": "workers"}, true)
	noErr(t, err)
	found := false
	for _, d := range descs {
		if d.ID == *id {
			found = true
			equal(t, "e2e", d.Tags["cluster"], "namespace tag")
			equal(t, "h1", d.Tags["infrakit.config.hash"])
		}
	}
	if !found {
		t.Fatalf("provisioned %s not described: %+v", *id, descs)
	}

	noErr(t, c.Destroy(*id, instance.Termination))
	descs, err = c.DescribeInstances(map[string]string{"infrakit.group": "workers"}, false)
	noErr(t, err)
	for _, d := range descs {
		if d.ID == *id {
			t.Errorf("%s still described after Destroy", *id)
		}
	}

	noErr(t, stop())
	logs := out.String()
	if testing.Verbose() {
		t.Log(logs)
	}
	contains(t, logs, "credential_source")
	notContains(t, logs, password)
	equal(t, []string(nil), pluginFiles(t, env[EnvPluginsDir]))
}
