package instance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
)

// wireServer is a scripted ECS endpoint: handle gets each request's query
// and returns (status, body). It records every query.
type wireServer struct {
	mu      sync.Mutex
	queries []url.Values
	handle  func(n int, q url.Values) (int, interface{})
	srv     *httptest.Server
}

func newWireServer(t *testing.T, handle func(n int, q url.Values) (int, interface{})) *wireServer {
	w := &wireServer{handle: handle}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.mu.Lock()
		w.queries = append(w.queries, q)
		n := len(w.queries)
		w.mu.Unlock()
		status, body := w.handle(n, q)
		if status < 0 { // drop the connection: a response lost after sending
			hj, _ := rw.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_ = json.NewEncoder(rw).Encode(body)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *wireServer) got() []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]url.Values(nil), w.queries...)
}

func ecsErr(code string) map[string]string {
	return map[string]string{"RequestId": "req-" + code, "HostId": "ecs", "Code": code, "Message": "scripted " + code}
}

func newWirePlugin(t *testing.T, w *wireServer, mutate func(*Config)) (*Plugin, *ecs.Adapter, *fakeClock) {
	t.Helper()
	client := aliyun.NewECSClientWithEndpointAndSecurityToken(w.srv.URL, "ak-test", "sk-test", "sts-token-secret", "cn-hangzhou")
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	logger, _ := quietLogger()
	cfg := Config{Clients: StaticClient(client), DescribeCacheTTL: DefaultDescribeCacheTTL, RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: clock.Sleep}, CallTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	noErr(t, err)
	return p, p.api.(*describeCache).InstanceAPI.(*ecs.Adapter), clock
}

func runOK(id string) map[string]interface{} {
	return map[string]interface{}{"RequestId": "req-run", "InstanceIdSets": map[string]interface{}{"InstanceIdSet": []string{id}}}
}

func TestAdapterRunInstancesWire(t *testing.T) {
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		switch n {
		case 1:
			return 400, ecsErr("Throttling.User")
		case 2:
			return 503, ecsErr("ServiceUnavailable")
		case 3:
			return -1, nil // response lost
		}
		return 200, runOK("i-new")
	})
	p, _, _ := newWirePlugin(t, w, nil)
	spec := groupSpec()
	spec.Properties = props(`{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g7.large","VSwitchId":"vsw-1","SecurityGroupIds":["sg-1","sg-2"],
		"SystemDisk":{"Category":"cloud_essd","Size":40},"DataDisk":[{"Size":100},{"Size":50,"DeleteWithInstance":false}],
		"SpotStrategy":"SpotWithPriceLimit","SpotPriceLimit":0.25,"UserData":"#!/bin/sh"},"Tags":{"b":"2","a":"1"}}`)
	spec.LogicalID = instance.LogicalIDFromString("172.16.0.9")
	id, err := p.Provision(spec)
	noErr(t, err)
	equal(t, instance.ID("i-new"), *id)

	qs := w.got()
	if len(qs) < 4 {
		t.Fatalf("want three temporary failures then success, got %d requests", len(qs))
	}
	token := qs[0].Get("ClientToken")
	equal(t, 64, len(token))
	nonces := map[string]bool{}
	for _, q := range qs {
		equal(t, token, q.Get("ClientToken"), "every retry reuses the client token")
		nonces[q.Get("SignatureNonce")] = true
	}
	// net/http may itself re-send a GET whose connection dropped (same
	// nonce); every attempt of ours is signed afresh.
	if len(nonces) < 3 {
		t.Errorf("want at least 3 distinct signature nonces, got %d", len(nonces))
	}

	q := qs[len(qs)-1]
	want := map[string]string{
		"Action": "RunInstances", "RegionId": "cn-hangzhou", "Amount": "1", "ImageId": "img-1", "InstanceType": "ecs.g7.large",
		"SecurityGroupIds.1": "sg-1", "SecurityGroupIds.2": "sg-2", "SystemDisk.Category": "cloud_essd", "SystemDisk.Size": "40",
		"DataDisk.1.Size": "100", "DataDisk.2.Size": "50", "DataDisk.2.DeleteWithInstance": "false",
		"SpotStrategy": "SpotWithPriceLimit", "SpotPriceLimit": "0.25", "PrivateIpAddress": "172.16.0.9",
		"InstanceChargeType": "PostPaid", "InternetChargeType": "PayByTraffic",
		// tags sorted by key, numbered from 1
		"Tag.1.Key": "a", "Tag.1.Value": "1", "Tag.2.Key": "b", "Tag.2.Value": "2",
		// the describe partition (shards.go), from the ClientToken
		"Tag.3.Key": "infrakit-aliyun.shard", "Tag.3.Value": shardFor(token),
		"Tag.4.Key": "infrakit.config.hash", "Tag.4.Value": "abc123", "Tag.5.Key": "infrakit.group", "Tag.5.Value": "workers",
		"Tag.6.Key": "infrakit.logical_id", "Tag.6.Value": "172.16.0.9", "Tag.7.Key": "infrakit.scope", "Tag.7.Value": "test",
	}
	for k, v := range want {
		equal(t, v, q.Get(k), k)
	}
	for _, absent := range []string{"DataDisk.1.DeleteWithInstance", "Tag.8.Key", "UserData.1", "MinAmount", "RegionId.1", "Password", "AutoRenew"} {
		if q.Has(absent) {
			t.Errorf("%s must not be sent, got %q", absent, q.Get(absent))
		}
	}
	ud, err := base64.StdEncoding.DecodeString(q.Get("UserData"))
	noErr(t, err)
	equal(t, "#!/bin/sh\necho init", string(ud), "UserData encoded exactly once")
	for _, q := range qs {
		equal(t, qs[len(qs)-1].Get("UserData"), q.Get("UserData"), "no double encoding on retry")
	}
}

func TestAdapterDoesNotRetryFinalErrors(t *testing.T) {
	for _, code := range []string{"InvalidParameter", "OperationDenied.NoStock", "InvalidImageId.NotFound", "IdempotentParameterMismatch", "QuotaExceed.Instance"} {
		t.Run(code, func(t *testing.T) {
			w := newWireServer(t, func(int, url.Values) (int, interface{}) {
				status := 400
				if code == "OperationDenied.NoStock" {
					status = 403
				}
				return status, ecsErr(code)
			})
			p, _, _ := newWirePlugin(t, w, nil)
			_, err := p.Provision(groupSpec())
			equal(t, code, ecs.ErrorCode(err))
			contains(t, err.Error(), code)
			contains(t, err.Error(), "req-"+code)
			equal(t, 1, len(w.got()))
		})
	}
}

func TestAdapterRetryGivesUp(t *testing.T) {
	w := newWireServer(t, func(int, url.Values) (int, interface{}) { return 400, ecsErr("Throttling") })
	p, _, clock := newWirePlugin(t, w, func(c *Config) {
		c.Retry.MaxElapsed = 5 * time.Second
		c.Retry.InitialInterval = 100 * time.Millisecond
		c.Retry.MaxInterval = time.Second
	})
	start := clock.Now()
	_, err := p.DescribeInstances(nil, false)
	equal(t, "Throttling", ecs.ErrorCode(err))
	n := len(w.got())
	if n < 5 || n > 20 {
		t.Errorf("want a bounded number of attempts, got %d", n)
	}
	if slept := clock.Now().Sub(start); slept > 5*time.Second+1500*time.Millisecond {
		t.Errorf("slept %v, beyond MaxElapsed plus one interval", slept)
	}
}

func TestAdapterConnectionErrorsAreRedacted(t *testing.T) {
	w := newWireServer(t, func(int, url.Values) (int, interface{}) { return -1, nil })
	p, _, _ := newWirePlugin(t, w, func(c *Config) { c.Retry.MaxElapsed = time.Second })
	err := p.Destroy("i-1", instance.Termination)
	isErr(t, err)
	equal(t, ecs.CodeClientFailure, ecs.ErrorCode(err))
	for _, secret := range []string{"Signature=", "sts-token-secret", "SecurityToken", "ak-test"} {
		notContains(t, err.Error(), secret)
	}
	if len(w.got()) < 2 {
		t.Error("connection errors must be retried")
	}
}

func TestAdapterCallTimeout(t *testing.T) {
	release := make(chan struct{})
	w := newWireServer(t, func(int, url.Values) (int, interface{}) {
		<-release
		return 200, map[string]string{"RequestId": "late"}
	})
	defer close(release)
	_, a, _ := newWirePlugin(t, w, func(c *Config) {
		c.CallTimeout = 20 * time.Millisecond
		c.Retry.MaxElapsed = time.Millisecond
	})
	err := a.DeleteInstance(context.Background(), "i-1", true)
	equal(t, ecs.CodeCallTimeout, ecs.ErrorCode(err))
}

func TestAdapterDescribePaging(t *testing.T) {
	const total = 250
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		max, _ := strconv.Atoi(q.Get("MaxResults"))
		start := 0
		if tok := q.Get("NextToken"); tok != "" {
			start, _ = strconv.Atoi(tok)
		}
		var items []map[string]interface{}
		for i := start; i < start+max && i < total; i++ {
			items = append(items, map[string]interface{}{
				"InstanceId": fmt.Sprintf("i-%03d", i), "Status": "Running",
				"VpcAttributes": map[string]interface{}{"PrivateIpAddress": map[string]interface{}{"IpAddress": []string{fmt.Sprintf("10.0.%d.%d", i/256, i%256)}}},
				"Tags":          map[string]interface{}{"Tag": []map[string]string{{"TagKey": "infrakit.scope", "TagValue": "test"}, {"TagKey": "infrakit.group", "TagValue": "g"}}},
			})
		}
		next := ""
		if start+max < total {
			next = strconv.Itoa(start + max)
		}
		return 200, map[string]interface{}{"RequestId": "r", "NextToken": next, "Instances": map[string]interface{}{"Instance": items}}
	})
	p, _, _ := newWirePlugin(t, w, nil)
	got, err := p.DescribeInstances(map[string]string{"infrakit.group": "g"}, false)
	noErr(t, err)
	equal(t, total, len(got))
	qs := w.got()
	equal(t, 3, len(qs))
	for _, q := range qs {
		equal(t, "100", q.Get("MaxResults"))
		equal(t, "", q.Get("PageSize"))
		// The first describe scans the whole namespace once to learn its
		// size (describecache.go); its pages carry the namespace tag.
		equal(t, "infrakit.scope", q.Get("Tag.1.Key"))
		equal(t, "test", q.Get("Tag.1.Value"))
	}
	equal(t, "10.0.0.5", string(*got[5].LogicalID))
}

func TestAdapterOtherCallsWire(t *testing.T) {
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		if q.Get("Action") == "DescribeDisks" {
			return 200, map[string]interface{}{"RequestId": "r", "Disks": map[string]interface{}{"Disk": []map[string]interface{}{{"DiskId": "d-1", "DeleteWithInstance": true}}}}
		}
		return 200, map[string]string{"RequestId": "r"}
	})
	_, a, _ := newWirePlugin(t, w, nil)
	ctx := context.Background()
	noErr(t, a.TagResources(ctx, "i-1", map[string]string{"z": "1", "a": "2"}))
	noErr(t, a.AttachDisk(ctx, "i-1", "d-1", false))
	noErr(t, a.ModifyDiskAttribute(ctx, "d-1", false))
	noErr(t, a.DeleteInstance(ctx, "i-1", true))
	disks, err := a.DescribeDisks(ctx, ecs.DiskFilter{InstanceID: "i-1", Tags: map[string]string{TagAttachment: "x"}})
	noErr(t, err)
	equal(t, "d-1", disks[0].ID)

	qs := w.got()
	check := func(q url.Values, want map[string]string) {
		t.Helper()
		for k, v := range want {
			equal(t, v, q.Get(k), q.Get("Action")+" "+k)
		}
	}
	check(qs[0], map[string]string{"Action": "TagResources", "ResourceType": "instance", "ResourceId.1": "i-1", "Tag.1.Key": "a", "Tag.2.Key": "z", "RegionId": "cn-hangzhou"})
	check(qs[1], map[string]string{"Action": "AttachDisk", "InstanceId": "i-1", "DiskId": "d-1", "DeleteWithInstance": "false"})
	check(qs[2], map[string]string{"Action": "ModifyDiskAttribute", "DiskId": "d-1", "DeleteWithInstance": "false"})
	check(qs[3], map[string]string{"Action": "DeleteInstance", "InstanceId": "i-1", "Force": "true"})
	check(qs[4], map[string]string{"Action": "DescribeDisks", "InstanceId": "i-1", "Tag.1.Key": TagAttachment, "Tag.1.Value": "x", "MaxResults": "100"})
}

func TestRateLimiterConfigured(t *testing.T) {
	w := newWireServer(t, func(int, url.Values) (int, interface{}) { return 200, map[string]string{"RequestId": "r"} })
	_, a, _ := newWirePlugin(t, w, func(c *Config) { c.RateLimit = 2.5 })
	if perSecond, burst, ok := a.RateLimit(); !ok || burst != 3 || perSecond != 2.5 {
		t.Fatalf("limiter not configured: %v/s, burst %d, limited %v", perSecond, burst, ok)
	}
	_, a, _ = newWirePlugin(t, w, nil)
	if _, _, ok := a.RateLimit(); ok {
		t.Fatal("RateLimit 0 must mean unlimited")
	}
}

// Listings follow NextToken to the end, and a token that comes back is an
// error instead of an endless loop (callPages).
func TestAdapterDisksPagingAndRepeatedToken(t *testing.T) {
	// Page n answers with one disk d-n and tokens[n-1].
	server := func(tokens ...string) (*ecs.Adapter, *wireServer) {
		w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
			disk := map[string]interface{}{"DiskId": fmt.Sprintf("d-%d", n)}
			return 200, map[string]interface{}{"RequestId": fmt.Sprintf("r%d", n), "NextToken": tokens[n-1],
				"Disks": map[string]interface{}{"Disk": []interface{}{disk}}}
		})
		_, a, _ := newWirePlugin(t, w, nil)
		return a, w
	}
	a, w := server("t1", "t2", "t1")
	_, err := a.DescribeDisks(context.Background(), ecs.DiskFilter{InstanceID: "i-1"})
	equal(t, "UnexpectedResponse", ecs.ErrorCode(err))
	contains(t, err.Error(), "NextToken repeats (request id r3)")
	qs := w.got()
	equal(t, 3, len(qs))
	for i, tok := range []string{"", "t1", "t2"} {
		equal(t, tok, qs[i].Get("NextToken"), "page", i)
		equal(t, "i-1", qs[i].Get("InstanceId"), "page", i)
		equal(t, "100", qs[i].Get("MaxResults"), "page", i)
	}

	a, _ = server("t1", "")
	disks, err := a.DescribeDisks(context.Background(), ecs.DiskFilter{})
	noErr(t, err)
	equal(t, 2, len(disks))
	equal(t, "d-2", disks[1].ID)
}
