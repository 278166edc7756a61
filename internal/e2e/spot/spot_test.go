// Package spot proves spot interruption handling inside real InfraKit: the
// ECS emulator, the infrakit-instance-aliyun daemon (with its reclaim
// watcher), InfraKit's group plugin and vanilla flavor run as processes. A
// member of a spot group is reclaimed through the emulator's control API;
// the group must start the replacement during the 5-minute notice, keep 3
// members Running, and the replacement must carry the kept data.
package spot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

const pluginName = aliyunenv.PluginName

func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }

type world struct{ *aliyunenv.World }

// newWorld starts the emulator, the plugin (its reclaim watcher every
// 300 ms), vanilla and the group plugin. Emulated time runs 30x: boot
// (30 s) takes 1 s, the 5-minute notice 10 s. pluginArgs are added to the
// plugin's command line after the defaults (a flag given again there wins,
// e.g. "--spot-watch-interval", "0").
func newWorld(t *testing.T, pluginArgs ...string) *world {
	t.Helper()
	return &world{aliyunenv.NewWorld(t, aliyunenv.WorldOptions{
		EmulatorArgs: []string{"--boot-time", "30s", "--time-scale", "30", "--seed", "6"},
		PluginArgs:   append([]string{"--namespace-tags", "e2e=spot", "--spot-watch-interval", "300ms"}, pluginArgs...),
	})}
}

// preempt reclaims an instance through the emulator's control API.
func (w *world) preempt(id string) emulator.InstanceView {
	w.T.Helper()
	v, err := w.Emu.Preempt(w.Ctx, id)
	if err != nil {
		w.T.Fatal(err)
	}
	return v
}

func members(all []emulator.InstanceView) []emulator.InstanceView {
	var out []emulator.InstanceView
	for _, v := range all {
		if !v.Released && v.Tags["infrakit.group"] == "spot" {
			out = append(out, v)
		}
	}
	return out
}

func running(all []emulator.InstanceView, except string) []emulator.InstanceView {
	var out []emulator.InstanceView
	for _, v := range members(all) {
		if v.Status == "Running" && v.InstanceId != except {
			out = append(out, v)
		}
	}
	return out
}

// commit writes example/aliyun-spot.json with KeepData set and commits it.
func (w *world) commit(keep string) {
	w.T.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		w.T.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "example", "aliyun-spot.json"))
	if err != nil {
		w.T.Fatal(err)
	}
	spec := strings.Replace(string(b), `"KeepData": "disks"`, fmt.Sprintf(`"KeepData": %q`, keep), 1)
	path := w.E.WriteFile("spot.json", spec)
	out := w.E.MustCLI("group", "commit", path)
	if !strings.Contains(out, "Committed spot: Managing 3 instances") {
		w.T.Fatalf("commit: %s", out)
	}
}

// reclaimOne commits the group, reclaims a member and waits until the group
// is back to 3 Running members besides it. It returns the reclaimed
// instance (as the emulator saw it when reclaimed) and its replacement.
func (w *world) reclaimOne(keep string) (victim, repl emulator.InstanceView) {
	w.T.Helper()
	w.commit(keep)
	first := running(w.WaitInstances("3 Running members", func(all []emulator.InstanceView) bool {
		return len(running(all, "")) == 3
	}), "")
	victim = w.preempt(first[1].InstanceId)
	if victim.PreemptedAt.IsZero() || victim.ReleaseAt.IsZero() {
		w.T.Fatalf("emulator did not record the reclaim: %+v", victim)
	}
	all := w.WaitInstances("a Running replacement", func(all []emulator.InstanceView) bool {
		return len(running(all, victim.InstanceId)) == 3
	})
	for _, v := range running(all, victim.InstanceId) {
		if v.InstanceId != first[0].InstanceId && v.InstanceId != first[2].InstanceId {
			repl = v
		}
	}
	return victim, repl
}

// checkTimeline waits for ECS to release the reclaimed instance and checks
// that the replacement was requested before that, and that the group stays
// at 3 Running members.
func (w *world) checkTimeline(victim, repl emulator.InstanceView) {
	w.T.Helper()
	all := w.WaitInstances("the reclaimed instance to be released", func(all []emulator.InstanceView) bool {
		return viewOf(all, victim.InstanceId).Released
	})
	gone := viewOf(all, victim.InstanceId)
	if gone.ReleaseReason != emulator.ReleasePreempted {
		w.T.Fatalf("released for %q, want %q", gone.ReleaseReason, emulator.ReleasePreempted)
	}
	if !repl.CreationTime.After(gone.PreemptedAt) || !repl.CreationTime.Before(gone.ReleasedAt) {
		w.T.Fatalf("replacement %s created at %v; reclaim notice at %v, release at %v: want it in between",
			repl.InstanceId, repl.CreationTime, gone.PreemptedAt, gone.ReleasedAt)
	}
	w.T.Logf("notice %v, replacement requested %v after it, release %v after it",
		gone.PreemptedAt.Format(time.RFC3339), repl.CreationTime.Sub(gone.PreemptedAt), gone.ReleasedAt.Sub(gone.PreemptedAt))
	// A minute (emulated; a few group polls) after the release, still 3
	// Running and nothing more created.
	w.AfterEmulated(gone.ReleasedAt, time.Minute)
	all = w.Instances()
	if m := members(all); len(m) != 3 || len(running(all, "")) != 3 {
		w.T.Fatalf("after the release the group has %d live members, %d Running; want 3 and 3", len(m), len(running(all, "")))
	}
}

func TestSpotReclaimKeepsDisks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	victim, repl := w.reclaimOne("disks")
	if len(victim.DataDiskIds) != 1 {
		t.Fatalf("reclaimed instance has data disks %v, want 1", victim.DataDiskIds)
	}
	oldDisk := victim.DataDiskIds[0]
	w.WaitInstances("the old data disk on the replacement", func(all []emulator.InstanceView) bool {
		v := viewOf(all, repl.InstanceId)
		return len(v.DataDiskIds) == 1 && v.DataDiskIds[0] == oldDisk
	})
	w.checkTimeline(victim, repl)

	// The InfraKit surfaces: metadata through the CLI.
	out := w.E.MustCLI(pluginName, "cat", "region")
	if !strings.Contains(out, "cn-hangzhou") {
		t.Fatalf("infrakit %s cat region: %q", pluginName, out)
	}
	out = w.E.MustCLI(pluginName, "cat", "spot/last-interruption/InstanceId")
	if !strings.Contains(out, victim.InstanceId) {
		t.Fatalf("infrakit %s cat spot/last-interruption/InstanceId: %q, want %s", pluginName, out, victim.InstanceId)
	}
}

func TestSpotReclaimKeepsImage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	victim, repl := w.reclaimOne("image")
	var image emulator.ImageView
	for _, im := range w.imagesOf(victim.InstanceId) {
		image = im
	}
	if image.ImageId == "" {
		t.Fatalf("no image was made of the reclaimed instance %s", victim.InstanceId)
	}
	if repl.ImageId != image.ImageId {
		t.Fatalf("replacement boots from %s, want the kept image %s", repl.ImageId, image.ImageId)
	}
	if repl.VSwitchId != victim.VSwitchId || repl.InstanceType != victim.InstanceType || repl.PrivateIpAddress == victim.PrivateIpAddress {
		t.Fatalf("replacement %s/%s/%s, reclaimed %s/%s/%s: want same vswitch and type, another IP",
			repl.VSwitchId, repl.InstanceType, repl.PrivateIpAddress, victim.VSwitchId, victim.InstanceType, victim.PrivateIpAddress)
	}
	w.checkTimeline(victim, repl)
	w.Wait("the kept image "+image.ImageId+" to be deleted once the replacement runs", func() bool {
		ims := w.imagesOf(victim.InstanceId)
		return len(ims) == 1 && ims[0].Deleted
	}, func() string { return aliyunenv.Dump(w.imagesOf(victim.InstanceId)) })
}

// imagesOf is the images made of instance id.
func (w *world) imagesOf(id string) []emulator.ImageView {
	w.T.Helper()
	all, err := w.Emu.Images(w.Ctx)
	if err != nil {
		w.T.Fatal(err)
	}
	var out []emulator.ImageView
	for _, im := range all {
		if im.SourceInstanceId == id {
			out = append(out, im)
		}
	}
	return out
}
