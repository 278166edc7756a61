package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/event"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// keepFake adds the preemptAPI calls (images, detach, resource tags) to
// fakeECS and records every call of interruption handling in order.
type keepFake struct {
	*fakeECS
	images map[string]*ecs.Image
	calls  []string
	nextIm int
}

func newKeepFake() *keepFake {
	return &keepFake{fakeECS: newFake(), images: map[string]*ecs.Image{}}
}

var _ ecs.SpotAPI = (*keepFake)(nil)

func (f *keepFake) record(format string, args ...interface{}) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *keepFake) DetachDisk(_ context.Context, instanceID, diskID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DetachDisk %s from %s", diskID, instanceID)
	d := f.disks[diskID]
	d.InstanceID, d.Status = "", "Available"
	return nil
}

func (f *keepFake) CreateImage(_ context.Context, req ecs.CreateImageRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateImage %s token=%t", req.InstanceID, req.ClientToken != "")
	f.nextIm++
	im := &ecs.Image{ID: fmt.Sprintf("m-%d", f.nextIm), Status: "Creating", CreationTime: "2024-01-01T00:00Z"}
	for _, k := range sortedKeys(req.Tags) {
		im.Tags = append(im.Tags, ecs.Tag{Key: k, Value: req.Tags[k]})
	}
	f.images[im.ID] = im
	return im.ID, nil
}

func (f *keepFake) DescribeImages(_ context.Context, flt ecs.ImageFilter) ([]ecs.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ecs.Image
	for _, id := range sortedKeys(f.images) {
		if im := f.images[id]; hasTags(im.TagMap(), flt.Tags) {
			out = append(out, *im)
		}
	}
	return out, nil
}

func (f *keepFake) DeleteImage(_ context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteImage %s force=%t", id, force)
	delete(f.images, id)
	return nil
}

func (f *keepFake) TagResource(_ context.Context, typ, id string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range tags {
		if strings.HasPrefix(k, "infrakit-aliyun.") {
			keys = append(keys, k+"="+tags[k])
		}
	}
	sort.Strings(keys)
	f.record("Tag %s %s %s", typ, id, strings.Join(keys, ","))
	var cur map[string]string
	switch typ {
	case "disk":
		cur = f.disks[id].TagMap()
	case "image":
		cur = f.images[id].TagMap()
	}
	for k, v := range tags {
		cur[k] = v
	}
	var list []ecs.Tag
	for _, k := range sortedKeys(cur) {
		list = append(list, ecs.Tag{Key: k, Value: cur[k]})
	}
	if typ == "disk" {
		f.disks[id].Tags = list
	} else {
		f.images[id].Tags = list
	}
	return nil
}

func (f *keepFake) DeleteDisk(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteDisk %s", id)
	delete(f.disks, id)
	return nil
}

func (f *keepFake) DescribeZones(context.Context) ([]string, error) {
	return []string{"cn-hangzhou-i", "cn-hangzhou-h"}, nil
}

func (f *keepFake) ModifyDiskAttribute(ctx context.Context, diskID string, dwi bool) error {
	err := f.fakeECS.ModifyDiskAttribute(ctx, diskID, dwi)
	f.mu.Lock()
	f.record("ModifyDiskAttribute %s dwi=%t", diskID, dwi)
	f.mu.Unlock()
	return err
}

func (f *keepFake) RunInstances(ctx context.Context, req *ecs.RunRequest) (string, error) {
	id, err := f.fakeECS.RunInstances(ctx, req)
	f.mu.Lock()
	f.record("RunInstances %s", id)
	f.mu.Unlock()
	return id, err
}

func (f *keepFake) AttachDisk(ctx context.Context, instanceID, diskID string, dwi bool) error {
	err := f.fakeECS.AttachDisk(ctx, instanceID, diskID, dwi)
	f.mu.Lock()
	f.record("AttachDisk %s to %s", diskID, instanceID)
	f.mu.Unlock()
	return err
}

func (f *keepFake) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// spotMember adds a running spot instance of group g in the test namespace.
func (f *keepFake) spotMember(id, ip string, extra map[string]string) *ecs.Instance {
	tags := mergeTags(testNamespace, map[string]string{"infrakit.group": "g"}, extra)
	f.addInstance(id, tags, ip)
	inst := f.instances[id]
	inst.SpotStrategy = "SpotAsPriceGo"
	inst.VSwitch = "vsw-old"
	inst.Type = "ecs.g6.large"
	return inst
}

func reclaim(inst *ecs.Instance) {
	inst.Locks = append(inst.Locks, LockRecycling)
}

// subscribe attaches a channel to the plugin's event hub, as infrakit's
// rpc server does.
func subscribe(p *Plugin) chan *event.Event {
	ch := make(chan *event.Event, 16)
	p.EventPlugin().(event.Publisher).PublishOn(ch)
	return ch
}

// nextEvent waits for an event; the timeout is only a failsafe.
func nextEvent(t *testing.T, ch chan *event.Event) *event.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event published")
		return nil
	}
}

func noEvent(t *testing.T, ch chan *event.Event) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %s %s", e.Topic, e.Message)
	default:
	}
}

func ids(ds []instance.Description) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.ID))
	}
	return out
}

var groupG = map[string]string{"infrakit.group": "g"}

func TestRecyclingOmittedFromGroupDescribe(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	reclaim(fake.spotMember("i-2", "172.16.0.2", nil))
	fake.spotMember("i-3", "172.16.0.3", nil)
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)

	got, err := p.DescribeInstances(groupG, true)
	noErr(t, err)
	equal(t, []string{"i-1", "i-3"}, ids(got), "group describe")

	e := nextEvent(t, events)
	equal(t, TopicInterrupting, e.Topic.String())
	equal(t, event.Type(EventTypeInterrupting), e.Type)
	var info Interruption
	noErr(t, e.Data.Decode(&info))
	equal(t, "i-2", info.InstanceId)
	equal(t, "g", info.Group)
	equal(t, "172.16.0.2", info.PrivateIP)
	equal(t, "describe", info.Source)
	equal(t, info.NoticedAt.Add(SpotNotice), info.ReleaseBy)

	// Noticed once: later describes publish nothing more.
	got, err = p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, []string{"i-1", "i-3"}, ids(got))
	noEvent(t, events)

	// Describes that are not a group's still list it, with its lock.
	got, err = p.DescribeInstances(nil, true)
	noErr(t, err)
	equal(t, []string{"i-1", "i-2", "i-3"}, ids(got))
	var ip InstanceProperties
	noErr(t, json.Unmarshal(got[1].Properties.Bytes(), &ip))
	equal(t, []string{LockRecycling}, ip.OperationLocks)
}

func TestWatcherTickMarksInterrupting(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	od := fake.spotMember("i-2", "172.16.0.2", nil)
	od.SpotStrategy = "NoSpot"
	reclaim(od) // not spot: the watcher leaves it alone
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	p.spot.Watch.StartOn(ticks, func() { close(stopped) })

	ticks <- time.Time{}
	fake.mu.Lock()
	reclaim(fake.instances["i-1"])
	fake.mu.Unlock()
	ticks <- time.Time{}
	e := nextEvent(t, events)
	var info Interruption
	noErr(t, e.Data.Decode(&info))
	equal(t, "i-1", info.InstanceId)
	equal(t, "watcher", info.Source)
	noEvent(t, events)
	if !p.spot.Noticed("i-1") || p.spot.Noticed("i-2") {
		t.Fatal("the watcher must notice only reclaimed spot instances")
	}
	// Each tick is one narrow call, whatever the namespace's size. (A third
	// tick is taken only once the second is done.)
	ticks <- time.Time{}
	fake.mu.Lock()
	if len(fake.describes) < 2 {
		t.Fatalf("%d describes for two ticks", len(fake.describes))
	}
	for _, f := range fake.describes {
		equal(t, ecs.InstanceFilter{Tags: p.namespace, LockReason: LockRecycling}, f, "watcher describe filter")
	}
	fake.mu.Unlock()

	noErr(t, p.Close())
	select {
	case <-stopped:
	default:
		t.Fatal("Close did not stop the watcher's ticker")
	}
}

func TestKeepDataDisks(t *testing.T) {
	fake := newKeepFake()
	inst := fake.spotMember("i-1", "172.16.0.1", map[string]string{TagKeepData: groupspec.KeepDataDisks})
	fake.disks["d-1"] = &ecs.Disk{ID: "d-1", Zone: "cn-hangzhou-h", Status: "In_use", Type: "data", InstanceID: "i-1", DeleteWithInstance: true}
	fake.disks["d-sys"] = &ecs.Disk{ID: "d-sys", Zone: "cn-hangzhou-h", Status: "In_use", Type: "system", InstanceID: "i-1", DeleteWithInstance: true}
	reclaim(inst)
	p, _, _ := newTestPlugin(t, fake)

	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, 0, len(got))

	spec := groupSpec()
	spec.Tags["infrakit.group"] = "g"
	spec.Properties = props(`{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g6.large","VSwitchId":"vsw-1","SecurityGroupId":"sg-1",
		"SpotStrategy":"SpotAsPriceGo","DataDisk":[{"Size":20}]},"Preemption":{"KeepData":"disks"}}`)
	id, err := p.Provision(spec)
	noErr(t, err)
	p.spot.Wait() // the attach runs in the background

	// Every step is in the disk's tags before it is taken (spot/disks.go).
	equal(t, []string{
		"Tag disk d-1 infrakit-aliyun.keep-step=kept,infrakit-aliyun.kept-at=2024-01-01T00:00:00Z,infrakit-aliyun.kept=true,infrakit-aliyun.preempted-from=i-1,infrakit-aliyun.vswitch=vsw-old",
		"ModifyDiskAttribute d-1 dwi=false",
		"DetachDisk d-1 from i-1",
		"Tag disk d-1 infrakit-aliyun.claim-at=2024-01-01T00:00:00Z,infrakit-aliyun.keep-step=claiming",
		"RunInstances " + string(*id),
		"Tag disk d-1 infrakit-aliyun.claimed-by=" + string(*id) + ",infrakit-aliyun.keep-step=claimed",
		"AttachDisk d-1 to " + string(*id),
		"Tag disk d-1 infrakit-aliyun.claimed-by=" + string(*id) + ",infrakit-aliyun.keep-step=attached",
	}, fake.callLog())
	run := fake.runs[len(fake.runs)-1]
	equal(t, "i-1", run.Tags[TagReplaces], "the replacement names the set it takes from its first moment")
	equal(t, 0, len(run.Args.DataDisk), "the kept disk replaces the spec's data disks")
	equal(t, "vsw-old", run.Args.VSwitchId, "same vswitch (zone) as the kept disk")
	equal(t, groupspec.KeepDataDisks, run.Tags[TagKeepData])
	equal(t, "g", fake.disks["d-1"].TagMap()["infrakit.group"])
	equal(t, "test", fake.disks["d-1"].TagMap()["infrakit.scope"])

	// A second replacement finds nothing left to take.
	_, err = p.Provision(spec)
	noErr(t, err)
	equal(t, 1, len(fake.runs[len(fake.runs)-1].Args.DataDisk))
}

func TestKeepDataImage(t *testing.T) {
	fake := newKeepFake()
	inst := fake.spotMember("i-1", "172.16.0.1", map[string]string{TagKeepData: groupspec.KeepDataImage})
	inst.Type = "ecs.g5.large"
	reclaim(inst)
	p, _, _ := newTestPlugin(t, fake)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)

	spec := groupSpec()
	spec.Tags["infrakit.group"] = "g"
	spec.Properties = props(`{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g6.large","VSwitchId":"vsw-1","SecurityGroupId":"sg-1",
		"SpotStrategy":"SpotAsPriceGo"},"Preemption":{"KeepData":"image"}}`)

	// The image is still Creating: fail fast, the group plugin retries.
	_, err = p.Provision(spec)
	if !errors.Is(err, ErrKeptDataNotReady) {
		t.Fatalf("want ErrKeptDataNotReady while the image is Creating, got %v", err)
	}
	contains(t, err.Error(), "image m-1 of reclaimed instance i-1 is Creating")
	equal(t, 0, len(fake.runs))
	equal(t, []string{"CreateImage i-1 token=true"}, fake.callLog())
	im := fake.images["m-1"].TagMap()
	equal(t, "i-1", im[TagPreemptedFrom])
	equal(t, "g", im["infrakit.group"])
	equal(t, "ecs.g5.large", im[TagSourceType])

	fake.mu.Lock()
	fake.images["m-1"].Status = "Available"
	fake.mu.Unlock()
	id, err := p.Provision(spec)
	noErr(t, err)
	run := fake.runs[0]
	equal(t, "m-1", run.Args.ImageId, "boots from the kept image")
	equal(t, "ecs.g5.large", run.Args.InstanceType, "same type as the reclaimed instance")
	equal(t, "vsw-old", run.Args.VSwitchId, "same vswitch as the reclaimed instance")
	equal(t, string(*id), fake.images["m-1"].TagMap()[TagClaimedBy])

	// Another Provision does not take the claimed image.
	_, err = p.Provision(spec)
	noErr(t, err)
	equal(t, "img-1", fake.runs[1].Args.ImageId)

	// Cleanup waits for the replacement to run, then deletes the image.
	noErr(t, p.spot.Watch.CleanImages(context.Background()))
	equal(t, 1, len(fake.images))
	fake.mu.Lock()
	fake.instances[string(*id)].Status = "Running"
	fake.mu.Unlock()
	noErr(t, p.spot.Watch.CleanImages(context.Background()))
	equal(t, 0, len(fake.images))
	calls := fake.callLog()
	equal(t, "DeleteImage m-1 force=true", calls[len(calls)-1])
}

func TestPetIPHeldByReclaimedInstance(t *testing.T) {
	fake := newKeepFake()
	reclaim(fake.spotMember("i-1", "172.16.0.9", map[string]string{TagLogicalID: "172.16.0.9"}))
	p, _, _ := newTestPlugin(t, fake)
	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, 0, len(got), "the pet being reclaimed is left out, so its replacement is asked for")

	lid := instance.LogicalID("172.16.0.9")
	spec := groupSpec()
	spec.Tags["infrakit.group"] = "g"
	spec.LogicalID = &lid
	_, err = p.Provision(spec)
	if !errors.Is(err, ErrKeptDataNotReady) {
		t.Fatalf("want a retry-shortly error while the IP is held, got %v", err)
	}
	contains(t, err.Error(), "private ip still held by reclaimed instance i-1")
	equal(t, 0, len(fake.runs), "no RunInstances with a duplicate IP")

	fake.mu.Lock()
	delete(fake.instances, "i-1") // ECS released it
	fake.mu.Unlock()
	_, err = p.Provision(spec)
	noErr(t, err)
	equal(t, "172.16.0.9", fake.runs[0].PrivateIP)
}

func TestLostInstancePublished(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	fake.spotMember("i-2", "172.16.0.2", nil)
	fake.spotMember("i-3", "172.16.0.3", nil)
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)

	noErr(t, p.Destroy("i-1", instance.Termination)) // by InfraKit: not lost
	fake.mu.Lock()
	delete(fake.instances, "i-2") // outside InfraKit
	fake.mu.Unlock()
	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, []string{"i-3"}, ids(got))

	e := nextEvent(t, events)
	equal(t, TopicLost, e.Topic.String())
	var lost LostInstance
	noErr(t, e.Data.Decode(&lost))
	equal(t, "i-2", lost.InstanceId)
	equal(t, "g", lost.Group)
	equal(t, "172.16.0.2", lost.LogicalID)
	noEvent(t, events)
}

func TestStockOutHookPublishesAndSetsMetadata(t *testing.T) {
	fake := newKeepFake()
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	fake.failNext("RunInstances", &ecs.APIError{Action: "RunInstances", Code: CodeNoStock, StatusCode: 403})
	_, err := p.Provision(groupSpec())
	isErr(t, err)

	e := nextEvent(t, events)
	equal(t, TopicNoStock, e.Topic.String())
	var so StockOut
	noErr(t, e.Data.Decode(&so))
	equal(t, "workers", so.Group)
	equal(t, CodeNoStock, so.StockOuts[0].Code)
	equal(t, "ecs.g7.large", so.StockOuts[0].InstanceType)

	v, err := p.MetadataPlugin().Get(types.PathFromString("capacity/last-stock-out/Group"))
	noErr(t, err)
	equal(t, `"workers"`, v.String())
}

func TestMetadata(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	reclaim(fake.spotMember("i-2", "172.16.0.2", nil))
	fake.addInstance("i-3", map[string]string{"infrakit.scope": "test"}, "")
	fake.instances["i-3"].Status = "Pending"
	fake.addInstance("i-x", map[string]string{"infrakit.scope": "other"}, "")
	p, _, _ := newTestPlugin(t, fake)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	md := p.MetadataPlugin()

	keys, err := md.Keys(types.PathFromString("."))
	noErr(t, err)
	equal(t, []string{"capacity", "events", "instances", "region", "spot", "zones"}, keys)
	get := func(path string) string {
		t.Helper()
		v, err := md.Get(types.PathFromString(path))
		noErr(t, err)
		var b bytes.Buffer
		noErr(t, json.Compact(&b, v.Bytes()))
		return b.String()
	}
	equal(t, `"cn-hangzhou"`, get("region"))
	equal(t, `["cn-hangzhou-h","cn-hangzhou-i"]`, get("zones"))
	equal(t, `3`, get("instances/total"))
	equal(t, `2`, get("instances/by-status/Running"))
	equal(t, `1`, get("instances/by-status/Pending"))
	equal(t, `2`, get("instances/spot"))
	equal(t, `1`, get("instances/interrupting"))
	equal(t, `["i-2"]`, get("spot/interrupting"))
	equal(t, `"i-2"`, get("spot/last-interruption/InstanceId"))
	equal(t, `1`, get("events/instance/interrupting"))
}

func TestParsePreemption(t *testing.T) {
	const run = `"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"SpotAsPriceGo","DataDisk":[{"Size":20}]}`
	tests := []struct {
		name, in string
		want     string // error text; "" = valid
		keep     string
	}{
		{"image", `{` + run + `,"Preemption":{"KeepData":"image"}}`, "", "image"},
		{"disks", `{` + run + `,"Preemption":{"KeepData":"disks"}}`, "", "disks"},
		{"absent", `{` + run + `}`, "", ""},
		{"bad value", `{` + run + `,"Preemption":{"KeepData":"snapshot"}}`, `Preemption.KeepData: "snapshot", must be one of image, disks`, ""},
		{"empty", `{` + run + `,"Preemption":{}}`, "Preemption.KeepData: required, one of image, disks", ""},
		{"unknown field", `{` + run + `,"Preemption":{"Keep":"image"}}`, "Preemption.Keep: unknown field", ""},
		{"wrong type", `{` + run + `,"Preemption":"image"}`, "Preemption: want an object", ""},
		{"not spot", `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Preemption":{"KeepData":"image"}}`,
			"Preemption: only for spot instances: set RunInstances.SpotStrategy", ""},
		{"disks without data disks", `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"SpotAsPriceGo"},"Preemption":{"KeepData":"disks"}}`,
			`Preemption.KeepData: "disks" needs RunInstances.DataDisk`, ""},
		{"case hint", `{` + run + `,"preemption":{"KeepData":"image"}}`, `preemption: unknown field (did you mean "Preemption"?)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := groupspec.ParseProperties(props(tt.in))
			if tt.want != "" {
				isErr(t, err)
				contains(t, err.Error(), tt.want)
				return
			}
			noErr(t, err)
			if tt.keep == "" {
				if got.Preemption != nil {
					t.Fatalf("Preemption = %+v, want nil", got.Preemption)
				}
				return
			}
			equal(t, tt.keep, got.Preemption.KeepData)
		})
	}
}

func TestEventTopics(t *testing.T) {
	p, _, _ := newTestPlugin(t, newKeepFake())
	ev := p.EventPlugin()
	top, err := ev.List(types.PathFromString("."))
	noErr(t, err)
	equal(t, []string{"instance"}, top)
	sub, err := ev.List(types.PathFromString("instance"))
	noErr(t, err)
	equal(t, []string{"interrupting", "lost", "no-stock"}, sub)
	v := ev.(event.Validator)
	noErr(t, v.Validate(types.PathFromString("instance/lost")))
	isErr(t, v.Validate(types.PathFromString("instance/nope")))
}

// interrupting is the plugin's spot/interrupting list.
func interrupting(p *Plugin) []string {
	ids, _ := p.spot.Interrupting()
	return ids
}
