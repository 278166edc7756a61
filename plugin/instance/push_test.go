package instance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/groupspec"
	"infrakit.aliyun/plugin/instance/spot"
)

// lookupGate holds back the by-ID DescribeInstances (a push's look-up)
// until release is closed.
type lookupGate struct {
	*keepFake
	release chan struct{}
}

func (g *lookupGate) DescribeInstances(ctx context.Context, f ecs.InstanceFilter) ([]ecs.Instance, error) {
	if len(f.InstanceIDs) > 0 {
		<-g.release
	}
	return g.keepFake.DescribeInstances(ctx, f)
}

// byIDDescribes counts the DescribeInstances by InstanceIds (what pushes cost).
func byIDDescribes(f *keepFake) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, d := range f.describes {
		if len(d.InstanceIDs) > 0 {
			n++
		}
	}
	return n
}

func mark(t *testing.T, p *Plugin, id string) string {
	t.Helper()
	st, err := p.MarkInterrupting(id, "cloudmonitor")
	noErr(t, err)
	return st
}

// A push ECS confirms is noticed like a describe's; until then nothing.
func TestPushConfirmedByECS(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	fake.spotMember("i-2", "172.16.0.2", nil)
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	_, err := p.DescribeInstances(groupG, false) // the plugin now knows its spot instances
	noErr(t, err)

	fake.mu.Lock()
	reclaim(fake.instances["i-1"]) // ECS sets the lock; no describe has seen it yet
	fake.mu.Unlock()
	equal(t, PushChecking, mark(t, p, "i-1"))
	var info Interruption
	noErr(t, nextEvent(t, events).Data.Decode(&info))
	equal(t, "i-1", info.InstanceId)
	equal(t, "g", info.Group)
	equal(t, "cloudmonitor", info.Source)
	p.spot.Wait()
	equal(t, PushNoticed, mark(t, p, "i-1"))
	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, []string{"i-2"}, ids(got))
	_, err = p.MarkInterrupting(" ", "cloudmonitor")
	contains(t, fmt.Sprint(err), "not an instance id")
	_, err = p.MarkInterrupting("i-1\nforged log line", "cloudmonitor")
	contains(t, fmt.Sprint(err), "not an instance id")
}

// Forged pushes for an on-demand member, another cluster's instance or a
// made-up ID hide nothing and cost no ECS call; a storm for one spot
// member costs one call; many spot members cost at most the budget.
func TestPushForgedCostsAtMostTheBudget(t *testing.T) {
	fake := newKeepFake()
	fake.addInstance("i-od", mergeTags(testNamespace, groupG), "172.16.0.9") // on-demand member
	fake.addInstance("i-other", map[string]string{"infrakit.scope": "other", "infrakit.group": "g"}, "172.16.0.8")
	fake.instances["i-other"].SpotStrategy = "SpotAsPriceGo"
	var spots []string
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("i-s%02d", i)
		fake.spotMember(id, fmt.Sprintf("172.16.1.%d", i), nil)
		spots = append(spots, id)
	}
	p, clock, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	before, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, 51, len(before))

	for i := 0; i < 1000; i++ {
		equal(t, PushUnknown, mark(t, p, "i-od"))
		equal(t, PushUnknown, mark(t, p, "i-other"))
		equal(t, PushUnknown, mark(t, p, fmt.Sprintf("i-made-up-%d", i)))
	}
	equal(t, 0, byIDDescribes(fake), "foreign, on-demand and unknown IDs cost no ECS call")
	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, ids(before), ids(got), "nothing hidden")

	// A storm for one spot member: one look-up.
	for i := 0; i < 1000; i++ {
		mark(t, p, spots[0])
		got, err := p.DescribeInstances(groupG, false)
		noErr(t, err)
		equal(t, 51, len(got), "an unconfirmed push hides nothing, even while its look-up runs")
	}
	p.spot.Wait()
	equal(t, 1, byIDDescribes(fake), "a storm of pushes for one instance")

	// Every spot member, again and again, over 20 emulated seconds: at most
	// burst + rate*20 calls.
	start := clock.Now()
	for round := 0; round < 20; round++ {
		for _, id := range spots {
			mark(t, p, id)
			mark(t, p, id)
		}
		p.spot.Wait()
		clock.Sleep(time.Second)
	}
	elapsed := clock.Now().Sub(start).Seconds()
	calls := byIDDescribes(fake)
	if max := 1 + spot.PushBurst + int(spot.PushCallsPerSecond*elapsed); calls > max {
		t.Fatalf("%d look-ups in %.0fs, budget %d", calls, elapsed, max)
	}
	st := p.spot.PushStats()
	t.Logf("%d pushes for %d spot members over %.0fs: %d look-ups; stats %+v", 2*20*len(spots), len(spots), elapsed, calls, st)
	equal(t, st.Calls, calls, "every look-up counted")
	got, err = p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, 51, len(got), "nothing hidden")
	noEvent(t, events)
	equal(t, 0, len(interrupting(p)))
}

// Provision is never delayed by a push ECS has not confirmed: its look-up
// is held back for the whole test, and Provision still answers at once.
func TestPushDoesNotDelayProvision(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", map[string]string{TagKeepData: groupspec.KeepDataDisks})
	gate := &lookupGate{keepFake: fake, release: make(chan struct{})}
	p, _, _ := newTestPlugin(t, gate)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, PushChecking, mark(t, p, "i-1"))

	spec := groupSpec()
	spec.Tags["infrakit.group"] = "g"
	spec.Properties = props(`{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g6.large","VSwitchId":"vsw-1","SecurityGroupId":"sg-1",
		"SpotStrategy":"SpotAsPriceGo","DataDisk":[{"Size":20}]},"Preemption":{"KeepData":"disks"}}`)
	done := make(chan error, 1)
	go func() { _, err := p.Provision(spec); done <- err }()
	select {
	case err := <-done:
		noErr(t, err)
	case <-time.After(30 * time.Second): // failsafe only; the fix answers at once
		t.Fatal("Provision waited for an unconfirmed push")
	}
	close(gate.release)
	p.spot.Wait()
	equal(t, 0, len(interrupting(p)), "not confirmed: not noticed")
}

// An unconfirmed instance is looked up again only after spot.PushRecheckAfter,
// and an instance no describe has shown for spot.PushKnownFor is unknown again.
func TestPushRecheckAndForget(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	p, clock, _ := newTestPlugin(t, fake)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, PushChecking, mark(t, p, "i-1"))
	p.spot.Wait()
	clock.Sleep(spot.PushRecheckAfter - time.Second)
	equal(t, PushCoalesced, mark(t, p, "i-1"))
	clock.Sleep(2 * time.Second)
	equal(t, PushChecking, mark(t, p, "i-1"))
	p.spot.Wait()
	equal(t, 2, byIDDescribes(fake))
	clock.Sleep(spot.PushKnownFor + time.Minute)
	equal(t, PushUnknown, mark(t, p, "i-1"))
	equal(t, 2, byIDDescribes(fake))
	equal(t, 0, p.spot.PushStats().Known, "forgotten")
}

// Each accepted notice is counted by its source in the daemon's metrics:
// a describe, the watcher, and a push ECS confirmed; a push ECS did not
// confirm and a second sighting count nothing.
func TestSpotNoticeMetrics(t *testing.T) {
	fake := newKeepFake()
	for _, id := range []string{"i-1", "i-2", "i-3", "i-4"} {
		fake.spotMember(id, "172.16.0."+id[2:], nil)
	}
	m, err := metrics.New(metrics.Config{})
	noErr(t, err)
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	logger, _ := quietLogger()
	p, err := newPlugin(fake, Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: clock.Sleep}, Metrics: m})
	noErr(t, err)
	_, err = p.DescribeInstances(groupG, false) // knows its spot instances
	noErr(t, err)

	fake.mu.Lock()
	reclaim(fake.instances["i-1"])
	fake.mu.Unlock()
	_, err = p.DescribeInstances(groupG, false)
	noErr(t, err)
	_, err = p.DescribeInstances(groupG, false) // seen again: no second notice
	noErr(t, err)
	fake.mu.Lock()
	reclaim(fake.instances["i-2"])
	fake.mu.Unlock()
	p.spot.Watch.Once(context.Background())
	fake.mu.Lock()
	reclaim(fake.instances["i-3"])
	fake.mu.Unlock()
	equal(t, PushChecking, mark(t, p, "i-3"))
	p.spot.Wait()
	equal(t, PushChecking, mark(t, p, "i-4")) // not reclaimed: not confirmed
	p.spot.Wait()

	got := map[string]float64{}
	mfs, err := m.Registry().Gather()
	noErr(t, err)
	for _, mf := range mfs {
		if mf.GetName() != metrics.Namespace+"_spot_notices_total" {
			continue
		}
		for _, c := range mf.GetMetric() {
			got[c.GetLabel()[0].GetValue()] = c.GetCounter().GetValue()
		}
	}
	equal(t, map[string]float64{"describe": 1, "watcher": 1, "push": 1}, got)
}
