package spot

// End-to-end coverage of the spot paths besides the watcher's: the pushed
// CloudMonitor event (--events-listen), the event stream as `infrakit
// instance-aliyun tail` shows it, and pets that keep their IP and data disk.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

// interruptionEvent is what CloudMonitor pushes when ECS reclaims a spot
// instance (Instance:PreemptibleInstanceInterruption).
func interruptionEvent(id string) string {
	return fmt.Sprintf(`{"product":"ECS","resourceId":"acs:ecs:cn-hangzhou:1:instance/%s","level":"WARN",`+
		`"name":"Instance:PreemptibleInstanceInterruption","regionId":"cn-hangzhou",`+
		`"content":{"instanceId":%q,"action":"delete"}}`, id, id)
}

var eventsAddrLine = regexp.MustCompile(`Accepting CloudMonitor interruption events" address="?(127\.0\.0\.1:\d+)`)

// eventsAddr is where the plugin (started with --events-listen 127.0.0.1:0)
// accepts pushed events, as it logged it.
func (w *world) eventsAddr() string {
	w.T.Helper()
	m, err := w.Plugin.WaitForOutput(eventsAddrLine, harness.StartTimeout)
	if err != nil {
		w.T.Fatal(err)
	}
	return m[1]
}

// push POSTs a CloudMonitor interruption event for id to the plugin.
func (w *world) push(addr, id string) {
	w.T.Helper()
	req, _ := http.NewRequestWithContext(w.Ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader(interruptionEvent(id)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.T.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	// "checking": the plugin knows id as one of its spot instances and
	// looks it up with ECS (a push is only a hint).
	if resp.StatusCode != http.StatusAccepted || body["status"] != "checking" || body["instanceId"] != id {
		w.T.Fatalf("push interruption of %s: %s %v", id, resp.Status, body)
	}
}

func (w *world) disk(id string) emulator.DiskView {
	w.T.Helper()
	all, err := w.Emu.Disks(w.Ctx)
	if err != nil {
		w.T.Fatal(err)
	}
	for _, d := range all {
		if d.DiskId == id {
			return d
		}
	}
	w.T.Fatalf("the emulator has no disk %s", id)
	return emulator.DiskView{}
}

func viewOf(all []emulator.InstanceView, id string) emulator.InstanceView {
	for _, v := range all {
		if v.InstanceId == id {
			return v
		}
	}
	return emulator.InstanceView{}
}

// A pushed CloudMonitor event that ECS does not confirm (the emulator never
// reclaims the instance, so it carries no Recycling lock) changes nothing:
// the plugin checks the push with ECS before acting on it, so the instance
// keeps its disk, stays in its group, and no replacement is made. A push is
// a hint; a wrong or forged one must not strand a running instance.
// (A confirmed push ends in the same handling as a reclaim a describe or
// the watcher notices, which TestSpotReclaimKeepsDisks covers end to end;
// the push path itself is unit-tested in plugin/instance, since here a
// group poll could notice the same lock first.)
func TestSpotUnconfirmedPushChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "--spot-watch-interval", "0", "--events-listen", "127.0.0.1:0")
	addr := w.eventsAddr()
	w.commit("disks")
	first := running(w.WaitInstances("3 Running members", func(all []emulator.InstanceView) bool {
		return len(running(all, "")) == 3
	}), "")
	victim := first[1]
	if len(victim.DataDiskIds) != 1 {
		t.Fatalf("member %s has data disks %v, want 1", victim.InstanceId, victim.DataDiskIds)
	}
	oldDisk := victim.DataDiskIds[0]
	want := emuctl.IDs(first)
	if got := w.GroupIDs("spot"); !harness.SameIDs(got, want) {
		t.Fatalf("group describe before the push: %v, want %v", got, want)
	}

	w.push(addr, victim.InstanceId)
	if _, err := w.Plugin.WaitForOutput(regexp.MustCompile(`pushed interruption not confirmed.*`+victim.InstanceId+`|`+victim.InstanceId+`.*pushed interruption not confirmed`), aliyunenv.WaitTimeout); err != nil {
		t.Fatalf("the plugin did not check the push with ECS: %v", err)
	}

	// A minute (emulated; several group polls) later: same members, nothing
	// created or destroyed, the disk where it was, no interruption event.
	w.AfterEmulated(w.Now(), time.Minute)
	if got := w.GroupIDs("spot"); !harness.SameIDs(got, want) {
		t.Fatalf("group describe after an unconfirmed push: %v, want %v", got, want)
	}
	if n := w.Calls("RunInstances"); n != 3 {
		t.Fatalf("RunInstances called %d times, want 3: nothing should be replaced", n)
	}
	if n := w.Calls("DeleteInstance", "DeleteInstances", "DetachDisk"); n != 0 {
		t.Fatalf("%d delete/detach calls: nothing should be touched", n)
	}
	if d := w.disk(oldDisk); d.InstanceId != victim.InstanceId {
		t.Fatalf("disk %s is on %q, want still on %s", oldDisk, d.InstanceId, victim.InstanceId)
	}
	if got := strings.TrimSpace(w.E.MustCLI(pluginName, "cat", "events/instance/interrupting")); got != "0" {
		t.Fatalf("events/instance/interrupting = %q, want 0", got)
	}
}

var tailSubscribed = regexp.MustCompile(`Connected\S*\s.*topic\S*=\S*/instance/interrupting`)

// `infrakit instance-aliyun tail instance/interrupting` as a process: it
// prints the interruption of a reclaimed member, and stops on SIGTERM.
func TestSpotTailShowsInterruption(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	harness.MustContain(t, "topics", w.E.MustCLI(pluginName, "topics"), "instance")
	w.commit("disks")
	first := running(w.WaitInstances("3 Running members", func(all []emulator.InstanceView) bool {
		return len(running(all, "")) == 3
	}), "")

	tail := w.E.Start("tail", harness.CLI, []string{pluginName, "tail", "instance/interrupting",
		"--view", "str://{{.Type}} {{.Topic}} {{.Properties.InstanceId}} group={{.Properties.Group}} source={{.Properties.Source}}"})
	// And as typed, with the default view.
	plain := w.E.Start("tail-default", harness.CLI, []string{pluginName, "tail", "instance/interrupting"})
	// The subscriptions register in the background; an event published
	// before the plugin's broker has them would be missed.
	w.Wait("the plugin to register 2 subscriptions", func() bool {
		return len(tailSubscribed.FindAllString(w.Plugin.Output(), -1)) == 2
	}, nil)
	victim := w.preempt(first[1].InstanceId)
	line := regexp.MustCompile(`(?m)^Interrupting instance/interrupting ` + victim.InstanceId + ` group=spot source=(watcher|describe)$`)
	if _, err := tail.WaitForOutput(line, aliyunenv.WaitTimeout); err != nil {
		t.Fatalf("%v\n--- tail ---\n%s", err, tail.Output())
	}

	// {{jsonDecode .Data}} renders the decoded Interruption as a Go map.
	data := regexp.MustCompile(`map\[Group:spot InstanceId:` + victim.InstanceId + ` .*Source:(watcher|describe) `)
	if _, err := plain.WaitForOutput(data, aliyunenv.WaitTimeout); err != nil {
		t.Fatalf("%v\n--- tail-default ---\n%s", err, plain.Output())
	}

	for _, p := range []*harness.Process{tail, plain} {
		start := time.Now()
		err := p.Stop()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
			t.Fatalf("%s did not stop on SIGTERM: %v\n%s", p.Name, err, p.Output())
		}
		t.Logf("%s stopped in %v (%v)", p.Name, time.Since(start).Round(time.Millisecond), err)
	}
	// The plugin still serves its events. (InfraKit's broker only drops
	// the gone subscriber at the topic's next event, so there is no
	// "Disconnected" to wait for here.)
	harness.MustContain(t, "topics after tail", w.E.MustCLI(pluginName, "topics"), "instance")
	if n := strings.Count(tail.Output(), victim.InstanceId); n != 1 {
		t.Fatalf("tail printed the interruption %d times:\n%s", n, tail.Output())
	}
}

// Pets on spot with KeepData "disks": the replacement of a reclaimed pet
// gets the same private IP (its logical ID), but only once ECS released
// the old one, and the old data disk.
func TestSpotPetsKeepIPAndDisk(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ips := []string{"172.16.15.20", "172.16.15.21"}
	spec := fmt.Sprintf(`{"ID":"spotpets","Properties":{
  "Allocation":{"LogicalIDs":[%q,%q]},
  "Instance":{"Plugin":"instance-aliyun","Properties":{
    "RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q,
      "InstanceName":"spotpet","SpotStrategy":"SpotAsPriceGo",
      "DataDisk":[{"Category":"cloud_essd","Size":20}]},
    "Preemption":{"KeepData":"disks"}}},
  "Flavor":{"Plugin":"flavor-vanilla","Properties":{"Init":["#!/bin/sh","mount /dev/xvdb /data"]}}}}`,
		ips[0], ips[1], emulator.DefaultImageID, emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID)
	harness.MustContain(t, "commit", w.E.MustCLI("group", "commit", w.E.WriteFile("spotpets.json", spec)), "Committed spotpets")

	pets := func(all []emulator.InstanceView) map[string]emulator.InstanceView {
		out := map[string]emulator.InstanceView{}
		for _, v := range all {
			if !v.Released && v.Tags["infrakit.group"] == "spotpets" {
				out[v.PrivateIpAddress] = v
			}
		}
		return out
	}
	all := w.WaitInstances("2 Running pets", func(all []emulator.InstanceView) bool {
		p := pets(all)
		return len(p) == 2 && p[ips[0]].Status == "Running" && p[ips[1]].Status == "Running"
	})
	old, other := pets(all)[ips[0]], pets(all)[ips[1]]
	if old.Tags["infrakit.logical_id"] != ips[0] || len(old.DataDiskIds) != 1 {
		t.Fatalf("pet %s: tags %v, data disks %v", old.InstanceId, old.Tags, old.DataDiskIds)
	}
	oldDisk := old.DataDiskIds[0]
	runs := w.Calls("RunInstances")

	victim := w.preempt(old.InstanceId)
	// The watcher notices, the disk is kept (tagged, detached) ...
	w.Wait("disk "+oldDisk+" to be kept", func() bool {
		d := w.disk(oldDisk)
		return d.InstanceId == "" && d.Status == "Available" && !d.DeleteWithInstance && d.Tags["infrakit-aliyun.preempted-from"] == old.InstanceId
	}, func() string { return aliyunenv.Dump(w.disk(oldDisk)) })
	// ... and the group's Provision of the logical ID is refused while the
	// reclaimed instance holds the IP.
	refused := regexp.MustCompile(`private ip still held by reclaimed instance ` + old.InstanceId)
	if _, err := w.Plugin.WaitForOutput(refused, aliyunenv.WaitTimeout); err != nil {
		t.Fatal(err)
	}
	if n := w.Calls("RunInstances"); n != runs {
		t.Fatalf("RunInstances called while %s still holds %s (%d calls, were %d)", old.InstanceId, ips[0], n, runs)
	}
	if v, err := w.Emu.Instance(w.Ctx, old.InstanceId); err != nil || v.Released {
		t.Fatalf("reclaimed pet released before the test advanced time (%v): the check above proves nothing", err)
	}

	// Skip the rest of the 5-minute notice: ECS releases the instance.
	if _, err := w.Emu.Advance(w.Ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	all = w.WaitInstances("the replacement pet Running at "+ips[0]+" with the old data disk", func(all []emulator.InstanceView) bool {
		r := pets(all)[ips[0]]
		return r.InstanceId != "" && r.InstanceId != old.InstanceId && r.Status == "Running" &&
			len(r.DataDiskIds) == 1 && r.DataDiskIds[0] == oldDisk
	})
	repl := pets(all)[ips[0]]
	gone := viewOf(all, old.InstanceId)
	if !gone.Released || gone.ReleaseReason != emulator.ReleasePreempted {
		t.Fatalf("old pet %s: released %v for %q", gone.InstanceId, gone.Released, gone.ReleaseReason)
	}
	if repl.CreationTime.Before(gone.ReleasedAt) {
		t.Fatalf("replacement %s created at %v, before %s released the IP at %v", repl.InstanceId, repl.CreationTime, gone.InstanceId, gone.ReleasedAt)
	}
	if repl.Tags["infrakit.logical_id"] != ips[0] || repl.VSwitchId != victim.VSwitchId {
		t.Fatalf("replacement %s: logical id %q, vswitch %s", repl.InstanceId, repl.Tags["infrakit.logical_id"], repl.VSwitchId)
	}
	if d := w.disk(oldDisk); d.InstanceId != repl.InstanceId || d.Deleted || d.Tags["infrakit-aliyun.claimed-by"] != repl.InstanceId {
		t.Fatalf("disk %s: %+v; want attached to and claimed by %s", oldDisk, d, repl.InstanceId)
	}
	if p := pets(all); len(p) != 2 || p[ips[1]].InstanceId != other.InstanceId {
		t.Fatalf("pets now %v; want %s kept at %s", p, other.InstanceId, ips[1])
	}
	if n := w.Calls("RunInstances"); n != runs+1 {
		t.Fatalf("RunInstances called %d times since the reclaim, want 1", n-runs)
	}
	want := []string{other.InstanceId, repl.InstanceId}
	w.WaitCLI(fmt.Sprintf("group describe to list %v", want), func(out string) bool { return harness.SameIDs(harness.IDs(out, "i-"), want) },
		"group", "describe", "spotpets")
}
