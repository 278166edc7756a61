// Package metrics is the plugin's Prometheus instrumentation: every metric
// the daemon exports, on a private registry (never the global default one),
// with Go runtime and process collectors, served on --metrics-listen
// (server.go).
//
// Callers record through plain methods of *Metrics. A nil *Metrics records
// nothing, so code that may run without metrics (tests, metrics off) calls
// the methods unconditionally.
//
// Who calls what:
//   - the ECS adapter: ECSCall once per ECS API call (action, ECS error
//     code or "" for success, latency), Retry before each retry, Throttle
//     for each Throttling* answer, RateLimitWait for each call that went
//     through the --rate-limit limiter (the time it waited);
//   - the JSON-RPC server (internal/rpcserver, through its Observe hook,
//     wired by internal/daemon): SPICall once per dispatched call;
//   - describe sharing and caching: DescribeScan("scan") for an ECS scan
//     run, "shared" for a describe that joined a scan in flight, "cached"
//     for one answered from the cache; InstancesSeen after each scan with
//     the count of the namespace's instances per ECS status;
//   - spot: SpotNotice when a reclaim is noticed, by source ("describe",
//     "watcher", "push"; the plugin's "cloudmonitor" is counted as
//     "push"), so spot_notices_total{source="push"} counts pushes ECS
//     confirmed; SpotPush from the CloudMonitor listener
//     (internal/cloudmonitor) with what became of each pushed event;
//   - capacity: Fallback when Provision created an instance with a choice
//     other than its first (reason as in the fallback tag, e.g.
//     "instance-type+zone");
//   - credentials (internal/cloud's ClientSource): CredentialRefresh once per
//     attempt to refresh temporary credentials, by kind of source.
//
// Label values come from bounded sets: a label takes at most a fixed number
// of distinct values (labelCap), and anything beyond, longer than 128
// bytes or not UTF-8 is counted as "other", so a misbehaving endpoint
// cannot grow the series without bound.
package metrics

import (
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of the plugin.
const Namespace = "infrakit_aliyun"

// Label values with a fixed meaning.
const (
	// CodeOK is the code label of a successful ECS call.
	CodeOK = "OK"
	// Other replaces a label value over its label's bound.
	Other = "other"

	OutcomeOK    = "ok"
	OutcomeError = "error"

	ScanRun    = "scan"
	ScanShared = "shared"
	ScanCached = "cached"

	SourceDescribe = "describe"
	SourceWatcher  = "watcher"
	SourcePush     = "push"
)

// Buckets in seconds. ECS calls take 5 ms (emulator) to a few seconds (a
// slow region); InfraKit's RPC client gives up after 15 s.
var (
	ecsBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	spiBuckets  = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}
	waitBuckets = []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Config is what New needs.
type Config struct {
	// Version and Revision label infrakit_aliyun_build_info.
	Version, Revision string
}

// Metrics holds the registry and every metric. Use New; the zero value is
// not usable, a nil pointer records nothing.
type Metrics struct {
	reg *prometheus.Registry

	ecsCalls      *prometheus.CounterVec
	ecsDuration   *prometheus.HistogramVec
	ecsRetries    *prometheus.CounterVec
	ecsThrottles  *prometheus.CounterVec
	rateLimitWait prometheus.Histogram
	spiCalls      *prometheus.CounterVec
	spiDuration   *prometheus.HistogramVec
	describeScans *prometheus.CounterVec
	instancesSeen *prometheus.GaugeVec
	spotNotices   *prometheus.CounterVec
	spotPushes    *prometheus.CounterVec
	fallbacks     *prometheus.CounterVec
	credRefreshes *prometheus.CounterVec
	labels        map[string]*boundedLabel // by label name
	seenMu        sync.Mutex
	seenStatuses  map[string]bool // statuses InstancesSeen has set
}

// Bounds on the distinct values of each label (by the recorder's name).
var labelCap = map[string]int{
	"action": 64, "code": 128, "method": 64, "status": 32, "spot_source": 8, "cred_source": 8, "result": 16, "reason": 32, "kind": 8,
}

// New builds the metrics on a new private registry with the Go runtime and
// process collectors.
func New(c Config) (*Metrics, error) {
	m := &Metrics{reg: prometheus.NewRegistry(), labels: map[string]*boundedLabel{}, seenStatuses: map[string]bool{}}
	for name, n := range labelCap {
		m.labels[name] = &boundedLabel{max: n, seen: map[string]bool{}}
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.ecsCalls = counter("ecs_calls_total", "ECS API calls by action and ECS error code (OK for success).", "action", "code")
	m.ecsDuration = histogram("ecs_call_duration_seconds", "Latency of ECS API calls by action, errors included.", ecsBuckets, "action")
	m.ecsRetries = counter("ecs_retries_total", "ECS API calls retried after a temporary error, by action.", "action")
	m.ecsThrottles = counter("ecs_throttles_total", "ECS API calls answered Throttling*, by action.", "action")
	m.rateLimitWait = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "rate_limit_wait_seconds",
		Help: "Time ECS calls waited for the --rate-limit limiter (count: calls through it; sum: seconds waited).", Buckets: waitBuckets})
	m.spiCalls = counter("spi_calls_total", "InfraKit SPI (JSON-RPC) calls by method and outcome (ok, error).", "method", "outcome")
	m.spiDuration = histogram("spi_call_duration_seconds", "Latency of InfraKit SPI (JSON-RPC) calls by method.", spiBuckets, "method")
	m.describeScans = counter("describe_scans_total", "Instance describes by how they were answered: scan (ECS scan run), shared (joined a scan in flight), cached.", "kind")
	m.instancesSeen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "instances_seen",
		Help: "Instances of the namespace seen by the last describe scan, by ECS status."}, []string{"status"})
	m.spotNotices = counter("spot_notices_total", "Spot reclaim notices (Recycling seen in ECS), by how the plugin learned of it: describe, watcher, push.", "source")
	m.spotPushes = counter("spot_pushes_total", "CloudMonitor interruption pushes received, by result: checking, coalesced, already-noticed, over-budget, unknown, ignored, invalid.", "result")
	m.fallbacks = counter("capacity_fallbacks_total", "Instances created with a capacity fallback, by reason (e.g. zone, instance-type+zone, on-demand).", "reason")
	m.credRefreshes = counter("credential_refreshes_total", "Attempts to refresh temporary credentials, by source kind and outcome (ok, error).", "source", "outcome")
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the plugin's version and revision as labels."}, []string{"version", "revision"})

	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ecsCalls, m.ecsDuration, m.ecsRetries, m.ecsThrottles, m.rateLimitWait, m.spiCalls, m.spiDuration,
		m.describeScans, m.instancesSeen, m.spotNotices, m.spotPushes, m.fallbacks, m.credRefreshes, buildInfo,
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, errors.New("register metrics: " + err.Error())
		}
	}
	buildInfo.WithLabelValues(orUnknown(c.Version), orUnknown(c.Revision)).Set(1)
	// The fixed label values exist from the start, at 0, so rate() and
	// absent() work before the first event.
	for _, k := range []string{ScanRun, ScanShared, ScanCached} {
		m.describeScans.WithLabelValues(k)
	}
	for _, s := range []string{SourceDescribe, SourceWatcher, SourcePush} {
		m.spotNotices.WithLabelValues(s)
	}
	return m, nil
}

func orUnknown(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return "unknown"
	}
	return s
}

// Registry is the private registry: the metrics server gathers it, tests
// lint it.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// boundedLabel admits at most max distinct values of one label.
type boundedLabel struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func (b *boundedLabel) value(v string) string {
	if len(v) > 128 || !utf8.ValidString(v) {
		return Other
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = true
	return v
}

func (m *Metrics) label(name, v string) string { return m.labels[name].value(v) }

// ECSCall records one ECS API call: its action (e.g. "RunInstances"), the
// ECS error code ("" for success, recorded as "OK") and its latency.
func (m *Metrics) ECSCall(action, code string, d time.Duration) {
	if m == nil {
		return
	}
	if code == "" {
		code = CodeOK
	}
	action = m.label("action", action)
	m.ecsCalls.WithLabelValues(action, m.label("code", code)).Inc()
	m.ecsDuration.WithLabelValues(action).Observe(d.Seconds())
}

// Retry records that an ECS call of action is retried.
func (m *Metrics) Retry(action string) {
	if m == nil {
		return
	}
	m.ecsRetries.WithLabelValues(m.label("action", action)).Inc()
}

// Throttle records a Throttling* answer to an ECS call of action.
func (m *Metrics) Throttle(action string) {
	if m == nil {
		return
	}
	m.ecsThrottles.WithLabelValues(m.label("action", action)).Inc()
}

// RateLimitWait records one ECS call that went through the --rate-limit
// limiter and how long it waited there (a negative d counts as 0).
func (m *Metrics) RateLimitWait(d time.Duration) {
	if m == nil {
		return
	}
	m.rateLimitWait.Observe(max(d, 0).Seconds())
}

// SPICall records one InfraKit SPI call: its JSON-RPC method (e.g.
// "Instance.Provision"), whether it failed, and its latency. Its signature
// is rpcserver.CallObserver's.
func (m *Metrics) SPICall(method string, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeError
	}
	method = m.label("method", method)
	m.spiCalls.WithLabelValues(method, outcome).Inc()
	m.spiDuration.WithLabelValues(method).Observe(d.Seconds())
}

// DescribeScan records how one describe was answered: ScanRun, ScanShared
// or ScanCached.
func (m *Metrics) DescribeScan(kind string) {
	if m == nil {
		return
	}
	m.describeScans.WithLabelValues(m.label("kind", kind)).Inc()
}

// InstancesSeen sets the instances seen by the last scan per ECS status
// (e.g. {"Running": 10, "Pending": 2}); a status seen before and absent
// now is set to 0.
func (m *Metrics) InstancesSeen(byStatus map[string]int) {
	if m == nil {
		return
	}
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	now := map[string]float64{}
	for s, n := range byStatus {
		now[m.label("status", s)] += float64(n) // statuses over the bound add up under "other"
	}
	for s := range m.seenStatuses {
		if _, ok := now[s]; !ok {
			m.instancesSeen.WithLabelValues(s).Set(0)
		}
	}
	for s, n := range now {
		m.seenStatuses[s] = true
		m.instancesSeen.WithLabelValues(s).Set(n)
	}
}

// SpotNotice records a noticed spot reclaim by source: SourceDescribe,
// SourceWatcher or SourcePush ("cloudmonitor", the plugin's name for a
// push, counts as SourcePush).
func (m *Metrics) SpotNotice(source string) {
	if m == nil {
		return
	}
	if source == "cloudmonitor" {
		source = SourcePush
	}
	m.spotNotices.WithLabelValues(m.label("spot_source", source)).Inc()
}

// SpotPush records what became of one pushed CloudMonitor event (see
// internal/cloudmonitor: the plugin's answer such as "checking", or
// "ignored", "invalid").
func (m *Metrics) SpotPush(result string) {
	if m == nil {
		return
	}
	m.spotPushes.WithLabelValues(m.label("result", result)).Inc()
}

// Fallback records an instance created with a capacity fallback; reason
// is the fallback tag's value, e.g. "zone" or "instance-type+on-demand".
func (m *Metrics) Fallback(reason string) {
	if m == nil {
		return
	}
	m.fallbacks.WithLabelValues(m.label("reason", reason)).Inc()
}

// CredentialRefresh records one attempt to refresh temporary credentials
// from source (a kind such as "assume_role" or "ecs_ram_role", never a
// name or a secret) and whether it failed.
func (m *Metrics) CredentialRefresh(source string, err error) {
	if m == nil {
		return
	}
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeError
	}
	m.credRefreshes.WithLabelValues(m.label("cred_source", source), outcome).Inc()
}
