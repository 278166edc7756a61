package harness

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEnvProcessesAndRun(t *testing.T) {
	t.Setenv("INFRAKIT_HOME", "/should/be/overridden")
	e := New(t, &Binaries{}, "EXTRA=1")

	r := e.Run("/bin/sh", "-c", `echo "$INFRAKIT_HOME|$INFRAKIT_PLUGINS_DIR|$EXTRA|$(pwd)"; echo oops >&2; exit 3`)
	if r.ExitCode != 3 || r.Err == nil || strings.TrimSpace(r.Stderr) != "oops" {
		t.Fatalf("unexpected result:\n%s", r)
	}
	want := e.Home + "|" + e.PluginsDir + "|1|" + e.Home
	if got := strings.TrimSpace(r.Stdout); got != want {
		t.Fatalf("environment = %q, want %q", got, want)
	}

	// a fake plugin: a process whose socket we create ourselves
	p := e.Start("sleeper", "/bin/sleep", []string{"30"})
	if err := e.WaitForPlugin("nothing", 50*time.Millisecond); err == nil {
		t.Fatal("WaitForPlugin succeeded without a socket")
	}
	l, err := net.Listen("unix", filepath.Join(e.PluginsDir, "fake"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := e.WaitForPlugin("fake", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("Stop of sleep = %v, want killed by SIGTERM", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}

	if !Eventually(time.Second, func() bool { return true }) || Eventually(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Eventually")
	}
	path := e.WriteFile("sub/f.txt", "x")
	if b, err := os.ReadFile(path); err != nil || string(b) != "x" {
		t.Fatalf("WriteFile: %v %q", err, b)
	}
}

func TestCleanupStopsProcesses(t *testing.T) {
	var p *Process
	var home string
	t.Run("inner", func(t *testing.T) {
		e := New(t, &Binaries{})
		home = e.Home
		p = e.Start("sleeper", "/bin/sleep", []string{"30"})
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after the subtest's cleanup")
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("home %s not removed: %v", home, err)
	}
}

func TestWaitForOutputAndEventuallyEvery(t *testing.T) {
	e := New(t, &Binaries{})
	p := e.Start("talker", "/bin/sh", []string{"-c", "echo starting; echo 'listening on http://127.0.0.1:4242 now'; exec sleep 30"})
	m, err := p.WaitForOutput(regexp.MustCompile(`listening on (http://\S+)`), 10*time.Second)
	if err != nil || len(m) != 2 || m[1] != "http://127.0.0.1:4242" {
		t.Fatalf("WaitForOutput = %q, %v", m, err)
	}
	q := e.Start("quitter", "/bin/sh", []string{"-c", "echo bye"})
	if _, err := q.WaitForOutput(regexp.MustCompile(`never`), 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitForOutput of an exited process: %v", err)
	}
	if _, err := p.WaitForOutput(regexp.MustCompile(`never`), 30*time.Millisecond); err == nil {
		t.Fatal("WaitForOutput did not time out")
	}
	n := 0
	if !EventuallyEvery(5*time.Second, time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("EventuallyEvery: n = %d", n)
	}
	if EventuallyEvery(20*time.Millisecond, 5*time.Millisecond, func() bool { return false }) {
		t.Fatal("EventuallyEvery of a false condition")
	}
}
