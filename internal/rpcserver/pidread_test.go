package rpcserver_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"infrakit.aliyun/internal/rpcserver"
)

// CheckNotRunning quotes the pid file of a live plugin in its error. The
// pid file is in the plugin directory, where (when it is shared) anyone
// can plant a symlink to a file only the daemon can read, or a FIFO: the
// first put that file's content in the error (and so the log), the second
// hung the start for ever. Only a pid read from a regular file is quoted.
func TestCheckNotRunningPidFileIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", rpcserver.SocketPath(dir, "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, rpcserver.PidPath(dir, "p")); err != nil {
		t.Fatal(err)
	}
	err = rpcserver.CheckNotRunning(dir, "p")
	if !errors.Is(err, rpcserver.ErrAlreadyRunning) || strings.Contains(err.Error(), "TOP-SECRET") {
		t.Fatalf("pid file symlinked to another file: %v", err)
	}

	os.Remove(rpcserver.PidPath(dir, "p"))
	if err := syscall.Mkfifo(rpcserver.PidPath(dir, "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rpcserver.CheckNotRunning(dir, "p") }()
	select {
	case err := <-done:
		if !errors.Is(err, rpcserver.ErrAlreadyRunning) {
			t.Fatalf("pid file a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CheckNotRunning hangs on a FIFO planted as the pid file")
	}

	os.Remove(rpcserver.PidPath(dir, "p"))
	os.WriteFile(rpcserver.PidPath(dir, "p"), []byte("4242"), 0o644)
	if err := rpcserver.CheckNotRunning(dir, "p"); !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("a regular pid file is not quoted: %v", err)
	}
}
