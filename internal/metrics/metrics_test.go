package metrics

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"infrakit.aliyun/internal/httplimit"
)

func newMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := New(Config{Version: "v1.2.3", Revision: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// record drives every recorder method once or more.
func record(m *Metrics) {
	m.ECSCall("RunInstances", "", 30*time.Millisecond)
	m.ECSCall("RunInstances", "OperationDenied.NoStock", 20*time.Millisecond)
	m.ECSCall("DescribeInstances", "", 3*time.Second)
	m.Retry("DescribeInstances")
	m.Throttle("DescribeInstances")
	m.RateLimitWait(250 * time.Millisecond)
	m.RateLimitWait(0)
	m.SPICall("Instance.Provision", nil, 40*time.Millisecond)
	m.SPICall("Instance.Provision", errors.New("no stock"), 10*time.Millisecond)
	m.DescribeScan(ScanRun)
	m.DescribeScan(ScanCached)
	m.DescribeScan(ScanCached)
	m.InstancesSeen(map[string]int{"Running": 10, "Pending": 2})
	m.SpotNotice(SourceWatcher)
	m.SpotNotice("cloudmonitor")
	m.SpotPush("checking")
	m.SpotPush("ignored")
	m.Fallback("instance-type+zone")
	m.CredentialRefresh("ecs_ram_role", nil)
	m.CredentialRefresh("ecs_ram_role", errors.New("HTTP 500"))
}

// Every metric the recorder writes, with the values record gives them.
func TestRecorder(t *testing.T) {
	m := newMetrics(t)
	record(m)
	want := `
# HELP infrakit_aliyun_ecs_calls_total ECS API calls by action and ECS error code (OK for success).
# TYPE infrakit_aliyun_ecs_calls_total counter
infrakit_aliyun_ecs_calls_total{action="DescribeInstances",code="OK"} 1
infrakit_aliyun_ecs_calls_total{action="RunInstances",code="OK"} 1
infrakit_aliyun_ecs_calls_total{action="RunInstances",code="OperationDenied.NoStock"} 1
# HELP infrakit_aliyun_ecs_retries_total ECS API calls retried after a temporary error, by action.
# TYPE infrakit_aliyun_ecs_retries_total counter
infrakit_aliyun_ecs_retries_total{action="DescribeInstances"} 1
# HELP infrakit_aliyun_ecs_throttles_total ECS API calls answered Throttling*, by action.
# TYPE infrakit_aliyun_ecs_throttles_total counter
infrakit_aliyun_ecs_throttles_total{action="DescribeInstances"} 1
# HELP infrakit_aliyun_spi_calls_total InfraKit SPI (JSON-RPC) calls by method and outcome (ok, error).
# TYPE infrakit_aliyun_spi_calls_total counter
infrakit_aliyun_spi_calls_total{method="Instance.Provision",outcome="error"} 1
infrakit_aliyun_spi_calls_total{method="Instance.Provision",outcome="ok"} 1
# HELP infrakit_aliyun_describe_scans_total Instance describes by how they were answered: scan (ECS scan run), shared (joined a scan in flight), cached.
# TYPE infrakit_aliyun_describe_scans_total counter
infrakit_aliyun_describe_scans_total{kind="cached"} 2
infrakit_aliyun_describe_scans_total{kind="scan"} 1
infrakit_aliyun_describe_scans_total{kind="shared"} 0
# HELP infrakit_aliyun_instances_seen Instances of the namespace seen by the last describe scan, by ECS status.
# TYPE infrakit_aliyun_instances_seen gauge
infrakit_aliyun_instances_seen{status="Pending"} 2
infrakit_aliyun_instances_seen{status="Running"} 10
# HELP infrakit_aliyun_spot_notices_total Spot reclaim notices (Recycling seen in ECS), by how the plugin learned of it: describe, watcher, push.
# TYPE infrakit_aliyun_spot_notices_total counter
infrakit_aliyun_spot_notices_total{source="describe"} 0
infrakit_aliyun_spot_notices_total{source="push"} 1
infrakit_aliyun_spot_notices_total{source="watcher"} 1
# HELP infrakit_aliyun_spot_pushes_total CloudMonitor interruption pushes received, by result: checking, coalesced, already-noticed, over-budget, unknown, ignored, invalid.
# TYPE infrakit_aliyun_spot_pushes_total counter
infrakit_aliyun_spot_pushes_total{result="checking"} 1
infrakit_aliyun_spot_pushes_total{result="ignored"} 1
# HELP infrakit_aliyun_capacity_fallbacks_total Instances created with a capacity fallback, by reason (e.g. zone, instance-type+zone, on-demand).
# TYPE infrakit_aliyun_capacity_fallbacks_total counter
infrakit_aliyun_capacity_fallbacks_total{reason="instance-type+zone"} 1
# HELP infrakit_aliyun_credential_refreshes_total Attempts to refresh temporary credentials, by source kind and outcome (ok, error).
# TYPE infrakit_aliyun_credential_refreshes_total counter
infrakit_aliyun_credential_refreshes_total{outcome="error",source="ecs_ram_role"} 1
infrakit_aliyun_credential_refreshes_total{outcome="ok",source="ecs_ram_role"} 1
# HELP infrakit_aliyun_build_info Always 1; the plugin's version and revision as labels.
# TYPE infrakit_aliyun_build_info gauge
infrakit_aliyun_build_info{revision="abc",version="v1.2.3"} 1
`
	names := []string{"infrakit_aliyun_ecs_calls_total", "infrakit_aliyun_ecs_retries_total", "infrakit_aliyun_ecs_throttles_total",
		"infrakit_aliyun_spi_calls_total", "infrakit_aliyun_describe_scans_total", "infrakit_aliyun_instances_seen",
		"infrakit_aliyun_spot_notices_total", "infrakit_aliyun_spot_pushes_total", "infrakit_aliyun_capacity_fallbacks_total",
		"infrakit_aliyun_credential_refreshes_total", "infrakit_aliyun_build_info"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// Histograms: the count, the sum and one bucket each.
	text := scrapeText(t, m)
	for _, line := range []string{
		`infrakit_aliyun_ecs_call_duration_seconds_count{action="RunInstances"} 2`,
		`infrakit_aliyun_ecs_call_duration_seconds_sum{action="RunInstances"} 0.05`,
		`infrakit_aliyun_ecs_call_duration_seconds_bucket{action="DescribeInstances",le="2.5"} 0`,
		`infrakit_aliyun_ecs_call_duration_seconds_bucket{action="DescribeInstances",le="5"} 1`,
		`infrakit_aliyun_rate_limit_wait_seconds_count 2`,
		`infrakit_aliyun_rate_limit_wait_seconds_sum 0.25`,
		`infrakit_aliyun_rate_limit_wait_seconds_bucket{le="0.001"} 1`,
		`infrakit_aliyun_spi_call_duration_seconds_count{method="Instance.Provision"} 2`,
		`infrakit_aliyun_spi_call_duration_seconds_sum{method="Instance.Provision"} 0.05`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("no line %q in the scrape", line)
		}
	}
	// The Go and process collectors are there.
	for _, name := range []string{"go_goroutines ", "process_resident_memory_bytes ", "go_memstats_heap_alloc_bytes "} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("no %s in the scrape", name)
		}
	}

	// A status no longer seen drops to 0; the others are replaced.
	m.InstancesSeen(map[string]int{"Running": 3})
	want = `
# HELP infrakit_aliyun_instances_seen Instances of the namespace seen by the last describe scan, by ECS status.
# TYPE infrakit_aliyun_instances_seen gauge
infrakit_aliyun_instances_seen{status="Pending"} 0
infrakit_aliyun_instances_seen{status="Running"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "infrakit_aliyun_instances_seen"); err != nil {
		t.Error(err)
	}
}

// The names, types, help and units pass promlint (client_golang's linter of
// the Prometheus naming conventions) with every metric populated.
func TestLint(t *testing.T) {
	m := newMetrics(t)
	record(m)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Errorf("only %d series linted", n)
	}
	// Every metric of the plugin carries the prefix; the rest are the Go
	// and process collectors'.
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, mf := range mfs {
		name := mf.GetName()
		switch {
		case strings.HasPrefix(name, Namespace+"_"):
			ours++
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		default:
			t.Errorf("metric %s has neither the plugin's prefix nor a collector's", name)
		}
	}
	if ours != 14 {
		t.Errorf("%d metrics of the plugin gathered, want 14", ours)
	}
}

// A nil *Metrics records nothing and does not panic: callers need no
// branch when metrics are off.
func TestNilIsSafe(t *testing.T) {
	var m *Metrics
	record(m)
	if m.Registry() != nil {
		t.Error("a nil *Metrics has a registry")
	}
	if _, _, err := Start("127.0.0.1:0", false, nil, httplimit.Limits{}, nil); err == nil {
		t.Error("serving nil metrics started")
	}
}

// Label values a misbehaving endpoint could make up (a code per call,
// invalid UTF-8, huge strings) are bounded: past a label's bound they count
// as "other", and nothing panics.
func TestLabelsAreBounded(t *testing.T) {
	m := newMetrics(t)
	for i := 0; i < 1000; i++ {
		m.ECSCall("DescribeInstances", fmt.Sprintf("Forged.Code%d", i), time.Millisecond)
	}
	m.ECSCall("DescribeInstances", "bad\xffutf8", time.Millisecond)
	m.ECSCall("DescribeInstances", strings.Repeat("x", 1000), time.Millisecond)
	m.SPICall("bad\xff", nil, time.Millisecond)
	m.InstancesSeen(map[string]int{"\xff": 1})
	if n := testutil.CollectAndCount(m.ecsCalls); n != labelCap["code"]+1 {
		t.Errorf("%d ecs_calls_total series, want %d (the bound plus other)", n, labelCap["code"]+1)
	}
	if v := testutil.ToFloat64(m.ecsCalls.WithLabelValues("DescribeInstances", Other)); v != 1000-float64(labelCap["code"])+2 {
		t.Errorf("other = %v", v)
	}
	if v := testutil.ToFloat64(m.spiCalls.WithLabelValues(Other, OutcomeOK)); v != 1 {
		t.Errorf("invalid UTF-8 method: other = %v", v)
	}
	if v := testutil.ToFloat64(m.instancesSeen.WithLabelValues(Other)); v != 1 {
		t.Errorf("invalid UTF-8 status: other = %v", v)
	}
	// A value admitted once stays admitted.
	m.ECSCall("DescribeInstances", "Forged.Code0", time.Millisecond)
	if v := testutil.ToFloat64(m.ecsCalls.WithLabelValues("DescribeInstances", "Forged.Code0")); v != 2 {
		t.Errorf("Forged.Code0 = %v", v)
	}
}

// The server: /metrics over real HTTP, 404 elsewhere, refused on a remote
// address without --metrics-allow-remote, closed by stop.
func TestServer(t *testing.T) {
	m := newMetrics(t)
	m.SPICall("Instance.Validate", nil, time.Millisecond)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:9090"} {
		if _, _, err := Start(addr, false, m, httplimit.Limits{}, nil); err == nil || !strings.Contains(err.Error(), "--metrics-allow-remote") {
			t.Errorf("%s without --metrics-allow-remote: %v", addr, err)
		}
	}
	addr, stop, err := Start("127.0.0.1:0", false, m, httplimit.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	body := get(t, base+Path, http.StatusOK)
	if !strings.Contains(body, `infrakit_aliyun_spi_calls_total{method="Instance.Validate",outcome="ok"} 1`+"\n") {
		t.Errorf("scrape:\n%s", body)
	}
	get(t, base+"/", http.StatusNotFound)
	stop()
	if _, err := http.Get(base + Path); err == nil {
		t.Error("still serving after stop")
	}
}

func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, wantStatus)
	}
	return string(b)
}

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	addr, stop, err := Start("127.0.0.1:0", false, m, httplimit.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	return get(t, "http://"+addr.String()+Path, http.StatusOK)
}

// Idle clients cannot starve the listener of descriptors: past MaxConns a
// scrape is answered 503 at once, and served again once a slot is free.
func TestServerConnectionCap(t *testing.T) {
	m := newMetrics(t)
	addr, stop, err := Start("127.0.0.1:0", false, m, httplimit.Limits{MaxConns: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var idle []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// The idle connections are accepted in order; the scrape is third.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr.String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "metrics listener serves at most 2") {
		t.Fatalf("scrape past the cap: %d %s", resp.StatusCode, b)
	}
	idle[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get("http://" + addr.String() + Path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed after a client left: %v", err)
		}
		runtime.Gosched()
	}
}
