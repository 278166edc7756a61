package instance

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"
	aliyun "github.com/denverdino/aliyungo/ecs"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
)

// BenchmarkDescribe10k is one uncached DescribeInstances with properties of
// a 10,000-instance group (100 ECS pages) against the in-process emulator:
//
//	go test -run '^$' -bench Describe10k -benchmem ./plugin/instance
//
// Besides B/op and allocs/op it reports peak-heap-MB, the most heap the
// process held during a describe (sampled; it is what drives the plugin's
// peak RSS), and live-MB, what the answer and the describe cache keep alive
// once it returned.
func BenchmarkDescribe10k(b *testing.B) {
	const n = 10000
	p, group := describeBenchPlugin(b, n)
	cache := p.api.(*describeCache)

	var peak, live uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cache.invalidate() // every op scans, as after a Label or Provision
		b.StopTimer()
		runtime.GC()
		base := testutil.HeapBytes()
		b.StartTimer()

		var descs interface{}
		hw := testutil.HeapPeak(func() {
			d, err := p.DescribeInstances(group, true)
			noErr(b, err)
			if len(d) != n {
				b.Fatalf("described %d of %d", len(d), n)
			}
			descs = d
		})

		b.StopTimer()
		runtime.GC()
		peak = max(peak, hw-min(hw, base))
		h := testutil.HeapBytes() // read once: two reads could differ and underflow
		live = max(live, h-min(h, base))
		runtime.KeepAlive(descs)
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(live)/(1<<20), "live-MB")
}

// describeBenchPlugin starts an emulator holding n running instances of one
// group (created 100 at a time, straight through the ECS API) and a plugin
// over it whose logger discards.
//
// BENCH_CHAINS=1 runs it with one NextToken chain per scan (compare the
// partitioned default).
func describeBenchPlugin(b *testing.B, n int) (*Plugin, map[string]string) {
	conc := DefaultDescribeConcurrency
	if v, err := strconv.Atoi(os.Getenv("BENCH_CHAINS")); err == nil {
		conc = v
	}
	p, group, _ := describeBenchWorld(b, n, 0, conc)
	return p, group
}

// describeBenchWorld is describeBenchPlugin with the emulator's latency per
// call and the plugin's DescribeConcurrency.
func describeBenchWorld(b *testing.B, n int, latency time.Duration, concurrency int) (*Plugin, map[string]string, *emulator.Server) {
	b.Helper()
	cat := emulator.DefaultCatalog()
	for i := range cat.VSwitches {
		if cat.VSwitches[i].VSwitchId == emulator.DefaultVSwitchH {
			cat.VSwitches[i].CidrBlock = "172.20.0.0/16"
		}
	}
	srv, err := emulator.New(emulator.Options{BootTime: -1, Catalog: cat, Latency: latency})
	noErr(b, err)
	b.Cleanup(func() { srv.Close() })
	client := aliyun.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)

	namespace := map[string]string{"infrakit.scope": "bench"}
	group := map[string]string{"infrakit.group": "bench"}
	tags := mergeTags(namespace, group, map[string]string{"infrakit.config.hash": "h1"})
	for made := 0; made < n; made += 100 {
		v := url.Values{}
		v.Set("RegionId", emulator.DefaultRegion)
		v.Set("ImageId", emulator.DefaultImageID)
		v.Set("InstanceType", emulator.DefaultInstanceType)
		v.Set("VSwitchId", emulator.DefaultVSwitchH)
		v.Set("SecurityGroupId", emulator.DefaultSecurityGroupID)
		v.Set("Amount", strconv.Itoa(min(100, n-made)))
		// Tagged with a describe partition as this version's Provisions
		// tag them (shards.go), a batch at a time.
		ecs.EncodeTags(v, "Tag", mergeTags(tags, map[string]string{TagShard: strconv.Itoa(made / 100 % maxShards)}))
		noErr(b, client.Invoke("RunInstances", v, &struct{ RequestId string }{}))
	}

	logger := log.New()
	logger.Out = io.Discard
	p, err := New(Config{DescribeConcurrency: concurrency, Clients: StaticClient(client), DescribeCacheTTL: DefaultDescribeCacheTTL, RegionID: emulator.DefaultRegion, NamespaceTags: namespace, Logger: logger})
	noErr(b, err)
	return p, group, srv
}

// BenchmarkDescribeCached10k is a DescribeInstances with properties of a
// 10,000-instance group answered from the describe cache (a second group
// poll within the TTL), the answer made as for the RPC server:
//
//	go test -run '^$' -bench DescribeCached10k -benchmem ./plugin/instance
func BenchmarkDescribeCached10k(b *testing.B) {
	const n = 10000
	p, group := describeBenchPlugin(b, n)
	p.api.(*describeCache).ttl = time.Hour // every op after the first is cached
	_, err := p.DescribeInstances(group, true)
	noErr(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := p.DescribeInstances(group, true)
		noErr(b, err)
		if len(d) != n {
			b.Fatalf("described %d of %d", len(d), n)
		}
	}
}

// BenchmarkDescribe10kLatency is an uncached describe of 10,000 instances
// with every ECS call answered after 5 ms or 50 ms, sequential (one
// NextToken chain) and partitioned (shards.go). floor-ms is the round
// trips no scan of that shape can avoid: 100 pages one after another, or
// the longest partition's pages.
//
//	go test -run '^$' -bench Describe10kLatency ./plugin/instance
func BenchmarkDescribe10kLatency(b *testing.B) {
	const n = 10000
	for _, latency := range []time.Duration{5 * time.Millisecond, 50 * time.Millisecond} {
		for _, concurrency := range []int{1, DefaultDescribeConcurrency} {
			b.Run(fmt.Sprintf("%v/chains=%d", latency, concurrency), func(b *testing.B) {
				p, group, _ := describeBenchWorld(b, n, latency, concurrency)
				cache := p.api.(*describeCache)
				for i := 0; i < 2; i++ { // learn the size, verify the partitions
					cache.invalidate()
					_, err := p.DescribeInstances(group, true)
					noErr(b, err)
				}
				floor := pages(n)
				if concurrency > 1 {
					floor = pages((n + maxShards - 1) / maxShards) // batches of 100 spread evenly
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					cache.invalidate()
					d, err := p.DescribeInstances(group, true)
					noErr(b, err)
					if len(d) != n {
						b.Fatalf("described %d of %d", len(d), n)
					}
				}
				b.ReportMetric(float64(floor)*float64(latency)/float64(time.Millisecond), "floor-ms")
			})
		}
	}
}
