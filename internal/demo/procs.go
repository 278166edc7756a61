package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is the SIGTERM grace before SIGKILL.
const stopTimeout = 10 * time.Second

// proc is a background process of the demo (emulator or plugin).
type proc struct {
	name   string // label, and the plugin (socket) name for plugins
	plugin bool
	cmd    *exec.Cmd
	log    string // file receiving stdout and stderr
	done   chan struct{}
	err    error // valid once done is closed
}

// startProc starts binary in the background with its output in logFile.
// It gets its own process group (so a Ctrl-C in the terminal reaches only
// the demo, which then stops it in order) and, on Linux, SIGTERM if the demo
// itself dies.
func (d *demo) startProc(name string, plugin bool, binary string, args []string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(d.logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(d.binDir, binary), args...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &proc{name: name, plugin: plugin, cmd: cmd, log: f.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	d.procs = append(d.procs, p)
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits; after stopTimeout it kills the process group.
func (p *proc) stop() error {
	if p.exited() {
		return fmt.Errorf("%s had already exited: %v", p.name, p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %v and was killed", p.name, stopTimeout)
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitFor polls cond every tick until it holds, the process exits, the
// timeout passes or ctx is done.
func (d *demo) waitFor(ctx context.Context, what string, p *proc, tick time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d.opts.Timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited while waiting for %s (%v):\n%s", p.name, what, p.err, tail(p.output(), 20))
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("timed out after %v waiting for %s: %w", d.opts.Timeout, what, lastErr)
			}
			return fmt.Errorf("timed out after %v waiting for %s", d.opts.Timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
	}
}

// waitSocket waits until the plugin's socket accepts connections.
func (d *demo) waitSocket(ctx context.Context, p *proc) error {
	path := filepath.Join(d.pluginsDir, p.name)
	return d.waitFor(ctx, "the socket "+path, p, 20*time.Millisecond, func() (bool, error) {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
}

// stopAll stops the processes, newest first (the group before the plugins
// it drives, the emulator last), printing each as a kill command, and checks
// that the plugins left neither socket nor pid file.
func (d *demo) stopAll() error {
	var errs []error
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		d.cmdline("kill", fmt.Sprint(p.cmd.Process.Pid))
		if err := p.stop(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%s: %w", p.name, err)
			}
			d.printf("# %s: %v\n", p.name, err)
			errs = append(errs, err)
		} else {
			d.printf("# %s stopped\n", p.name)
		}
	}
	d.procs = nil
	if ents, err := os.ReadDir(d.pluginsDir); err == nil && len(ents) > 0 {
		var left []string
		for _, e := range ents {
			left = append(left, e.Name())
			os.Remove(filepath.Join(d.pluginsDir, e.Name()))
		}
		errs = append(errs, fmt.Errorf("left behind in %s: %s", d.pluginsDir, strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
