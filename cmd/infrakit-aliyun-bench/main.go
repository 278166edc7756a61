// Command infrakit-aliyun-bench measures the plugin at scale against the ECS
// emulator and prints a markdown table (see internal/bench). `make bench`
// runs it from the module root.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"infrakit.aliyun/internal/bench"
)

func main() {
	fs := flag.NewFlagSet("infrakit-aliyun-bench", flag.ContinueOnError)
	sizes := fs.String("n", "10,100,1000,10000", "comma-separated instance counts")
	latency := fs.Duration("latency", 5*time.Millisecond, "ECS emulator latency per API call")
	k := fs.Int("k", 10, "groups polling at once")
	maxConverge := fs.Int("max-converge", 1000, "largest N for the group 0->N convergence run")
	poll := fs.Duration("poll", 200*time.Millisecond, "INFRAKIT_GROUP_POLL_INTERVAL for the convergence run")
	conc := fs.Int("concurrency", 32, "parallel Provisions when filling")
	samples := fs.Int("samples", 30, "latency samples per measure")
	slow := fs.Duration("slow-latency", 50*time.Millisecond, "second ECS latency per call, for describes at --slow-sizes only")
	slowSizes := fs.String("slow-sizes", "10000", "comma-separated N measured at --slow-latency too (empty: none)")
	partitions := fs.Int("floor-partitions", 1, "concurrent describe partitions the floor assumes (1: sequential pages)")
	scaleSizes := fs.String("scale-sizes", "1000", "comma-separated N for the 3-zone group 0->N scale-ups (empty: none)")
	converge10k := fs.Bool("converge-10k", false, "add the 0->10000 scale-up to --scale-sizes")
	runRate := fs.Float64("run-rate", 5000.0/60, "emulator RunInstances calls per second in the 3-zone scenarios")
	parallelNum := fs.Int("group-parallel", 100, "INFRAKIT_GROUP_MAX_PARALLEL_NUM in the 3-zone scenarios")
	scalePoll := fs.Duration("scale-poll", 200*time.Millisecond, "INFRAKIT_GROUP_POLL_INTERVAL in the 3-zone scenarios")
	rollingN := fs.Int("rolling-n", 1000, "group size that also gets a rolling update and the Provision batches")
	rollingCap := fs.Duration("rolling-cap", 60*time.Second, "stop following the rolling update after this (0: until done)")
	batch := fs.Int("batch", 20, "Provisions per direct batch (one at a time, then concurrent)")
	scaleTimeout := fs.Duration("scale-timeout", 10*time.Minute, "longest wait for one 0->N scale-up")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	o := bench.Options{Latency: *latency, K: *k, MaxConverge: *maxConverge, PollInterval: *poll, Concurrency: *conc,
		Samples: *samples, SlowLatency: *slow, FloorPartitions: *partitions, Out: os.Stdout, Log: os.Stderr,
		Scale: bench.ScaleOptions{RunRate: *runRate, Parallel: *parallelNum, Poll: *scalePoll, RollingN: *rollingN,
			RollingCap: *rollingCap, Batch: *batch, Timeout: *scaleTimeout,
			RateSource: "no per-API figure is published for RunInstances (Quota Center shows it per account); " +
				"Alibaba documents at most 5,000 instances created per minute per account, and the plugin creates one per call"}}
	var err error
	if o.Sizes, err = parseSizes("n", *sizes); err == nil {
		if o.SlowSizes, err = parseSizes("slow-sizes", *slowSizes); err == nil {
			o.Scale.Sizes, err = parseSizes("scale-sizes", *scaleSizes)
		}
	}
	if err != nil || len(o.Sizes) == 0 || *batch < 1 || *partitions < 1 {
		fmt.Fprintln(os.Stderr, "infrakit-aliyun-bench: bad flags:", err, "(-n needs one size at least; --batch and --floor-partitions must be >= 1)")
		os.Exit(2)
	}
	if *converge10k {
		o.Scale.Sizes = append(o.Scale.Sizes, 10000)
	}
	start := time.Now()
	if _, err := bench.Run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench took %v\n", time.Since(start).Round(time.Second))
}

// parseSizes reads a comma-separated list of positive integers (empty: none).
func parseSizes(flag, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s: %q is not a positive integer", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}
