// Package crash proves the plugin is crash-safe: it holds no state, so a
// plugin killed with SIGKILL in the middle of a burst of Provisions and then
// restarted leaves no instance InfraKit's group plugin cannot see and no
// duplicate. Every piece is a real process: the ECS emulator, the plugin,
// InfraKit's group plugin and vanilla flavor, and the infrakit CLI.
package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/emuctl"
	"infrakit.aliyun/internal/e2e/harness"
)

const (
	pluginName  = aliyunenv.PluginName
	group       = "crashy"
	waitTimeout = 90 * time.Second
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

func setFaults(t *testing.T, emu *emuctl.Client, f emulator.Faults) {
	t.Helper()
	b, _ := json.Marshal(f)
	resp, err := http.Post(emu.URL+"/emulator/faults", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set faults: %s", resp.Status)
	}
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
	e := harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL=500ms")
	ctx := context.Background()
	_, emu := aliyunenv.StartEmulator(e, "--boot-time", "2s", "--time-scale", "10", "--seed", "9")
	args := []string{"--endpoint", emu.URL, "--region", emulator.DefaultRegion, "--access-key-id", emulator.DefaultAccessKeyID,
		"--access-key-secret", emulator.DefaultAccessKeySecret, "--namespace-tags", "test=crash", "--log", "5"}
	plugin := e.StartPlugin(pluginName, aliyunenv.Plugin, args...)
	e.StartPlugin("flavor-vanilla", harness.Vanilla)
	e.StartPlugin("group", harness.Group, "--log", "4")
	tags := map[string]string{"infrakit.group": group}

	live := func() (tagged, all []emulator.InstanceView) {
		t.Helper()
		all, err := emu.Live(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range all {
			if emuctl.HasTags(v.Tags, tags) {
				tagged = append(tagged, v)
			}
		}
		return tagged, all
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if !harness.EventuallyEvery(waitTimeout, 100*time.Millisecond, cond) {
			tagged, all := live()
			t.Fatalf("timed out waiting for %s: %d tagged, %d live instances\n--- plugin ---\n%s", what, len(tagged), len(all), tail(plugin.Output()))
		}
	}
	calls := func(action string) int {
		n, err := emu.Calls(ctx, action)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// converged checks the group holds exactly size instances over several
	// group polls (so a late over-provision would show), all of them seen
	// by the group, and that InfraKit reports them.
	converged := func(size int) {
		t.Helper()
		waitFor(fmt.Sprintf("%d instances", size), func() bool { tagged, all := live(); return len(tagged) == size && len(all) == size })
		polls := calls("DescribeInstances")
		deadline := time.Now().Add(waitTimeout)
		for calls("DescribeInstances") < polls+8 { // ≥ 4 group polls of scaler and metadata
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
		var out string
		ok := harness.EventuallyEvery(waitTimeout, 250*time.Millisecond, func() bool {
			r := e.CLI("group", "describe", group)
			out = r.Stdout
			return r.Err == nil && sameIDs(harness.IDs(out, "i-"), want)
		})
		if !ok {
			t.Fatalf("group describe shows %v, ECS holds %v:\n%s", harness.IDs(out, "i-"), want, out)
		}
	}

	// --- 1: every response lost; kill once all 8 instances exist.
	setFaults(t, emu, emulator.Faults{DropResponseRate: 1, Actions: []string{"RunInstances"}})
	e.WriteFile("crash.json", spec(8))
	e.MustCLI("group", "commit", e.Path("crash.json"))
	waitFor("8 instances created with their responses lost", func() bool { tagged, _ := live(); return len(tagged) == 8 })
	runs := calls("RunInstances")
	waitFor("Provisions to be retrying", func() bool { return calls("RunInstances") > runs })
	plugin.Kill()
	if tagged, all := live(); len(tagged) != 8 || len(all) != 8 {
		t.Fatalf("after the kill: %d tagged, %d live, want 8 and 8", len(tagged), len(all))
	}
	setFaults(t, emu, emulator.Faults{})
	plugin = e.StartPlugin(pluginName, aliyunenv.Plugin, args...)
	converged(8)
	t.Logf("phase 1: RunInstances calls %d for 8 instances", calls("RunInstances"))

	// --- 2: scale to 24 on a slow, lossy ECS; kill mid-burst.
	setFaults(t, emu, emulator.Faults{LatencyMS: 300, DropResponseRate: 0.3, ThrottleRate: 0.2, Actions: []string{"RunInstances"}})
	before := calls("RunInstances")
	e.WriteFile("crash.json", spec(24))
	e.MustCLI("group", "commit", e.Path("crash.json"))
	waitFor("the scale-up burst to create some instances", func() bool {
		tagged, _ := live()
		return calls("RunInstances") >= before+8 && len(tagged) > 8
	})
	plugin.Kill()
	tagged, all := live()
	t.Logf("phase 2: killed with %d tagged / %d live instances, %d RunInstances calls", len(tagged), len(all), calls("RunInstances")-before)
	if len(tagged) != len(all) {
		t.Fatalf("untagged instances after the kill: %d tagged, %d live", len(tagged), len(all))
	}
	setFaults(t, emu, emulator.Faults{})
	plugin = e.StartPlugin(pluginName, aliyunenv.Plugin, args...)
	converged(24)
	_ = plugin
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[string]bool{}
	for _, x := range a {
		set[x] = true
	}
	for _, x := range b {
		if !set[x] {
			return false
		}
	}
	return true
}
