package instance

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"
	"golang.org/x/sync/singleflight"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// DefaultDescribeCacheTTL is how long one DescribeInstances scan answers
// later describes. InfraKit's group plugin polls each group twice per poll
// interval (scaler and metadata), and several groups poll at once; a short
// TTL turns those into one ECS scan without making anyone wait on stale data
// for long.
const DefaultDescribeCacheTTL = time.Second

// maxKnownFilters bounds the per-filter size memory (filters come from RPC
// callers, so there is no natural bound).
const maxKnownFilters = 1024

// describeCache is an ecsAPI decorator that makes concurrent and repeated
// tag-filtered DescribeInstances cheap:
//
//   - identical scans in flight at the same time are made once
//     (singleflight), and a finished scan answers for TTL;
//   - a scan by the plugin's namespace tags answers every narrower filter
//     (a group's) by filtering client-side, so K groups polling at once
//     share one scan. The namespace scan is chosen only when it costs no
//     more ECS calls than the narrower one would (by the sizes last seen),
//     or when one is already running or fresh, so a small group next to a
//     big one is not made to page through the big one;
//   - RunInstances, DeleteInstance and TagResources made through it start a
//     new generation: no scan that began before the mutation returned is
//     used by a describe that begins after it, so a caller always sees its
//     own changes.
//
// Describes by instance ID (Label's lookup) and every other call pass
// through unchanged.
type describeCache struct {
	ecs.InstanceAPI
	namespace    map[string]string
	namespaceKey string
	ttl          time.Duration
	now          func() time.Time
	flight       singleflight.Group
	metrics      *metrics.Metrics // nil records nothing
	log          *log.Logger
	// concurrency is how many partition chains run at once (shards.go);
	// 1 or less: every scan is one NextToken chain.
	concurrency int
	// relevant tells whether a describe would answer with an instance
	// (shards.go: only those must carry a shard tag); nil: never partition.
	relevant      func(*ecs.Instance) bool
	partitionScan ScanStrategy // partitionedScan; tests inject others
	migrateBudget int          // migrateBudget; tests raise it
	// after runs f once d has passed (time.AfterFunc; tests run it).
	after func(d time.Duration, f func())
	// onScan, when set, is handed every finished scan (its filter and
	// list, which it must not write): the spread's tallies (capacity.go).
	onScan func(scope map[string]string, list []ecs.Instance)

	mu       sync.Mutex
	gen      uint64
	scans    map[string]*cachedScan // by filter key; only the current generation's
	inflight map[string]int         // flight key -> callers waiting on it
	sizes    map[string]int         // filter key -> matches at its last scan
	// verified: scopes a sequential scan found free of relevant instances
	// without a shard tag (shards.go), by filter key.
	verified       map[string]verification
	unshardedEpoch uint64 // counts instances this plugin made without one
	seq            uint64 // numbers stored scans (their release timers)
}

type cachedScan struct {
	tags map[string]string
	gen  uint64
	at   time.Time // when the scan finished
	list []ecs.Instance
	seq  uint64 // set when stored

	// answers are the plugin's describe answers built from this scan, by
	// describeKey: the one sharing layer above the scans (plugin.go). A
	// describe answered from a cached scan reuses the answer built for it
	// instead of building 10,000 descriptions (and their properties JSON)
	// again; it lives and dies with the scan, so it is never older than
	// the scan's generation allows.
	answersMu sync.Mutex
	answers   map[string][]instance.Description
}

// answer returns the answer built for key from this scan, if any.
func (s *cachedScan) answer(key string) ([]instance.Description, bool) {
	if s == nil {
		return nil, false
	}
	s.answersMu.Lock()
	defer s.answersMu.Unlock()
	a, ok := s.answers[key]
	return a, ok
}

// keep stores the answer built for key from this scan.
func (s *cachedScan) keep(key string, a []instance.Description) {
	if s == nil {
		return
	}
	s.answersMu.Lock()
	defer s.answersMu.Unlock()
	if s.answers == nil {
		s.answers = map[string][]instance.Description{}
	}
	s.answers[key] = a
}

func newDescribeCache(api ecs.InstanceAPI, namespace map[string]string, ttl time.Duration, now func() time.Time) *describeCache {
	return &describeCache{
		InstanceAPI:   api,
		namespace:     namespace,
		namespaceKey:  filterKey(namespace),
		ttl:           ttl,
		now:           now,
		scans:         map[string]*cachedScan{},
		inflight:      map[string]int{},
		sizes:         map[string]int{},
		log:           log.New(),
		verified:      map[string]verification{},
		partitionScan: partitionedScan,
		migrateBudget: migrateBudget,
		after:         func(d time.Duration, f func()) { time.AfterFunc(d, f) },
	}
}

// filterKey is a canonical, unambiguous form of a tag filter.
func filterKey(tags map[string]string) string {
	keys := sortedKeys(tags)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(tags[k]))
		b.WriteByte(',')
	}
	return b.String()
}

// pages is how many ECS calls a scan of n instances costs (at least one).
func pages(n int) int {
	return max(1, (n+ecs.PageSize-1)/ecs.PageSize)
}

// generation identifies the current state of this process's mutations.
func (c *describeCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *describeCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.scans)
	c.mu.Unlock()
}

// DescribeInstances answers a tag filter from a fresh scan of this
// generation that covers it, else joins or starts one.
func (c *describeCache) DescribeInstances(ctx context.Context, f ecs.InstanceFilter) ([]ecs.Instance, error) {
	if len(f.InstanceIDs) > 0 || f.LockReason != "" {
		return c.InstanceAPI.DescribeInstances(ctx, f) // narrow lookups: not shared
	}
	list, _, err := c.describeScan(ctx, f)
	return list, err
}

// describeScan is DescribeInstances for a tag filter, also returning the
// scan that answered it (for the answers built from it).
func (c *describeCache) describeScan(ctx context.Context, f ecs.InstanceFilter) ([]ecs.Instance, *cachedScan, error) {
	key := filterKey(f.Tags)
	now := c.now()

	c.mu.Lock()
	gen := c.gen
	if s := c.freshCover(f.Tags, key, now); s != nil {
		c.mu.Unlock()
		c.metrics.DescribeScan(metrics.ScanCached)
		return c.filter(s, f.Tags, key), s, nil
	}
	scope, scopeKey := c.scope(f.Tags, key, gen)
	flightKey := strconv.FormatUint(gen, 10) + "|" + scopeKey
	c.inflight[flightKey]++
	c.mu.Unlock()

	kind := metrics.ScanShared // unless this caller's function runs
	ch := c.flight.DoChan(flightKey, func() (interface{}, error) {
		// A flight that finished between our look at the cache and this
		// call has left its scan behind: answer from it, do not scan again.
		c.mu.Lock()
		if s := c.scans[scopeKey]; s != nil && s.gen == gen && c.now().Sub(s.at) < c.ttl {
			c.mu.Unlock()
			kind = metrics.ScanCached
			return s, nil
		}
		c.mu.Unlock()
		kind = metrics.ScanRun
		// The scan is shared: one caller going away must not fail the others.
		list, err := c.scan(context.WithoutCancel(ctx), scope, scopeKey)
		if err != nil {
			return nil, err
		}
		// The TTL runs from the end of the scan: a scan of thousands of
		// instances can take longer than the TTL itself. (Changes made
		// through this process are never missed: see the generation.)
		// Clipped: an append by a caller never writes into the shared scan.
		s := &cachedScan{tags: scope, gen: gen, at: c.now(), list: slices.Clip(list)}
		c.mu.Lock()
		if c.gen == gen && c.ttl > 0 {
			c.scans[scopeKey] = s
			// Let go of the scan and the answers built from it once it is
			// stale, rather than at the next describe: between two polls
			// they are megabytes at N=10,000 that no one can use.
			// The timer holds the scan's number, not the scan: one that an
			// invalidation dropped is freed at once.
			c.seq++
			s.seq = c.seq
			seq := s.seq
			c.after(c.ttl, func() {
				c.mu.Lock()
				if cur := c.scans[scopeKey]; cur != nil && cur.seq == seq {
					delete(c.scans, scopeKey)
				}
				c.mu.Unlock()
			})
		}
		c.remember(scopeKey, len(list))
		c.mu.Unlock()
		c.seen(s.list)
		if c.onScan != nil {
			c.onScan(scope, s.list)
		}
		return s, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		res.Err = ctx.Err()
	}
	c.mu.Lock()
	c.done(flightKey)
	c.mu.Unlock()
	if res.Err != nil {
		return nil, nil, res.Err
	}
	c.metrics.DescribeScan(kind) // written before the result was sent
	s := res.Val.(*cachedScan)
	return c.filter(s, f.Tags, key), s, nil
}

// seen records a scan's instances by ECS status.
func (c *describeCache) seen(list []ecs.Instance) {
	if c.metrics == nil {
		return
	}
	by := map[string]int{}
	for i := range list {
		by[list[i].Status]++
	}
	c.metrics.InstancesSeen(by)
}

func (c *describeCache) done(flightKey string) {
	if c.inflight[flightKey]--; c.inflight[flightKey] <= 0 {
		delete(c.inflight, flightKey)
	}
}

// freshCover returns a scan of the current generation, younger than the
// TTL, whose filter is implied by tags. Caller holds mu.
func (c *describeCache) freshCover(tags map[string]string, key string, now time.Time) *cachedScan {
	if c.ttl <= 0 {
		return nil
	}
	if s := c.scans[key]; s != nil && now.Sub(s.at) < c.ttl {
		return s
	}
	var best *cachedScan
	for k, s := range c.scans {
		if now.Sub(s.at) >= c.ttl {
			delete(c.scans, k)
			continue
		}
		if hasTags(tags, s.tags) && (best == nil || len(s.list) < len(best.list)) {
			best = s
		}
	}
	return best
}

// scope picks what to scan for a filter: the filter itself, or the
// namespace when that serves other callers too and costs no more calls.
// Caller holds mu.
func (c *describeCache) scope(tags map[string]string, key string, gen uint64) (map[string]string, string) {
	if len(c.namespace) == 0 || key == c.namespaceKey || !hasTags(tags, c.namespace) || len(tags) > groupspec.MaxTags {
		return tags, key
	}
	if c.inflight[strconv.FormatUint(gen, 10)+"|"+c.namespaceKey] > 0 {
		return c.namespace, c.namespaceKey // already paid for
	}
	nsSize, nsKnown := c.sizes[c.namespaceKey]
	size, known := c.sizes[key]
	switch {
	case !nsKnown:
		// First describe: learn the namespace's size (its instances are the
		// plugin's own, so this is at most one over-fetch).
		return c.namespace, c.namespaceKey
	case !known && pages(nsSize) == 1, known && pages(nsSize) <= pages(size):
		return c.namespace, c.namespaceKey
	}
	return tags, key
}

func (c *describeCache) remember(key string, n int) {
	if _, ok := c.sizes[key]; !ok && len(c.sizes) >= maxKnownFilters {
		clear(c.sizes)
	}
	c.sizes[key] = n
}

// filter returns the scan's instances carrying every tag and remembers how
// many there were. When every instance of the scan matches (the same
// filter, or a group filling the namespace) the answer is the scan's own
// slice, shared with every other caller: callers of DescribeInstances only
// read what it returns (see ecsAPI), and a copy of a 10,000-instance scan
// is megabytes held next to it for as long as the caller works on it.
// Otherwise the matches are copied into a new slice.
func (c *describeCache) filter(s *cachedScan, tags map[string]string, key string) []ecs.Instance {
	out := s.list
	if len(tags) != len(s.tags) { // else the same filter (s.tags ⊆ tags)
		want := make([]ecs.Tag, 0, len(tags))
		for _, k := range sortedKeys(tags) {
			want = append(want, ecs.Tag{Key: k, Value: tags[k]})
		}
		n := 0 // sized first: a scan of 10,000 is megabytes, growing it twice that
		for i := range s.list {
			if carries(s.list[i].Tags, want) {
				n++
			}
		}
		if n < len(s.list) {
			out = make([]ecs.Instance, 0, n)
			for i := range s.list {
				if carries(s.list[i].Tags, want) {
					out = append(out, s.list[i])
				}
			}
		}
	}
	c.mu.Lock()
	c.remember(key, len(out))
	c.mu.Unlock()
	return out
}

// carries reports whether the instance's tag list holds every wanted tag,
// without building a map per instance.
func carries(have []ecs.Tag, want []ecs.Tag) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h.Key == w.Key {
				found = h.Value == w.Value
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// RunInstances creates, then starts a new generation (also on error: a
// failed call may still have created the instance).
//
// It also puts the instance in its describe partition (shards.go): the
// TagShard tag, from the ClientToken so every attempt sends the same tags,
// when the tags have room; without room it voids every partition
// verification first, so no partitioned scan that begins after this call
// can miss the instance.
func (c *describeCache) RunInstances(ctx context.Context, req *ecs.RunRequest) (string, error) {
	defer c.invalidate()
	if _, has := req.Tags[TagShard]; !has {
		if len(req.Tags) < ecsMaxTags {
			r := *req
			r.Tags = make(map[string]string, len(req.Tags)+1)
			for k, v := range req.Tags {
				r.Tags[k] = v
			}
			r.Tags[TagShard] = shardFor(req.ClientToken)
			req = &r
		} else {
			c.unsharded()
		}
	} else if _, ok := shardOf([]ecs.Tag{{Key: TagShard, Value: req.Tags[TagShard]}}); !ok {
		c.unsharded()
	}
	return c.InstanceAPI.RunInstances(ctx, req)
}

// DeleteInstance deletes, then starts a new generation.
func (c *describeCache) DeleteInstance(ctx context.Context, id string, force bool) error {
	defer c.invalidate()
	return c.InstanceAPI.DeleteInstance(ctx, id, force)
}

// TagResources tags, then starts a new generation.
func (c *describeCache) TagResources(ctx context.Context, id string, tags map[string]string) error {
	defer c.invalidate()
	return c.InstanceAPI.TagResources(ctx, id, tags)
}

// describeGeneration is part of the plugin-level singleflight key, so a
// describe that starts after a mutation returned never joins one that
// started before it.
func (p *Plugin) describeGeneration() string {
	if g, ok := p.api.(interface{ generation() uint64 }); ok {
		return strconv.FormatUint(g.generation(), 10)
	}
	return ""
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
