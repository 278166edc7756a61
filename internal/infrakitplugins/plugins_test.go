package infrakitplugins

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/plugin"
	"github.com/docker/infrakit/pkg/rpc/client"
)

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ikp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestServeVanillaAndCleanUp(t *testing.T) {
	dir := shortTempDir(t)
	t.Setenv("INFRAKIT_PLUGINS_DIR", dir)
	socket, pid := filepath.Join(dir, "flavor-test"), filepath.Join(dir, "flavor-test.pid")

	// a stale pid file (dead process) and stale socket must not block start-up
	if err := os.WriteFile(pid, []byte("999999999"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- Serve(Vanilla, plugin.Name("flavor-test"), "", stop) }()

	waitFor(t, "socket and pid file", func() bool {
		c, err := net.Dial("unix", socket)
		if err != nil {
			return false
		}
		c.Close()
		return exists(pid)
	})
	b, _ := os.ReadFile(pid)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file holds %q, want %d", b, os.Getpid())
	}

	hs, err := client.NewHandshaker(socket)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := hs.Hello()
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	for spec := range objects {
		specs = append(specs, spec.Encode())
	}
	if len(specs) != 1 || !strings.HasPrefix(specs[0], "Flavor/") {
		t.Fatalf("handshake = %v, want one Flavor interface", specs)
	}

	close(stop)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after stop")
	}
	if exists(socket) || exists(pid) {
		t.Fatalf("socket or pid file left behind: %v %v", exists(socket), exists(pid))
	}
}

func TestRemoveStaleRefusesLiveProcess(t *testing.T) {
	dir := shortTempDir(t)
	// The test's parent (go test) is alive while it runs and owns no socket;
	// removeStale ignores the calling process's own pid.
	socket, pid := filepath.Join(dir, "p"), filepath.Join(dir, "p.pid")
	if err := os.WriteFile(pid, []byte(strconv.Itoa(os.Getppid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeStale(socket, pid); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("removeStale = %v, want already running", err)
	}
	if !exists(pid) {
		t.Fatal("live pid file removed")
	}
}

func TestRemoveStaleRefusesListeningSocket(t *testing.T) {
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "p")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := removeStale(socket, socket+".pid"); err == nil {
		t.Fatal("removeStale accepted a live socket")
	}
}

func TestMainFlags(t *testing.T) {
	var out bytes.Buffer
	if code := Main(Group, []string{"--help"}, &out); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"--name", "--log", "--options", "INFRAKIT_GROUP_POLL_INTERVAL", `"group"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main(Group, []string{"extra"}, &out); code != 2 {
		t.Fatalf("extra args exit %d", code)
	}
	out.Reset()
	t.Setenv("INFRAKIT_PLUGINS_DIR", shortTempDir(t))
	if code := Main(Vanilla, []string{"--options", "{not json"}, &out); code != 1 || !strings.Contains(out.String(), "--options") {
		t.Fatalf("bad options: exit %d, %s", code, out.String())
	}
}
