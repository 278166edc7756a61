// Package infrakitplugins runs one of InfraKit's own in-process plugin kinds
// (pkg/run/v0/...) as a standalone process that listens on a unix socket in the
// InfraKit plugins directory, exactly like `infrakit plugin start` would.
//
// The plugin logic is InfraKit's: this package only parses flags, builds the
// local-discovery scope, hands off to the kind's Run function and
// run.ServeRPC, and cleans up the socket and pid file on SIGINT/SIGTERM.
package infrakitplugins

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/infrakit/pkg/cli"
	"github.com/docker/infrakit/pkg/discovery"
	discovery_local "github.com/docker/infrakit/pkg/discovery/local"
	"github.com/docker/infrakit/pkg/launch/inproc"
	logutil "github.com/docker/infrakit/pkg/log"
	"github.com/docker/infrakit/pkg/plugin"
	"github.com/docker/infrakit/pkg/run"
	"github.com/docker/infrakit/pkg/run/scope"
	"github.com/docker/infrakit/pkg/types"
	"github.com/spf13/pflag"
)

// Kind describes one InfraKit plugin kind to serve.
type Kind struct {
	// Program is the binary name used in usage text.
	Program string
	// DefaultName is the default plugin name (the socket file name).
	DefaultName string
	// Run is the kind's Run function from infrakit's pkg/run/v0/<kind>.
	Run inproc.PluginRunFunc
	// DefaultOptions are the kind's default options (infrakit's DefaultOptions);
	// only used to document the --options flag.
	DefaultOptions interface{}
	// Env lists environment variables the kind reads, for the usage text.
	Env []string
}

// shutdownGrace bounds how long we wait for infrakit's server to stop.
const shutdownGrace = 15 * time.Second

// Main runs the plugin until SIGINT/SIGTERM and returns the process exit code.
func Main(k Kind, args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet(k.Program, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", k.DefaultName, "plugin name: the socket file created in the plugins directory")
	options := fs.String("options", "",
		"JSON/YAML options for the plugin kind, applied over infrakit's defaults")
	logOptions := logutil.ProdDefaults
	fs.AddFlagSet(cli.Flags(&logOptions))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns infrakit's %q plugin, listening on %s/<name>.\n\nFlags:\n%s",
			k.Program, k.DefaultName, discovery_local.Dir(), fs.FlagUsages())
		if k.DefaultOptions != nil {
			if any, err := types.AnyValue(k.DefaultOptions); err == nil {
				fmt.Fprintf(stderr, "\nDefault --options: %s\n", any.String())
			}
		}
		if len(k.Env) > 0 {
			fmt.Fprintf(stderr, "\nEnvironment: %s\n", strings.Join(k.Env, ", "))
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %v\n", k.Program, fs.Args())
		fs.Usage()
		return 2
	}
	logutil.Configure(&logOptions)

	if err := Serve(k, plugin.Name(*name), *options, nil); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", k.Program, err)
		return 1
	}
	return 0
}

// Serve starts the plugin kind under the given name and blocks until a
// SIGINT/SIGTERM arrives (or stop is closed), then shuts the server down and
// makes sure its socket and pid file are gone.
func Serve(k Kind, name plugin.Name, options string, stop <-chan struct{}) error {
	if err := discovery_local.Setup(); err != nil {
		return fmt.Errorf("plugins directory: %w", err)
	}
	dir := discovery_local.Dir()
	lookup, _ := name.GetLookupAndType()
	if lookup == "" {
		return fmt.Errorf("empty plugin name")
	}
	socketPath := filepath.Join(dir, lookup)
	pidPath := socketPath + ".pid"
	if err := removeStale(socketPath, pidPath); err != nil {
		return err
	}

	var config *types.Any
	if strings.TrimSpace(options) != "" {
		var v interface{}
		if err := types.Decode([]byte(options), &v); err != nil {
			return fmt.Errorf("--options: %w", err)
		}
		any, err := types.AnyValue(v)
		if err != nil {
			return fmt.Errorf("--options: %w", err)
		}
		config = any
	}

	// Catch signals before the server exists so an early SIGTERM still cleans up.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	sc := scope.DefaultScope(LocalPlugins)
	transport, impls, onStop, err := k.Run(sc, name, config)
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	stoppable, running, err := run.ServeRPC(transport, onStop, impls)
	if err != nil {
		return fmt.Errorf("serving %s: %w", name, err)
	}
	logutil.New("module", "infrakitplugins").Info("plugin running", "name", name, "socket", socketPath)

	select {
	case <-running:
		// infrakit stopped on its own (its http server also reacts to signals)
	case <-sigs:
		shutdown(stoppable.Stop, running)
	case <-stop:
		shutdown(stoppable.Stop, running)
	}
	for _, p := range []string{pidPath, socketPath} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// shutdown lets infrakit's own signal handling run first and only forces a
// Stop when it did not start stopping by itself.
func shutdown(stopServer func(), running <-chan struct{}) {
	select {
	case <-running:
		return
	case <-time.After(500 * time.Millisecond):
	}
	stopServer()
	select {
	case <-running:
	case <-time.After(shutdownGrace):
	}
}

// LocalPlugins is the plugin lookup used by the plugins: local discovery in
// $INFRAKIT_PLUGINS_DIR, else $INFRAKIT_HOME/plugins, else ~/.infrakit/plugins.
// The directory is re-read on every lookup, so plugins started later are found.
func LocalPlugins() discovery.Plugins {
	d, err := discovery_local.NewPluginDiscovery()
	if err != nil {
		return noPlugins{err: err}
	}
	return d
}

type noPlugins struct{ err error }

func (n noPlugins) Find(name plugin.Name) (*plugin.Endpoint, error) { return nil, n.err }

func (n noPlugins) List() (map[string]*plugin.Endpoint, error) { return nil, n.err }

// removeStale deletes a pid file whose process is gone and a socket nobody
// listens on; infrakit itself refuses to start (os.Exit / panic) on either.
func removeStale(socketPath, pidPath string) error {
	if b, err := os.ReadFile(pidPath); err == nil {
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr == nil && pid > 0 && pid != os.Getpid() && processAlive(pid) {
			return fmt.Errorf("plugin already running with pid %d (%s); stop it or remove the file", pid, pidPath)
		}
		if err := os.Remove(pidPath); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if _, err := os.Lstat(socketPath); err == nil {
		conn, derr := net.DialTimeout("unix", socketPath, time.Second)
		if derr == nil {
			conn.Close()
			return fmt.Errorf("another process is listening on %s", socketPath)
		}
		if err := os.Remove(socketPath); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
