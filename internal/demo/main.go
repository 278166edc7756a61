package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main is the infrakit-aliyun-demo command: it parses args (without the
// program name), runs the demo until it ends or SIGINT/SIGTERM arrives, and
// returns the exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted.
func Main(args []string, stdout, stderr io.Writer) int {
	var o Options
	fs := flag.NewFlagSet("infrakit-aliyun-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: infrakit-aliyun-demo [flags]\n\n"+
			"Runs the infrakit-instance-aliyun tutorial on the bundled ECS emulator (no account needed),\n"+
			"printing every command and its output. Run `make build` first, or just `make demo`.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.BinDir, "bin-dir", "build", "directory holding the built binaries")
	fs.StringVar(&o.Example, "example", "example/aliyun-vanilla.json", "group spec to commit (a cattle group with Allocation.Size)")
	fs.IntVar(&o.ScaleTo, "scale-to", 5, "size of the changed spec rolled out in step 8")
	fs.DurationVar(&o.Pause, "pause", 0, "pause between steps, to read along")
	fs.DurationVar(&o.BootTime, "boot-time", time.Minute, "emulated time an instance takes to boot")
	fs.Float64Var(&o.TimeScale, "time-scale", 20, "emulated seconds per real second")
	fs.DurationVar(&o.Poll, "poll", time.Second, "INFRAKIT_GROUP_POLL_INTERVAL of the group plugin")
	fs.DurationVar(&o.Timeout, "timeout", time.Minute, "longest wait for InfraKit to converge in a step")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "infrakit-aliyun-demo: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.ScaleTo < 1 || o.TimeScale <= 0 || o.BootTime < 0 || o.Poll <= 0 || o.Timeout <= 0 || o.Pause < 0 {
		fmt.Fprintln(stderr, "infrakit-aliyun-demo: --scale-to, --time-scale, --poll and --timeout must be positive, --boot-time and --pause not negative")
		return 2
	}
	o.Out = stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Run(ctx, o)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrInterrupted):
		fmt.Fprintln(stderr, "infrakit-aliyun-demo: interrupted; everything was stopped")
		return 130
	default:
		fmt.Fprintln(stderr, "infrakit-aliyun-demo:", err)
		return 1
	}
}
