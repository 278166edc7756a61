package instance

import (
	"errors"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// preemptEmu is an emulator-backed plugin whose emulated time all but
// stands still (TimeScale 1e-6): the test moves it with Advance, so the
// 5-minute notice cannot run out behind its back.
func preemptEmu(t *testing.T) *emuEnv {
	t.Helper()
	return newEmuWith(t, emulator.Options{TimeScale: 1e-6}, func(c *Config) { c.DescribeCacheTTL = 0 })
}

func spotSpec(keep string) instance.Spec {
	s := emuSpec("spot")
	extra := `,"SpotStrategy":"SpotAsPriceGo","DataDisk":[{"Size":20,"Category":"cloud_essd"}]`
	s.Properties = emuProps(extra)
	if keep != "" {
		b := s.Properties.Bytes()
		s.Properties.UnmarshalJSON(append(b[:len(b)-1], []byte(`,"Preemption":{"KeepData":"`+keep+`"}}`)...))
	}
	return s
}

func (e *emuEnv) view(t *testing.T, id string) emulator.InstanceView {
	t.Helper()
	v, ok := e.srv.Instance(id)
	if !ok {
		t.Fatalf("emulator has no instance %s", id)
	}
	return v
}

func TestEmulatorPreemptKeepDisks(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	old, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute) // Running
	dataDisk := e.view(t, string(*old)).DataDiskIds[0]

	noErr(t, e.srv.Preempt(string(*old)))
	got, err := p.DescribeInstances(map[string]string{tagGroup: "spot"}, false)
	noErr(t, err)
	equal(t, 0, len(got), "the reclaimed instance is left out of its group")

	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute) // the replacement runs; the background attach finishes
	p.spot.Wait()

	v := e.view(t, string(*repl))
	equal(t, []string{dataDisk}, v.DataDiskIds, "the replacement has the old data disk, and no new one")
	old1 := e.view(t, string(*old))
	if old1.PreemptedAt.IsZero() || !v.CreationTime.Before(old1.ReleaseAt) {
		t.Fatalf("replacement created %v, reclaimed instance to be released %v", v.CreationTime, old1.ReleaseAt)
	}
	e.srv.Advance(5 * time.Minute)
	old2 := e.view(t, string(*old))
	equal(t, true, old2.Released)
	equal(t, emulator.ReleasePreempted, old2.ReleaseReason)
	if !v.CreationTime.Before(old2.ReleasedAt) {
		t.Fatalf("replacement created %v, after the release at %v", v.CreationTime, old2.ReleasedAt)
	}
	found := false
	for _, d := range e.srv.Disks() {
		if d.DiskId == dataDisk {
			found = true
			equal(t, string(*repl), d.InstanceId, "the kept disk survived the release")
			equal(t, false, d.Deleted)
		}
	}
	if !found {
		t.Fatalf("the emulator no longer lists disk %s", dataDisk)
	}
}

func TestEmulatorPreemptKeepImage(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	old, err := p.Provision(spotSpec(groupspec.KeepDataImage))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	noErr(t, e.srv.Preempt(string(*old)))
	_, err = p.DescribeInstances(map[string]string{tagGroup: "spot"}, false)
	noErr(t, err)

	// CreateImage takes a minute (emulated): fail fast until then.
	_, err = p.Provision(spotSpec(groupspec.KeepDataImage))
	if !errors.Is(err, ErrKeptDataNotReady) {
		t.Fatalf("want ErrKeptDataNotReady while the image is Creating, got %v", err)
	}
	var image string
	for _, im := range e.srv.Images() {
		if im.SourceInstanceId == string(*old) {
			image = im.ImageId
			equal(t, string(*old), im.Tags[TagPreemptedFrom])
			equal(t, "spot", im.Tags[tagGroup])
		}
	}
	if image == "" {
		t.Fatal("no image of the reclaimed instance")
	}
	e.srv.Advance(time.Minute)
	repl, err := p.Provision(spotSpec(groupspec.KeepDataImage))
	noErr(t, err)
	v := e.view(t, string(*repl))
	equal(t, image, v.ImageId, "the replacement boots from the kept image")
	equal(t, e.view(t, string(*old)).VSwitchId, v.VSwitchId)
	equal(t, e.view(t, string(*old)).SecurityGroupIds, v.SecurityGroupIds)

	// Once the replacement runs, the watcher deletes the image.
	e.srv.Advance(time.Minute)
	p.spot.Watch.Once(p.spot.Context())
	found := false
	for _, im := range e.srv.Images() {
		if im.ImageId == image {
			found = true
			equal(t, true, im.Deleted, "kept image deleted once the replacement runs")
		}
	}
	if !found {
		t.Fatalf("the emulator no longer lists image %s", image)
	}
}

// The watcher finds reclaimed instances with one LockReason-filtered call,
// however many instances the namespace holds.
func TestEmulatorWatcherAsksForRecyclingOnly(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	var ids []string
	for i := 0; i < 3; i++ {
		id, err := p.Provision(spotSpec(""))
		noErr(t, err)
		ids = append(ids, string(*id))
	}
	e.srv.Advance(time.Minute)
	noErr(t, e.srv.Preempt(ids[1]))

	before := e.srv.Stats().Calls["DescribeInstances"]
	p.spot.Watch.Once(p.spot.Context())
	equal(t, 1, e.srv.Stats().Calls["DescribeInstances"]-before, "ECS calls per watcher tick")
	if !p.spot.Noticed(ids[1]) || p.spot.Noticed(ids[0]) || p.spot.Noticed(ids[2]) {
		t.Fatalf("doomed: %v %v %v, want only the reclaimed %s", p.spot.Noticed(ids[0]), p.spot.Noticed(ids[1]), p.spot.Noticed(ids[2]), ids[1])
	}
}
