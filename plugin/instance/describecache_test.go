package instance

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
)

// scanCounter wraps the fake, counting tag-filtered scans and the ECS pages
// (100 instances each) they would cost, and can hold scans until released.
type scanCounter struct {
	*fakeECS
	scans   atomic.Int64
	pages   atomic.Int64
	mu      sync.Mutex
	gate    chan struct{} // when set, scans wait for it to close
	started chan ecs.InstanceFilter
}

func (s *scanCounter) DescribeInstances(ctx context.Context, f ecs.InstanceFilter) ([]ecs.Instance, error) {
	// Read first, then wait: a held scan returns what ECS held when it ran.
	list, err := s.fakeECS.DescribeInstances(ctx, f)
	if len(f.InstanceIDs) == 0 {
		s.scans.Add(1)
		s.pages.Add(int64(pages(len(list))))
		s.mu.Lock()
		gate, started := s.gate, s.started
		s.mu.Unlock()
		if started != nil {
			started <- f
		}
		if gate != nil {
			<-gate
		}
	}
	return list, err
}

func (s *scanCounter) hold() (started chan ecs.InstanceFilter, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
	s.started = make(chan ecs.InstanceFilter, 100)
	gate := s.gate
	return s.started, func() {
		s.mu.Lock()
		s.gate, s.started = nil, nil
		s.mu.Unlock()
		close(gate)
	}
}

func newCachedPlugin(t *testing.T, ttl time.Duration) (*Plugin, *scanCounter, *fakeClock) {
	t.Helper()
	sc := &scanCounter{fakeECS: newFake()}
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	logger, _ := quietLogger()
	p, err := newPlugin(newDescribeCache(sc, testNamespace, ttl, clock.Now),
		Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now, Retry: ecs.RetryConfig{Sleep: clock.Sleep}})
	noErr(t, err)
	return p, sc, clock
}

func addGroup(f *fakeECS, group string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		f.addInstance(fmt.Sprintf("i-%s-%05d", group, i), map[string]string{"infrakit.scope": "test", "infrakit.group": group}, "")
	}
}

func describeN(t *testing.T, p *Plugin, group string, want int) {
	t.Helper()
	got, err := p.DescribeInstances(map[string]string{"infrakit.group": group}, true)
	noErr(t, err)
	equal(t, want, len(got), "instances of "+group)
	for _, d := range got {
		equal(t, group, d.Tags["infrakit.group"], d.ID)
	}
}

func TestDescribeCacheTTL(t *testing.T) {
	p, sc, clock := newCachedPlugin(t, 2*time.Second)
	addGroup(sc.fakeECS, "web", 3)
	describeN(t, p, "web", 3)
	describeN(t, p, "web", 3)
	equal(t, int64(1), sc.scans.Load(), "second describe within the TTL is served from the first scan")

	clock.Sleep(2 * time.Second)
	describeN(t, p, "web", 3)
	equal(t, int64(2), sc.scans.Load(), "scan is repeated once the TTL has passed")

	// Properties=false costs the same single scan and nothing else.
	clock.Sleep(2 * time.Second)
	_, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, false)
	noErr(t, err)
	equal(t, int64(3), sc.scans.Load())
	equal(t, 0, len(sc.runs)+len(sc.tagCalls)+len(sc.deletes)+len(sc.attaches)+len(sc.modifies))
}

func TestDescribeCacheDisabledStillCoalesces(t *testing.T) {
	p, sc, _ := newCachedPlugin(t, 0)
	addGroup(sc.fakeECS, "web", 2)
	describeN(t, p, "web", 2)
	describeN(t, p, "web", 2)
	equal(t, int64(2), sc.scans.Load(), "no TTL: every describe scans")

	// Straight at the cache layer (the plugin's own singleflight would
	// otherwise merge them before they get there).
	c := p.api.(*describeCache)
	started, release := sc.hold()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list, err := c.DescribeInstances(context.Background(), ecs.InstanceFilter{Tags: map[string]string{"infrakit.scope": "test", "infrakit.group": "web"}})
			if err != nil || len(list) != 2 {
				t.Errorf("describe: %d instances, %v", len(list), err)
			}
		}()
	}
	<-started
	waitJoined(t, p, 8)
	release()
	wg.Wait()
	equal(t, int64(3), sc.scans.Load(), "8 concurrent describes make one scan")
}

// waitJoined waits until n callers wait on in-flight scans (bounded poll of
// goroutines that are not sleeping on any clock).
func waitJoined(t *testing.T, p *Plugin, n int) {
	t.Helper()
	c := p.api.(*describeCache)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		total := 0
		for _, v := range c.inflight {
			total += v
		}
		c.mu.Unlock()
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d describes joined a scan", total, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDescribeCacheMutationsInvalidate(t *testing.T) {
	p, sc, _ := newCachedPlugin(t, time.Hour)
	describeN(t, p, "g", 0)

	id, err := p.Provision(groupSpecFor("g"))
	noErr(t, err)
	describeN(t, p, "g", 1)
	equal(t, int64(2), sc.scans.Load(), "Provision invalidates")

	noErr(t, p.Label(*id, map[string]string{"owner": "me"}))
	got, err := p.DescribeInstances(map[string]string{"infrakit.group": "g"}, false)
	noErr(t, err)
	equal(t, "me", got[0].Tags["owner"], "Label invalidates")

	noErr(t, p.Destroy(*id, instance.Termination))
	describeN(t, p, "g", 0)
	equal(t, int64(4), sc.scans.Load(), "Destroy invalidates")

	// A failed mutation may still have changed ECS: invalidate too.
	sc.failNext("RunInstances", &ecs.APIError{Code: "InternalError", StatusCode: 500})
	sc.failNext("RunInstances", &ecs.APIError{Code: "InvalidParameter", StatusCode: 400})
	_, err = p.Provision(groupSpecFor("g"))
	isErr(t, err)
	describeN(t, p, "g", 0)
	equal(t, int64(5), sc.scans.Load())
}

func groupSpecFor(group string) instance.Spec {
	s := groupSpec()
	s.Tags = map[string]string{"infrakit.group": group, "infrakit.config.hash": "h"}
	return s
}

// A describe that starts after a Provision returned never uses (or joins) a
// scan that started before it: the group plugin would count one short and
// provision a duplicate.
func TestDescribeCacheNeverServesAScanOlderThanAMutation(t *testing.T) {
	p, sc, _ := newCachedPlugin(t, time.Hour)
	started, release := sc.hold()
	first := make(chan int, 1)
	go func() {
		got, err := p.DescribeInstances(map[string]string{"infrakit.group": "g"}, false)
		if err != nil {
			t.Error(err)
		}
		first <- len(got)
	}()
	<-started // the first scan is running (and sees no instance)

	sc.mu.Lock()
	sc.gate, sc.started = nil, nil // let new scans through; the first stays held
	sc.mu.Unlock()
	_, err := p.Provision(groupSpecFor("g"))
	noErr(t, err)
	describeN(t, p, "g", 1)
	release()
	equal(t, 0, <-first)
	equal(t, int64(2), sc.scans.Load())
	describeN(t, p, "g", 1) // the newer scan is cached; the older one was not kept
	equal(t, int64(2), sc.scans.Load())
}

// K groups polling at once share one namespace scan when the namespace fits
// in a page, and each still gets exactly its own instances.
func TestDescribeCacheGroupsShareANamespaceScan(t *testing.T) {
	p, sc, clock := newCachedPlugin(t, time.Second)
	const k = 10
	for g := 0; g < k; g++ {
		addGroup(sc.fakeECS, fmt.Sprintf("g%d", g), 5)
	}
	round := func() {
		var wg sync.WaitGroup
		for g := 0; g < k; g++ {
			wg.Add(1)
			go func(g int) { defer wg.Done(); describeN(t, p, fmt.Sprintf("g%d", g), 5) }(g)
		}
		wg.Wait()
	}
	round()
	equal(t, int64(1), sc.scans.Load(), "first round: one namespace scan")
	for i := 0; i < 3; i++ {
		clock.Sleep(time.Second)
		round()
	}
	equal(t, int64(4), sc.scans.Load(), "one scan per round")
	for _, f := range sc.describes {
		equal(t, testNamespace, f.Tags, "scans are by namespace")
	}
}

// A small group next to a big one is not made to page through the big one:
// once sizes are known, the namespace is scanned only when that costs no
// more calls than the group's own filter.
func TestDescribeCacheDoesNotOverFetch(t *testing.T) {
	p, sc, clock := newCachedPlugin(t, time.Second)
	addGroup(sc.fakeECS, "big", 450)
	addGroup(sc.fakeECS, "small", 3)

	describeN(t, p, "small", 3) // learns the namespace: 5 pages, once
	equal(t, int64(5), sc.pages.Load())
	for i := 0; i < 5; i++ {
		clock.Sleep(time.Second)
		describeN(t, p, "small", 3)
	}
	equal(t, int64(10), sc.pages.Load(), "afterwards one page per describe of the small group")

	clock.Sleep(time.Second)
	describeN(t, p, "big", 450)
	equal(t, int64(15), sc.pages.Load(), "the big group costs ceil(450/100) pages")

	// While a namespace scan is running, other groups join it instead of
	// paying for their own.
	clock.Sleep(time.Second)
	started, release := sc.hold()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); describeAll(t, p) }()
	<-started
	for _, g := range []string{"small", "big"} {
		wg.Add(1)
		go func(g string) { defer wg.Done(); describeN(t, p, g, map[string]int{"small": 3, "big": 450}[g]) }(g)
	}
	waitJoined(t, p, 3)
	release()
	wg.Wait()
	equal(t, int64(20), sc.pages.Load(), "one namespace scan served all three")
}

func describeAll(t *testing.T, p *Plugin) {
	t.Helper()
	got, err := p.DescribeInstances(nil, false)
	noErr(t, err)
	equal(t, 453, len(got))
}

func TestDescribeCacheCallerCancelDoesNotFailOthers(t *testing.T) {
	sc := &scanCounter{fakeECS: newFake()}
	addGroup(sc.fakeECS, "g", 2)
	c := newDescribeCache(sc, testNamespace, time.Second, time.Now)
	started, release := sc.hold()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := c.DescribeInstances(ctx, ecs.InstanceFilter{Tags: map[string]string{"infrakit.scope": "test", "infrakit.group": "g"}})
		errs <- err
	}()
	<-started
	other := make(chan []ecs.Instance, 1)
	go func() {
		list, err := c.DescribeInstances(context.Background(), ecs.InstanceFilter{Tags: map[string]string{"infrakit.scope": "test", "infrakit.group": "g"}})
		if err != nil {
			t.Error(err)
		}
		other <- list
	}()
	for {
		c.mu.Lock()
		n := len(c.inflight)
		joined := 0
		for _, v := range c.inflight {
			joined += v
		}
		c.mu.Unlock()
		if n > 0 && joined == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errs; err != context.Canceled {
		t.Fatalf("cancelled caller: %v", err)
	}
	release()
	equal(t, 2, len(<-other))
	equal(t, int64(1), sc.scans.Load())
}

func TestFilterKeyIsUnambiguous(t *testing.T) {
	a := filterKey(map[string]string{"a": "b,c=d"})
	b := filterKey(map[string]string{"a": "b", "c": "d"})
	if a == b {
		t.Fatalf("filter keys collide: %q", a)
	}
	equal(t, filterKey(map[string]string{"x": "1", "y": "2"}), filterKey(map[string]string{"y": "2", "x": "1"}))
}

// Config.DescribeCacheTTL 0 means no cache, as --describe-cache-ttl 0 does
// on the command line; DefaultDescribeCacheTTL turns it on.
func TestDescribeCacheTTLZeroIsOff(t *testing.T) {
	for _, tc := range []struct {
		ttl   time.Duration
		scans int
	}{{0, 2}, {DefaultDescribeCacheTTL, 1}} {
		var mu sync.Mutex
		scans := 0
		w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
			if q.Get("Action") != "DescribeInstances" {
				return 400, ecsErr("InvalidParameter")
			}
			mu.Lock()
			scans++
			mu.Unlock()
			return 200, map[string]interface{}{"RequestId": "r", "Instances": map[string]interface{}{"Instance": []interface{}{}}}
		})
		p, _, _ := newWirePlugin(t, w, func(c *Config) { c.DescribeCacheTTL = tc.ttl })
		for i := 0; i < 2; i++ {
			_, err := p.DescribeInstances(map[string]string{"infrakit.group": "g"}, false)
			noErr(t, err)
		}
		mu.Lock()
		equal(t, tc.scans, scans, fmt.Sprintf("DescribeInstances calls with TTL %v", tc.ttl))
		mu.Unlock()
	}
}

// A describe answered from a cached scan reuses the descriptions built for
// that scan (no 10,000 properties encoded again); a Label starts a new
// generation, and the next describe is built afresh with the new tag.
func TestDescribeCacheReusesAnswers(t *testing.T) {
	p, sc, _ := newCachedPlugin(t, time.Minute)
	addGroup(sc.fakeECS, "web", 3)
	first, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, true)
	noErr(t, err)
	second, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, true)
	noErr(t, err)
	equal(t, int64(1), sc.scans.Load())
	if first[0].Properties == nil || first[0].Properties != second[0].Properties {
		t.Error("the cached describe built its answer again")
	}
	// Another key (no properties) from the same scan is its own answer.
	bare, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, false)
	noErr(t, err)
	if bare[0].Properties != nil {
		t.Error("properties in an answer without properties")
	}

	noErr(t, p.Label(first[0].ID, map[string]string{"infrakit.config.hash": "h2"}))
	after, err := p.DescribeInstances(map[string]string{"infrakit.group": "web"}, true)
	noErr(t, err)
	equal(t, int64(2), sc.scans.Load(), "a describe after a Label scans again")
	equal(t, "h2", after[0].Tags["infrakit.config.hash"], "the Label is seen")
	if after[0].Properties == first[0].Properties {
		t.Error("an answer of the old generation was reused")
	}
}

// A cached scan and the answers built from it are let go once the TTL has
// passed, not kept until the next describe.
func TestDescribeCacheReleasesStaleScans(t *testing.T) {
	p, sc, _ := newCachedPlugin(t, time.Minute)
	c := p.api.(*describeCache)
	var mu sync.Mutex
	var timers []func()
	c.after = func(d time.Duration, f func()) {
		equal(t, time.Minute, d, "released after the TTL")
		mu.Lock()
		timers = append(timers, f)
		mu.Unlock()
	}
	addGroup(sc.fakeECS, "web", 3)
	describeN(t, p, "web", 3)
	mu.Lock()
	fire := append([]func(){}, timers...)
	mu.Unlock()
	equal(t, 1, len(fire), "one release timer per stored scan")
	c.mu.Lock()
	equal(t, 1, len(c.scans))
	c.mu.Unlock()
	fire[0]()
	c.mu.Lock()
	equal(t, 0, len(c.scans), "scans kept after their release")
	c.mu.Unlock()
	describeN(t, p, "web", 3)
	equal(t, int64(2), sc.scans.Load(), "a describe after the release scans again")
}
