package instance

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/denverdino/aliyungo/common"
	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
	"infrakit.aliyun/plugin/instance/groupspec"
	"infrakit.aliyun/plugin/instance/spot"
)

// copyOf starts a second copy of the plugin over e's emulator, as a second
// process (or the first, restarted) would be: same namespace, no memory.
func (e *emuEnv) copyOf(t *testing.T, tune func(*Config)) (*Plugin, *testutil.SyncBuffer) {
	t.Helper()
	logger, buf := quietLogger()
	cfg := Config{
		Clients:       StaticClient(e.client),
		RegionID:      emulator.DefaultRegion,
		NamespaceTags: map[string]string{"infrakit.scope": "emu"},
		Logger:        logger,
		Now:           e.srv.Now,
		Retry:         ecs.RetryConfig{MaxElapsed: 10 * time.Minute, Sleep: e.srv.Advance},
	}
	if tune != nil {
		tune(&cfg)
	}
	p, err := New(cfg)
	noErr(t, err)
	t.Cleanup(func() { p.Close() })
	return p, buf
}

// reclaimKept provisions a KeepData "disks" spot member with p, has ECS
// reclaim it and p keep its data disk; it returns the member and the disk.
func (e *emuEnv) reclaimKept(t *testing.T, p *Plugin) (string, string) {
	t.Helper()
	old, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute) // Running
	disk := e.view(t, string(*old)).DataDiskIds[0]
	noErr(t, e.srv.Preempt(string(*old)))
	_, err = p.DescribeInstances(map[string]string{tagGroup: "spot"}, false) // the notice
	noErr(t, err)
	p.spot.Wait() // the disk is kept (detached, tagged)
	return string(*old), disk
}

// keptGroupOfTwo reclaims a KeepData member and provisions its
// replacement, which takes the kept disk, and a second member; it returns
// the disk and the two members' IDs, all Running.
func (e *emuEnv) keptGroupOfTwo(t *testing.T, p *Plugin) (disk string, repl, other *instance.ID) {
	t.Helper()
	_, disk = e.reclaimKept(t, p)
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	other, err = p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	e.srv.Advance(5 * time.Minute)
	return disk, repl, other
}

func (e *emuEnv) diskView(t *testing.T, id string) emulator.DiskView {
	t.Helper()
	for _, d := range e.srv.Disks() {
		if d.DiskId == id {
			return d
		}
	}
	t.Fatalf("emulator has no disk %s", id)
	return emulator.DiskView{}
}

// The copy that created the replacement is killed right after RunInstances
// (before it could tag the claim) or right after the claim (before the
// attach): the other copy's watcher finishes the move, and the replacement
// gets its data.
func TestKeptDiskFinishedByAnotherCopy(t *testing.T) {
	for _, point := range []string{spot.StopAfterRun, spot.StopAfterClaimed} {
		t.Run("killed after "+point, func(t *testing.T) {
			e := preemptEmu(t)
			p1 := e.plugin
			p2, _ := e.copyOf(t, nil)
			old, disk := e.reclaimKept(t, p1)

			p1.spot.SetStopHook(func(at, _ string) bool { return at == point }) // kill -9 here
			repl, err := p1.Provision(spotSpec(groupspec.KeepDataDisks))
			noErr(t, err)
			equal(t, old, e.view(t, string(*repl)).Tags[TagReplaces], "the replacement names its set from its first moment")
			equal(t, "", e.diskView(t, disk).InstanceId, "not attached by the killed copy")

			// The other copy's Provision does not take the set: its
			// replacement exists (found by its replaces tag).
			other, err := p2.Provision(spotSpec(groupspec.KeepDataDisks))
			noErr(t, err)
			equal(t, "", e.view(t, string(*other)).Tags[TagReplaces], "a second replacement for one set")

			e.srv.Advance(time.Minute) // the replacement runs
			p2.spot.Watch.Once(context.Background())
			v := e.view(t, string(*repl))
			equal(t, []string{disk}, v.DataDiskIds, "the other copy attached the kept disk")
			d := e.diskView(t, disk)
			equal(t, string(*repl), d.InstanceId)
			equal(t, false, d.DeleteWithInstance)
			equal(t, spot.KeepStepAttached, d.Tags[TagKeepStep])
			equal(t, string(*repl), d.Tags[TagClaimedBy])

			// Idempotent: more ticks of either copy change nothing.
			p2.spot.Watch.Once(context.Background())
			equal(t, []string{disk}, e.view(t, string(*repl)).DataDiskIds)
		})
	}
}

// A clean stop (SIGTERM: Close) while the attach waits for the replacement
// to boot: Close returns without it, the tags stay, another copy finishes.
func TestKeptDiskFinishedAfterCleanStop(t *testing.T) {
	e := preemptEmu(t)
	var armed atomic.Bool
	slept, resume := make(chan struct{}, 1), make(chan struct{})
	p1, _ := e.copyOf(t, func(c *Config) {
		c.Retry.Sleep = func(d time.Duration) {
			if !armed.Load() {
				e.srv.Advance(d)
				return
			}
			slept <- struct{}{}
			<-resume
		}
	})
	p2, _ := e.copyOf(t, nil)
	_, disk := e.reclaimKept(t, p1)
	armed.Store(true)
	repl, err := p1.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	<-slept // the attach was refused (Pending) and waits to retry

	closed := make(chan error)
	go func() { closed <- p1.Close() }()
	<-p1.spot.Stopping() // stopping; then the sleep ends
	close(resume)
	noErr(t, <-closed)
	d := e.diskView(t, disk)
	equal(t, "", d.InstanceId, "the stopped copy did not attach it")
	equal(t, spot.KeepStepClaimed, d.Tags[TagKeepStep])
	equal(t, string(*repl), d.Tags[TagClaimedBy])

	e.srv.Advance(time.Minute)
	p2.spot.Watch.Once(context.Background())
	equal(t, []string{disk}, e.view(t, string(*repl)).DataDiskIds, "the other copy finished the attach")
}

// Two copies attach the same kept disk: the loser says so at info level,
// with no error or warning.
func TestKeptDiskLostRaceIsInfo(t *testing.T) {
	e := preemptEmu(t)
	p1 := e.plugin
	p2, buf := e.copyOf(t, nil)
	_, disk := e.reclaimKept(t, p1)
	repl, err := p1.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p1.spot.Wait()
	equal(t, string(*repl), e.diskView(t, disk).InstanceId)

	// p2 makes the same move (as if it had claimed the disk too).
	p2.spot.Finish(context.Background(), &spot.Claim{Disks: []ecs.Disk{{ID: disk}}, From: "i-x"}, string(*repl))
	p2.spot.Wait()
	equal(t, spot.KeepStepAttached, e.diskView(t, disk).Tags[TagKeepStep], "the loser still records the step")
	out := buf.String()
	contains(t, out, "already attached to the replacement (another copy of the plugin did it)")
	contains(t, out, "level=info")
	if strings.Contains(out, "level=error") || strings.Contains(out, "level=warn") {
		t.Fatalf("a lost race logged as a problem:\n%s", out)
	}
}

// InfraKit's group destroy (a terminate Destroy of the group's last live
// member) marks the moved disk (DeleteWithInstance=false) released before
// the instance goes; a second copy's watcher deletes it even though the
// first copy stopped right after the Destroy. Disks that are not this
// plugin's kept disks are never touched.
func TestKeptDiskDeletedAfterGroupDestroy(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	p2, _ := e.copyOf(t, nil)
	_, disk := e.reclaimKept(t, p)
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	e.srv.Advance(5 * time.Minute) // ECS releases the reclaimed instance

	// Foreign look-alikes: another namespace's kept disk, and one of ours
	// without the kept tag.
	foreign := e.createDisk(t, map[string]string{"infrakit.scope": "other", TagKept: "true", TagKeepStep: spot.KeepStepReleased,
		TagPreemptedFrom: "i-gone", TagClaimedBy: "i-gone2", tagGroup: "spot"})
	unkept := e.createDisk(t, map[string]string{"infrakit.scope": "emu", TagKeepStep: spot.KeepStepReleased,
		TagPreemptedFrom: "i-gone", TagClaimedBy: "i-gone2", tagGroup: "spot"})
	foreignHeld := e.createDisk(t, map[string]string{"infrakit.scope": "other", TagKept: "true", TagKeepStep: spot.KeepStepAttached,
		TagPreemptedFrom: "i-gone", TagClaimedBy: "i-gone2", tagGroup: "spot"})

	p2.spot.Watch.Once(context.Background())
	equal(t, false, e.diskView(t, disk).Deleted, "in use by a live member")

	noErr(t, p.Destroy(*repl, instance.Termination)) // infrakit group destroy
	noErr(t, p.Close())                              // and this copy stops
	equal(t, spot.KeepStepReleased, e.diskView(t, disk).Tags[TagKeepStep], "marked before the instance went")
	e.srv.Advance(time.Minute)
	equal(t, "Available", e.diskView(t, disk).Status)
	p2.spot.Watch.Once(context.Background())
	equal(t, true, e.diskView(t, disk).Deleted, "no kept disk left behind the group")
	equal(t, false, e.diskView(t, foreign).Deleted, "another namespace's disk")
	equal(t, false, e.diskView(t, unkept).Deleted, "a disk without the kept tag")
	equal(t, spot.KeepStepAttached, e.diskView(t, foreignHeld).Tags[TagKeepStep], "another namespace's disk is not marked")
}

// A replacement in progress is never released: the group's last live
// member is destroyed while a Provision is taking the kept disk (claiming,
// within its time), and the disk keeps its step and survives.
func TestClaimingDiskNotReleased(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	_, disk := e.reclaimKept(t, p)
	e.srv.Advance(5 * time.Minute) // the reclaimed one is released
	e.srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{}}})
	_, err := p.Provision(spotSpec(groupspec.KeepDataDisks)) // tags it claiming, then no stock
	contains(t, fmt.Sprint(err), "NoStock")
	e.srv.SetFaults(emulator.Faults{})
	member, err := p.Provision(spotSpec(groupspec.KeepDataDisks)) // another Provision running now
	noErr(t, err)
	equal(t, "", e.view(t, string(*member)).Tags[TagReplaces], "took nothing: the disk is being taken")

	noErr(t, p.Destroy(*member, instance.Termination))
	p.spot.Watch.Once(context.Background())
	v := e.diskView(t, disk)
	equal(t, spot.KeepStepClaiming, v.Tags[TagKeepStep])
	equal(t, false, v.Deleted)
}

// A copy stopped between the release mark and DeleteInstance: the group
// plugin's retry reaches another copy, whose Destroy finds the mark
// already made (idempotent) and whose watcher deletes the disk.
func TestKeptDiskReleaseSurvivesStopBeforeDelete(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	p2, _ := e.copyOf(t, nil)
	_, disk := e.reclaimKept(t, p)
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	e.srv.Advance(5 * time.Minute)

	p.spot.SetStopHook(func(at, _ string) bool { return at == spot.StopAfterRelease }) // kill -9 here
	isErr(t, p.Destroy(*repl, instance.Termination))
	noErr(t, p.Close())
	equal(t, spot.KeepStepReleased, e.diskView(t, disk).Tags[TagKeepStep])
	equal(t, false, e.view(t, string(*repl)).Released, "stopped before DeleteInstance")
	p2.spot.Watch.Once(context.Background())
	equal(t, false, e.diskView(t, disk).Deleted, "still on the live instance")
	equal(t, spot.KeepStepReleased, e.diskView(t, disk).Tags[TagKeepStep], "the watcher keeps the mark")

	noErr(t, p2.Destroy(*repl, instance.Termination)) // the group plugin's retry
	e.srv.Advance(time.Minute)
	p2.spot.Watch.Once(context.Background())
	equal(t, true, e.diskView(t, disk).Deleted)
}

// A reclaimed group of one whose replacement cannot start (no stock
// anywhere) for ten minutes keeps its data: nothing but a user's destroy
// deletes a disk a Provision already tried to take. Once stock is back,
// the replacement gets it.
func TestKeptDiskSurvivesNoStock(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	_, disk := e.reclaimKept(t, p)
	e.srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{}}})
	for i := 0; i < 10; i++ {
		_, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
		contains(t, fmt.Sprint(err), "NoStock")
		e.srv.Advance(time.Minute) // ECS releases the reclaimed one at 5
		p.spot.Watch.Once(context.Background())
	}
	v := e.diskView(t, disk)
	equal(t, false, v.Deleted, "the group's only data")
	equal(t, spot.KeepStepClaiming, v.Tags[TagKeepStep])

	e.srv.SetFaults(emulator.Faults{})
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	equal(t, string(*repl), e.diskView(t, disk).InstanceId, "the replacement took it")
}

// A kept disk is not deleted while its group lives, even if its own
// instance is gone (scaled down): the next replacement takes it.
func TestKeptDiskOfLiveGroupKept(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	_, disk := e.reclaimKept(t, p)
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	other, err := p.Provision(spotSpec(""))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	noErr(t, p.Destroy(*repl, instance.Termination))
	e.srv.Advance(time.Minute)
	for i := 0; i < 3; i++ {
		p.spot.Watch.Once(context.Background())
		e.srv.Advance(2 * time.Minute)
	}
	v := e.diskView(t, disk)
	equal(t, false, v.Deleted, "group member "+string(*other)+" still runs")
	equal(t, spot.KeepStepAttached, v.Tags[TagKeepStep], "not released")
}

func (e *emuEnv) createDisk(t *testing.T, tags map[string]string) string {
	t.Helper()
	id, err := e.client.CreateDisk(&aliyun.CreateDiskArgs{RegionId: common.Region(emulator.DefaultRegion), ZoneId: emulator.DefaultZone,
		DiskCategory: aliyun.DiskCategoryCloudEfficiency, Size: 20, Tag: tags})
	noErr(t, err)
	return id
}

// raceDetach is ECS as seen by the second of two copies noticing the same
// reclaim: the other copy detaches each disk just before this one asks.
type raceDetach struct{ *keepFake }

func (f *raceDetach) DetachDisk(ctx context.Context, instanceID, diskID string) error {
	_ = f.keepFake.DetachDisk(ctx, instanceID, diskID) // the other copy, first
	return &ecs.APIError{Action: "DetachDisk", Code: "IncorrectDiskStatus", Message: "The current disk status does not support this operation."}
}

func (f *raceDetach) DescribeDisks(ctx context.Context, flt ecs.DiskFilter) ([]ecs.Disk, error) {
	all, err := f.keepFake.DescribeDisks(ctx, ecs.DiskFilter{InstanceID: flt.InstanceID, Tags: flt.Tags})
	if len(flt.DiskIDs) == 0 {
		return all, err
	}
	var out []ecs.Disk
	for _, d := range all {
		if containsStr(flt.DiskIDs, d.ID) {
			out = append(out, d)
		}
	}
	return out, err
}

// The copy that loses the detach race says so at info level and still
// reports the disk as kept: no false "could not keep the data" error.
func TestKeepDisksLostDetachRaceIsInfo(t *testing.T) {
	fake := &raceDetach{newKeepFake()}
	inst := fake.spotMember("i-1", "172.16.0.1", map[string]string{TagKeepData: groupspec.KeepDataDisks})
	fake.disks["d-1"] = &ecs.Disk{ID: "d-1", Zone: "cn-hangzhou-h", Status: "In_use", Type: "data", InstanceID: "i-1"}
	reclaim(inst)
	p, _, buf := newTestPlugin(t, fake)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	p.spot.Wait()
	out := buf.String()
	contains(t, out, "kept disk already detached (another copy of the plugin did it)")
	contains(t, out, "kept the data of a reclaimed instance")
	if strings.Contains(out, "could not keep") || strings.Contains(out, "level=error") {
		t.Fatalf("a lost race logged as an error:\n%s", out)
	}
}

// A group destroyed while its replacement still boots from a kept image
// (the reclaimed one not yet released): the image is released by the
// Destroy and deleted at the next watcher tick, not kept (and billed) for
// keptImageMaxAge.
func TestKeptImageDeletedAfterGroupDestroy(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	old, err := p.Provision(spotSpec(groupspec.KeepDataImage))
	noErr(t, err)
	e.srv.Advance(time.Minute)
	noErr(t, e.srv.Preempt(string(*old)))
	_, err = p.DescribeInstances(map[string]string{tagGroup: "spot"}, false)
	noErr(t, err)
	p.spot.Wait()
	e.srv.Advance(time.Minute) // the image is Available
	repl, err := p.Provision(spotSpec(groupspec.KeepDataImage))
	noErr(t, err)
	image := e.view(t, string(*repl)).ImageId
	deleted := func() bool {
		for _, im := range e.srv.Images() {
			if im.ImageId == image {
				return im.Deleted
			}
		}
		t.Fatalf("no image %s", image)
		return false
	}
	p.spot.Watch.Once(context.Background())
	equal(t, false, deleted(), "the replacement still boots from it")

	noErr(t, p.Destroy(*repl, instance.Termination)) // infrakit group destroy, still Pending
	p.spot.Watch.Once(context.Background())
	equal(t, true, deleted(), "no kept image left behind the group")
}

// The group is destroyed while the replacement still boots, before its
// kept disk was attached: the claimed disk is released and deleted too.
func TestClaimedDiskDeletedAfterGroupDestroy(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	_, disk := e.reclaimKept(t, p)
	p.spot.SetStopHook(func(at, _ string) bool { return at == spot.StopAfterClaimed }) // no attach
	repl, err := p.Provision(spotSpec(groupspec.KeepDataDisks))
	noErr(t, err)
	equal(t, spot.KeepStepClaimed, e.diskView(t, disk).Tags[TagKeepStep])
	p.spot.Watch.Once(context.Background())
	equal(t, false, e.diskView(t, disk).Deleted, "claimed by a live replacement")
	noErr(t, p.Destroy(*repl, instance.Termination))
	p.spot.Watch.Once(context.Background())
	equal(t, true, e.diskView(t, disk).Deleted)
}

// Two terminate Destroys of a group's last two members run at once (both
// read the group before either deletes): the one that reads last sees the
// other's destroying tag and releases the kept disk.
func TestConcurrentDestroysRelease(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	disk, repl, other := e.keptGroupOfTwo(t, p)
	lookup := func(id string) *ecs.Instance {
		found, err := p.api.DescribeInstances(context.Background(), ecs.InstanceFilter{InstanceIDs: []string{id}})
		noErr(t, err)
		equal(t, 1, len(found))
		return &found[0]
	}
	a, b := lookup(string(*repl)), lookup(string(*other))
	noErr(t, p.spot.Release(context.Background(), a)) // sees b live
	equal(t, spot.KeepStepAttached, e.diskView(t, disk).Tags[TagKeepStep])
	noErr(t, p.spot.Release(context.Background(), b)) // sees a being destroyed
	equal(t, spot.KeepStepReleased, e.diskView(t, disk).Tags[TagKeepStep])
	_, err := time.Parse(time.RFC3339, e.view(t, string(*repl)).Tags[spot.TagDestroying])
	noErr(t, err) // when its Destroy began
}
