package cloud

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestNewECSClientSendsUserAgentRegionAndToken(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(r.Context())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"RequestId":"r","Regions":{"Region":[{"RegionId":"cn-hangzhou","LocalName":"x"}]}}`))
	}))
	defer srv.Close()

	cfg := Config{AccessKeyID: "id", AccessKeySecret: "secret", SecurityToken: "token", Region: "cn-hangzhou", Endpoint: srv.URL}
	c, err := NewECSClient(cfg, WithUserAgent("infrakit.aliyun/v9.9.9"))
	noErr(t, err)
	_, err = c.DescribeRegions()
	noErr(t, err)

	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("no request reached the server")
	}
	if !strings.HasSuffix(got.UserAgent(), "infrakit.aliyun/v9.9.9") {
		t.Errorf("User-Agent %q", got.UserAgent())
	}
	q := got.URL.Query()
	equal(t, "id", q.Get("AccessKeyId"))
	equal(t, "token", q.Get("SecurityToken"))
	equal(t, "DescribeRegions", q.Get("Action"))
	if q.Get("Signature") == "" {
		t.Error("request not signed")
	}
	equal(t, "cn-hangzhou", q.Get("RegionId"))
}

func TestNewECSClientRejectsIncompleteConfig(t *testing.T) {
	for _, cfg := range []Config{
		{AccessKeySecret: "s", Region: "r", Endpoint: "http://x"},
		{AccessKeyID: "i", Region: "r", Endpoint: "http://x"},
		{AccessKeyID: "i", AccessKeySecret: "s", Endpoint: "http://x"},
		{AccessKeyID: "i", AccessKeySecret: "s", Region: "r"},
	} {
		c, err := NewECSClient(cfg)
		if err == nil || c != nil {
			t.Errorf("NewECSClient(%v) = %v, %v; want an error", cfg, c, err)
		}
	}
}
