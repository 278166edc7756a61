package daemon

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/testutil"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"33554432": 32 << 20,
		"32MiB":    32 << 20,
		"2048KiB":  2 << 20,
		"1GiB":     1 << 30,
		"1TiB":     1 << 40,
		"1048576B": 1 << 20,
		"off":      math.MaxInt64,
	} {
		got, err := ParseMemoryLimit(in)
		if err != nil {
			t.Errorf("ParseMemoryLimit(%q): %v", in, err)
		}
		equal(t, want, got, in)
	}
	for in, why := range map[string]string{
		"":           "not a number",
		"MiB":        "not a number",
		"32MB":       "not a number", // GOMEMLIMIT's units are binary only
		"32 MiB":     "not a number",
		"-1MiB":      "not a number",
		"+32MiB":     "not a number",
		"1.5GiB":     "not a number",
		"Off":        "not a number",
		"9000000TiB": "too large",
		"1000KiB":    "under 1MiB",
		"0":          "under 1MiB",
	} {
		if _, err := ParseMemoryLimit(in); err == nil {
			t.Errorf("ParseMemoryLimit(%q) accepted", in)
		} else {
			contains(t, err.Error(), why)
			contains(t, err.Error(), in)
		}
	}
}

// The daemon sets the default limit, or --memory-limit's, or leaves
// GOMEMLIMIT's; logs it; and puts the previous one back when it stops. A
// bad value is refused before anything is created, naming the flag.
func TestDaemonMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	env := func() map[string]string {
		return map[string]string{EnvPluginsDir: shortTempDir(t), "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret-value", "ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}
	}
	for _, tt := range []struct {
		name    string
		args    []string
		gomem   bool
		want    int64
		wantLog string
	}{
		{"default", nil, false, DefaultMemoryLimit, "memory_limit=40MiB"},
		{"flag", []string{"--memory-limit", "100MiB"}, false, 100 << 20, "memory_limit=100MiB"},
		{"flag over GOMEMLIMIT", []string{"--memory-limit", "off"}, true, math.MaxInt64, "memory_limit=off"},
		{"GOMEMLIMIT stands", nil, true, prev, "memory_limit=" + formatMemoryLimit(prev)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := env()
			if tt.gomem {
				e[EnvMemoryLimit] = "77MiB" // read by the runtime at start-up, not by the daemon
			}
			var during int64
			out := &testutil.SyncBuffer{}
			_, stop := runRoot(t, append([]string{"--endpoint", "http://127.0.0.1:9"}, tt.args...), e,
				Deps{NewPlugin: func(PluginParams) (instance.Plugin, error) {
					during = debug.SetMemoryLimit(-1)
					return newFakePlugin(), nil
				}}, out)
			noErr(t, stop())
			equal(t, tt.want, during, "limit while serving")
			equal(t, prev, debug.SetMemoryLimit(-1), "limit after")
			contains(t, out.String(), tt.wantLog)
		})
	}

	for _, bad := range []string{"lots", "-5MiB", "512KiB", "32MB"} {
		dir := shortTempDir(t)
		e := env()
		e[EnvPluginsDir] = dir
		called := false
		cmd := NewRootCommand(Deps{LookupEnv: mapEnv(e), NewPlugin: func(PluginParams) (instance.Plugin, error) {
			called = true
			return newFakePlugin(), nil
		}})
		cmd.SetArgs([]string{"--memory-limit", bad})
		cmd.SetOut(&testutil.SyncBuffer{})
		cmd.SetErr(&testutil.SyncBuffer{})
		err := cmd.Execute()
		if err == nil {
			t.Fatalf("--memory-limit %q accepted", bad)
		}
		contains(t, err.Error(), "--memory-limit")
		contains(t, err.Error(), bad)
		if called {
			t.Errorf("--memory-limit %q: plugin created", bad)
		}
		equal(t, []string(nil), pluginFiles(t, dir))
		equal(t, prev, debug.SetMemoryLimit(-1), "limit after a refused start")
	}
}
