package instance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

type emuEnv struct {
	srv    *emulator.Server
	client *aliyun.Client
	plugin *Plugin
}

// newEmu starts an in-process emulator and a plugin talking to it. Retry
// waits advance the emulator's clock instead of sleeping.
func newEmu(t *testing.T) *emuEnv {
	t.Helper()
	return newEmuWith(t, emulator.Options{TimeScale: 1000}, nil)
}

// newEmuWith is newEmu with the emulator's options, and tune (if not nil)
// to change the plugin's Config from newEmu's: namespace
// infrakit.scope=emu, the emulator's clock, and retries for up to 10
// minutes whose waits advance that clock. Both are closed at cleanup.
func newEmuWith(t *testing.T, opts emulator.Options, tune func(*Config)) *emuEnv {
	t.Helper()
	srv, err := emulator.New(opts)
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	client := aliyun.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	logger, _ := quietLogger()
	cfg := Config{
		Clients:          StaticClient(client),
		DescribeCacheTTL: DefaultDescribeCacheTTL,
		RegionID:         emulator.DefaultRegion,
		NamespaceTags:    map[string]string{"infrakit.scope": "emu"},
		Logger:           logger,
		Now:              srv.Now,
		Retry:            ecs.RetryConfig{MaxElapsed: 10 * time.Minute, Sleep: srv.Advance},
	}
	if tune != nil {
		tune(&cfg)
	}
	p, err := New(cfg)
	noErr(t, err)
	t.Cleanup(func() { p.Close() })
	return &emuEnv{srv: srv, client: client, plugin: p}
}

func (e *emuEnv) live() int {
	n := 0
	for status, c := range e.srv.Stats().Instances {
		if status != "Released" {
			n += c
		}
	}
	return n
}

func emuProps(extra string) *types.Any {
	return types.AnyString(fmt.Sprintf(`{"RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q%s},"Tags":{"project":"emu"}}`,
		emulator.DefaultImageID, emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID, extra))
}

func emuSpec(group string) instance.Spec {
	return instance.Spec{
		Properties: emuProps(""),
		Tags:       map[string]string{"infrakit.group": group, "infrakit.config.hash": "h1"},
		Init:       "#!/bin/sh\necho hello",
	}
}

func TestEmulatorLifecycle(t *testing.T) {
	e := newEmu(t)
	p := e.plugin
	noErr(t, p.Validate(emuProps("")))

	id, err := p.Provision(emuSpec("web"))
	noErr(t, err)

	descs, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, true)
	noErr(t, err)
	if len(descs) != 1 {
		t.Fatalf("want 1 instance, got %d", len(descs))
	}
	d := descs[0]
	equal(t, *id, d.ID)
	for k, v := range map[string]string{"infrakit.group": "web", "infrakit.config.hash": "h1", "infrakit.scope": "emu", "project": "emu"} {
		equal(t, v, d.Tags[k], k)
	}
	var props InstanceProperties
	noErr(t, json.Unmarshal(d.Properties.Bytes(), &props))
	equal(t, emulator.DefaultInstanceType, props.InstanceType)
	equal(t, emulator.DefaultVSwitchH, props.VSwitchId)
	if d.LogicalID == nil || len(props.PrivateIpAddress) == 0 || string(*d.LogicalID) != props.PrivateIpAddress[0] {
		t.Errorf("logical id %v should be the private IP %v", d.LogicalID, props.PrivateIpAddress)
	}

	// Not visible under another group or another namespace.
	other, err := p.DescribeInstances(map[string]string{"infrakit.group": "db"}, false)
	noErr(t, err)
	equal(t, 0, len(other))

	noErr(t, p.Label(*id, map[string]string{"infrakit.config.hash": "h2", "owner": "me"}))
	descs, err = p.DescribeInstances(map[string]string{"infrakit.group": "web", "infrakit.config.hash": "h2"}, false)
	noErr(t, err)
	equal(t, 1, len(descs))
	equal(t, "me", descs[0].Tags["owner"])

	noErr(t, p.Destroy(*id, instance.Termination))
	descs, err = p.DescribeInstances(map[string]string{"infrakit.group": "web"}, false)
	noErr(t, err)
	equal(t, 0, len(descs))
	noErr(t, p.Destroy(*id, instance.Termination)) // already gone counts as destroyed
}

func TestEmulatorPetLogicalID(t *testing.T) {
	e := newEmu(t)
	spec := emuSpec("pets")
	spec.LogicalID = instance.LogicalIDFromString("172.16.0.50")
	_, err := e.plugin.Provision(spec)
	noErr(t, err)
	descs, err := e.plugin.DescribeInstances(map[string]string{"infrakit.group": "pets"}, true)
	noErr(t, err)
	equal(t, 1, len(descs))
	equal(t, "172.16.0.50", string(*descs[0].LogicalID))
	var props InstanceProperties
	noErr(t, json.Unmarshal(descs[0].Properties.Bytes(), &props))
	equal(t, []string{"172.16.0.50"}, props.PrivateIpAddress)
}

func TestEmulatorBadPropertiesCreateNothing(t *testing.T) {
	e := newEmu(t)
	for _, bad := range []string{
		`{"RunInstances":{"InstanceType":"ecs.g6.large"}}`,
		`{"RunInstances":{"ImageId":"x","InstanceType":"y","SpotStrategy":"Cheap"}}`,
		`{"RunInstances":{"ImageId":"x","InstanceType":"y"},"Tags":{"aliyun:k":"v"}}`,
	} {
		spec := emuSpec("bad")
		spec.Properties = types.AnyString(bad)
		_, err := e.plugin.Provision(spec)
		isErr(t, err)
		isErr(t, e.plugin.Validate(spec.Properties))
	}
	equal(t, 0, e.srv.Stats().Calls["RunInstances"])
	equal(t, 0, e.live())
}

func TestEmulatorErrorsNameTheCode(t *testing.T) {
	e := newEmu(t)
	e.srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{InstanceType: emulator.DefaultInstanceType}}})
	_, err := e.plugin.Provision(emuSpec("g"))
	equal(t, "OperationDenied.NoStock", ecs.ErrorCode(err))
	contains(t, fmt.Sprint(err), "OperationDenied.NoStock")
	equal(t, 1, e.srv.Stats().Calls["RunInstances"], "no stock is not retried")

	e.srv.SetFaults(emulator.Faults{})
	spec := emuSpec("g")
	spec.Properties = types.AnyString(`{"RunInstances":{"ImageId":"no-such-image","InstanceType":"` + emulator.DefaultInstanceType +
		`","VSwitchId":"` + emulator.DefaultVSwitchH + `","SecurityGroupId":"` + emulator.DefaultSecurityGroupID + `"}}`)
	_, err = e.plugin.Provision(spec)
	equal(t, "InvalidImageId.NotFound", ecs.ErrorCode(err))
	contains(t, fmt.Sprint(err), "InvalidImageId.NotFound")
	equal(t, 0, e.live())
}

func TestEmulatorRetriesGiveOneInstancePerProvision(t *testing.T) {
	e := newEmu(t)
	e.srv.SetFaults(emulator.Faults{ThrottleRate: 0.3, ErrorRate: 0.2, DropResponseRate: 0.3, Actions: []string{"RunInstances"}})
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := e.plugin.Provision(emuSpec("flaky"))
			errs[i] = err
			if id != nil {
				ids[i] = string(*id)
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, err)
	}
	sort.Strings(ids)
	for i := 1; i < n; i++ {
		if ids[i] == ids[i-1] {
			t.Errorf("two Provisions returned the same instance %s", ids[i])
		}
	}
	e.srv.SetFaults(emulator.Faults{})
	descs, err := e.plugin.DescribeInstances(map[string]string{"infrakit.group": "flaky"}, false)
	noErr(t, err)
	equal(t, n, len(descs), "exactly one instance per Provision")
	equal(t, n, e.live())
	st := e.srv.Stats()
	t.Logf("RunInstances calls %d, faults %v", st.Calls["RunInstances"], st.Faults)
	if st.Calls["RunInstances"] <= n || st.Faults["dropped"] == 0 {
		t.Errorf("faults did not exercise retries and lost responses: calls %d, faults %v", st.Calls["RunInstances"], st.Faults)
	}
}

func TestEmulatorAttachmentSurvivesRollingUpdate(t *testing.T) {
	e := newEmu(t)
	// A data disk prepared by the operator, tagged for attachment.
	var created struct{ DiskId string }
	v := url.Values{}
	v.Set("RegionId", emulator.DefaultRegion)
	v.Set("ZoneId", emulator.DefaultZone)
	v.Set("Size", "50")
	v.Set("DiskCategory", "cloud_essd")
	v.Set("Tag.1.Key", TagAttachment)
	v.Set("Tag.1.Value", "data-1")
	noErr(t, e.client.Invoke("CreateDisk", v, &created))

	spec := emuSpec("stateful")
	spec.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}
	id, err := e.plugin.Provision(spec)
	noErr(t, err)
	e.plugin.attacher.background.Wait() // the instance boots while the attacher "sleeps"
	if got := e.srv.Stats().Calls["AttachDisk"]; got < 2 {
		t.Errorf("want AttachDisk refused while Pending and retried in the background, got %d calls", got)
	}

	disk := func() ecs.Disk {
		t.Helper()
		disks, err := e.plugin.api.DescribeDisks(t.Context(), ecs.DiskFilter{DiskIDs: []string{created.DiskId}})
		noErr(t, err)
		if len(disks) != 1 {
			t.Fatalf("want disk %s, got %d disks", created.DiskId, len(disks))
		}
		return disks[0]
	}
	d := disk()
	equal(t, string(*id), d.InstanceID)
	equal(t, false, d.DeleteWithInstance)

	// A second instance wanting the same disk is refused before creation.
	before := e.live()
	_, err = e.plugin.Provision(spec)
	contains(t, fmt.Sprint(err), "disk "+created.DiskId+" is In_use")
	equal(t, before, e.live())

	noErr(t, e.plugin.Destroy(*id, instance.RollingUpdate))
	e.srv.Advance(time.Minute)
	d = disk()
	equal(t, "", d.InstanceID)
	equal(t, "Available", d.Status)
}
