package rpcserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Sirupsen/logrus"
)

// Environment variables that choose the plugin directory, as in InfraKit.
const (
	EnvPluginsDir   = "INFRAKIT_PLUGINS_DIR"
	EnvInfrakitHome = "INFRAKIT_HOME"
)

// MaxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// PluginsDir returns the directory InfraKit discovers plugins in:
// $INFRAKIT_PLUGINS_DIR, else $INFRAKIT_HOME/plugins, else ~/.infrakit/plugins.
func PluginsDir(lookup func(string) (string, bool)) (string, error) {
	get := func(k string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(k)
		return v
	}
	if d := get(EnvPluginsDir); d != "" {
		return d, nil
	}
	if h := get(EnvInfrakitHome); h != "" {
		return filepath.Join(h, "plugins"), nil
	}
	home := get("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	if home == "" {
		return "", fmt.Errorf("cannot find the plugin directory: set %s, %s or HOME", EnvPluginsDir, EnvInfrakitHome)
	}
	return filepath.Join(home, ".infrakit", "plugins"), nil
}

// SocketPath returns where a plugin of the given name listens in dir.
func SocketPath(dir, name string) string { return filepath.Join(dir, name) }

// PidPath returns the pid file of a plugin of the given name in dir.
func PidPath(dir, name string) string { return filepath.Join(dir, name+".pid") }

// ValidateName checks that name can be used as the socket's file name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("plugin name must not be empty")
	case name == "." || name == "..", strings.ContainsAny(name, "/\\\x00"), strings.HasPrefix(name, "."):
		return fmt.Errorf("plugin name %q must be a plain file name", name)
	case strings.HasSuffix(name, ".pid"), strings.HasSuffix(name, ".listen"):
		return fmt.Errorf("plugin name %q must not end in .pid or .listen", name)
	}
	return nil
}

// CheckNotRunning returns an error wrapping ErrAlreadyRunning when a live
// plugin answers on the socket of that name in dir, and nil when there is no
// socket or nobody answers on it (a stale socket).
func CheckNotRunning(dir, name string) error {
	socketPath := SocketPath(dir, name)
	if err := checkSocketPath(socketPath); err != nil {
		return err
	}
	conn, err := net.DialTimeout("unix", socketPath, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("%w: a plugin answers on %s (pid %s); stop it or choose another --name",
			ErrAlreadyRunning, socketPath, readPid(PidPath(dir, name)))
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("cannot tell whether a plugin is live on %s: %w", socketPath, err)
}

// readPid reads a pid file for an error message, or "unknown". The file
// is in the plugin directory, where others may plant things: it is not
// followed if a symlink, not waited on if a FIFO, and only a number is
// quoted.
func readPid(path string) string {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "unknown"
	}
	b := make([]byte, 20)
	n, _ := f.Read(b)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// clearStale removes a socket nobody answers on (and its pid file), and
// refuses when a live plugin answers.
func clearStale(socketPath, pidPath string, log *logrus.Logger) error {
	fi, err := os.Lstat(socketPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: remove it or choose another --name", socketPath)
	}
	if err := CheckNotRunning(filepath.Dir(socketPath), filepath.Base(socketPath)); err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"socket": socketPath, "pid_file": pidPath}).Warn("Removing stale socket and pid file")
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	if err := os.Remove(pidPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale pid file: %w", err)
	}
	return nil
}

// checkSocketPath refuses a socket path the kernel cannot bind, naming the
// limit, instead of failing later with "invalid argument".
func checkSocketPath(socketPath string) error {
	if len(socketPath) > MaxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, over the %d bytes a unix socket path can have; choose a shorter %s or --name",
			socketPath, len(socketPath), MaxSocketPath, EnvPluginsDir)
	}
	return nil
}

// warnIfShared warns when others can write the plugin directory: they
// could replace the socket or the pid file between two runs.
func warnIfShared(dir string, log *logrus.Logger) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o022 == 0 {
		return
	}
	log.WithFields(logrus.Fields{"dir": dir, "mode": fmt.Sprintf("%#o", fi.Mode().Perm()), "sticky": fi.Mode()&os.ModeSticky != 0}).
		Warn("The plugin directory is writable by other users: they can plant files where the socket and pid file go; use a directory only you can write")
}

// writeFileNoFollow writes path atomically without following a symlink
// planted there: the data goes to a new file created with O_EXCL (which
// never follows a symlink) in dir, then renamed over path (rename replaces
// a symlink itself, not its target).
func writeFileNoFollow(dir, path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// listenPrivate binds the socket inside a fresh 0700 directory, sets its mode
// to 0600 and only then links it into place, so nobody else can ever connect
// to it and a plugin that appeared meanwhile is never overwritten. The
// temporary directory's name makes the bind path ~14 bytes longer than the
// socket path, so when that is over the limit the socket is bound through
// /proc/self/fd/<dir's descriptor>/s instead: every socket path that fits
// the limit works.
func listenPrivate(dir, socketPath string) (net.Listener, os.FileInfo, error) {
	tmp, err := os.MkdirTemp(dir, ".s")
	if err != nil {
		return nil, nil, fmt.Errorf("creating socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")

	bindPath := tmpSock
	if len(tmpSock) > MaxSocketPath {
		d, err := os.Open(tmp)
		if err != nil {
			return nil, nil, fmt.Errorf("creating socket: %w", err)
		}
		defer d.Close()
		bindPath = fmt.Sprintf("/proc/self/fd/%d/s", d.Fd())
	}
	l, err := net.Listen("unix", bindPath)
	if err != nil {
		return nil, nil, fmt.Errorf("listening: %w", err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the socket moves; Serve removes it itself
	fail := func(err error) (net.Listener, os.FileInfo, error) {
		_ = l.Close()
		return nil, nil, err
	}
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		return fail(fmt.Errorf("setting socket mode: %w", err))
	}
	if err := os.Link(tmpSock, socketPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("%w: %s appeared while starting", ErrAlreadyRunning, socketPath))
		}
		// Some file systems refuse hard links; fall back to a rename.
		if _, serr := os.Lstat(socketPath); serr == nil {
			return fail(fmt.Errorf("%w: %s appeared while starting", ErrAlreadyRunning, socketPath))
		}
		if err := os.Rename(tmpSock, socketPath); err != nil {
			return fail(fmt.Errorf("placing socket: %w", err))
		}
	}
	fi, err := os.Lstat(socketPath)
	if err != nil {
		return fail(err)
	}
	return l, fi, nil
}
