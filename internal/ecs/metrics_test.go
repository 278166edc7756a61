package ecs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"
	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"infrakit.aliyun/internal/metrics"
)

// Every attempt is an ECSCall with its code, a Throttling answer is a
// Throttle and a Retry, and each call through --rate-limit is a
// RateLimitWait.
func TestAdapterRecordsMetrics(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"r1"}`))
			return
		}
		_, _ = w.Write([]byte(`{"RequestId":"r2"}`))
	}))
	defer srv.Close()
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	client := aliyun.NewECSClientWithEndpointAndSecurityToken(srv.URL, "ak", "secret", "", "cn-hangzhou")
	logger := log.New()
	logger.Out = &strings.Builder{}
	a := NewAdapter(AdapterConfig{
		Clients: func() (*aliyun.Client, error) { return client, nil }, Region: "cn-hangzhou", RateLimit: 1000, Logger: logger, Metrics: m,
		Retry: RetryConfig{MaxElapsed: time.Minute, Sleep: func(time.Duration) {}},
	})
	if err := a.DeleteInstance(context.Background(), "i-1", true); err != nil {
		t.Fatalf("delete: %v", err)
	}
	want := `
# HELP infrakit_aliyun_ecs_calls_total ECS API calls by action and ECS error code (OK for success).
# TYPE infrakit_aliyun_ecs_calls_total counter
infrakit_aliyun_ecs_calls_total{action="DeleteInstance",code="OK"} 1
infrakit_aliyun_ecs_calls_total{action="DeleteInstance",code="Throttling.User"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "infrakit_aliyun_ecs_calls_total"); err != nil {
		t.Error(err)
	}
	want = `
# HELP infrakit_aliyun_ecs_retries_total ECS API calls retried after a temporary error, by action.
# TYPE infrakit_aliyun_ecs_retries_total counter
infrakit_aliyun_ecs_retries_total{action="DeleteInstance"} 1
# HELP infrakit_aliyun_ecs_throttles_total ECS API calls answered Throttling*, by action.
# TYPE infrakit_aliyun_ecs_throttles_total counter
infrakit_aliyun_ecs_throttles_total{action="DeleteInstance"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "infrakit_aliyun_ecs_retries_total", "infrakit_aliyun_ecs_throttles_total"); err != nil {
		t.Error(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				counts[mf.GetName()] += h.GetSampleCount()
			}
		}
	}
	if counts["infrakit_aliyun_rate_limit_wait_seconds"] != 2 || counts["infrakit_aliyun_ecs_call_duration_seconds"] != 2 {
		t.Errorf("histogram counts %v, want 2 rate-limit waits and 2 call durations", counts)
	}
}
