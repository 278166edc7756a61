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
	"slices"
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
	// SlowLatency is a second per-call ECS latency at which describes are
	// also measured, for N in SlowSizes only (to keep the run short).
	SlowLatency time.Duration
	SlowSizes   []int
	// FloorPartitions is the number of concurrent scan partitions the
	// describe floor assumes (1: sequential pages).
	FloorPartitions int
	Scale           ScaleOptions // the 3-zone group scenarios
	Out             io.Writer    // the table
	Log             io.Writer    // progress
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
	RSSSteadyKiB             int // peak RSS over the describes only (fill excluded)
	RSSBurstKiB              int // peak RSS over the group's 0->N convergence (0: not run)
	KGroupCalls, KGroupNaive float64
	Converge                 time.Duration // 0: not measured
	// At SlowLatency (0: not measured).
	SlowP50, SlowRTT time.Duration
	SlowCalls        float64
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
	var sc *ScaleResult
	if len(o.Scale.Sizes) > 0 {
		start := time.Now()
		res, err := runScale(o, bins)
		if err != nil {
			return rows, fmt.Errorf("3-zone group scenarios: %w", err)
		}
		fmt.Fprintf(o.Log, "3-zone group scenarios measured in %v\n", time.Since(start).Round(time.Second))
		sc = &res
	}
	PrintTable(o.Out, o, rows)
	if sc != nil {
		PrintScale(o.Out, o, *sc)
	}
	fmt.Fprintln(o.Out, "\nTargets (#14):")
	for _, v := range Summary(o, rows, sc) {
		fmt.Fprintln(o.Out, v)
	}
	return rows, nil
}

// PrintTable writes the per-N rows as a markdown table with a legend.
func PrintTable(w io.Writer, o Options, rows []Row) {
	fmt.Fprintf(w, "ECS emulator latency %v per call; K=%d groups; group poll interval %v\n\n", o.Latency, o.K, o.PollInterval)
	t := Table{Header: []string{"N", "ECS calls / describe", "describe p50 (floor, ratio)", "describe p99",
		"cached describe p50", fmt.Sprintf("describe p50 at %v/call (floor, ratio)", o.SlowLatency),
		"Provision p50 / p99", "ECS round trip p50", "group 0→N", "plugin peak RSS: steady / 0→N burst",
		"K groups: ECS calls / poll round (one scan per group)"},
		Right: []bool{true, true, true, true, true, true, true, true, true, true, true}}
	for _, r := range rows {
		conv := ""
		if r.Converge > 0 {
			conv = ms(r.Converge)
		}
		slow := ""
		if r.SlowP50 > 0 {
			slow = withFloor(r.SlowP50, Floor(r.N, r.SlowRTT, o.FloorPartitions))
		}
		t.Rows = append(t.Rows, []string{strconv.Itoa(r.N), fmt.Sprintf("%.1f", r.DescribeCalls),
			withFloor(r.DescribeP50, Floor(r.N, r.RoundTripP50, o.FloorPartitions)), ms(r.DescribeP99), ms(r.CachedP50), slow,
			ms(r.ProvisionP50) + " / " + ms(r.ProvisionP99), ms(r.RoundTripP50), conv,
			mb(r.RSSSteadyKiB) + " / " + mb(r.RSSBurstKiB), fmt.Sprintf("%.1f (%.0f)", r.KGroupCalls, r.KGroupNaive)})
	}
	t.Write(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "- "+FloorLegend(o.FloorPartitions))
	if o.FloorPartitions > 1 {
		for _, r := range rows {
			fmt.Fprintf(w, "  - N=%d: sequential floor %s\n", r.N, ms(Floor(r.N, r.RoundTripP50, 1)))
		}
	}
	fmt.Fprintln(w, "- uncached describes each follow a Label (which invalidates the plugin's describe cache); cached = the same describe again at once.")
	fmt.Fprintf(w, "- the %v/call column adds emulator fault latency for those describes only; its floor uses the raw round trip measured at that latency.\n", o.SlowLatency)
	fmt.Fprintln(w, "- steady RSS: the plugin's VmHWM reset after the fill (clear_refs), read after the describes; burst: reset again before the group plugin's 0→N convergence of a second group, read after it (the plugin then already holds the first N).")
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

// newWorld starts an in-process emulator and a fresh plugin home whose
// environment is this process's minus any INFRAKIT_ variable, plus the
// home, the plugins directory and extraEnv.
func newWorld(o Options, bins *binaries.Set, eo emulator.Options, homePrefix string, extraEnv ...string) (*world, error) {
	srv, err := emulator.New(eo)
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", homePrefix)
	if err != nil {
		srv.Close()
		return nil, err
	}
	w := &world{o: o, bins: bins, srv: srv, home: home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFRAKIT_") {
			w.env = append(w.env, kv)
		}
	}
	w.env = append(w.env, "INFRAKIT_HOME="+home, "INFRAKIT_PLUGINS_DIR="+filepath.Join(home, "plugins"))
	w.env = append(w.env, extraEnv...)
	return w, nil
}

// startPlugin starts the aliyun plugin against w's emulator, its instances
// namespaced by the tag namespace.
func (w *world) startPlugin(namespace string) (*exec.Cmd, error) {
	return w.start(pluginName, "infrakit-instance-aliyun", "--endpoint", w.srv.URL(), "--region", emulator.DefaultRegion,
		"--access-key-id", emulator.DefaultAccessKeyID, "--access-key-secret", emulator.DefaultAccessKeySecret,
		"--namespace-tags", namespace, "--log", "2")
}

// pluginSocket is the plugin's RPC socket in w's home.
func (w *world) pluginSocket() string { return filepath.Join(w.home, "plugins", pluginName) }

// nRun is one N's measurement: its world, the plugin process and clients,
// the instances filled in, and the row the steps fill out.
type nRun struct {
	o      Options
	n      int
	w      *world
	plugin *exec.Cmd         // the plugin process, for its RSS
	client instance.Plugin   // over the plugin's RPC socket
	raw    *ecs.Client       // straight to the emulator, for the round-trip floor
	group  map[string]string // selects the instances the fill provisions
	ids    []instance.ID     // the N instances of that group
	row    Row
}

// runN measures one N in a fresh emulator and plugin; the steps run in order,
// each on what the previous ones left (the fill's instances, the plugin's
// reset peak RSS).
func runN(o Options, bins *binaries.Set, dir string, n int) (Row, error) {
	w, err := newWorld(o, bins, emulator.Options{Latency: o.Latency, BootTime: -1, Seed: int64(n), Catalog: bigCatalog(n)},
		"ikb", "INFRAKIT_GROUP_POLL_INTERVAL="+o.PollInterval.String())
	if err != nil {
		return Row{N: n}, err
	}
	defer w.close()
	r := &nRun{o: o, n: n, w: w, group: map[string]string{"infrakit.group": "bench"}, row: Row{N: n}}
	for _, step := range []func() error{
		r.startPlugin,
		r.roundTrip,
		r.fill,
		r.describes,
		r.kGroups,
		r.slowDescribes,
		r.steadyRSS,
		r.converge,
	} {
		if err := step(); err != nil {
			return r.row, err
		}
	}
	return r.row, nil
}

func (r *nRun) startPlugin() error {
	var err error
	if r.plugin, err = r.w.startPlugin("bench=" + strconv.Itoa(r.n)); err != nil {
		return err
	}
	if r.client, err = rpcinstance.NewClient(plugin.Name(pluginName), r.w.pluginSocket()); err != nil {
		return err
	}
	r.raw = ecs.NewECSClientWithEndpointAndSecurityToken(r.w.srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	return nil
}

// rawRoundTrips times count raw ECS round trips, for reference.
func (r *nRun) rawRoundTrips(count int) ([]time.Duration, error) {
	var rtt []time.Duration
	for i := 0; i < count; i++ {
		t0 := time.Now()
		if _, err := r.raw.DescribeInstanceTypesNew(&ecs.DescribeInstanceTypesArgs{}); err != nil {
			return nil, err
		}
		rtt = append(rtt, time.Since(t0))
	}
	return rtt, nil
}

// roundTrip measures the raw ECS round trip, for reference.
func (r *nRun) roundTrip() error {
	rtt, err := r.rawRoundTrips(r.o.Samples)
	if err != nil {
		return fmt.Errorf("raw round trip: %w", err)
	}
	r.row.RoundTripP50 = quantile(rtt, 0.5)
	return nil
}

func (r *nRun) provision(i int) (instance.ID, error) {
	id, err := r.client.Provision(instance.Spec{Properties: runProps(), Tags: map[string]string{
		"infrakit.group": "bench", "infrakit.config.hash": "h1", "shard": strconv.Itoa(i % r.o.K)}})
	if err != nil {
		return "", err
	}
	return *id, nil
}

// fill: the first Samples Provisions one at a time (latency), the rest in
// parallel as the group plugin would.
func (r *nRun) fill() error {
	var prov []time.Duration
	for i := 0; i < min(r.n, r.o.Samples); i++ {
		t0 := time.Now()
		id, err := r.provision(i)
		if err != nil {
			return err
		}
		prov = append(prov, time.Since(t0))
		r.ids = append(r.ids, id)
	}
	r.row.ProvisionP50, r.row.ProvisionP99 = quantile(prov, 0.5), quantile(prov, 0.99)
	if err := parallel(r.n-len(r.ids), r.o.Concurrency, func(i int) error { _, err := r.provision(len(r.ids) + i); return err }); err != nil {
		return err
	}
	if got := r.w.liveTagged(r.group); got != r.n {
		return fmt.Errorf("%d instances after %d Provisions", got, r.n)
	}
	// Steady state from here: the fill's own peak is not the plugin's
	// steady footprint.
	return resetPeakRSS(r.plugin.Process.Pid)
}

// labelAndDescribe labels the i-th instance with key (which invalidates the
// describe cache), then times one describe of the whole group and counts
// its ECS DescribeInstances calls.
func (r *nRun) labelAndDescribe(i int, key string) (took time.Duration, calls, got int, err error) {
	if err := r.client.Label(r.ids[i%len(r.ids)], map[string]string{key: strconv.Itoa(i)}); err != nil {
		return 0, 0, 0, err
	}
	before := r.w.calls("DescribeInstances")
	t0 := time.Now()
	descs, err := r.client.DescribeInstances(r.group, true)
	if err != nil {
		return 0, 0, 0, err
	}
	return time.Since(t0), r.w.calls("DescribeInstances") - before, len(descs), nil
}

// describes: uncached describes, each following a Label (one by-ID describe
// plus a TagResources), which invalidates the cache; each followed by the
// same describe again, cached.
func (r *nRun) describes() error {
	var cold, warm []time.Duration
	var scanCalls int
	samples := r.o.Samples
	if r.n > 1000 { // each sample moves N instances twice: keep the run short
		samples = min(samples, 10)
	}
	for i := 0; i < samples; i++ {
		took, calls, got, err := r.labelAndDescribe(i, "bench.sample")
		if err != nil {
			return err
		}
		cold = append(cold, took)
		scanCalls += calls
		if got != r.n {
			return fmt.Errorf("describe returned %d of %d", got, r.n)
		}
		t0 := time.Now()
		if _, err := r.client.DescribeInstances(r.group, true); err != nil {
			return err
		}
		warm = append(warm, time.Since(t0))
	}
	r.row.DescribeCalls = float64(scanCalls) / float64(samples)
	r.row.DescribeP50, r.row.DescribeP99 = quantile(cold, 0.5), quantile(cold, 0.99)
	r.row.CachedP50 = quantile(warm, 0.5)
	return nil
}

// kGroups: K groups polling at once (group filters by the shard tag), after
// an invalidation, a few rounds; next to the naive one scan per group.
func (r *nRun) kGroups() error {
	const rounds = 3
	kCalls := 0
	for round := 0; round < rounds; round++ {
		if err := r.client.Label(r.ids[0], map[string]string{"bench.round": strconv.Itoa(round)}); err != nil {
			return err
		}
		before := r.w.calls("DescribeInstances")
		if err := parallel(r.o.K, r.o.K, func(k int) error {
			c, err := rpcinstance.NewClient(plugin.Name(pluginName), r.w.pluginSocket())
			if err != nil {
				return err
			}
			_, err = c.DescribeInstances(map[string]string{"shard": strconv.Itoa(k)}, true)
			return err
		}); err != nil {
			return err
		}
		kCalls += r.w.calls("DescribeInstances") - before
	}
	r.row.KGroupCalls = float64(kCalls) / rounds
	for k := 0; k < r.o.K; k++ {
		members := r.n / r.o.K
		if k < r.n%r.o.K {
			members++
		}
		r.row.KGroupNaive += float64(Pages(members))
	}
	return nil
}

// slowDescribes: describes at the second, slower latency (fault latency on
// top of the emulator's own), with the raw round trip at that latency for
// the floor; only for N in SlowSizes.
func (r *nRun) slowDescribes() error {
	o := r.o
	if o.SlowLatency <= o.Latency || !slices.Contains(o.SlowSizes, r.n) {
		return nil
	}
	r.w.srv.SetFaults(emulator.Faults{LatencyMS: int((o.SlowLatency - o.Latency) / time.Millisecond)})
	slowRTT, err := r.rawRoundTrips(3)
	if err != nil {
		return fmt.Errorf("raw round trip at %v: %w", o.SlowLatency, err)
	}
	var slow []time.Duration
	calls := 0
	for i := 0; i < 3; i++ {
		took, c, got, err := r.labelAndDescribe(i, "bench.slow")
		if err != nil {
			return err
		}
		slow = append(slow, took)
		calls += c
		if got != r.n {
			return fmt.Errorf("describe at %v returned %d of %d", o.SlowLatency, got, r.n)
		}
	}
	r.w.srv.SetFaults(emulator.Faults{})
	r.row.SlowRTT, r.row.SlowP50, r.row.SlowCalls = quantile(slowRTT, 0.5), quantile(slow, 0.5), float64(calls)/3
	return nil
}

// steadyRSS reads the plugin's peak RSS since the fill.
func (r *nRun) steadyRSS() error {
	rss, err := peakRSS(r.plugin.Process.Pid)
	if err != nil {
		return err
	}
	r.row.RSSSteadyKiB = rss
	return nil
}

// converge: group convergence 0 -> N with InfraKit's group plugin, for N up
// to MaxConverge, and the plugin's peak RSS over it.
func (r *nRun) converge() error {
	n, w := r.n, r.w
	if n > r.o.MaxConverge {
		return nil
	}
	if err := resetPeakRSS(r.plugin.Process.Pid); err != nil {
		return err
	}
	if _, err := w.start("flavor-vanilla", binaries.Vanilla); err != nil {
		return err
	}
	if _, err := w.start("group", binaries.Group, "--log", "1"); err != nil {
		return err
	}
	spec := filepath.Join(w.home, "conv.json")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(`{"ID":"conv","Properties":{"Allocation":{"Size":%d},
"Instance":{"Plugin":%q,"Properties":{"RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q}}},
"Flavor":{"Plugin":"flavor-vanilla","Properties":{"Init":["#!/bin/sh"]}}}}`, n, pluginName, emulator.DefaultImageID,
		emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID)), 0o644); err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := w.cli("group", "commit", spec); err != nil {
		return err
	}
	conv := map[string]string{"infrakit.group": "conv"}
	deadline := t0.Add(5 * time.Minute)
	for w.liveTagged(conv) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("group did not reach %d instances in 5 minutes (%d)", n, w.liveTagged(conv))
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.row.Converge = time.Since(t0)
	if got := w.liveTagged(conv); got != n {
		return fmt.Errorf("group overshot: %d instances for size %d", got, n)
	}
	var err error
	r.row.RSSBurstKiB, err = peakRSS(r.plugin.Process.Pid)
	return err
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

// resetPeakRSS resets the process's VmHWM to its current RSS (writing "5"
// to /proc/<pid>/clear_refs, Linux 4.0+), so a later peakRSS covers only
// what follows.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS of %d: %w", pid, err)
	}
	return nil
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
