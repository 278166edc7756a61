// Package crash proves the plugin is crash-safe: it holds no state, so a
// plugin killed with SIGKILL in the middle of a burst of Provisions and then
// restarted leaves no instance InfraKit's group plugin cannot see and no
// duplicate. Every piece is a real process: the ECS emulator, the plugin,
// InfraKit's group plugin and vanilla flavor, and the infrakit CLI.
package crash

import (
	"fmt"
	"os"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

const (
	pluginName  = aliyunenv.PluginName
	group       = "crashy"
	waitTimeout = 90 * time.Second // bounds every wait: the bursts run on a slow, lossy ECS
)

func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }

func spec(size int) string {
	return fmt.Sprintf(`{
  "ID": %q,
  "Properties": {
    "Allocation": {"Size": %d},
    "Instance": {
      "Plugin": %q,
      "Properties": {
        "RunInstances": {"ImageId": %q, "InstanceType": %q, "VSwitchId": %q, "SecurityGroupId": %q},
        "Tags": {"project": "crash"}
      }
    },
    "Flavor": {"Plugin": "flavor-vanilla", "Properties": {"Init": ["#!/bin/sh", "echo crash"]}}
  }
}`, group, size, pluginName, emulator.DefaultImageID, emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID)
}

// TestSIGKILLDuringProvisionBurst kills the plugin twice during bursts of
// Provisions and checks after each restart that the group converges to
// exactly its size, every live instance carrying the group's tag.
//
//  1. Deterministic: every RunInstances response is lost, so the plugin is
//     retrying (same ClientToken) Provisions that ECS already carried out
//     when it is killed. The instances exist; no Provision ever returned.
//  2. Racy: ECS is slow (latency) and loses some responses; the plugin is
//     killed at an arbitrary point of a scale-up burst.
func TestSIGKILLDuringProvisionBurst(t *testing.T) {
	w := aliyunenv.NewWorld(t, aliyunenv.WorldOptions{
		PollInterval: "500ms",
		EmulatorArgs: []string{"--boot-time", "2s", "--time-scale", "10", "--seed", "9"},
		PluginArgs:   []string{"--namespace-tags", "test=crash"},
		Timeout:      waitTimeout,
	})
	e := w.E
	tags := map[string]string{"infrakit.group": group}

	live := func() (tagged, all []emulator.InstanceView) {
		t.Helper()
		all = w.Live(nil)
		for _, v := range all {
			if emuctl.HasTags(v.Tags, tags) {
				tagged = append(tagged, v)
			}
		}
		return tagged, all
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		w.Wait(what, cond, func() string {
			tagged, all := live()
			return fmt.Sprintf("%d tagged, %d live instances", len(tagged), len(all))
		})
	}
	setFaults := func(f emulator.Faults) {
		t.Helper()
		if err := w.Emu.SetFaults(w.Ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// converged checks the group holds exactly size instances over several
	// group polls (so a late over-provision would show), all of them seen
	// by the group, and that InfraKit reports them.
	converged := func(size int) {
		t.Helper()
		waitFor(fmt.Sprintf("%d instances", size), func() bool { tagged, all := live(); return len(tagged) == size && len(all) == size })
		polls := w.Calls("DescribeInstances")
		deadline := time.Now().Add(waitTimeout)
		for w.Calls("DescribeInstances") < polls+8 { // ≥ 4 group polls of scaler and metadata
			if time.Now().After(deadline) {
				t.Fatal("the group stopped polling")
			}
			tagged, all := live()
			if len(tagged) != size || len(all) != size {
				t.Fatalf("after converging to %d: %d tagged, %d live instances", size, len(tagged), len(all))
			}
			time.Sleep(50 * time.Millisecond)
		}
		tagged, _ := live()
		want := emuctl.IDs(tagged)
		w.WaitCLI(fmt.Sprintf("group describe to list %v", want), func(out string) bool { return harness.SameIDs(harness.IDs(out, "i-"), want) },
			"group", "describe", group)
	}

	// --- 1: every response lost; kill once all 8 instances exist.
	setFaults(emulator.Faults{DropResponseRate: 1, Actions: []string{"RunInstances"}})
	e.WriteFile("crash.json", spec(8))
	e.MustCLI("group", "commit", e.Path("crash.json"))
	waitFor("8 instances created with their responses lost", func() bool { tagged, _ := live(); return len(tagged) == 8 })
	runs := w.Calls("RunInstances")
	waitFor("Provisions to be retrying", func() bool { return w.Calls("RunInstances") > runs })
	w.Plugin.Kill()
	if tagged, all := live(); len(tagged) != 8 || len(all) != 8 {
		t.Fatalf("after the kill: %d tagged, %d live, want 8 and 8", len(tagged), len(all))
	}
	setFaults(emulator.Faults{})
	w.StartPlugin()
	converged(8)
	t.Logf("phase 1: RunInstances calls %d for 8 instances", w.Calls("RunInstances"))

	// --- 2: scale to 24 on a slow, lossy ECS; kill mid-burst.
	setFaults(emulator.Faults{LatencyMS: 300, DropResponseRate: 0.3, ThrottleRate: 0.2, Actions: []string{"RunInstances"}})
	before := w.Calls("RunInstances")
	e.WriteFile("crash.json", spec(24))
	e.MustCLI("group", "commit", e.Path("crash.json"))
	waitFor("the scale-up burst to create some instances", func() bool {
		tagged, _ := live()
		return w.Calls("RunInstances") >= before+8 && len(tagged) > 8
	})
	w.Plugin.Kill()
	tagged, all := live()
	t.Logf("phase 2: killed with %d tagged / %d live instances, %d RunInstances calls", len(tagged), len(all), w.Calls("RunInstances")-before)
	if len(tagged) != len(all) {
		t.Fatalf("untagged instances after the kill: %d tagged, %d live", len(tagged), len(all))
	}
	setFaults(emulator.Faults{})
	w.StartPlugin()
	converged(24)
}
