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
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	o := bench.Options{Latency: *latency, K: *k, MaxConverge: *maxConverge, PollInterval: *poll, Concurrency: *conc,
		Samples: *samples, Out: os.Stdout, Log: os.Stderr}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "-n: bad size %q\n", s)
			os.Exit(2)
		}
		o.Sizes = append(o.Sizes, n)
	}
	start := time.Now()
	if _, err := bench.Run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench took %v\n", time.Since(start).Round(time.Second))
}
