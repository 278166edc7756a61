// Package emulatorcmd is the command line of build/ecs-emulator: flag
// parsing with the standard flag package, start-up, logging and shutdown.
package emulatorcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"infrakit.aliyun/emulator"
)

// DefaultListen is the binary's default address (the package default is a
// random port, which suits tests but not scripts).
const DefaultListen = "127.0.0.1:8086"

// Config is the parsed command line.
type Config struct {
	Listen          string
	AllowRemote     bool
	AccessKeyID     string
	AccessKeySecret string
	BootTime        time.Duration
	StopTime        time.Duration
	TimeScale       float64
	Latency         time.Duration
	StateFile       string
	Seed            int64
	PreemptNotice   time.Duration
}

// usageError is a command-line mistake: Main exits 2 for it.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Parse parses args (without the program name). Its errors other than
// flag.ErrHelp are usage errors.
func Parse(args []string, stderr io.Writer) (Config, error) {
	c, err := parse(args, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = usageError{err}
	}
	return c, err
}

func parse(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("ecs-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", DefaultListen, "listen address (non-loopback needs --allow-remote)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a non-loopback --listen address")
	fs.StringVar(&c.AccessKeyID, "access-key-id", emulator.DefaultAccessKeyID, "accepted AccessKeyId")
	fs.StringVar(&c.AccessKeySecret, "access-key-secret", emulator.DefaultAccessKeySecret, "its AccessKeySecret")
	fs.DurationVar(&c.BootTime, "boot-time", emulator.DefaultBootTime, "emulated Pending+Starting time")
	fs.DurationVar(&c.StopTime, "stop-time", emulator.DefaultStopTime, "emulated Stopping time")
	fs.Float64Var(&c.TimeScale, "time-scale", 1, "emulated seconds per real second")
	fs.DurationVar(&c.Latency, "latency", 0, "added latency per ECS API answer")
	fs.StringVar(&c.StateFile, "state-file", "", "persist state to this JSON file and load it at start")
	fs.Int64Var(&c.Seed, "seed", 0, "seed for generated IDs and fault injection")
	fs.DurationVar(&c.PreemptNotice, "preempt-notice", emulator.DefaultPreemptNotice, "emulated time from spot interruption to release")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return c, errors.New("--access-key-id and --access-key-secret must not be empty")
	}
	if c.TimeScale <= 0 {
		return c, errors.New("--time-scale must be positive")
	}
	if c.BootTime < 0 || c.StopTime < 0 || c.Latency < 0 {
		return c, errors.New("durations must not be negative")
	}
	if c.PreemptNotice <= 0 {
		return c, errors.New("--preempt-notice must be positive")
	}
	return c, nil
}

// Options turns the command line into emulator options.
func (c Config) Options(logger *slog.Logger) emulator.Options {
	boot, stop := c.BootTime, c.StopTime
	if boot == 0 {
		boot = -1 // the package reads zero as "default"; the flag means instant
	}
	if stop == 0 {
		stop = -1
	}
	return emulator.Options{
		Listen: c.Listen, AllowRemote: c.AllowRemote,
		AccessKeys: map[string]string{c.AccessKeyID: c.AccessKeySecret},
		BootTime:   boot, StopTime: stop, TimeScale: c.TimeScale, Latency: c.Latency,
		StateFile: c.StateFile, Seed: c.Seed, PreemptNotice: c.PreemptNotice, Logger: logger,
	}
}

// Run starts the emulator and serves until ctx is done. The first line on
// stdout announces the URL so scripts can wait for it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := Parse(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := emulator.New(c.Options(logger))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ecs-emulator listening on %s (access key %s/%s, region %s)\n",
		srv.URL(), c.AccessKeyID, c.AccessKeySecret, emulator.DefaultRegion)
	<-ctx.Done()
	logger.Info("shutting down")
	return srv.Close()
}

// Main is the whole program: it exits 0 after SIGINT/SIGTERM, 2 on bad
// flags and 1 on other errors.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "ecs-emulator:", err)
		stop()
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ecs-emulator:", err)
		stop()
		os.Exit(1)
	}
}
