// Package aliyun proves the ECS instance plugin inside real InfraKit: every
// piece runs as its own process over real sockets (the ECS emulator, the
// infrakit-instance-aliyun daemon, InfraKit's group plugin and vanilla
// flavor, and the infrakit CLI), and the tests check both what InfraKit
// reports and what the emulator holds, through its control API.
package aliyun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/emuctl"
	"infrakit.aliyun/internal/e2e/harness"
)

const pluginName = aliyunenv.PluginName

// Pace of the world: 1 s group polls; instances boot in 30 s of emulated
// time, which the emulator runs 30 times faster than real time.
const (
	pollInterval = "1s"
	bootTime     = "30s"
	timeScale    = "30"
	waitTimeout  = 60 * time.Second // for anything InfraKit should do by itself
	pollEvery    = 100 * time.Millisecond
)

func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }

// world is one test's processes: emulator, plugin, group and vanilla.
type world struct {
	t      *testing.T
	e      *harness.Env
	emu    *emuctl.Client
	procs  []*harness.Process // plugins, in start order (emulator excluded)
	emuP   *harness.Process
	ctx    context.Context
	cancel context.CancelFunc
}

type worldOptions struct {
	namespaceTags string // --namespace-tags
	credsFromEnv  bool   // credentials and region through ALIBABA_CLOUD_* instead of flags
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	e := harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL="+pollInterval)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &world{t: t, e: e, ctx: ctx, cancel: cancel}

	w.emuP, w.emu = aliyunenv.StartEmulator(e, "--access-key-id", "emulator", "--access-key-secret", "emulator",
		"--boot-time", bootTime, "--time-scale", timeScale, "--seed", "4")

	args := []string{"--endpoint", w.emu.URL, "--log", "5"}
	if o.namespaceTags != "" {
		args = append(args, "--namespace-tags", o.namespaceTags)
	}
	if o.credsFromEnv {
		e.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID=emulator", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=emulator",
			"ALIBABA_CLOUD_REGION_ID=cn-hangzhou")
	} else {
		args = append(args, "--region", "cn-hangzhou", "--access-key-id", "emulator", "--access-key-secret", "emulator")
	}
	w.procs = append(w.procs,
		e.StartPlugin(pluginName, aliyunenv.Plugin, args...),
		e.StartPlugin("flavor-vanilla", harness.Vanilla),
		e.StartPlugin("group", harness.Group, "--log", "4"),
	)
	return w
}

// stop stops the plugins (group first) and then the emulator, checking each
// exits cleanly and leaves neither socket nor pid file.
func (w *world) stop() {
	w.t.Helper()
	for i := len(w.procs) - 1; i >= 0; i-- {
		p := w.procs[i]
		if err := p.Stop(); err != nil {
			w.t.Errorf("%s: exit after SIGTERM: %v", p.Name, err)
		}
		for _, f := range []string{w.e.SocketPath(p.Name), w.e.SocketPath(p.Name) + ".pid"} {
			if _, err := os.Lstat(f); err == nil {
				w.t.Errorf("%s left %s behind", p.Name, filepath.Base(f))
			}
		}
	}
	if err := w.emuP.Stop(); err != nil {
		w.t.Errorf("ecs-emulator: exit after SIGTERM: %v", err)
	}
	if ents, _ := os.ReadDir(w.e.PluginsDir); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		w.t.Errorf("plugins directory not empty after stopping everything: %v", names)
	}
}

// live is the emulator's live instances carrying tags; it fails the test on
// a control API error.
func (w *world) live(tags map[string]string) []emulator.InstanceView {
	w.t.Helper()
	v, err := w.emu.Live(w.ctx, tags)
	if err != nil {
		w.t.Fatalf("emulator: %v", err)
	}
	return v
}

func (w *world) calls(action string) int {
	w.t.Helper()
	n, err := w.emu.Calls(w.ctx, action)
	if err != nil {
		w.t.Fatalf("emulator: %v", err)
	}
	return n
}

// waitLive polls the emulator until cond holds for the live instances
// carrying tags, and returns them.
func (w *world) waitLive(what string, tags map[string]string, cond func([]emulator.InstanceView) bool) []emulator.InstanceView {
	w.t.Helper()
	var last []emulator.InstanceView
	var lastErr error
	ok := harness.EventuallyEvery(waitTimeout, pollEvery, func() bool {
		last, lastErr = w.emu.Live(w.ctx, tags)
		return lastErr == nil && cond(last)
	})
	if !ok {
		w.t.Fatalf("timed out waiting for %s; last error %v; live instances:\n%s", what, lastErr, dump(last))
	}
	return last
}

// waitCLI runs the CLI until cond holds for its stdout, and returns it.
func (w *world) waitCLI(what string, cond func(string) bool, args ...string) string {
	w.t.Helper()
	var last harness.Result
	ok := harness.EventuallyEvery(waitTimeout, 250*time.Millisecond, func() bool {
		last = w.e.CLI(args...)
		return last.Err == nil && cond(last.Stdout)
	})
	if !ok {
		w.t.Fatalf("timed out waiting for %s; last run:\n%s", what, last)
	}
	return last.Stdout
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// rows maps instance ID to the whitespace-separated fields of its table row.
func rows(out string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "i-") {
			m[f[0]] = f
		}
	}
	return m
}

func sameStrings(a, b []string) bool {
	a = append([]string(nil), a...)
	b = append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// groupSpec is the part of a group spec the tests read and change.
type groupSpec struct {
	ID         string
	Properties struct {
		Allocation struct {
			Size       int      `json:",omitempty"`
			LogicalIDs []string `json:",omitempty"`
		}
		Instance struct {
			Plugin     string
			Properties json.RawMessage
		}
		Flavor struct {
			Plugin     string
			Properties struct {
				Init []string
				Tags map[string]string
			}
		}
	}
}

func examplePath(t *testing.T, name string) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "example", name)
}

func readSpec(t *testing.T, path string) groupSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s groupSpec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// instanceProps decodes the instance plugin's properties of a spec loosely.
type instanceProps struct {
	RunInstances map[string]any
	Tags         map[string]string
}

func (s groupSpec) instance(t *testing.T) instanceProps {
	t.Helper()
	var p instanceProps
	if err := json.Unmarshal(s.Properties.Instance.Properties, &p); err != nil {
		t.Fatal(err)
	}
	return p
}
