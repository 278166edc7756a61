package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/binaries"
)

// ScaleOptions configure the 3-zone group scenarios: a 0->N scale-up per
// size with InfraKit's group plugin, and for RollingN a rolling update and
// batches of direct Provisions (one at a time and concurrent).
type ScaleOptions struct {
	Sizes      []int         // 0->N scale-ups, each in a fresh emulator and plugin
	RunRate    float64       // emulator RunInstances calls per second (token bucket)
	RateSource string        // why RunRate, printed in the output
	Parallel   int           // INFRAKIT_GROUP_MAX_PARALLEL_NUM for the scale-ups
	Poll       time.Duration // INFRAKIT_GROUP_POLL_INTERVAL
	RollingN   int           // the size whose group also gets a rolling update and the Provision batches
	RollingCap time.Duration // stop waiting for the rolling update after this (0: no cap)
	Batch      int           // Provisions per batch
	Timeout    time.Duration // per scale-up
}

// Phase is what one scenario cost.
type Phase struct {
	Name      string
	N         int            // group size the phase works on
	Done      int            // instances created/replaced (== Want when complete)
	Want      int            // instances it should create/replace
	Took      time.Duration  // wall time
	Polls     float64        // group polls in that time (Took / poll interval); 0: one batch
	Calls     map[string]int // ECS calls by action (throttled ones included)
	Throttled int            // calls the emulator's rate limit refused
	Zones     map[string]int // live group members per zone at the end
}

// ScaleResult holds the phases in order.
type ScaleResult struct{ Phases []Phase }

func zonedProps() map[string]interface{} {
	return map[string]interface{}{
		"RunInstances": map[string]interface{}{
			"ImageId": emulator.DefaultImageID, "InstanceType": emulator.DefaultInstanceType,
			"SecurityGroupId": emulator.DefaultSecurityGroupID,
		},
		"VSwitchIds": []string{emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ},
	}
}

// zonedCatalog gives the three vswitches room for n instances each way.
func zonedCatalog(n int) *emulator.Catalog {
	c := emulator.DefaultCatalog()
	if n < 3000 {
		return c
	}
	wide := map[string]string{emulator.DefaultVSwitchH: "172.20.0.0/16", emulator.DefaultVSwitchI: "172.21.0.0/16",
		emulator.DefaultVSwitchJ: "172.22.0.0/16"}
	for i := range c.VSwitches {
		if cidr, ok := wide[c.VSwitches[i].VSwitchId]; ok {
			c.VSwitches[i].CidrBlock = cidr
		}
	}
	return c
}

func groupSpec(id string, size int, init string) ([]byte, error) {
	return types.AnyValueMust(map[string]interface{}{
		"ID": id,
		"Properties": map[string]interface{}{
			"Allocation": map[string]interface{}{"Size": size},
			"Instance":   map[string]interface{}{"Plugin": pluginName, "Properties": zonedProps()},
			"Flavor":     map[string]interface{}{"Plugin": "flavor-vanilla", "Properties": map[string]interface{}{"Init": []string{init}}},
		},
	}).MarshalJSON()
}

func runScale(o Options, bins *binaries.Set) (ScaleResult, error) {
	var res ScaleResult
	for _, n := range o.Scale.Sizes {
		start := time.Now()
		ph, err := scaleWorld(o, bins, n)
		res.Phases = append(res.Phases, ph...)
		if err != nil {
			return res, fmt.Errorf("group of %d: %w", n, err)
		}
		fmt.Fprintf(o.Log, "3-zone group of %d measured in %v\n", n, time.Since(start).Round(time.Second))
	}
	return res, nil
}

func (w *world) snapshot() (map[string]int, int) {
	st := w.srv.Stats()
	return st.Calls, st.Faults["rate_limited"]
}

// members counts live members of group by config hash and by zone.
func (w *world) members(groupID string) (total int, hashes map[string]int, zones map[string]int) {
	hashes, zones = map[string]int{}, map[string]int{}
	for _, v := range w.srv.Instances() {
		if v.Released || v.Status == emulator.StatusReleased || v.Tags["infrakit.group"] != groupID {
			continue
		}
		total++
		hashes[v.Tags["infrakit.config.hash"]]++
		zones[v.ZoneId]++
	}
	return total, hashes, zones
}

// scaleRun is one size's 3-zone group scenarios in their own world.
type scaleRun struct {
	o   Options
	n   int
	w   *world
	gid string // the group's ID
}

// scaleWorld runs the 0->N scale-up for n in a fresh emulator and plugin,
// and for RollingN also the rolling update and the Provision batches; it
// returns the phases measured so far even on error.
func scaleWorld(o Options, bins *binaries.Set, n int) ([]Phase, error) {
	so := o.Scale
	w, err := newWorld(o, bins, emulator.Options{Latency: o.Latency, BootTime: -1, Seed: int64(n) + 7, Catalog: zonedCatalog(n)},
		"ikz", "INFRAKIT_GROUP_POLL_INTERVAL="+so.Poll.String(), "INFRAKIT_GROUP_MAX_PARALLEL_NUM="+strconv.Itoa(so.Parallel))
	if err != nil {
		return nil, err
	}
	defer w.close()
	s := &scaleRun{o: o, n: n, w: w, gid: "zones"}
	if err := s.start(); err != nil {
		return nil, err
	}
	var phases []Phase
	ph, err := s.scaleUp()
	if err != nil {
		return phases, err
	}
	phases = append(phases, ph)
	if ph.Done < n {
		return phases, fmt.Errorf("scale-up reached %d of %d in %v", ph.Done, n, ph.Took)
	}
	if n != so.RollingN {
		return phases, nil
	}
	ph, err = s.rollingUpdate()
	if err != nil {
		return phases, err
	}
	phases = append(phases, ph)
	batches, err := s.provisionBatches()
	return append(phases, batches...), err
}

// start starts the plugin, the vanilla flavor and the group plugin, and
// limits the emulator's RunInstances rate.
func (s *scaleRun) start() error {
	if _, err := s.w.startPlugin("zones=" + strconv.Itoa(s.n)); err != nil {
		return err
	}
	if _, err := s.w.start("flavor-vanilla", binaries.Vanilla); err != nil {
		return err
	}
	if _, err := s.w.start("group", binaries.Group, "--log", "1"); err != nil {
		return err
	}
	if s.o.Scale.RunRate > 0 {
		s.w.srv.SetFaults(emulator.Faults{RateLimits: map[string]float64{"RunInstances": s.o.Scale.RunRate}})
	}
	return nil
}

// measure runs act, then waits until done reports true (or the limit, if
// any), and records the calls in between.
func (s *scaleRun) measure(name string, want int, limit time.Duration, act func() error, done func() (int, bool)) (Phase, error) {
	calls0, thr0 := s.w.snapshot()
	t0 := time.Now()
	if err := act(); err != nil {
		return Phase{}, err
	}
	got, ok := done()
	for !ok {
		if limit > 0 && time.Since(t0) > limit {
			break
		}
		time.Sleep(100 * time.Millisecond) // each look copies every instance: keep it light at 10,000
		got, ok = done()
	}
	calls1, thr1 := s.w.snapshot()
	ph := Phase{Name: name, N: s.n, Done: got, Want: want, Took: time.Since(t0), Calls: Delta(calls0, calls1), Throttled: thr1 - thr0}
	ph.Polls = float64(ph.Took) / float64(s.o.Scale.Poll)
	_, _, ph.Zones = s.w.members(s.gid)
	fmt.Fprintf(s.o.Log, "  %s (N=%d): %d/%d in %v\n", name, s.n, got, want, ph.Took.Round(time.Millisecond))
	return ph, nil
}

// commit returns an action that commits the group at size with the flavor's
// init script init.
func (s *scaleRun) commit(size int, init string) func() error {
	return func() error {
		b, err := groupSpec(s.gid, size, init)
		if err != nil {
			return err
		}
		spec := filepath.Join(s.w.home, "zones.json")
		if err := os.WriteFile(spec, b, 0o644); err != nil {
			return err
		}
		_, err = s.w.cli("group", "commit", spec)
		return err
	}
}

// scaleUp: 0 -> N.
func (s *scaleRun) scaleUp() (Phase, error) {
	n := s.n
	return s.measure(fmt.Sprintf("0→%d scale-up", n), n, s.o.Scale.Timeout, s.commit(n, "#!/bin/sh"), func() (int, bool) {
		t, _, _ := s.w.members(s.gid)
		return t, t >= n
	})
}

// rollingUpdate: a changed Init changes the config hash, and the group
// plugin replaces the members one at a time.
func (s *scaleRun) rollingUpdate() (Phase, error) {
	n := s.n
	_, hashes, _ := s.w.members(s.gid)
	if len(hashes) != 1 {
		return Phase{}, fmt.Errorf("%d config hashes after the scale-up, want 1", len(hashes))
	}
	var oldHash string
	for h := range hashes {
		oldHash = h
	}
	return s.measure(fmt.Sprintf("rolling update of %d", n), n, s.o.Scale.RollingCap, s.commit(n, "#!/bin/sh\n# v2"), func() (int, bool) {
		t, hs, _ := s.w.members(s.gid)
		replaced := t - hs[oldHash]
		return replaced, t == n && hs[oldHash] == 0
	})
}

// provisionBatches: batches of direct Provisions into the group (one at a
// time, then concurrent), after the group plugin lets go of it (free), so
// its polls are not counted.
func (s *scaleRun) provisionBatches() ([]Phase, error) {
	so := s.o.Scale
	if _, err := s.w.cli("group", "free", s.gid); err != nil {
		return nil, err
	}
	// A rolling-update step in flight when the group was freed (a Destroy,
	// its disk check) still finishes: wait for ECS to go quiet first.
	if err := s.w.quiet(2*so.Poll, time.Minute); err != nil {
		return nil, err
	}
	client, err := rpcinstance.NewClient(plugin.Name(pluginName), s.w.pluginSocket())
	if err != nil {
		return nil, err
	}
	total, hs, _ := s.w.members(s.gid)
	var hash string
	for h, c := range hs { // the most common hash: the update's, or the old one if it was capped early
		if c > hs[hash] {
			hash = h
		}
	}
	spec := instance.Spec{Properties: types.AnyValueMust(zonedProps()), Tags: map[string]string{"infrakit.group": s.gid, "infrakit.config.hash": hash}}
	var ok atomic.Int64
	provision := func(int) error {
		if _, err := client.Provision(spec); err != nil {
			return err
		}
		ok.Add(1)
		return nil
	}
	var phases []Phase
	for _, conc := range []int{1, so.Batch} {
		name := fmt.Sprintf("%d Provisions one at a time", so.Batch)
		if conc > 1 {
			name = fmt.Sprintf("%d concurrent Provisions", so.Batch)
		}
		before := total
		ok.Store(0)
		ph, err := s.measure(name, so.Batch, 0, func() error { return parallel(so.Batch, conc, provision) }, func() (int, bool) {
			return int(ok.Load()), true // Provisions that returned an ID
		})
		if err != nil {
			return phases, err
		}
		ph.N, ph.Polls = before, 0
		total += ph.Done
		phases = append(phases, ph)
	}
	return phases, nil
}

// quiet waits until no ECS call has been made for the span d (at most max).
func (w *world) quiet(d, max time.Duration) error {
	total := func() int {
		n := 0
		for _, v := range w.srv.Stats().Calls {
			n += v
		}
		return n
	}
	deadline := time.Now().Add(max)
	last, since := total(), time.Now()
	for time.Since(since) < d {
		if time.Now().After(deadline) {
			return fmt.Errorf("ECS calls still going %v after the group was freed", max)
		}
		time.Sleep(50 * time.Millisecond)
		if n := total(); n != last {
			last, since = n, time.Now()
		}
	}
	return nil
}

// otherBudget is the target's allowance of other calls: about two scans of
// the group per group poll (a batch of direct Provisions counts as one).
func otherBudget(ph Phase) float64 {
	polls := max(ph.Polls, 1)
	return 2 * float64(Pages(ph.N)) * polls
}

// PrintScale writes the 3-zone group scenarios.
func PrintScale(w io.Writer, o Options, r ScaleResult) {
	so := o.Scale
	fmt.Fprintf(w, "\n3-zone group (VSwitchIds over %s, %s, %s): InfraKit group plugin, poll %v, INFRAKIT_GROUP_MAX_PARALLEL_NUM=%d; "+
		"emulator RunInstances limit %.1f calls/s (%s); %v per ECS call\n\n",
		emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ, so.Poll, so.Parallel, so.RunRate, so.RateSource, o.Latency)
	t := Table{Header: []string{"scenario", "group size", "done", "time", "group polls", "RunInstances", "other ECS calls (per poll; budget)", "other per instance",
		"throttled", "ECS calls by action", "members per zone"},
		Right: []bool{false, true, true, true, true, true, true, true, true, false, false}}
	for _, ph := range r.Phases {
		run, _, other := Split(ph.Calls)
		polls, per := "1 batch", float64(other)
		if ph.Polls > 0 {
			polls = fmt.Sprintf("%.0f", ph.Polls)
			per = float64(other) / max(ph.Polls, 1)
		}
		t.Rows = append(t.Rows, []string{ph.Name, strconv.Itoa(ph.N), fmt.Sprintf("%d/%d", ph.Done, ph.Want), ms(ph.Took), polls,
			strconv.Itoa(run), fmt.Sprintf("%d (%.1f; %.0f)", other, per, otherBudget(ph)/max(ph.Polls, 1)),
			fmt.Sprintf("%.1f", float64(other)/float64(max(ph.Done, 1))),
			strconv.Itoa(ph.Throttled), byAction(ph.Calls), zoneList(ph.Zones)})
	}
	t.Write(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "- other ECS calls = every call except RunInstances and DeleteInstance(s); budget per poll = 2 × ceil(group size/100); "+
		"group polls = time / poll interval (a batch of direct Provisions counts as one poll); other per instance = other calls / instances created or replaced. "+
		"Throttled calls are counted in the by-action figures. The batches run after `infrakit group free` and once ECS is quiet, so no group poll is counted in them.")
	if so.RollingCap > 0 {
		fmt.Fprintf(w, "- the rolling update is followed for at most %v; if it is cut short, 'done' says how many members were replaced by then.\n", so.RollingCap)
	}
}

func zoneList(z map[string]int) string {
	if len(z) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(z))
	for k := range z {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", strings.TrimPrefix(k, emulator.DefaultRegion+"-"), z[k])
	}
	return strings.Join(parts, ", ")
}

// Summary judges every target of #14 that this run measured.
func Summary(o Options, rows []Row, sc *ScaleResult) []Verdict {
	var out []Verdict
	row := func(n int) *Row {
		for i := range rows {
			if rows[i].N == n {
				return &rows[i]
			}
		}
		return nil
	}
	const big, burst = 10000, 1000
	if r := row(big); r != nil {
		f := Floor(big, r.RoundTripP50, o.FloorPartitions)
		out = append(out, Judge(fmt.Sprintf("describe at N=%d, %v/call, within 1.5× floor", big, o.Latency),
			Ratio(r.DescribeP50, f), 1.5, fmt.Sprintf("%s = %.1f× floor %s", ms(r.DescribeP50), Ratio(r.DescribeP50, f), ms(f))))
		if r.SlowP50 > 0 {
			out = append(out, Judge(fmt.Sprintf("describe at N=%d, %v/call, at most ~1 s", big, o.SlowLatency),
				r.SlowP50.Seconds(), 1, fmt.Sprintf("%s (floor %s)", ms(r.SlowP50), ms(Floor(big, r.SlowRTT, o.FloorPartitions)))))
		} else {
			out = append(out, Skip(fmt.Sprintf("describe at N=%d at the slow latency", big), "--slow-sizes does not include it"))
		}
		out = append(out, Judge(fmt.Sprintf("cached describe at N=%d under 60 ms", big), float64(r.CachedP50)/float64(time.Millisecond), 60, ms(r.CachedP50)))
		out = append(out, Judge(fmt.Sprintf("plugin peak RSS at N=%d steady under 40 MB", big), float64(r.RSSSteadyKiB)/1024, 40, mb(r.RSSSteadyKiB)))
	} else {
		out = append(out, Skip(fmt.Sprintf("describe, cached describe and steady RSS at N=%d", big), "N not in --n"))
	}
	if r := row(burst); r != nil && r.RSSBurstKiB > 0 {
		out = append(out, Judge(fmt.Sprintf("plugin peak RSS during a 0→%d burst under 60 MB", burst), float64(r.RSSBurstKiB)/1024, 60, mb(r.RSSBurstKiB)))
	} else {
		out = append(out, Skip(fmt.Sprintf("plugin peak RSS during a 0→%d burst", burst), "N or --max-converge does not include it"))
	}
	if sc == nil {
		return append(out, Skip("3-zone Provision cost, rolling update, 0→N scale-ups", "--scale-sizes is empty"))
	}
	for _, ph := range sc.Phases {
		run, _, other := Split(ph.Calls)
		budget := otherBudget(ph)
		out = append(out, Judge(fmt.Sprintf("%s (group of %d, 3 zones): other ECS calls at most 2×ceil(N/100) per poll", ph.Name, ph.N),
			float64(other), budget, fmt.Sprintf("%d other calls for %d created/replaced (%.1f each), %d RunInstances (%d throttled), budget %.0f",
				other, ph.Done, float64(other)/float64(max(ph.Done, 1)), run, ph.Throttled, budget)))
		if ph.Done < ph.Want && ph.Done > 0 && strings.Contains(ph.Name, "rolling") {
			out = append(out, Skip(ph.Name+" to the end", fmt.Sprintf("cut short by --rolling-cap after %d of %d in %s; at that pace all %d take about %s",
				ph.Done, ph.Want, ms(ph.Took), ph.Want, ms(Project(ph.Took, ph.Done, ph.Want)))))
		} else if ph.Done < ph.Want {
			out = append(out, Judge(ph.Name+" completes", float64(ph.Want-ph.Done), 0, fmt.Sprintf("%d of %d in %s", ph.Done, ph.Want, ms(ph.Took))))
		} else if strings.Contains(ph.Name, "scale-up") || strings.Contains(ph.Name, "rolling") {
			out = append(out, Judge(ph.Name+" measured and reported", 0, 0, fmt.Sprintf("%d in %s", ph.Done, ms(ph.Took))))
		}
	}
	return out
}
