package demo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
	"infrakit.aliyun/internal/testutil"
)

func TestMain(m *testing.M) {
	os.Exit(harness.RunMain(m,
		aliyunenv.PkgEmulator, aliyunenv.PkgPlugin, harness.PkgGroup, harness.PkgVanilla, harness.PkgCLI, "infrakit.aliyun/cmd/infrakit-aliyun-demo"))
}

// run is a demo process started by a test.
type run struct {
	cmd         *exec.Cmd
	out, errOut testutil.SyncBuffer // the child's output, read while it runs
	done        chan struct{}       // closed when the process has been waited for
	err         error
}

// startDemo runs the built demo from the module root (so the default
// example path resolves) with extra flags. It is killed at cleanup if the
// test leaves it running.
func startDemo(t *testing.T, args ...string) *run {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	r := &run{done: make(chan struct{})}
	r.cmd = exec.Command(harness.Default.Path("infrakit-aliyun-demo"), append([]string{"--bin-dir", harness.Default.Dir}, args...)...)
	r.cmd.Dir = root
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			select {
			case <-r.done:
			case <-time.After(20 * time.Second):
				t.Errorf("demo (pid %d) still not reaped 20s after SIGKILL", r.cmd.Process.Pid)
			}
		}
	})
	return r
}

// wait waits for the demo to exit and returns its exit code.
func (r *run) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		t.Fatalf("demo still running after %v\n--- stdout ---\n%s\n--- stderr ---\n%s", timeout, &r.out, &r.errOut)
	}
	var ee *exec.ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("demo: %v", r.err)
		return -1
	}
}

var (
	pidLine  = regexp.MustCompile(`\(pid (\d+)\)`)
	homeLine = regexp.MustCompile(`(?m)^\$ export INFRAKIT_HOME=(\S+)$`)
	stepLine = regexp.MustCompile(`(?m)^==> step (\d+): (.*)$`)
)

// checkCleanedUp checks every process the demo said it started is gone and
// its INFRAKIT_HOME (plugin sockets and pid files inside) was removed.
func checkCleanedUp(t *testing.T, out string, wantProcs int) {
	t.Helper()
	pids := pidLine.FindAllStringSubmatch(out, -1)
	if len(pids) != wantProcs {
		t.Errorf("demo reported %d background processes, want %d", len(pids), wantProcs)
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d is still there after the demo (kill -0: %v)", pid, err)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	m := homeLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo printed no INFRAKIT_HOME:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("INFRAKIT_HOME %s left behind: %v", m[1], err)
		os.RemoveAll(m[1])
	}
}

func TestDemoRunsToTheEnd(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := startDemo(t, "--time-scale", "30")
	code := r.wait(t, 2*time.Minute)
	o := r.out.String()
	if code != 0 || r.errOut.String() != "" {
		t.Fatalf("demo exited %d after %v\n--- stdout ---\n%s\n--- stderr ---\n%s", code, time.Since(start), o, &r.errOut)
	}
	t.Logf("demo took %v", time.Since(start).Round(time.Millisecond))

	steps := stepLine.FindAllStringSubmatch(o, -1)
	if len(steps) != len(Steps) {
		t.Fatalf("demo printed %d steps, want %d:\n%s", len(steps), len(Steps), o)
	}
	for i, s := range steps {
		if s[1] != strconv.Itoa(i+1) || s[2] != Steps[i] {
			t.Fatalf("step line %q, want step %d: %s", s[0], i+1, Steps[i])
		}
	}
	// each step shows what it should, in order
	want := []string{
		"==> step 1:", "$ ecs-emulator --listen 127.0.0.1:0", "ecs-emulator listening on http://127.0.0.1:",
		"==> step 2:", "$ infrakit-instance-aliyun --endpoint http://127.0.0.1:",
		"==> step 3:", "$ infrakit-flavor-vanilla", "$ infrakit-group-default",
		"==> step 4:", "$ infrakit plugin ls\n", "Instance/0.6.1  instance-aliyun",
		"==> step 5:", "$ infrakit group commit example/aliyun-vanilla.json\nCommitted cattle: Managing 3 instances\n",
		"==> step 6:", "3 instances: 3 Running", "$ infrakit group describe cattle\n", "infrakit.group=cattle",
		"$ infrakit instance-aliyun describe\n",
		"==> step 7:", "-X DELETE http://127.0.0.1:", "\n200\n", "was replaced by i-", "$ infrakit group describe cattle\n",
		"==> step 8:", "RunInstances.InstanceType: ecs.g6.large -> ecs.g6.xlarge", "--pretend\n" +
			"Committing cattle would involve: Performing a rolling update on 3 instances, then adding 2 instances to increase the group size to 5\n",
		"Committed cattle: Performing a rolling update on 3 instances", "new config 5 Running", "$ infrakit group describe cattle\n",
		"==> step 9:", "$ infrakit group destroy cattle\nDestroy cattle initiated\n", "/emulator/stats", `"RunInstances": 9`,
		"==> step 10:", "$ kill ", "# group stopped", "# ecs-emulator stopped", "==> done in ",
	}
	rest := o
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("demo output lacks %q (in order) after:\n%s\n--- whole output ---\n%s", w, firstLines(rest, 5), o)
		}
		rest = rest[i+len(w):]
	}
	// after the rolling update every instance has one config hash, not the first one
	describes := regexp.MustCompile(`infrakit.config.hash=(\w+)`).FindAllStringSubmatch(o, -1)
	if len(describes) == 0 || describes[0][1] == describes[len(describes)-1][1] {
		t.Fatalf("config hash did not change across the rolling update")
	}
	checkCleanedUp(t, o, 4)
}

func TestDemoCleansUpOnInterrupt(t *testing.T) {
	t.Parallel()
	r := startDemo(t)
	if !harness.EventuallyEvery(time.Minute, 50*time.Millisecond, func() bool {
		return strings.Contains(r.out.String(), "Committed cattle")
	}) {
		t.Fatalf("demo did not commit the group\n--- stdout ---\n%s\n--- stderr ---\n%s", &r.out, &r.errOut)
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t, 30*time.Second)
	o := r.out.String()
	if code != 130 || !strings.Contains(r.errOut.String(), "interrupted") {
		t.Fatalf("interrupted demo exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s", code, o, &r.errOut)
	}
	for _, w := range []string{"==> cleaning up", "# group stopped", "# instance-aliyun stopped", "# ecs-emulator stopped", "# removed "} {
		if !strings.Contains(o, w) {
			t.Fatalf("interrupted demo output lacks %q:\n%s", w, o)
		}
	}
	if strings.Contains(o, "==> done") {
		t.Fatalf("interrupted demo claims to be done:\n%s", o)
	}
	checkCleanedUp(t, o, 4)
}

func TestDemoFailsEarlyWithoutBinaries(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	if code := Main([]string{"--bin-dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "run `make build` first") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if code := Main([]string{"extra"}, &out, &errOut); code != 2 {
		t.Fatalf("extra argument: exit %d", code)
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"ecs.g6.large": "ecs.g6.xlarge", "ecs.g6.xlarge": "ecs.g6.2xlarge", "ecs.c7.4xlarge": "ecs.c7.8xlarge",
		"ecs.t5-lc1m1.small": "ecs.t5-lc1m1.small",
	} {
		if got := biggerType(in); got != want {
			t.Errorf("biggerType(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"plain-path/x.json": "plain-path/x.json", "with space": "'with space'", "it's": `'it'\''s'`, "": "''",
		"%{http_code}": "'%{http_code}'",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{time.Minute: "1m", time.Second: "1s", 90 * time.Second: "1m30s", time.Hour: "1h"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
	v := []emulator.InstanceView{
		{Status: "Running", Tags: map[string]string{"infrakit.config.hash": "a"}},
		{Status: "Pending", Tags: map[string]string{"infrakit.config.hash": "b"}},
		{Status: "Running", Tags: map[string]string{"infrakit.config.hash": "b"}},
	}
	if got := summary(v, nil); got != "3 instances: 1 Pending, 2 Running" {
		t.Errorf("summary = %q", got)
	}
	if got := summary(v, map[string]bool{"a": true}); got != "3 instances: old config 1 Running; new config 1 Pending, 1 Running" {
		t.Errorf("summary with old = %q", got)
	}
	spec, changes, err := changedSpec([]byte(`{"ID":"g","Properties":{"Allocation":{"Size":3},
		"Instance":{"Properties":{"RunInstances":{"InstanceType":"ecs.g6.large"}}}}}`), 5)
	if err != nil || !strings.Contains(string(spec), `"Size": 5`) || !strings.Contains(string(spec), `"ecs.g6.xlarge"`) ||
		fmt.Sprint(changes) != "[Allocation.Size: 3 -> 5 RunInstances.InstanceType: ecs.g6.large -> ecs.g6.xlarge]" {
		t.Errorf("changedSpec = %s %q %v", spec, changes, err)
	}
	if _, _, err := changedSpec([]byte(`{"ID":"g"}`), 5); err == nil {
		t.Error("changedSpec of a spec without Allocation succeeded")
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
