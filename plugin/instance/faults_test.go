package instance

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

// TestFaultSuite is issue #5's proof that nothing is lost and nothing is
// duplicated: against an ECS that throttles 30% of calls, fails 10% with a
// 5xx and loses 5% of responses after acting on them, 500 concurrent
// Provisions (as the group plugin makes them) give exactly 500 instances
// with zero failed SPI calls, describes page through them correctly, and
// 500 concurrent Destroys leave none. Retry waits advance the emulator's
// clock instead of sleeping.
func TestFaultSuite(t *testing.T) {
	const n = 500
	e := newEmuWith(t, emulator.Options{Seed: 5, BootTime: -1}, func(c *Config) {
		c.NamespaceTags = map[string]string{"infrakit.scope": "faults"}
		// Elapsed time is real (nothing sleeps, so it stays small); the
		// waits the policy asks for move the emulated world forward.
		c.Now = nil
		c.Retry.MaxElapsed = 5 * time.Minute
		c.ProvisionTimeout = 5 * time.Minute // the race detector on 2 shared cores
	})
	srv, p := e.srv, e.plugin
	srv.SetFaults(emulator.Faults{ThrottleRate: 0.30, ErrorRate: 0.10, DropResponseRate: 0.05})

	group := map[string]string{"infrakit.group": "faults"}
	spec := func(i int) instance.Spec {
		s := emuSpec("faults")
		if i%10 == 0 { // some pets too: their tokens include the logical ID
			s.LogicalID = instance.LogicalIDFromString(fmt.Sprintf("pet-%d", i))
		}
		return s
	}

	ids := make([]string, n)
	errs := runConcurrently(n, func(i int) error {
		id, err := p.Provision(spec(i))
		if id != nil {
			ids[i] = string(*id)
		}
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("Provision %d failed: %v", i, err)
		}
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	for i := 1; i < n; i++ {
		if sorted[i] == sorted[i-1] {
			t.Fatalf("two Provisions returned instance %s", sorted[i])
		}
	}
	st := srv.Stats()
	t.Logf("provision: RunInstances calls %d for %d instances, faults %v", st.Calls["RunInstances"], n, st.Faults)
	if st.Faults["throttled"] == 0 || st.Faults["errors"] == 0 || st.Faults["dropped"] == 0 {
		t.Fatalf("faults were not injected: %v", st.Faults)
	}

	// What ECS holds: exactly one live instance per Provision, all tagged.
	live := liveTagged(srv, group)
	equal(t, n, len(live), "live instances tagged with the group")
	equal(t, n, liveAll(srv), "live instances in the account")
	equal(t, sorted, live)

	// What InfraKit sees, still under faults: every page read.
	descs, err := p.DescribeInstances(group, true)
	noErr(t, err)
	equal(t, n, len(descs))
	pets := 0
	for _, d := range descs {
		if d.LogicalID != nil && len(*d.LogicalID) > 4 && string(*d.LogicalID)[:4] == "pet-" {
			pets++
		}
	}
	equal(t, n/10, pets, "pets keep their logical IDs")

	errs = runConcurrently(n, func(i int) error { return p.Destroy(instance.ID(ids[i]), instance.Termination) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("Destroy %s failed: %v", ids[i], err)
		}
	}
	equal(t, 0, len(liveTagged(srv, group)), "live instances after destroying all")
	equal(t, 0, liveAll(srv))
	descs, err = p.DescribeInstances(group, false)
	noErr(t, err)
	equal(t, 0, len(descs))
	st = srv.Stats()
	t.Logf("total: calls %v, faults %v", st.Calls, st.Faults)
}

func runConcurrently(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = f(i)
		}(i)
	}
	wg.Wait()
	return errs
}

func liveTagged(srv *emulator.Server, tags map[string]string) []string {
	var ids []string
	for _, v := range srv.Instances() {
		if v.Released || v.Status == emulator.StatusReleased || !hasTags(v.Tags, tags) {
			continue
		}
		ids = append(ids, v.InstanceId)
	}
	sort.Strings(ids)
	return ids
}

func liveAll(srv *emulator.Server) int { return len(liveTagged(srv, nil)) }

// A Provision answers before InfraKit's 15 s RPC timeout whatever ECS does:
// here ECS never answers, and Config.ProvisionTimeout (12 s by default;
// 300 ms here) ends the call with a CallTimeout error instead of hanging.
func TestProvisionTimeoutBoundsTheWholeCall(t *testing.T) {
	release := make(chan struct{})
	w := newWireServer(t, func(int, url.Values) (int, interface{}) {
		<-release
		return 200, runOK("i-late")
	})
	t.Cleanup(func() { close(release) })
	p, _, _ := newWirePlugin(t, w, func(c *Config) { c.ProvisionTimeout = 300 * time.Millisecond; c.CallTimeout = time.Minute })
	start := time.Now()
	_, err := p.Provision(groupSpec())
	took := time.Since(start)
	equal(t, ecs.CodeCallTimeout, ecs.ErrorCode(err))
	if took > 5*time.Second {
		t.Fatalf("Provision took %v with a 300ms budget", took)
	}
	equal(t, DefaultProvisionTimeout, mustNormalize(t, Config{RegionID: "r"}).ProvisionTimeout)
	if DefaultProvisionTimeout+time.Second > 15*time.Second {
		t.Fatalf("default provision budget %v leaves no margin under InfraKit's 15 s", DefaultProvisionTimeout)
	}
}

func mustNormalize(t *testing.T, c Config) Config {
	t.Helper()
	c, err := normalize(c)
	noErr(t, err)
	return c
}
