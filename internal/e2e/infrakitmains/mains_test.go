// Package infrakitmains tests the thin mains (cmd/infrakit,
// cmd/infrakit-group-default, cmd/infrakit-flavor-vanilla) end to end with
// InfraKit's own file-backed instance plugin standing in for a cloud.
package infrakitmains

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/internal/e2e/harness"
)

func TestMain(m *testing.M) {
	os.Exit(harness.RunMain(m,
		harness.PkgCLI, harness.PkgGroup, harness.PkgVanilla, harness.PkgInstanceFile))
}

const spec = `{"ID":"cattle","Properties":{
  "Allocation":{"Size":2},
  "Instance":{"Plugin":"instance-file","Properties":{"Note":"hello"}},
  "Flavor":{"Plugin":"flavor-vanilla","Properties":{"Init":["echo hi","echo there"],"Tags":{"tier":"web"}}}}}
`

// waitInstances polls `infrakit <args>` until it lists n instances.
func waitInstances(t *testing.T, e *harness.Env, n int, args ...string) string {
	t.Helper()
	var last harness.Result
	if !harness.EventuallyEvery(30*time.Second, 100*time.Millisecond, func() bool {
		last = e.CLI(args...)
		return last.Err == nil && len(harness.IDs(last.Stdout, "instance-")) == n
	}) {
		t.Fatalf("want %d instances, last result:\n%s", n, last)
	}
	return last.Stdout
}

func startAll(t *testing.T) (*harness.Env, []*harness.Process) {
	e := harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL=1s")
	files := e.Path("instances")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	e.Setenv("INFRAKIT_INSTANCE_FILE_DIR=" + files)
	procs := []*harness.Process{
		e.StartPlugin("instance-file", harness.InstanceFile),
		e.StartPlugin("flavor-vanilla", harness.Vanilla),
		e.StartPlugin("group", harness.Group, "--log", "4"),
	}
	return e, procs
}

func TestTutorialForms(t *testing.T) {
	e, procs := startAll(t)

	out := e.MustCLI("plugin", "ls")
	harness.MustContain(t, "plugin ls", out, "INTERFACE", "NAME", "LISTEN")
	for _, row := range [][]string{
		{"Group/", "group", e.SocketPath("group")},
		{"Metadata/", "group"},
		{"Flavor/", "flavor-vanilla", e.SocketPath("flavor-vanilla")},
		{"Instance/0.6.1", "instance-file", e.SocketPath("instance-file")},
	} {
		found := false
		for _, l := range harness.Lines(out) {
			f := strings.Fields(l)
			if len(f) == 3 && strings.HasPrefix(f[0], row[0]) && f[1] == row[1] && (len(row) < 3 || f[2] == row[2]) {
				found = true
			}
		}
		if !found {
			t.Fatalf("plugin ls lacks %v:\n%s", row, out)
		}
	}

	e.WriteFile("spec.json", spec)

	out = e.MustCLI("group", "commit", "spec.json", "--pretend")
	if got := strings.TrimSpace(out); got != "Committing cattle would involve: Managing 2 instances" {
		t.Fatalf("pretend: %q", got)
	}
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 1 || got[0] != "ID" {
		t.Fatalf("group ls after pretend = %q, want only the header", got)
	}

	out = e.MustCLI("group", "commit", "spec.json")
	if got := strings.TrimSpace(out); got != "Committed cattle: Managing 2 instances" {
		t.Fatalf("commit: %q", got)
	}
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 2 || got[0] != "ID" || got[1] != "cattle" {
		t.Fatalf("group ls = %q", got)
	}

	out = waitInstances(t, e, 2, "group", "describe", "cattle")
	harness.MustContain(t, "group describe", out, "ID", "LOGICAL", "TAGS", "infrakit.group=cattle", "tier=web", "infrakit.config.hash=")

	// master's spelling gives the same members
	if ids := harness.IDs(e.MustCLI("local", "group", "ls", "cattle"), "instance-"); len(ids) != 2 {
		t.Fatalf("local group ls cattle: %v", ids)
	}

	out = e.MustCLI("group", "inspect", "cattle")
	var inspected struct {
		ID         string
		Properties struct {
			Allocation struct{ Size int }
			Instance   struct{ Plugin string }
		}
	}
	if err := json.Unmarshal([]byte(out), &inspected); err != nil {
		t.Fatalf("inspect output is not JSON: %v\n%s", err, out)
	}
	if inspected.ID != "cattle" || inspected.Properties.Allocation.Size != 2 || inspected.Properties.Instance.Plugin != "instance-file" {
		t.Fatalf("inspect: %+v", inspected)
	}

	out = e.MustCLI("instance-file", "describe")
	if ids := harness.IDs(out, "instance-"); len(ids) != 2 {
		t.Fatalf("instance-file describe: %s", out)
	}
	out = e.MustCLI("instance-file", "describe", "-p")
	harness.MustContain(t, "describe -p", out, "PROPERTIES", "echo hi", "Note:hello")
	if ids := harness.IDs(e.MustCLI("instance-file", "describe", "--tags", "tier=web"), "instance-"); len(ids) != 2 {
		t.Fatalf("describe --tags tier=web: %v", ids)
	}
	if ids := harness.IDs(e.MustCLI("instance-file", "describe", "--tags", "tier=db"), "instance-"); len(ids) != 0 {
		t.Fatalf("describe --tags tier=db: %v", ids)
	}

	out = e.MustCLI("group", "scale", "cattle", "3")
	if got := strings.TrimSpace(out); got != "Group cattle at 2 instances, scale to 3" {
		t.Fatalf("scale: %q", got)
	}
	waitInstances(t, e, 3, "group", "describe", "cattle")
	if got := strings.TrimSpace(e.MustCLI("group", "scale", "cattle")); got != "Group cattle at 3 instances" {
		t.Fatalf("scale (query): %q", got)
	}

	out = e.MustCLI("group", "free", "cattle")
	if got := strings.TrimSpace(out); got != "Freed cattle" {
		t.Fatalf("free: %q", got)
	}
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 1 {
		t.Fatalf("group ls after free = %q", got)
	}
	// freed, not destroyed: the instances are still there
	if ids := harness.IDs(e.MustCLI("instance-file", "describe"), "instance-"); len(ids) != 3 {
		t.Fatalf("instances after free: %v", ids)
	}
	if r := e.CLI("group", "describe", "cattle"); r.ExitCode == 0 {
		t.Fatalf("describe of a freed group succeeded:\n%s", r)
	}

	// commit again (master's spelling), the group adopts its instances; then destroy
	harness.MustContain(t, "local commit", e.MustCLI("local", "group", "commit-group", "spec.json"), "Committed cattle")
	out = e.MustCLI("group", "destroy", "cattle")
	if got := strings.TrimSpace(out); got != "Destroy cattle initiated" {
		t.Fatalf("destroy: %q", got)
	}
	waitInstances(t, e, 0, "instance-file", "describe")
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 1 {
		t.Fatalf("group ls after destroy = %q", got)
	}

	// SIGTERM: clean exit, socket and pid file removed
	e.StopCleanly(procs...)
	e.CheckPluginsDirEmpty()
}

func TestCLIErrorsAndBuiltins(t *testing.T) {
	e := harness.New(t, harness.Default)

	// no plugins running
	out := e.MustCLI("plugin", "ls")
	if got := harness.Lines(out); len(got) != 1 || !strings.HasPrefix(got[0], "INTERFACE") {
		t.Fatalf("plugin ls with nothing running: %q", got)
	}
	r := e.CLI("group", "ls")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `no running plugin or command named "group"`) {
		t.Fatalf("group ls without a group plugin:\n%s", r)
	}

	out = e.MustCLI("version")
	harness.MustContain(t, "version", out, "Version", "github.com/docker/infrakit", "v0.4.2-0.20181122182016-41da4a601bbb")

	e.StartPlugin("flavor-vanilla", harness.Vanilla)
	// stale pid file of a dead process does not prevent a second plugin from starting
	e.WriteFile("plugins/flavor-two.pid", "999999999")
	e.StartPlugin("flavor-two", harness.Vanilla, "--name", "flavor-two")
	out = e.MustCLI("plugin", "ls", "-q")
	harness.MustContain(t, "plugin ls -q", out, "flavor-two", "flavor-vanilla")
	if strings.Contains(out, "INTERFACE") {
		t.Fatalf("-q printed the header:\n%s", out)
	}

	// a second instance under the same name refuses to start
	r = e.Run(harness.Vanilla)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "already running") {
		t.Fatalf("duplicate plugin:\n%s", r)
	}

	r = e.CLI("instance-nope", "describe")
	if r.ExitCode != 1 {
		t.Fatalf("unknown plugin:\n%s", r)
	}
	harness.MustContain(t, "help", e.MustCLI("--help"), "flavor-vanilla", "plugin", "local")
}
