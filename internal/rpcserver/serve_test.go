package rpcserver_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/rpcserver"
)

func TestPluginsDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"INFRAKIT_PLUGINS_DIR wins", map[string]string{rpcserver.EnvPluginsDir: "/p", rpcserver.EnvInfrakitHome: "/h", "HOME": "/home/u"}, "/p"},
		{"INFRAKIT_HOME/plugins", map[string]string{rpcserver.EnvInfrakitHome: "/h", "HOME": "/home/u"}, "/h/plugins"},
		{"empty values are unset", map[string]string{rpcserver.EnvPluginsDir: "", rpcserver.EnvInfrakitHome: "", "HOME": "/home/u"}, "/home/u/.infrakit/plugins"},
		{"~/.infrakit/plugins", map[string]string{"HOME": "/home/u"}, "/home/u/.infrakit/plugins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rpcserver.PluginsDir(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			noErr(t, err)
			equal(t, tt.want, got)
		})
	}
	// Without HOME it falls back to the user database.
	got, err := rpcserver.PluginsDir(func(string) (string, bool) { return "", false })
	if err == nil {
		equal(t, ".infrakit/plugins", filepath.Base(filepath.Dir(got))+"/"+filepath.Base(got))
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"instance-aliyun", "instance-aliyun-2", "a"} {
		noErr(t, rpcserver.ValidateName(ok))
	}
	for _, bad := range []string{"", ".", "..", "a/b", ".hidden", "x.pid", "x.listen", "a\x00b"} {
		if rpcserver.ValidateName(bad) == nil {
			t.Errorf("rpcserver.ValidateName(%q) accepted", bad)
		}
	}
}

func TestServeCreatesDirSocket0600PidAndCleansUpOnCancel(t *testing.T) {
	base := shortTempDir(t)
	dir := filepath.Join(base, "a", "plugins") // does not exist yet
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	p := newFakePlugin()
	go func() {
		done <- rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-aliyun", Dir: dir, Ready: func(s string) { ready <- s }}, p)
	}()
	var socket string
	select {
	case socket = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	equal(t, filepath.Join(dir, "instance-aliyun"), socket)

	fi, err := os.Lstat(socket)
	noErr(t, err)
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a socket: %v", socket, fi.Mode())
	}
	equal(t, os.FileMode(0o600), fi.Mode().Perm(), "socket mode")

	pid, err := os.ReadFile(filepath.Join(dir, "instance-aliyun.pid"))
	noErr(t, err)
	equal(t, strconv.Itoa(os.Getpid()), string(pid), "pid file (no newline: InfraKit parses it with Atoi)")
	// Only the socket and the pid file: the private temp dir is gone.
	equal(t, []string{"instance-aliyun", "instance-aliyun.pid"}, pluginFiles(t, dir))

	// The equivalent of SIGTERM: the root command cancels this context on it.
	cancel()
	noErr(t, <-done)
	equal(t, []string(nil), pluginFiles(t, dir), "socket and pid file removed")
}

func TestServeRemovesStaleSocketAndPid(t *testing.T) {
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "instance-test")
	// A socket file nobody listens on, as a crashed plugin leaves behind.
	l, err := net.Listen("unix", socket)
	noErr(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	noErr(t, l.Close())
	noErr(t, os.WriteFile(socket+".pid", []byte("999999"), 0o644))

	log, out := testLogger(t, 4)
	_, got, stop := servedIn(t, dir, newFakePlugin(), log)
	equal(t, socket, got)
	pid, err := os.ReadFile(socket + ".pid")
	noErr(t, err)
	equal(t, strconv.Itoa(os.Getpid()), string(pid))
	contains(t, out.String(), "Removing stale socket")

	// The new socket works.
	c, err := rpcinstance.NewClient(plugin.Name("instance-test"), socket)
	noErr(t, err)
	_, err = c.DescribeInstances(nil, false)
	noErr(t, err)

	noErr(t, stop())
	equal(t, []string(nil), pluginFiles(t, dir))
}

func TestServeRefusesOverLivePlugin(t *testing.T) {
	first := newFakePlugin()
	dir, socket, stop := served(t, first, nil)

	err := rpcserver.Serve(context.Background(), rpcserver.Options{Name: "instance-test", Dir: dir}, newFakePlugin())
	if !errors.Is(err, rpcserver.ErrAlreadyRunning) {
		t.Fatalf("second Serve: %v, want rpcserver.ErrAlreadyRunning", err)
	}
	contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))

	// The first plugin is untouched and still answers.
	equal(t, []string{"instance-test", "instance-test.pid"}, pluginFiles(t, dir))
	c, err := rpcinstance.NewClient(plugin.Name("instance-test"), socket)
	noErr(t, err)
	_, err = c.Provision(instance.Spec{Properties: types.AnyValueMust(map[string]string{"InstanceType": "t"})})
	noErr(t, err)
	noErr(t, stop())
}

func TestServeRefusesNonSocketFile(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "instance-test")
	noErr(t, os.WriteFile(path, []byte("keep me"), 0o644))
	err := rpcserver.Serve(context.Background(), rpcserver.Options{Name: "instance-test", Dir: dir}, newFakePlugin())
	if err == nil {
		t.Fatal("Serve over a regular file succeeded")
	}
	contains(t, err.Error(), "not a socket")
	b, _ := os.ReadFile(path)
	equal(t, "keep me", string(b))
}

func TestServeRejectsOverlongSocketPath(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")
	err := rpcserver.Serve(context.Background(), rpcserver.Options{Name: "instance-test", Dir: dir}, newFakePlugin())
	if err == nil {
		t.Fatal("accepted an overlong socket path")
	}
	contains(t, err.Error(), "over the 107 bytes a unix socket path can have")
}

func TestServeDoesNotRemoveAReplacedSocket(t *testing.T) {
	dir, socket, stop := served(t, newFakePlugin(), nil)
	// Someone replaces our socket with theirs (e.g. an operator restarted by hand).
	noErr(t, os.Remove(socket))
	noErr(t, os.Remove(socket+".pid"))
	l, err := net.Listen("unix", socket)
	noErr(t, err)
	defer l.Close()
	noErr(t, os.WriteFile(socket+".pid", []byte("12345"), 0o644))

	noErr(t, stop())
	equal(t, []string{"instance-test", "instance-test.pid"}, pluginFiles(t, dir), "other plugin's files kept")
}
