// Package bench measures the plugin at scale against the ECS emulator with a
// fixed API latency, in one run, and prints a table (`make bench`). The
// emulator runs in-process (its call counters are read directly); the
// plugin, InfraKit's group plugin and vanilla flavor and the infrakit CLI
// run as processes, so the plugin's peak RSS (VmHWM) is its own.
//
// For each N it measures: ECS calls per (uncached) DescribeInstances of N
// instances, describe latency p50/p99 (uncached: each follows a Label,
// which invalidates the describe cache; and cached), Provision latency
// p50/p99 over the RPC socket next to the raw ECS round trip, the plugin's
// peak RSS, the ECS calls of one poll round of K groups describing at once,
// and (N <= MaxConverge) the time for InfraKit's group plugin to take a new
// group from 0 to N instances.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/binaries"
)

// Options configure a run.
type Options struct {
	Sizes        []int         // N values
	Latency      time.Duration // added to every ECS answer
	K            int           // groups polling at once
	MaxConverge  int           // largest N for the group convergence run
	PollInterval time.Duration // INFRAKIT_GROUP_POLL_INTERVAL
	Concurrency  int           // parallel Provisions when filling
	Samples      int           // latency samples per measure
	Out          io.Writer     // the table
	Log          io.Writer     // progress
}

// Row is one N's measurements.
type Row struct {
	N                        int
	DescribeCalls            float64
	DescribeP50, DescribeP99 time.Duration
	CachedP50                time.Duration
	ProvisionP50             time.Duration
	ProvisionP99             time.Duration
	RoundTripP50             time.Duration
	RSSKiB                   int
	KGroupCalls, KGroupNaive float64
	Converge                 time.Duration // 0: not measured
}

const pluginName = "instance-aliyun"

// Run builds the binaries, measures every N and prints the table.
func Run(o Options) ([]Row, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "ikbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(o.Log, "building binaries...")
	bins, err := binaries.Build(filepath.Join(dir, "bin"), "infrakit.aliyun/cmd/infrakit-instance-aliyun", binaries.PkgGroup, binaries.PkgVanilla, binaries.PkgCLI)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, n := range o.Sizes {
		start := time.Now()
		r, err := runN(o, bins, dir, n)
		if err != nil {
			return rows, fmt.Errorf("measure %d instances: %w", n, err)
		}
		fmt.Fprintf(o.Log, "N=%d measured in %v\n", n, time.Since(start).Round(time.Second))
		rows = append(rows, r)
	}
	PrintTable(o.Out, o, rows)
	return rows, nil
}

// PrintTable writes rows as a markdown table.
func PrintTable(w io.Writer, o Options, rows []Row) {
	fmt.Fprintf(w, "ECS emulator latency %v per call; K=%d groups; group poll interval %v\n\n", o.Latency, o.K, o.PollInterval)
	fmt.Fprintln(w, "| N | ECS calls / describe | describe p50 | describe p99 | cached describe p50 | Provision p50 | Provision p99 | ECS round trip p50 | group 0→N | plugin peak RSS | K groups: ECS calls / poll round (one scan per group) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		conv := "-"
		if r.Converge > 0 {
			conv = ms(r.Converge)
		}
		fmt.Fprintf(w, "| %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %.1f MB | %.1f (%.0f) |\n",
			r.N, r.DescribeCalls, ms(r.DescribeP50), ms(r.DescribeP99), ms(r.CachedP50), ms(r.ProvisionP50), ms(r.ProvisionP99),
			ms(r.RoundTripP50), conv, float64(r.RSSKiB)/1024, r.KGroupCalls, r.KGroupNaive)
	}
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// world is one N's emulator, plugin home and processes.
type world struct {
	o     Options
	bins  *binaries.Set
	srv   *emulator.Server
	home  string
	procs []*exec.Cmd
	env   []string
}

func (w *world) close() {
	for i := len(w.procs) - 1; i >= 0; i-- {
		p := w.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	w.srv.Close()
	os.RemoveAll(w.home)
}

func (w *world) start(name, bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(w.bins.Path(bin), args...)
	cmd.Dir = w.home
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(w.home, bin+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.procs = append(w.procs, cmd)
	socket := filepath.Join(w.home, "plugins", name)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
			c.Close()
			return cmd, nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("%s: no socket after 30s:\n%s", name, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bins.Path(binaries.CLI), args...)
	cmd.Dir = w.home
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("infrakit %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (w *world) calls(action string) int { return w.srv.Stats().Calls[action] }

func (w *world) liveTagged(tags map[string]string) int {
	n := 0
	for _, v := range w.srv.Instances() {
		if !v.Released && v.Status != emulator.StatusReleased && emuctl.HasTags(v.Tags, tags) {
			n++
		}
	}
	return n
}

func runProps() *types.Any {
	return types.AnyValueMust(map[string]interface{}{
		"RunInstances": map[string]interface{}{
			"ImageId": emulator.DefaultImageID, "InstanceType": emulator.DefaultInstanceType,
			"VSwitchId": emulator.DefaultVSwitchH, "SecurityGroupId": emulator.DefaultSecurityGroupID,
		},
	})
}

func runN(o Options, bins *binaries.Set, dir string, n int) (Row, error) {
	row := Row{N: n}
	srv, err := emulator.New(emulator.Options{Latency: o.Latency, BootTime: -1, Seed: int64(n),
		Catalog: bigCatalog(n)})
	if err != nil {
		return row, err
	}
	home, err := os.MkdirTemp("", "ikb")
	if err != nil {
		srv.Close()
		return row, err
	}
	w := &world{o: o, bins: bins, srv: srv, home: home}
	defer w.close()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFRAKIT_") {
			w.env = append(w.env, kv)
		}
	}
	w.env = append(w.env, "INFRAKIT_HOME="+home, "INFRAKIT_PLUGINS_DIR="+filepath.Join(home, "plugins"),
		"INFRAKIT_GROUP_POLL_INTERVAL="+o.PollInterval.String())

	pluginCmd, err := w.start(pluginName, "infrakit-instance-aliyun", "--endpoint", srv.URL(), "--region", emulator.DefaultRegion,
		"--access-key-id", emulator.DefaultAccessKeyID, "--access-key-secret", emulator.DefaultAccessKeySecret,
		"--namespace-tags", "bench="+strconv.Itoa(n), "--log", "2")
	if err != nil {
		return row, err
	}
	socket := filepath.Join(home, "plugins", pluginName)
	client, err := rpcinstance.NewClient(plugin.Name(pluginName), socket)
	if err != nil {
		return row, err
	}

	// The raw ECS round trip, for reference.
	raw := ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	var rtt []time.Duration
	for i := 0; i < o.Samples; i++ {
		t0 := time.Now()
		if _, err := raw.DescribeInstanceTypesNew(&ecs.DescribeInstanceTypesArgs{}); err != nil {
			return row, fmt.Errorf("raw round trip: %w", err)
		}
		rtt = append(rtt, time.Since(t0))
	}
	row.RoundTripP50 = quantile(rtt, 0.5)

	// Fill: the first Samples Provisions one at a time (latency), the rest
	// in parallel as the group plugin would.
	group := map[string]string{"infrakit.group": "bench"}
	provision := func(i int) (instance.ID, error) {
		id, err := client.Provision(instance.Spec{Properties: runProps(), Tags: map[string]string{
			"infrakit.group": "bench", "infrakit.config.hash": "h1", "shard": strconv.Itoa(i % o.K)}})
		if err != nil {
			return "", err
		}
		return *id, nil
	}
	var ids []instance.ID
	var prov []time.Duration
	for i := 0; i < min(n, o.Samples); i++ {
		t0 := time.Now()
		id, err := provision(i)
		if err != nil {
			return row, err
		}
		prov = append(prov, time.Since(t0))
		ids = append(ids, id)
	}
	row.ProvisionP50, row.ProvisionP99 = quantile(prov, 0.5), quantile(prov, 0.99)
	if err := parallel(n-len(ids), o.Concurrency, func(i int) error { _, err := provision(len(ids) + i); return err }); err != nil {
		return row, err
	}
	if got := w.liveTagged(group); got != n {
		return row, fmt.Errorf("%d instances after %d Provisions", got, n)
	}

	// Uncached describes: each follows a Label (one by-ID describe plus a
	// TagResources), which invalidates the cache.
	var cold, warm []time.Duration
	var scanCalls int
	samples := o.Samples
	if n > 1000 { // each sample moves N instances twice: keep the run short
		samples = min(samples, 10)
	}
	for i := 0; i < samples; i++ {
		if err := client.Label(ids[i%len(ids)], map[string]string{"bench.sample": strconv.Itoa(i)}); err != nil {
			return row, err
		}
		before := w.calls("DescribeInstances")
		t0 := time.Now()
		descs, err := client.DescribeInstances(group, true)
		if err != nil {
			return row, err
		}
		cold = append(cold, time.Since(t0))
		scanCalls += w.calls("DescribeInstances") - before
		if len(descs) != n {
			return row, fmt.Errorf("describe returned %d of %d", len(descs), n)
		}
		t0 = time.Now()
		if _, err := client.DescribeInstances(group, true); err != nil {
			return row, err
		}
		warm = append(warm, time.Since(t0))
	}
	row.DescribeCalls = float64(scanCalls) / float64(samples)
	row.DescribeP50, row.DescribeP99 = quantile(cold, 0.5), quantile(cold, 0.99)
	row.CachedP50 = quantile(warm, 0.5)

	// K groups polling at once (group filters by the shard tag), after an
	// invalidation, a few rounds.
	const rounds = 3
	kCalls := 0
	for r := 0; r < rounds; r++ {
		if err := client.Label(ids[0], map[string]string{"bench.round": strconv.Itoa(r)}); err != nil {
			return row, err
		}
		before := w.calls("DescribeInstances")
		if err := parallel(o.K, o.K, func(k int) error {
			c, err := rpcinstance.NewClient(plugin.Name(pluginName), socket)
			if err != nil {
				return err
			}
			_, err = c.DescribeInstances(map[string]string{"shard": strconv.Itoa(k)}, true)
			return err
		}); err != nil {
			return row, err
		}
		kCalls += w.calls("DescribeInstances") - before
	}
	row.KGroupCalls = float64(kCalls) / rounds
	for k := 0; k < o.K; k++ {
		members := n / o.K
		if k < n%o.K {
			members++
		}
		row.KGroupNaive += float64(pages(members))
	}

	// Group convergence 0 -> N with InfraKit's group plugin.
	if n <= o.MaxConverge {
		if _, err := w.start("flavor-vanilla", binaries.Vanilla); err != nil {
			return row, err
		}
		if _, err := w.start("group", binaries.Group, "--log", "1"); err != nil {
			return row, err
		}
		spec := filepath.Join(home, "conv.json")
		if err := os.WriteFile(spec, []byte(fmt.Sprintf(`{"ID":"conv","Properties":{"Allocation":{"Size":%d},
"Instance":{"Plugin":%q,"Properties":{"RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q}}},
"Flavor":{"Plugin":"flavor-vanilla","Properties":{"Init":["#!/bin/sh"]}}}}`, n, pluginName, emulator.DefaultImageID,
			emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID)), 0o644); err != nil {
			return row, err
		}
		t0 := time.Now()
		if _, err := w.cli("group", "commit", spec); err != nil {
			return row, err
		}
		conv := map[string]string{"infrakit.group": "conv"}
		deadline := t0.Add(5 * time.Minute)
		for w.liveTagged(conv) < n {
			if time.Now().After(deadline) {
				return row, fmt.Errorf("group did not reach %d instances in 5 minutes (%d)", n, w.liveTagged(conv))
			}
			time.Sleep(5 * time.Millisecond)
		}
		row.Converge = time.Since(t0)
		if got := w.liveTagged(conv); got != n {
			return row, fmt.Errorf("group overshot: %d instances for size %d", got, n)
		}
	}

	rss, err := peakRSS(pluginCmd.Process.Pid)
	if err != nil {
		return row, err
	}
	row.RSSKiB = rss
	return row, nil
}

func pages(n int) int {
	if n <= 100 {
		return 1
	}
	return (n + 99) / 100
}

// peakRSS reads VmHWM (KiB) from /proc/<pid>/status.
func peakRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// parallel runs f(0..n-1) on at most c goroutines and returns the first error.
func parallel(n, c int, f func(i int) error) error {
	if n <= 0 {
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for g := 0; g < min(c, n); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// bigCatalog is the default catalog with room for n instances (and a group
// of n more) in the default vswitch.
func bigCatalog(n int) *emulator.Catalog {
	c := emulator.DefaultCatalog()
	if 2*n+100 < 4000 {
		return c
	}
	for i := range c.VSwitches {
		if c.VSwitches[i].VSwitchId == emulator.DefaultVSwitchH {
			c.VSwitches[i].CidrBlock = "172.20.0.0/16"
		}
	}
	return c
}
