package instance

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// Partitioned describes.
//
// A DescribeInstances scan of N instances is ceil(N/100) pages, and a
// NextToken chain is sequential: 100 round trips at N = 10,000. To scan
// faster without ever missing or repeating an instance that exists for the
// whole scan, the scan is split into partitions by an attribute that never
// changes on an instance, and each partition is walked with its own
// NextToken chain, the chains running concurrently:
//
//   - the attribute is the TagShard tag, "0".."Shards-1", put on every
//     instance by the RunInstances that creates it (so it is there from
//     the instance's first moment) and never changed afterwards: Label
//     refuses the plugin's own tags (owned.go), and the migration below
//     only adds it where it is missing;
//   - a NextToken chain resumes after a stable sort key (ECS and the
//     emulator: creation order), so an instance present for a whole chain
//     is listed by it exactly once, however many are created or released
//     meanwhile; an instance is in exactly one partition, so the union of
//     the chains lists it exactly once too (IDs are also de-duplicated);
//   - instances without a valid shard tag (created by an older version, or
//     by a Provision whose tags had no room for it) are in no partition.
//     So a scope is scanned in partitions only after a sequential scan of
//     it (or of a wider scope) found no such instance among those a
//     describe would answer with; the sequential scan tags what it finds
//     (at most migrateBudget per scan, so the migration is spread over
//     a few describes; scopes too small to partition are left alone) and the scope stays sequential until one finds
//     none. A Provision that creates an instance without the tag clears
//     every verification, and verifications expire after reverifyEvery, a
//     tripwire for instances made by someone else under our namespace.
//
// PageNumber paging is not used: under churn the pages shift and an
// instance can fall between two pages (describe_partition_test.go shows
// it).

// TagShard is the plugin's partition tag (see above).
const TagShard = pluginPrefix + "shard"

const (
	// DefaultDescribeConcurrency is how many partitions (and so NextToken
	// chains in flight) a partitioned scan has.
	DefaultDescribeConcurrency = 8
	// maxShards bounds Config.DescribeConcurrency: shard values are fixed
	// when an instance is created, so a plugin with more partitions than
	// the values in use would scan empty ones; one with fewer would miss
	// some. The shard tag takes values 0..maxShards-1 always, and a scan
	// walks them all, at most DescribeConcurrency at a time.
	maxShards = 8
	// partitionMinPages: a scope is scanned in partitions only when its
	// last scan took at least this many pages, so the maxShards extra
	// first pages cost at most a quarter more calls.
	partitionMinPages = 4 * maxShards
	// migrateBudget bounds the TagResources calls of one sequential scan.
	migrateBudget = 100
	// reverifyEvery is how long a verification stands.
	reverifyEvery = 10 * time.Minute
)

// shardOf is the shard value of an instance's tags; ok is false without a
// valid one.
func shardOf(tags []ecs.Tag) (int, bool) {
	for _, t := range tags {
		if t.Key == TagShard {
			n, err := strconv.Atoi(t.Value)
			return n, err == nil && n >= 0 && n < maxShards && strconv.Itoa(n) == t.Value
		}
	}
	return 0, false
}

// shardFor is the shard value for a key that does not change between
// attempts (a RunInstances ClientToken, so a retry with the same token
// sends the same tags; an instance ID for the migration): a hash, so the
// partitions stay even.
func shardFor(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return strconv.Itoa(int(h.Sum32() % maxShards))
}

// ScanStrategy scans one tag scope through api; hint is the size last
// seen (0 if unknown). Tests inject unsafe ones to show the churn test
// catches them.
type ScanStrategy func(ctx context.Context, api ecs.InstanceAPI, scope map[string]string, concurrency, hint int) ([]ecs.Instance, error)

// pager is the ECS seam's page-at-a-time listing (ecs.Adapter).
type pager interface {
	DescribeInstancesPages(ctx context.Context, f ecs.InstanceFilter, page func([]ecs.Instance)) error
}

// partitionedScan walks the scope's maxShards partitions, each with its
// own NextToken chain, at most concurrency at a time, into one list (page
// by page when api can: no list per partition next to the merged one).
// An instance listed twice is kept once.
func partitionedScan(ctx context.Context, api ecs.InstanceAPI, scope map[string]string, concurrency, hint int) ([]ecs.Instance, error) {
	var (
		mu   sync.Mutex
		out  = make([]ecs.Instance, 0, hint+hint/8)
		seen = make(map[string]struct{}, hint+hint/8)
	)
	add := func(page []ecs.Instance) {
		mu.Lock()
		defer mu.Unlock()
		for i := range page {
			if _, dup := seen[page[i].ID]; dup {
				continue
			}
			seen[page[i].ID] = struct{}{}
			out = append(out, page[i])
		}
	}
	errs := make([]error, maxShards)
	sem := make(chan struct{}, max(1, concurrency))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for s := 0; s < maxShards; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[s] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			tags := make(map[string]string, len(scope)+1)
			for k, v := range scope {
				tags[k] = v
			}
			tags[TagShard] = strconv.Itoa(s)
			f := ecs.InstanceFilter{Tags: tags}
			if pg, ok := api.(pager); ok {
				errs[s] = pg.DescribeInstancesPages(ctx, f, add)
			} else {
				var list []ecs.Instance
				if list, errs[s] = api.DescribeInstances(ctx, f); errs[s] == nil {
					add(list)
				}
			}
			if errs[s] != nil {
				cancel() // one failed partition fails the scan: stop the others
			}
		}()
	}
	wg.Wait()
	for s := range errs {
		if errs[s] != nil {
			return nil, fmt.Errorf("partition %s=%d: %w", TagShard, s, errs[s])
		}
	}
	return out, nil
}

// sequentialScan is one NextToken chain over the scope.
func sequentialScan(ctx context.Context, api ecs.InstanceAPI, scope map[string]string, _, _ int) ([]ecs.Instance, error) {
	return api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: scope})
}

// scan runs the scan of scope: in partitions when the scope is verified
// and large, else sequentially, then verifies (and migrates) from the
// sequential result.
func (c *describeCache) scan(ctx context.Context, scope map[string]string, scopeKey string) ([]ecs.Instance, error) {
	if c.partitioned(scope, scopeKey) {
		c.mu.Lock()
		hint := c.sizes[scopeKey]
		c.mu.Unlock()
		return c.partitionScan(ctx, c.InstanceAPI, scope, c.concurrency, hint)
	}
	c.mu.Lock()
	epoch := c.unshardedEpoch
	c.mu.Unlock()
	list, err := sequentialScan(ctx, c.InstanceAPI, scope, 1, 0)
	if err != nil || c.relevant == nil || c.concurrency <= 1 || pages(len(list)) < partitionMinPages {
		// A scope too small to be partitioned needs no verification, and
		// its instances no migration.
		return list, err
	}
	missing := 0
	for i := range list {
		inst := &list[i]
		if _, ok := shardOf(inst.Tags); ok || !c.relevant(inst) {
			continue
		}
		missing++
		if missing > c.migrateBudget || len(inst.Tags) >= ecsMaxTags {
			continue
		}
		// The one write the migration makes: a tag only this plugin sets,
		// on an instance of ours that has none. It does not start a new
		// generation: no describe answer changes but for that tag.
		shard := shardFor(inst.ID)
		if err := c.InstanceAPI.TagResources(ctx, inst.ID, map[string]string{TagShard: shard}); err != nil {
			c.log.WithFields(log.Fields{"instance": inst.ID, "code": ecs.ErrorCode(err)}).WithError(err).Warn("could not tag instance with its describe partition")
		}
	}
	if missing == 0 {
		c.mu.Lock()
		if c.unshardedEpoch == epoch { // no unsharded instance made meanwhile
			c.verified[scopeKey] = verification{tags: scope, at: c.now()}
		}
		c.mu.Unlock()
	} else {
		c.log.WithFields(log.Fields{"instances": missing}).Info("instances without a describe partition tag: describes stay sequential until they are tagged")
	}
	return list, nil
}

// ecsMaxTags is ECS's limit of tags per instance.
const ecsMaxTags = 20

type verification struct {
	tags map[string]string
	at   time.Time
}

// partitioned tells whether scope may be scanned in partitions: verified
// (itself or a wider scope), recently, and big enough to be worth it.
func (c *describeCache) partitioned(scope map[string]string, key string) bool {
	if c.concurrency <= 1 || c.relevant == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pages(c.sizes[key]) < partitionMinPages {
		return false
	}
	now := c.now()
	for k, v := range c.verified {
		if now.Sub(v.at) >= reverifyEvery {
			delete(c.verified, k)
			continue
		}
		if hasTags(scope, v.tags) {
			return true
		}
	}
	return false
}

// unsharded records that this plugin created an instance without a shard
// tag: every verification is void.
func (c *describeCache) unsharded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unshardedEpoch++
	clear(c.verified)
}
