package instance

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
)

// spreadGroup fills the emulator with members of group "roll" in three
// zones (perZone in each, straight through the ECS API, tagged as the
// plugin tags them) and returns the spec of that group over the three
// vswitches.
func spreadGroup(t *testing.T, e *emuEnv, perZone int) (spec func() instance.Spec) {
	t.Helper()
	vsws := []string{emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ}
	tags := map[string]string{"infrakit.scope": "emu", "infrakit.group": "roll", "infrakit.config.hash": "h1"}
	for _, vsw := range vsws {
		for made := 0; made < perZone; made += 100 {
			v := url.Values{}
			v.Set("RegionId", emulator.DefaultRegion)
			v.Set("ImageId", emulator.DefaultImageID)
			v.Set("InstanceType", "ecs.g6.large")
			v.Set("VSwitchId", vsw)
			v.Set("SecurityGroupId", emulator.DefaultSecurityGroupID)
			v.Set("Amount", fmt.Sprint(min(100, perZone-made)))
			ecs.EncodeTags(v, "Tag", tags)
			noErr(t, e.client.Invoke("RunInstances", v, &struct{ RequestId string }{}))
		}
	}
	return func() instance.Spec {
		return (emuCapSpec("roll", `,"InstanceType":"ecs.g6.large"`, fmt.Sprintf(`,"VSwitchIds":[%q,%q,%q]`, vsws[0], vsws[1], vsws[2])))
	}
}

// calls returns the emulator's call counts less before's.
func callsSince(e *emuEnv, before map[string]int) (run, other int) {
	for action, n := range e.srv.Stats().Calls {
		if action == "RunInstances" {
			run += n - before[action]
		} else {
			other += n - before[action]
		}
	}
	return run, other
}

func zoneCounts(e *emuEnv) map[string]int {
	zones := map[string]int{}
	for _, in := range e.srv.Instances() {
		if in.Status != "Released" {
			zones[in.ZoneId]++
		}
	}
	return zones
}

func balanced(t *testing.T, zones map[string]int, total int) {
	t.Helper()
	lo, hi, sum := total, 0, 0
	for _, n := range zones {
		lo, hi, sum = min(lo, n), max(hi, n), sum+n
	}
	if len(zones) != 3 || sum != total || hi-lo > 1 {
		t.Errorf("zones %v: want %d instances spread evenly over 3 zones", zones, total)
	}
}

// Issue #14: Provisions one at a time (a rolling update, InfraKit's
// INFRAKIT_GROUP_MAX_PARALLEL_NUM=1) into a 300-member group over three
// zones cost their RunInstances and one group scan for the spread, not a
// scan each (which was 20 x 3 = 60 DescribeInstances calls); destroys in
// between are deltas too. The spread stays even.
func TestSpreadSequentialProvisionsDoNotRescan(t *testing.T) {
	e := newCapEmu(t)
	spec := spreadGroup(t, e, 100)
	before := e.srv.Stats().Calls
	for n := 0; n < 20; n++ {
		_, err := e.plugin.Provision(spec())
		noErr(t, err)
	}
	run, other := callsSince(e, before)
	equal(t, 20, run, "RunInstances")
	if limit := 2 * pages(320); other > limit {
		t.Errorf("%d other ECS calls for 20 sequential Provisions, want at most %d (%v)", other, limit, e.srv.Stats().Calls)
	}
	balanced(t, zoneCounts(e), 320)

	// Destroys in zone h are counted at once: the next Provision goes to
	// h (now two short), without a new scan.
	var victims []string
	for _, in := range e.srv.Instances() {
		if in.ZoneId == "cn-hangzhou-h" && in.Status != "Released" && len(victims) < 2 {
			victims = append(victims, in.InstanceId)
		}
	}
	before = e.srv.Stats().Calls
	for _, victim := range victims {
		noErr(t, e.plugin.Destroy(instance.ID(victim), instance.Context{Reason: ReasonTerminate}))
	}
	zones := zoneCounts(e)
	id, err := e.plugin.Provision(spec())
	noErr(t, err)
	got, _ := e.srv.Instance(string(*id))
	if got.ZoneId != "cn-hangzhou-h" {
		t.Errorf("new instance in %s after destroying one in cn-hangzhou-h, want h (zones before: %v)", got.ZoneId, zones)
	}
	if d := e.srv.Stats().Calls["DescribeInstances"] - before["DescribeInstances"]; d != 2 { // the Destroys' lookups by ID
		t.Errorf("%d DescribeInstances for two Destroys and a Provision, want 2 (the Destroys' ownership checks)", d)
	}
}

// The same with 20 concurrent Provisions into a fresh plugin: they share
// one scan.
func TestSpreadConcurrentProvisionsShareOneScan(t *testing.T) {
	e := newCapEmu(t)
	spec := spreadGroup(t, e, 100)
	before := e.srv.Stats().Calls
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for n := 0; n < 20; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.plugin.Provision(spec())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	run, other := callsSince(e, before)
	equal(t, 20, run, "RunInstances")
	if limit := 2 * pages(320); other > limit {
		t.Errorf("%d other ECS calls for 20 concurrent Provisions, want at most %d (%v)", other, limit, e.srv.Stats().Calls)
	}
	balanced(t, zoneCounts(e), 320)
	equal(t, 0, e.plugin.planner.Reserved(), "no reservation left behind")
}

// A group poll (the group plugin's describe) refreshes the spread's tally
// from its own scan: Provisions after it cost no scan of their own.
func TestSpreadUsesGroupPollScans(t *testing.T) {
	e := newCapEmu(t)
	spec := spreadGroup(t, e, 100)
	_, err := e.plugin.DescribeInstances(map[string]string{"infrakit.group": "roll"}, false)
	noErr(t, err)
	before := e.srv.Stats().Calls
	for n := 0; n < 5; n++ {
		_, err := e.plugin.Provision(spec())
		noErr(t, err)
	}
	run, other := callsSince(e, before)
	equal(t, 5, run, "RunInstances")
	equal(t, 0, other, "other ECS calls after a group poll")
	balanced(t, zoneCounts(e), 305)
}

// Config.Metrics reaches the planner (a fallback is counted by reason) and
// the describe cache (scans by kind, instances by status).
func TestMetricsFromPlugin(t *testing.T) {
	m, err := metrics.New(metrics.Config{})
	noErr(t, err)
	e := newEmuWith(t, emulator.Options{TimeScale: 1000}, func(c *Config) { c.Metrics = m })
	e.plugin.clock.fn = time.Now
	e.srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{ZoneId: "cn-hangzhou-h"}}})
	spec := emuCapSpec("m", `,"InstanceType":"ecs.g6.large"`, fmt.Sprintf(`,"VSwitchIds":[%q,%q]`, emulator.DefaultVSwitchH, emulator.DefaultVSwitchI))
	_, err = e.plugin.Provision(spec)
	noErr(t, err)
	for i := 0; i < 2; i++ {
		_, err = e.plugin.DescribeInstances(map[string]string{"infrakit.group": "m"}, false)
		noErr(t, err)
	}
	want := `
# HELP infrakit_aliyun_capacity_fallbacks_total Instances created with a capacity fallback, by reason (e.g. zone, instance-type+zone, on-demand).
# TYPE infrakit_aliyun_capacity_fallbacks_total counter
infrakit_aliyun_capacity_fallbacks_total{reason="zone"} 1
`
	noErr(t, promtest.GatherAndCompare(m.Registry(), strings.NewReader(want), "infrakit_aliyun_capacity_fallbacks_total"))
	// The Provision's spread lookup scanned; the first describe scanned
	// again (the Provision started a new generation), the second was cached.
	want = `
# HELP infrakit_aliyun_describe_scans_total Instance describes by how they were answered: scan (ECS scan run), shared (joined a scan in flight), cached.
# TYPE infrakit_aliyun_describe_scans_total counter
infrakit_aliyun_describe_scans_total{kind="cached"} 1
infrakit_aliyun_describe_scans_total{kind="scan"} 2
infrakit_aliyun_describe_scans_total{kind="shared"} 0
`
	noErr(t, promtest.GatherAndCompare(m.Registry(), strings.NewReader(want), "infrakit_aliyun_describe_scans_total"))
	if n, err := promtest.GatherAndCount(m.Registry(), "infrakit_aliyun_instances_seen"); err != nil || n != 1 {
		t.Errorf("instances_seen: %d series (%v), want 1 (the new instance's status)", n, err)
	}
}
