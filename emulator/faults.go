package emulator

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Faults configures fault injection for the ECS API (the control API under
// /emulator/ is never affected). Rates are probabilities in [0,1] drawn from
// a source seeded with Options.Seed.
type Faults struct {
	// ThrottleRate answers 400 Throttling.User.
	ThrottleRate float64 `json:"throttle_rate,omitempty"`
	// ErrorRate answers 500 InternalError or 503 ServiceUnavailable.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// DropResponseRate applies the action and then closes the connection
	// without answering.
	DropResponseRate float64 `json:"drop_response_rate,omitempty"`
	// LatencyMS adds real latency to every answer.
	LatencyMS int `json:"latency_ms,omitempty"`
	// NoStock makes RunInstances/CreateInstance fail with
	// OperationDenied.NoStock and DescribeAvailableResource report
	// WithoutStock for these type/zone pairs (empty ZoneId: every zone;
	// empty InstanceType: every type in the zone). A key with SpotOnly
	// affects only spot requests (SpotStrategy other than NoSpot).
	NoStock []StockKey `json:"no_stock,omitempty"`
	// NotOnSale makes RunInstances/CreateInstance fail with 403
	// Zone.NotOnSale (the zone no longer sells the type) and
	// DescribeAvailableResource report SoldOut / ClosedWithoutStock for
	// these type/zone pairs. Keys match as for NoStock (empty field: any;
	// SpotOnly: spot requests only). NotOnSale is checked before NoStock.
	NotOnSale []StockKey `json:"not_on_sale,omitempty"`
	// Conflict is a per-Action probability of answering 409
	// OperationConflict ("a conflicting operation is in progress on the
	// resource") before the action runs, so nothing is applied. It is
	// independent of Actions and is checked after RateLimits, before the
	// random throttle, error and drop faults.
	Conflict map[string]float64 `json:"conflict,omitempty"`
	// RateLimits are per-Action calls per second (token bucket, burst of one
	// second's worth); excess calls get 400 Throttling.
	RateLimits map[string]float64 `json:"rate_limits,omitempty"`
	// MaxInstances, when positive, is an instance quota: RunInstances and
	// CreateInstance beyond it fail with 403 QuotaExceed.ElasticQuota.
	MaxInstances int `json:"max_instances,omitempty"`
	// Actions, when not empty, limits the random faults (throttle, error,
	// drop) to these actions.
	Actions []string `json:"actions,omitempty"`
}

// StockKey names an instance type in a zone.
type StockKey struct {
	InstanceType string `json:"InstanceType"`
	ZoneId       string `json:"ZoneId"`
	// SpotOnly limits the stock-out to spot capacity: on-demand (NoSpot)
	// requests for the pair still succeed.
	SpotOnly bool `json:"SpotOnly,omitempty"`
}

type bucket struct {
	tokens float64
	last   time.Time
}

type faultState struct {
	mu      sync.Mutex
	f       Faults
	actions map[string]bool
	rng     *rand.Rand
	buckets map[string]*bucket
}

func (fs *faultState) init(seed int64) {
	fs.rng = rand.New(rand.NewPCG(uint64(seed), 0xfa017))
	fs.buckets = map[string]*bucket{}
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.NotOnSale = slices.Clone(f.NotOnSale)
	f.Conflict = maps.Clone(f.Conflict)
	fs.f = f
	fs.actions = nil
	if len(f.Actions) > 0 {
		fs.actions = map[string]bool{}
		for _, a := range f.Actions {
			fs.actions[a] = true
		}
	}
	fs.buckets = map[string]*bucket{}
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

// noStock tells whether the pair is sold out; spot is true for a spot
// request (SpotStrategy other than NoSpot).
func (fs *faultState) noStock(instanceType, zone string, spot bool) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return matchStock(fs.f.NoStock, instanceType, zone, spot)
}

// notOnSale tells whether the zone no longer sells the type (to spot
// requests only, for a SpotOnly key).
func (fs *faultState) notOnSale(instanceType, zone string, spot bool) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return matchStock(fs.f.NotOnSale, instanceType, zone, spot)
}

func matchStock(keys []StockKey, instanceType, zone string, spot bool) bool {
	for _, k := range keys {
		if (k.InstanceType == "" || k.InstanceType == instanceType) && (k.ZoneId == "" || k.ZoneId == zone) && (!k.SpotOnly || spot) {
			return true
		}
	}
	return false
}

func (fs *faultState) maxInstances() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.MaxInstances
}

type decision struct {
	err     *apiError
	drop    bool
	latency time.Duration
}

// decide draws this request's fate. Rate limits apply first (they model the
// documented per-API quotas), then Conflict, then random throttling, errors
// and drops.
func (fs *faultState) decide(action string, now time.Time) decision {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d := decision{latency: time.Duration(fs.f.LatencyMS) * time.Millisecond}
	if rate, ok := fs.f.RateLimits[action]; ok && rate > 0 {
		b := fs.buckets[action]
		burst := max(rate, 1)
		if b == nil {
			b = &bucket{tokens: burst, last: now}
			fs.buckets[action] = b
		}
		if el := now.Sub(b.last); el > 0 {
			b.tokens = min(burst, b.tokens+el.Seconds()*rate)
		}
		b.last = now
		if b.tokens < 1 {
			d.err = errThrottling()
			return d
		}
		b.tokens--
	}
	// BUG(emulator): OperationConflict (409) is only produced by the Conflict
	// fault. Real ECS also answers it on its own when operations on one
	// resource overlap; here calls are serialised, and an operation on an
	// instance in a transitional state (Starting, Stopping) gets
	// IncorrectInstanceStatus.
	if rate := fs.f.Conflict[action]; rate > 0 && fs.rng.Float64() < rate {
		d.err = errConflict()
		return d
	}
	if fs.actions != nil && !fs.actions[action] {
		return d
	}
	if fs.f.ThrottleRate > 0 && fs.rng.Float64() < fs.f.ThrottleRate {
		d.err = errThrottlingUser()
		return d
	}
	if fs.f.ErrorRate > 0 && fs.rng.Float64() < fs.f.ErrorRate {
		if fs.rng.IntN(2) == 0 {
			d.err = errInternal()
		} else {
			d.err = errUnavailable()
		}
		return d
	}
	if fs.f.DropResponseRate > 0 && fs.rng.Float64() < fs.f.DropResponseRate {
		d.drop = true
	}
	return d
}

// Stats counts calls per Action (every request that named one, whatever the
// outcome) and instances per status (released ones under "Released").
type Stats struct {
	Calls     map[string]int `json:"calls"`
	Instances map[string]int `json:"instances"`
	// Faults counts injected faults: "throttled", "errors", "dropped",
	// "rate_limited", "conflicts".
	Faults map[string]int `json:"faults"`
}

type statsCounter struct {
	mu     sync.Mutex
	calls  map[string]int
	faults map[string]int
}

func (sc *statsCounter) init() { sc.calls = map[string]int{}; sc.faults = map[string]int{} }

// maxTrackedActions bounds the call map against random Action names.
const maxTrackedActions = 1000

func (sc *statsCounter) call(action string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if _, ok := sc.calls[action]; ok || len(sc.calls) < maxTrackedActions {
		sc.calls[action]++
	}
}

func (sc *statsCounter) fault(kind string) {
	sc.mu.Lock()
	sc.faults[kind]++
	sc.mu.Unlock()
}

// SetFaults replaces the fault configuration (the zero Faults clears it).
func (s *Server) SetFaults(f Faults) { s.faults.set(f) }

// Faults returns the current fault configuration.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats returns call and instance counters.
func (s *Server) Stats() Stats {
	out := Stats{Calls: map[string]int{}, Instances: map[string]int{}, Faults: map[string]int{}}
	s.stats.mu.Lock()
	for k, v := range s.stats.calls {
		out.Calls[k] = v
	}
	for k, v := range s.stats.faults {
		out.Faults[k] = v
	}
	s.stats.mu.Unlock()
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	defer unlock()
	for _, in := range s.st.Instances {
		out.Instances[in.Status(now)]++
	}
	return out
}
