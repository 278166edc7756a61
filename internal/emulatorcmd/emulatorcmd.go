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
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"infrakit.aliyun/emulator"
)

// DefaultListen is the binary's default address (the package default is a
// random port, which suits tests but not scripts).
const DefaultListen = "127.0.0.1:8086"

// EnvAccessKeySecret holds the accepted AccessKeySecret when neither
// --access-key-secret nor --access-key-secret-file is given: a secret in
// the environment, or in a file, is not shown to every local user by ps.
const EnvAccessKeySecret = "ECS_EMULATOR_ACCESS_KEY_SECRET"

// Config is the parsed command line.
type Config struct {
	Listen          string
	AllowRemote     bool
	AccessKeyID     string
	AccessKeySecret string
	// SecretSource says where AccessKeySecret came from, for the banner
	// (which never prints the secret itself).
	SecretSource  string
	BootTime      time.Duration
	StopTime      time.Duration
	TimeScale     float64
	Latency       time.Duration
	StateFile     string
	Seed          int64
	PreemptNotice time.Duration
}

// usageError is a command-line mistake: Main exits 2 for it.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Parse parses args (without the program name). Its errors other than
// flag.ErrHelp are usage errors.
func Parse(args []string, stderr io.Writer) (Config, error) {
	return ParseEnv(args, os.Getenv, stderr)
}

// ParseEnv is Parse with the environment given as getenv.
func ParseEnv(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c, err := parse(args, getenv, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = usageError{err}
	}
	return c, err
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	var secretFile string
	fs := flag.NewFlagSet("ecs-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", DefaultListen, "listen address (non-loopback needs --allow-remote)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a non-loopback --listen address")
	fs.StringVar(&c.AccessKeyID, "access-key-id", emulator.DefaultAccessKeyID, "accepted AccessKeyId")
	fs.StringVar(&c.AccessKeySecret, "access-key-secret", "", "its AccessKeySecret (default: $"+EnvAccessKeySecret+", else the built-in "+emulator.DefaultAccessKeySecret+"; visible in ps, prefer the file or the environment)")
	fs.StringVar(&secretFile, "access-key-secret-file", "", "read the AccessKeySecret from this file (trailing newline ignored)")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["access-key-secret"] && secretFile != "":
		return c, errors.New("--access-key-secret and --access-key-secret-file: give one, not both")
	case set["access-key-secret"]:
		c.SecretSource = "the --access-key-secret flag"
	case secretFile != "":
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return c, fmt.Errorf("--access-key-secret-file: %w", err)
		}
		c.AccessKeySecret = strings.TrimRight(string(b), "\r\n")
		c.SecretSource = "the file " + secretFile
	case getenv(EnvAccessKeySecret) != "":
		c.AccessKeySecret = getenv(EnvAccessKeySecret)
		c.SecretSource = "$" + EnvAccessKeySecret
	default:
		c.AccessKeySecret = emulator.DefaultAccessKeySecret
		c.SecretSource = "the built-in default (see --help)"
	}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return c, errors.New("--access-key-id and --access-key-secret must not be empty")
	}
	if !(c.TimeScale > 0) || math.IsInf(c.TimeScale, 0) {
		return c, fmt.Errorf("--time-scale %v: must be a positive, finite number", c.TimeScale)
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
	// The banner names the key and where its secret is, never the secret:
	// stdout ends up in CI logs and terminals others can see.
	fmt.Fprintf(stdout, "ecs-emulator listening on %s (access key id %s, secret from %s, region %s)\n",
		srv.URL(), c.AccessKeyID, c.SecretSource, emulator.DefaultRegion)
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
