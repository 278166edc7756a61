package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/httplimit"
)

// Options configures Serve.
type Options struct {
	// Name is the plugin name and the socket's file name (required).
	Name string
	// Dir is the plugin directory; it is created if missing.
	Dir string
	// Logger receives the daemon's own log lines; nil discards them.
	Logger *logrus.Logger
	// ShutdownTimeout bounds how long in-flight calls may finish after the
	// context is cancelled (default 10s).
	ShutdownTimeout time.Duration
	// Ready, if set, is called with the socket path once it accepts calls.
	Ready func(socketPath string)
	// Secrets are scrubbed from error messages sent back to callers.
	Secrets []string
	// Limits bound each client; zero fields take DefaultLimits.
	Limits httplimit.Limits
	// Observe, if set, is told of each dispatched call (the daemon's
	// metrics); see CallObserver.
	Observe CallObserver
}

// ErrAlreadyRunning is wrapped by the error Serve returns when a live plugin
// already answers on the socket.
var ErrAlreadyRunning = errors.New("plugin already running")

// Serve serves p as an InfraKit Instance plugin (Instance/0.6.1, the
// handshakes of v0.3.0 to v0.5, and p's Event and Metadata SPIs when it has
// them) on the unix socket <Dir>/<Name>, writing <Dir>/<Name>.pid. It
// refuses to start when a live plugin answers on that socket and removes a
// stale one. It returns when ctx is cancelled, after removing the socket
// and the pid file.
func Serve(ctx context.Context, opts Options, p instance.Plugin) error {
	opts, dir, err := opts.prepare()
	if err != nil {
		return err
	}
	log := opts.Logger
	handler, err := newHandler(p, log, opts.Observe, opts.Secrets)
	if err != nil {
		return err
	}
	socketPath, pidPath := SocketPath(dir, opts.Name), PidPath(dir, opts.Name)
	if err := clearStale(socketPath, pidPath, log); err != nil {
		return err
	}
	l, owned, err := listenPrivate(dir, socketPath)
	if err != nil {
		return err
	}
	defer removeOwned(socketPath, owned, pidPath)

	// InfraKit's launcher reads the pid with strconv.Atoi: no newline.
	if err := writeFileNoFollow(dir, pidPath, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = l.Close()
		return fmt.Errorf("writing pid file: %w", err)
	}

	limits := opts.Limits.WithDefaults(DefaultLimits())
	srv := limits.Server(handler, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(limits.Listener(l, "plugin socket")) }()

	log.WithFields(logrus.Fields{"socket": socketPath, "pid_file": pidPath, "pid": os.Getpid()}).Info("Listening")
	if opts.Ready != nil {
		opts.Ready(socketPath)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving %s: %w", socketPath, err)
	case <-ctx.Done():
	}

	log.WithField("socket", socketPath).Info("Shutting down")
	handler.CloseStreams() // event subscribers would hold Shutdown (spis.go)
	// Stop accepting first so the socket file can go even if calls linger.
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.WithError(err).Warn("In-flight calls did not finish before the shutdown timeout")
		_ = srv.Close()
	}
	<-serveErr
	return nil
}

// prepare checks the options, fills defaults and creates the plugin
// directory, returning its absolute path.
func (opts Options) prepare() (Options, string, error) {
	if err := ValidateName(opts.Name); err != nil {
		return opts, "", err
	}
	if opts.Dir == "" {
		return opts, "", errors.New("no plugin directory")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return opts, "", err
	}
	if err := checkSocketPath(SocketPath(dir, opts.Name)); err != nil {
		return opts, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return opts, "", fmt.Errorf("creating plugin directory: %w", err)
	}
	warnIfShared(dir, opts.Logger)
	return opts, dir, nil
}

// removeOwned removes the socket and the pid file if they are still ours:
// a newer plugin may have replaced them.
func removeOwned(socketPath string, owned os.FileInfo, pidPath string) {
	if cur, err := os.Lstat(socketPath); err == nil && os.SameFile(cur, owned) {
		_ = os.Remove(socketPath)
	}
	if readPid(pidPath) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(pidPath)
	}
}
