package instance

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/run/local"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

// Issue #15 item 5: under heavy throttling with lost responses (the issue's
// mix: throttle 0.6, drop 0.3) with the default budgets, every Provision
// either returns an ID that exists or an error, and no instance exists that
// a failed Provision created: the live instances of the group are exactly
// the IDs returned. Retry waits advance the emulator's clock.
func TestProvisionTellsTheTruthUnderHeavyFaults(t *testing.T) {
	const n = 40
	e := newEmuWith(t, emulator.Options{Seed: 15, BootTime: -1}, func(c *Config) {
		c.NamespaceTags = map[string]string{"infrakit.scope": "truth"}
		c.Retry.MaxElapsed = 0 // the default 10 s budget, on the emulated clock
	})
	srv, p := e.srv, e.plugin
	srv.SetFaults(emulator.Faults{ThrottleRate: 0.6, DropResponseRate: 0.3})

	ids := make([]string, n)
	errs := runConcurrently(n, func(i int) error {
		id, err := p.Provision(emuSpec("truth"))
		if id != nil {
			ids[i] = string(*id)
		}
		return err
	})
	p.creator.settling.Wait() // failed Provisions' tokens, settled in the background
	srv.SetFaults(emulator.Faults{})

	var returned []string
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			t.Logf("Provision %d failed: %v", i, err)
			if ids[i] != "" {
				t.Errorf("Provision %d returned both %s and an error", i, ids[i])
			}
			continue
		}
		returned = append(returned, ids[i])
	}
	sort.Strings(returned)
	live := liveTagged(srv, map[string]string{"infrakit.group": "truth"})
	equal(t, returned, live, "live instances are exactly the IDs Provision returned")
	st := srv.Stats()
	t.Logf("%d of %d Provisions failed; RunInstances calls %d; faults %v", failed, n, st.Calls["RunInstances"], st.Faults)
	if st.Faults["dropped"] == 0 || st.Faults["throttled"] == 0 {
		t.Fatalf("faults were not injected: %v", st.Faults)
	}
}

// A lost answer is asked again with the same ClientToken and its instance
// returned, not reported as a failure.
func TestProvisionReturnsTheInstanceWhoseAnswerWasLost(t *testing.T) {
	fake := newFake()
	p, _, _ := newTestPlugin(t, fake)
	lost := &ecs.OutcomeUnknownError{Err: &ecs.APIError{Action: "RunInstances", Code: ecs.CodeClientFailure, StatusCode: -1}}
	fake.mu.Lock()
	fake.next = 0
	fake.mu.Unlock()
	// The first call "creates" nothing the fake can see, but answers unknown;
	// the second, with the same token, answers an ID.
	fake.failNext("RunInstances", lost)
	id, err := p.Provision(groupSpec())
	noErr(t, err)
	equal(t, "i-0001", string(*id))
	equal(t, 2, len(fake.runs))
	equal(t, fake.runs[0].ClientToken, fake.runs[1].ClientToken, "asked again with the same token")
}

// When the outcome stays unknown past the confirm budget, the Provision
// fails and the background settling releases the instance the token made,
// so the error stays true.
func TestProvisionSettlesAnUnknownOutcomeInTheBackground(t *testing.T) {
	fake := newFake()
	logger, buf := quietLogger()
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := newPlugin(fake, Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: clock.Sleep}, ConfirmTimeout: time.Nanosecond})
	noErr(t, err)
	lost := &ecs.OutcomeUnknownError{Err: &ecs.APIError{Action: "RunInstances", Code: ecs.CodeCallTimeout, StatusCode: -1}}
	fake.failNext("RunInstances", lost, lost, lost)
	_, err = p.Provision(groupSpec())
	isErr(t, err)
	contains(t, fmt.Sprint(err), "whether an instance was created is unknown")
	equal(t, ecs.CodeCallTimeout, ecs.ErrorCode(err))
	p.creator.settling.Wait()
	fake.mu.Lock()
	defer fake.mu.Unlock()
	equal(t, 0, len(fake.instances), "the instance the failed Provision's token created is released")
	equal(t, 1, len(fake.deletes))
	contains(t, buf.String(), "released an instance created by a Provision that reported failure")
}

// The budgets fit InfraKit's 15 s RPC timeout: the Provision's own, then
// asking again with the same token.
func TestProvisionBudgetFitsInfraKitTimeout(t *testing.T) {
	t.Setenv(local.EnvClientTimeout, "") // InfraKit's default
	rpcTimeout := local.ClientTimeout()
	equal(t, 15*time.Second, rpcTimeout)
	if DefaultProvisionTimeout+DefaultConfirmTimeout >= rpcTimeout {
		t.Fatalf("provision %v + confirm %v is not under InfraKit's RPC timeout %v", DefaultProvisionTimeout, DefaultConfirmTimeout, rpcTimeout)
	}
	if ecs.DefaultRetryMaxElapsed >= DefaultProvisionTimeout {
		t.Fatalf("retry budget %v does not fit the provision budget %v", ecs.DefaultRetryMaxElapsed, DefaultProvisionTimeout)
	}
}
