package instance

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"testing"

	log "github.com/Sirupsen/logrus"
	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

// churnWorld is an emulator behind a proxy that, before every
// DescribeInstances page, creates and releases instances of the namespace:
// every page of every scan sees a different world.
type churnWorld struct {
	srv    *emulator.Server
	direct *aliyun.Client // to the emulator, for the churn itself
	client *aliyun.Client // through the churning proxy, for the scans
	scope  map[string]string

	mu      sync.Mutex
	rng     *rand.Rand
	live    []string // instances the churn may release
	churned int
}

func newChurnWorld(t *testing.T, n int) *churnWorld {
	t.Helper()
	cat := emulator.DefaultCatalog()
	for i := range cat.VSwitches {
		if cat.VSwitches[i].VSwitchId == emulator.DefaultVSwitchH {
			cat.VSwitches[i].CidrBlock = "172.20.0.0/16"
		}
	}
	srv, err := emulator.New(emulator.Options{BootTime: -1, Catalog: cat})
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	w := &churnWorld{srv: srv, scope: map[string]string{"infrakit.scope": "churn"}, rng: rand.New(rand.NewSource(14))}
	w.direct = aliyun.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("Action") == "DescribeInstances" {
			w.churn(t)
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	w.client = aliyun.NewECSClientWithEndpointAndSecurityToken(front.URL, emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	// Interleaved shards, 20 at a time, so every partition's chain runs
	// through instances created before and after the churn's.
	for made := 0; made < n; made += 20 {
		w.create(t, min(20, n-made))
	}
	return w
}

// create makes k instances of the namespace with one shard tag.
func (w *churnWorld) create(t *testing.T, k int) {
	v := url.Values{}
	v.Set("RegionId", emulator.DefaultRegion)
	v.Set("ImageId", emulator.DefaultImageID)
	v.Set("InstanceType", emulator.DefaultInstanceType)
	v.Set("VSwitchId", emulator.DefaultVSwitchH)
	v.Set("SecurityGroupId", emulator.DefaultSecurityGroupID)
	v.Set("Amount", strconv.Itoa(k))
	tags := mergeTags(w.scope, map[string]string{"infrakit.group": "g", TagShard: strconv.Itoa(w.rng.Intn(maxShards))})
	ecs.EncodeTags(v, "Tag", tags)
	var resp struct {
		InstanceIdSets struct{ InstanceIdSet []string }
	}
	if err := w.direct.Invoke("RunInstances", v, &resp); err != nil {
		t.Errorf("churn: create: %v", err)
		return
	}
	w.live = append(w.live, resp.InstanceIdSets.InstanceIdSet...)
}

// churn creates a few instances and releases as many random ones.
func (w *churnWorld) churn(t *testing.T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.create(t, 3)
	for i := 0; i < 3 && len(w.live) > 0; i++ {
		j := w.rng.Intn(len(w.live))
		id := w.live[j]
		w.live[j] = w.live[len(w.live)-1]
		w.live = w.live[:len(w.live)-1]
		v := url.Values{}
		v.Set("RegionId", emulator.DefaultRegion)
		v.Set("InstanceId", id)
		v.Set("Force", "true")
		if err := w.direct.Invoke("DeleteInstance", v, &struct{ RequestId string }{}); err != nil {
			t.Errorf("churn: delete %s: %v", id, err)
		}
	}
	w.churned++
}

// liveIDs is the set of the namespace's instances that exist now.
func (w *churnWorld) liveIDs() map[string]bool {
	out := map[string]bool{}
	for _, in := range w.srv.Instances() {
		if in.Status != "Released" && in.Tags["infrakit.scope"] == "churn" {
			out[in.InstanceId] = true
		}
	}
	return out
}

// violations runs scans with the strategy while the world churns and
// returns what went wrong: an instance that existed for a whole scan and
// was not listed, or one listed twice.
func (w *churnWorld) violations(t *testing.T, strategy ScanStrategy, scans int) []string {
	t.Helper()
	logger := log.New()
	logger.Out = ioDiscard{}
	api := ecs.NewAdapter(ecs.AdapterConfig{Clients: StaticClient(w.client), Region: emulator.DefaultRegion, Logger: logger})
	var out []string
	for i := 0; i < scans && len(out) == 0; i++ {
		before := w.liveIDs()
		list, err := strategy(context.Background(), api, w.scope, DefaultDescribeConcurrency, 0)
		noErr(t, err)
		after := w.liveIDs()
		count := map[string]int{}
		for _, in := range list {
			count[in.ID]++
		}
		for id, n := range count {
			if n > 1 {
				out = append(out, fmt.Sprintf("scan %d: %s listed %d times", i, id, n))
			}
		}
		for id := range before {
			if after[id] && count[id] == 0 {
				out = append(out, fmt.Sprintf("scan %d: %s existed for the whole scan and was missed", i, id))
			}
		}
	}
	sort.Strings(out)
	return out
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// Issue #14's invariant: a partitioned describe (8 NextToken chains at
// once, shards.go) lists every instance that exists for the whole scan
// exactly once, while instances are created and released before every
// page. The same check catches the unsafe strategies: a partitioned scan
// that skips a partition, and concurrent PageNumber paging.
func TestPartitionedScanUnderChurn(t *testing.T) {
	w := newChurnWorld(t, 1200)
	if v := w.violations(t, partitionedScan, 15); len(v) > 0 {
		t.Fatalf("partitioned scan under churn:\n%v", v)
	}
	if w.churned < 15*maxShards {
		t.Fatalf("only %d churn steps during the scans: the test did not churn", w.churned)
	}
	if v := w.violations(t, sequentialScan, 3); len(v) > 0 {
		t.Fatalf("one NextToken chain under churn (the emulator's paging):\n%v", v)
	}

	// The checker is not blind: unsafe strategies fail it.
	skipOne := func(ctx context.Context, api ecs.InstanceAPI, scope map[string]string, _, _ int) ([]ecs.Instance, error) {
		var out []ecs.Instance
		for s := 1; s < maxShards; s++ { // shard 0 "disabled"
			list, err := api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: mergeTags(scope, map[string]string{TagShard: strconv.Itoa(s)})})
			if err != nil {
				return nil, err
			}
			out = append(out, list...)
		}
		return out, nil
	}
	if v := w.violations(t, skipOne, 3); len(v) == 0 {
		t.Error("a scan without partition 0 passed the churn check")
	}
	if v := w.violations(t, pageNumberScan(w.client), 15); len(v) == 0 {
		t.Error("concurrent PageNumber paging passed the churn check")
	} else {
		t.Logf("PageNumber paging under churn, as expected: %s", v[0])
	}
}

// pageNumberScan is the unsound alternative: read page 1 for TotalCount,
// then every other page by PageNumber at once. A release before a page
// shifts every later instance one place back, so one falls between pages.
func pageNumberScan(client *aliyun.Client) ScanStrategy {
	return func(ctx context.Context, _ ecs.InstanceAPI, scope map[string]string, concurrency, _ int) ([]ecs.Instance, error) {
		type page struct {
			TotalCount int
			Instances  struct{ Instance []struct{ InstanceId string } }
		}
		get := func(n int) (page, error) {
			v := url.Values{}
			v.Set("RegionId", emulator.DefaultRegion)
			v.Set("PageNumber", strconv.Itoa(n))
			v.Set("PageSize", "100")
			ecs.EncodeTags(v, "Tag", scope)
			var p page
			err := client.Invoke("DescribeInstances", v, &p)
			return p, err
		}
		first, err := get(1)
		if err != nil {
			return nil, err
		}
		pagesN := (first.TotalCount + 99) / 100
		results := make([]page, pagesN+1)
		results[1] = first
		var wg sync.WaitGroup
		errs := make(chan error, pagesN)
		sem := make(chan struct{}, concurrency)
		for n := 2; n <= pagesN; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				p, err := get(n)
				if err != nil {
					errs <- err
				}
				results[n] = p
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return nil, err
		}
		var out []ecs.Instance
		for _, p := range results[1:] {
			for _, in := range p.Instances.Instance {
				out = append(out, ecs.Instance{ID: in.InstanceId})
			}
		}
		return out, nil
	}
}

// filterLog records the tag filters of the scans made through it.
type filterLog struct {
	*ecs.Adapter
	mu      sync.Mutex
	filters []map[string]string
}

func (f *filterLog) DescribeInstances(ctx context.Context, flt ecs.InstanceFilter) ([]ecs.Instance, error) {
	if len(flt.InstanceIDs) == 0 {
		f.mu.Lock()
		f.filters = append(f.filters, flt.Tags)
		f.mu.Unlock()
	}
	return f.Adapter.DescribeInstances(ctx, flt)
}

func (f *filterLog) DescribeInstancesPages(ctx context.Context, flt ecs.InstanceFilter, page func([]ecs.Instance)) error {
	f.mu.Lock()
	f.filters = append(f.filters, flt.Tags)
	f.mu.Unlock()
	return f.Adapter.DescribeInstancesPages(ctx, flt, page)
}

// take returns the filters since the last take: how many scans carried a
// shard tag, and how many did not.
func (f *filterLog) take() (partitions, whole int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.filters {
		if _, ok := t[TagShard]; ok {
			partitions++
		} else {
			whole++
		}
	}
	f.filters = nil
	return partitions, whole
}

// Instances of an older version carry no shard tag: describes stay one
// NextToken chain (and complete) while the migration tags them, then run
// in partitions; a Provision that cannot carry the tag (20 tags already)
// puts describes back on one chain until it is tagged or gone.
func TestPartitionMigrationAndVerification(t *testing.T) {
	const n = 3300 // 33 pages: large enough to partition
	w := newChurnWorld(t, 0)
	tags := map[string]string{"infrakit.scope": "churn", "infrakit.group": "g", "infrakit.config.hash": "h1"}
	for made := 0; made < n; made += 100 {
		v := url.Values{}
		v.Set("RegionId", emulator.DefaultRegion)
		v.Set("ImageId", emulator.DefaultImageID)
		v.Set("InstanceType", emulator.DefaultInstanceType)
		v.Set("VSwitchId", emulator.DefaultVSwitchH)
		v.Set("SecurityGroupId", emulator.DefaultSecurityGroupID)
		v.Set("Amount", "100")
		ecs.EncodeTags(v, "Tag", tags)
		noErr(t, w.direct.Invoke("RunInstances", v, &struct{ RequestId string }{}))
	}
	logger, _ := quietLogger()
	fl := &filterLog{Adapter: ecs.NewAdapter(ecs.AdapterConfig{Clients: StaticClient(w.direct), Region: emulator.DefaultRegion, Logger: logger})}
	cache := newDescribeCache(fl, w.scope, 0, w.srv.Now)
	cache.migrateBudget = 1500
	p, err := newPlugin(cache, Config{Clients: StaticClient(w.direct), RegionID: emulator.DefaultRegion, NamespaceTags: w.scope, Logger: logger})
	noErr(t, err)
	group := map[string]string{"infrakit.group": "g"}
	describe := func(want int) {
		t.Helper()
		got, err := p.DescribeInstances(group, false)
		noErr(t, err)
		equal(t, want, len(got), "instances described")
		for _, d := range got {
			if _, ok := d.Tags[TagShard]; ok {
				t.Fatalf("%s: the shard tag is shown to InfraKit", d.ID)
			}
		}
	}
	tagged := func() int {
		k := 0
		for _, in := range w.srv.Instances() {
			if _, ok := in.Tags[TagShard]; ok {
				k++
			}
		}
		return k
	}

	describe(n) // learns the size, migrates 1500
	describe(n) // 3000
	equal(t, 3000, tagged())
	parts, whole := fl.take()
	equal(t, 0, parts, "partitioned scans before every instance is tagged")
	equal(t, 2, whole, "whole scans before every instance is tagged")
	describe(n) // migrates the last 300
	describe(n) // finds none missing: verified
	equal(t, n, tagged())
	fl.take()
	describe(n)
	parts, whole = fl.take()
	if parts != maxShards || whole != 0 {
		t.Fatalf("after the migration: %d partition scans, %d whole; want %d, 0", parts, whole, maxShards)
	}

	// A Provision with no room for the shard tag: 20 tags.
	many := map[string]string{}
	for i := 0; i < 16; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	spec := emuCapSpec("g", fmt.Sprintf(`,"InstanceType":%q,"VSwitchId":%q`, emulator.DefaultInstanceType, emulator.DefaultVSwitchH), "")
	spec.Tags = mergeTags(spec.Tags, many) // with the namespace, group, hash and logical ID: 20
	spec.LogicalID = instance.LogicalIDFromString("full")
	id, err := p.Provision(spec)
	noErr(t, err)
	if in, _ := w.srv.Instance(string(*id)); len(in.Tags) != 20 || in.Tags[TagShard] != "" {
		t.Fatalf("instance with %d tags, shard %q; want 20 without a shard", len(in.Tags), in.Tags[TagShard])
	}
	fl.take()
	describe(n + 1) // one chain, and it finds the new instance
	parts, whole = fl.take()
	if parts != 0 || whole != 1 {
		t.Fatalf("after an instance without shard: %d partition scans, %d whole; want 0, 1", parts, whole)
	}
}
