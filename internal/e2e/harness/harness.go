// Package harness runs InfraKit plugin processes and the infrakit CLI for
// end-to-end tests: it builds the binaries once (from TestMain), gives each
// test a private INFRAKIT_HOME (plugins directory inside it), starts and stops
// plugin processes there, waits for their sockets and runs CLI commands,
// capturing their output. Every process is stopped in t.Cleanup, also when
// the test fails; on failure their logs are written to the test log.
//
// Typical use:
//
//	func TestMain(m *testing.M) {
//		os.Exit(harness.RunMain(m, harness.PkgCLI, harness.PkgGroup, harness.PkgVanilla))
//	}
//
//	func TestX(t *testing.T) {
//		e := harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL=1s")
//		e.StartPlugin("group", "infrakit-group-default")
//		out := e.MustCLI("group", "ls")
//	}
package harness

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"infrakit.aliyun/internal/binaries"
	"infrakit.aliyun/internal/testutil"
)

// Names of the binaries, from package binaries (kept here so tests read
// harness.PkgCLI and so on).
const (
	PkgCLI          = binaries.PkgCLI
	PkgGroup        = binaries.PkgGroup
	PkgVanilla      = binaries.PkgVanilla
	PkgInstanceFile = binaries.PkgInstanceFile

	CLI          = binaries.CLI
	Group        = binaries.Group
	Vanilla      = binaries.Vanilla
	InstanceFile = binaries.InstanceFile
)

// Timeouts used by the helpers; generous because the machine is shared.
var (
	StartTimeout = 30 * time.Second // for a plugin socket to accept connections
	CLITimeout   = 60 * time.Second // for one CLI invocation
	StopTimeout  = 10 * time.Second // SIGTERM grace before SIGKILL
	Tick         = 20 * time.Millisecond
)

// Binaries is a directory of built executables.
type Binaries = binaries.Set

// Default is set by RunMain to the binaries it built.
var Default *Binaries

// ModuleRoot returns the directory of the go.mod enclosing the current directory.
func ModuleRoot() (string, error) { return binaries.ModuleRoot() }

// Build compiles the given main packages into dir (see binaries.Build).
func Build(dir string, pkgs ...string) (*Binaries, error) { return binaries.Build(dir, pkgs...) }

// EnvBinaries, when set, names a directory of already built binaries that
// RunMain uses instead of building pkgs (their base names must be there).
const EnvBinaries = "INFRAKIT_E2E_BINARIES"

// RunMain is for TestMain: it builds pkgs into a temporary directory, sets
// Default, runs the tests and removes the directory. It returns the exit code.
// With $INFRAKIT_E2E_BINARIES set it uses that directory instead.
func RunMain(m *testing.M, pkgs ...string) int {
	// Parse even when flag.Parsed() is already true: InfraKit's pkg/log
	// calls flag.CommandLine.Parse([]string{}) in its init, which would
	// otherwise make the test binary ignore -test.v, -test.run and the rest.
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if dir := os.Getenv(EnvBinaries); dir != "" {
		// prebuilt binaries, e.g. `make build`'s: no build, no check they are current
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "harness: using the binaries in %s (%s)\n", dir, EnvBinaries)
		}
		Default = &Binaries{Dir: dir}
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ikbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	bins, err := Build(dir, pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness: build failed:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "harness: built %d binaries in %v\n", len(pkgs), time.Since(start).Round(time.Millisecond))
	}
	Default = bins
	return m.Run()
}

// Env is one test's InfraKit world: a private INFRAKIT_HOME with its plugins
// directory, extra environment, and the processes started in it.
type Env struct {
	T    testing.TB
	Bins *Binaries
	// Home is INFRAKIT_HOME; CLI commands run with it as working directory.
	Home string
	// PluginsDir is INFRAKIT_PLUGINS_DIR (Home/plugins).
	PluginsDir string

	mu    sync.Mutex
	vars  []string
	procs []*Process
}

// New creates an Env with a fresh INFRAKIT_HOME (short path under the
// system temp dir, so unix socket paths stay well below the length limit).
// vars are KEY=VALUE pairs added to the environment of every process and CLI
// run. Everything is stopped and removed in t.Cleanup.
func New(t testing.TB, bins *Binaries, vars ...string) *Env {
	t.Helper()
	if bins == nil {
		t.Fatal("harness: no binaries (call harness.RunMain from TestMain or pass Build's result)")
	}
	home, err := os.MkdirTemp("", "ikh")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, Bins: bins, Home: home, PluginsDir: filepath.Join(home, "plugins")}
	if err := os.MkdirAll(e.PluginsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, vars...)
	t.Cleanup(e.cleanup)
	return e
}

// Setenv adds KEY=VALUE pairs for processes and CLI runs started afterwards.
func (e *Env) Setenv(vars ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vars = append(e.vars, vars...)
}

// Environ is the environment given to processes: the test's environment
// without INFRAKIT_* variables, then INFRAKIT_HOME, INFRAKIT_PLUGINS_DIR and
// the Env's extra variables (later entries win).
func (e *Env) Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFRAKIT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "INFRAKIT_HOME="+e.Home, "INFRAKIT_PLUGINS_DIR="+e.PluginsDir)
	e.mu.Lock()
	env = append(env, e.vars...)
	e.mu.Unlock()
	return append(env, extra...)
}

// Path is a path inside Home.
func (e *Env) Path(name string) string { return filepath.Join(e.Home, name) }

// WriteFile writes content to Home/name and returns the full path.
func (e *Env) WriteFile(name, content string) string {
	e.T.Helper()
	p := e.Path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.T.Fatal(err)
	}
	return p
}

// Process is a running (or finished) child process.
type Process struct {
	Name string
	Cmd  *exec.Cmd

	out  *testutil.SyncBuffer
	done chan struct{}
	err  error // set before done is closed
}

// Output is everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid after Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// WaitForOutput waits until the process's output matches re and returns the
// match (whole match, then submatches). It fails early when the process exits.
func (p *Process) WaitForOutput(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m, nil
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.Output()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited (%v) before printing %q", p.Name, p.err, re)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not print %q within %v", p.Name, re, timeout)
		}
		time.Sleep(Tick)
	}
}

// Stop sends SIGTERM, waits up to StopTimeout, then kills the process group.
// It returns the exit error (nil for a clean exit after SIGTERM).
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(StopTimeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.Name, StopTimeout)
	}
}

// Kill kills the process and its process group, and waits for it.
func (p *Process) Kill() {
	if p.Cmd.Process != nil {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		_ = p.Cmd.Process.Kill()
	}
	<-p.done
}

// Start starts binary (a name in Bins, or an absolute path) with args in the
// Env and returns at once. name labels it in logs.
func (e *Env) Start(name, binary string, args []string, extraEnv ...string) *Process {
	e.T.Helper()
	cmd := exec.Command(e.Bins.Path(binary), args...)
	cmd.Dir = e.Home
	cmd.Env = e.Environ(extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{Name: name, Cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		e.T.Fatalf("harness: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// StartPlugin starts a plugin binary and waits until its socket named
// pluginName accepts connections. Extra args are passed to the binary; use
// "--name", pluginName in args if it is not the binary's default name.
func (e *Env) StartPlugin(pluginName, binary string, args ...string) *Process {
	e.T.Helper()
	p := e.Start(pluginName, binary, args)
	if err := e.waitForSocket(pluginName, p, StartTimeout); err != nil {
		e.T.Fatalf("harness: %v\n--- %s output ---\n%s", err, pluginName, p.Output())
	}
	return p
}

// WaitForPlugin waits until the plugin's socket accepts connections.
func (e *Env) WaitForPlugin(pluginName string, timeout time.Duration) error {
	return e.waitForSocket(pluginName, nil, timeout)
}

// SocketPath is where a plugin's socket is expected.
func (e *Env) SocketPath(pluginName string) string {
	return filepath.Join(e.PluginsDir, pluginName)
}

func (e *Env) waitForSocket(pluginName string, p *Process, timeout time.Duration) error {
	path := e.SocketPath(pluginName)
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil
		}
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("plugin %s exited before listening: %v", pluginName, p.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("plugin %s: no socket at %s after %v", pluginName, path, timeout)
		}
		time.Sleep(Tick)
	}
}

// Result is the outcome of one CLI run.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int
	Err      error // non-nil when the process could not run, was killed, or exited non-zero
}

func (r Result) String() string {
	return fmt.Sprintf("infrakit %s (exit %d)\n--- stdout ---\n%s--- stderr ---\n%s",
		strings.Join(r.Args, " "), r.ExitCode, r.Stdout, r.Stderr)
}

// CLI runs the infrakit CLI binary with args in Home, with the Env's
// environment, bounded by CLITimeout.
func (e *Env) CLI(args ...string) Result {
	return e.Run(CLI, args...)
}

// Run runs any binary to completion like CLI does.
func (e *Env) Run(binary string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), CLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Bins.Path(binary), args...)
	cmd.Dir = e.Home
	cmd.Env = e.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		r.ExitCode = -1
	}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("timed out after %v: %w", CLITimeout, err)
	}
	return r
}

// MustCLI runs the CLI and fails the test unless it exits 0; returns stdout.
func (e *Env) MustCLI(args ...string) string {
	e.T.Helper()
	r := e.CLI(args...)
	if r.Err != nil {
		e.T.Fatalf("harness: %v\n%s", r.Err, r)
	}
	return r.Stdout
}

// Eventually polls cond every Tick until it returns true or timeout passes;
// it reports whether cond became true.
func Eventually(timeout time.Duration, cond func() bool) bool {
	return EventuallyEvery(timeout, Tick, cond)
}

// EventuallyEvery is Eventually with its own polling interval, for
// conditions that are costly to evaluate (e.g. ones that run the CLI).
func EventuallyEvery(timeout, tick time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(tick)
	}
}

// Stop stops every process started in the Env (SIGTERM, then SIGKILL).
func (e *Env) Stop() {
	e.mu.Lock()
	procs := append([]*Process(nil), e.procs...)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func(p *Process) {
			defer wg.Done()
			if err := p.Stop(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || e.T.Failed() {
					e.T.Logf("harness: %s: %v", p.Name, err)
				}
			}
		}(p)
	}
	wg.Wait()
}

// StopCleanly stops procs in the given order and fails the test (without
// stopping it) for each that does not exit cleanly after SIGTERM; the
// cleanup then logs every process's output.
func (e *Env) StopCleanly(procs ...*Process) {
	e.T.Helper()
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			e.T.Errorf("%s: exit after SIGTERM: %v", p.Name, err)
		}
	}
}

// CheckPluginsDirEmpty fails the test (without stopping it) unless the
// plugins directory is empty: once every plugin is stopped, a socket or pid
// file left there is a plugin that did not clean up.
func (e *Env) CheckPluginsDirEmpty() {
	e.T.Helper()
	ents, err := os.ReadDir(e.PluginsDir)
	if err != nil {
		e.T.Errorf("plugins directory: %v", err)
		return
	}
	var names []string
	for _, ent := range ents {
		names = append(names, ent.Name())
	}
	if len(names) > 0 {
		e.T.Errorf("plugins directory not empty after stopping the plugins: %v", names)
	}
}

func (e *Env) cleanup() {
	e.Stop()
	if e.T.Failed() {
		e.mu.Lock()
		for _, p := range e.procs {
			e.T.Logf("--- output of %s ---\n%s", p.Name, p.Output())
		}
		e.mu.Unlock()
	}
	os.RemoveAll(e.Home)
}

// Lines is CLI output split into lines, each trimmed of white space.
func Lines(out string) []string {
	var l []string
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		l = append(l, strings.TrimSpace(s))
	}
	return l
}

// IDs is the ID column of one of InfraKit's instance tables: the first
// field of each row that starts with prefix (e.g. "i-"), sorted.
func IDs(out, prefix string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			ids = append(ids, f[0])
		}
	}
	sort.Strings(ids)
	return ids
}

// SameIDs reports whether a and b hold the same IDs, in any order.
func SameIDs(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// MustContain fails the test unless out, the output of what, contains
// every one of wants.
func MustContain(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}
