// Package aliyunenv is what the end-to-end tests of the ECS plugin (the
// aliyun, crash and spot packages) share on top of harness: the binaries
// they build, the TestMain that builds them, starting the ECS emulator, and
// a World of emulator, plugin, vanilla and group plugin with the waits and
// emulator look-ups the tests make.
//
//	func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }
//
//	func TestX(t *testing.T) {
//		w := aliyunenv.NewWorld(t, aliyunenv.WorldOptions{PluginArgs: []string{"--namespace-tags", "e2e=x"}})
//		w.E.MustCLI("group", "commit", spec)
//		w.WaitLive("3 instances", tags, func(v []emulator.InstanceView) bool { return len(v) == 3 })
//	}
package aliyunenv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/harness"
)

// Import paths of the plugin and the emulator.
const (
	PkgPlugin   = "infrakit.aliyun/cmd/infrakit-instance-aliyun"
	PkgEmulator = "infrakit.aliyun/cmd/ecs-emulator"
)

// Binary names (base names of the packages above), and the plugin's
// default name (its socket in the plugins directory, and the CLI command).
const (
	Plugin     = "infrakit-instance-aliyun"
	Emulator   = "ecs-emulator"
	PluginName = "instance-aliyun"
)

// Main is for TestMain: it builds InfraKit's CLI, group plugin and vanilla
// flavor, the plugin and the emulator with harness.RunMain (which also
// restores the test flags InfraKit's init swallows), runs the tests and
// returns the exit code.
func Main(m *testing.M) int {
	return harness.RunMain(m, harness.PkgCLI, harness.PkgGroup, harness.PkgVanilla, PkgPlugin, PkgEmulator)
}

// StartEmulator starts ecs-emulator in e on a free port, with args added
// to --listen, and waits until it prints its URL. It returns the process
// and a client of its control API, or fails the test with its output.
func StartEmulator(e *harness.Env, args ...string) (*harness.Process, *emuctl.Client) {
	e.T.Helper()
	p := e.Start(Emulator, Emulator, append([]string{"--listen", "127.0.0.1:0"}, args...))
	m, err := p.WaitForOutput(emuctl.ListenLine, harness.StartTimeout)
	if err != nil {
		e.T.Fatalf("%v\n%s", err, p.Output())
	}
	return p, emuctl.New(m[1])
}

// Pace of the worlds: how often the Wait helpers poll, and how long they
// wait by default for anything InfraKit should do by itself.
const (
	PollEvery   = 100 * time.Millisecond
	WaitTimeout = 60 * time.Second
)

// WorldOptions configure NewWorld.
type WorldOptions struct {
	// PollInterval is the group plugin's INFRAKIT_GROUP_POLL_INTERVAL
	// (default 1s).
	PollInterval string
	// EmulatorArgs are added to ecs-emulator's --listen, e.g. --boot-time,
	// --time-scale, --seed.
	EmulatorArgs []string
	// PluginArgs are added to the plugin's command line after the
	// endpoint, credentials and --log 5 (a flag given again wins).
	PluginArgs []string
	// CredsFromEnv gives the plugin its credentials and region through
	// ALIBABA_CLOUD_* instead of flags.
	CredsFromEnv bool
	// Timeout bounds the Wait helpers (default WaitTimeout).
	Timeout time.Duration
}

// World is one end-to-end test's processes: the ECS emulator, the plugin
// pointed at it, InfraKit's vanilla flavor and group plugin, with helpers
// that fail the test on a control API error or a wait that times out.
type World struct {
	T      *testing.T
	E      *harness.Env
	Emu    *emuctl.Client
	EmuP   *harness.Process
	Plugin *harness.Process // restarted by StartPlugin
	Ctx    context.Context

	pluginArgs []string
	others     []*harness.Process // vanilla, group
	timeout    time.Duration
}

// NewWorld starts the emulator, the plugin, vanilla and the group plugin
// in a fresh harness.Env; everything is stopped at cleanup.
func NewWorld(t *testing.T, o WorldOptions) *World {
	t.Helper()
	if o.PollInterval == "" {
		o.PollInterval = "1s"
	}
	if o.Timeout == 0 {
		o.Timeout = WaitTimeout
	}
	e := harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL="+o.PollInterval)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &World{T: t, E: e, Ctx: ctx, timeout: o.Timeout}
	w.EmuP, w.Emu = StartEmulator(e, o.EmulatorArgs...)

	w.pluginArgs = []string{"--endpoint", w.Emu.URL, "--log", "5"}
	if o.CredsFromEnv {
		e.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID="+emulator.DefaultAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+emulator.DefaultAccessKeySecret,
			"ALIBABA_CLOUD_REGION_ID="+emulator.DefaultRegion)
	} else {
		w.pluginArgs = append(w.pluginArgs, "--region", emulator.DefaultRegion,
			"--access-key-id", emulator.DefaultAccessKeyID, "--access-key-secret", emulator.DefaultAccessKeySecret)
	}
	w.pluginArgs = append(w.pluginArgs, o.PluginArgs...)
	w.StartPlugin()
	w.others = []*harness.Process{
		e.StartPlugin("flavor-vanilla", harness.Vanilla),
		e.StartPlugin("group", harness.Group, "--log", "4"),
	}
	return w
}

// StartPlugin starts the plugin (again, e.g. after Plugin.Kill) with the
// world's command line and waits for its socket.
func (w *World) StartPlugin() *harness.Process {
	w.T.Helper()
	w.Plugin = w.E.StartPlugin(PluginName, Plugin, w.pluginArgs...)
	return w.Plugin
}

// Stop stops the group, vanilla and the plugin, then the emulator, and
// checks each exits cleanly after SIGTERM and the plugins directory is left
// empty (no socket, no pid file).
func (w *World) Stop() {
	w.T.Helper()
	w.E.StopCleanly(w.others[1], w.others[0], w.Plugin, w.EmuP)
	w.E.CheckPluginsDirEmpty()
}

// Calls is how many times the ECS API actions were called, summed.
func (w *World) Calls(actions ...string) int {
	w.T.Helper()
	n, err := w.Emu.Calls(w.Ctx, actions...)
	if err != nil {
		w.T.Fatalf("emulator: %v", err)
	}
	return n
}

// Instances is every instance the emulator knows, released ones included.
func (w *World) Instances() []emulator.InstanceView {
	w.T.Helper()
	v, err := w.Emu.Instances(w.Ctx)
	if err != nil {
		w.T.Fatalf("emulator: %v", err)
	}
	return v
}

// Live is the emulator's live instances carrying tags, sorted by ID.
func (w *World) Live(tags map[string]string) []emulator.InstanceView {
	w.T.Helper()
	v, err := w.Emu.Live(w.Ctx, tags)
	if err != nil {
		w.T.Fatalf("emulator: %v", err)
	}
	return v
}

// Now is the emulated time.
func (w *World) Now() time.Time {
	w.T.Helper()
	now, err := w.Emu.Now(w.Ctx)
	if err != nil {
		w.T.Fatalf("emulator: %v", err)
	}
	return now
}

// Wait polls cond every PollEvery until it holds; on timeout it fails the
// test with what and, if detail is not nil, detail().
func (w *World) Wait(what string, cond func() bool, detail func() string) {
	w.T.Helper()
	if harness.EventuallyEvery(w.timeout, PollEvery, cond) {
		return
	}
	msg := ""
	if detail != nil {
		msg = "\n" + detail()
	}
	w.T.Fatalf("timed out after %v waiting for %s%s", w.timeout, what, msg)
}

// WaitInstances polls every instance the emulator knows (released ones
// included) until cond holds for them, and returns them.
func (w *World) WaitInstances(what string, cond func(all []emulator.InstanceView) bool) []emulator.InstanceView {
	w.T.Helper()
	var last []emulator.InstanceView
	var lastErr error
	w.Wait(what, func() bool {
		last, lastErr = w.Emu.Instances(w.Ctx)
		return lastErr == nil && cond(last)
	}, func() string { return fmt.Sprintf("last error %v; instances:\n%s", lastErr, Dump(last)) })
	return last
}

// WaitLive polls the live instances carrying tags until cond holds for
// them, and returns them.
func (w *World) WaitLive(what string, tags map[string]string, cond func(live []emulator.InstanceView) bool) []emulator.InstanceView {
	w.T.Helper()
	var last []emulator.InstanceView
	var lastErr error
	w.Wait(what, func() bool {
		last, lastErr = w.Emu.Live(w.Ctx, tags)
		return lastErr == nil && cond(last)
	}, func() string { return fmt.Sprintf("last error %v; live instances:\n%s", lastErr, Dump(last)) })
	return last
}

// WaitCLI runs the infrakit CLI with args (every 250 ms: each run is a
// process) until cond holds for its stdout, and returns that.
func (w *World) WaitCLI(what string, cond func(stdout string) bool, args ...string) string {
	w.T.Helper()
	var last harness.Result
	if !harness.EventuallyEvery(w.timeout, 250*time.Millisecond, func() bool {
		last = w.E.CLI(args...)
		return last.Err == nil && cond(last.Stdout)
	}) {
		w.T.Fatalf("timed out after %v waiting for %s; last run:\n%s", w.timeout, what, last)
	}
	return last.Stdout
}

// WaitCalls waits until the emulator has served at least n calls of action.
func (w *World) WaitCalls(action string, n int) {
	w.T.Helper()
	got := 0
	w.Wait(fmt.Sprintf("%d %s calls", n, action), func() bool { got = w.Calls(action); return got >= n },
		func() string { return fmt.Sprintf("%d calls so far", got) })
}

// AfterEmulated waits until emulated time is d past from.
func (w *World) AfterEmulated(from time.Time, d time.Duration) {
	w.T.Helper()
	w.Wait("emulated time to move "+d.String(), func() bool { return w.Now().After(from.Add(d)) }, nil)
}

// GroupIDs is the instance IDs `infrakit group describe <group>` lists, sorted.
func (w *World) GroupIDs(group string) []string {
	w.T.Helper()
	return harness.IDs(w.E.MustCLI("group", "describe", group), "i-")
}

// Dump is v as indented JSON, for failure messages.
func Dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
