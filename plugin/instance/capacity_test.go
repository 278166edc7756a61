package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// stockFake is a fakeECS with stock: RunInstances fails with the code in
// out for "type@vswitch" (any spot strategy), "spot:type@vswitch" (spot
// only) or "*@vswitch" (every type), and otherwise creates the instance with
// the requested type, vswitch, zone and spot strategy. It also implements
// capacityAPI over a small catalogue.
type stockFake struct {
	*fakeECS
	out        map[string]string
	zones      map[string]string          // vswitch -> zone
	catalogue  []ecs.InstanceType         // DescribeInstanceTypes
	avail      map[string]map[string]bool // zone -> type -> stock (DescribeAvailableResource)
	onRun      func()                     // called on every RunInstances (e.g. to advance a clock)
	typeCalls  int
	availCalls []string // spot strategies asked for
}

func newStockFake() *stockFake {
	return &stockFake{fakeECS: newFake(), out: map[string]string{},
		zones: map[string]string{"vsw-h": "cn-hangzhou-h", "vsw-i": "cn-hangzhou-i", "vsw-j": "cn-hangzhou-j"}}
}

// scriptedStockFake is a stockFake answering the codes in out (added to
// its own), then changed by setup if it is not nil: a table row's fake.
func scriptedStockFake(out map[string]string, setup func(*stockFake)) *stockFake {
	f := newStockFake()
	for k, v := range out {
		f.out[k] = v
	}
	if setup != nil {
		setup(f)
	}
	return f
}

func (f *stockFake) RunInstances(ctx context.Context, req *ecs.RunRequest) (string, error) {
	if f.onRun != nil {
		f.onRun()
	}
	a := req.Args.(groupspec.RunInstancesArgs)
	spot := a.SpotStrategy != "" && a.SpotStrategy != "NoSpot"
	keys := []string{a.InstanceType + "@" + a.VSwitchId, "*@" + a.VSwitchId}
	if spot {
		keys = append(keys, "spot:"+a.InstanceType+"@"+a.VSwitchId)
	}
	for _, k := range keys {
		if code, ok := f.out[k]; ok {
			f.mu.Lock()
			f.runs = append(f.runs, typed(req))
			f.mu.Unlock()
			return "", &ecs.APIError{Action: "RunInstances", Code: code, Message: "scripted", StatusCode: 403}
		}
	}
	id, err := f.fakeECS.RunInstances(ctx, req)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	inst := f.instances[id]
	inst.Type, inst.VSwitch, inst.Zone, inst.SpotStrategy = a.InstanceType, a.VSwitchId, f.zones[a.VSwitchId], a.SpotStrategy
	return id, nil
}

func (f *stockFake) DescribeInstanceTypes(context.Context) ([]ecs.InstanceType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.typeCalls++
	return f.catalogue, nil
}

func (f *stockFake) DescribeAvailableInstanceTypes(_ context.Context, zone, spot string) (map[string]map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.availCalls = append(f.availCalls, spot)
	return f.avail, nil
}

func (f *stockFake) DescribeVSwitchZone(_ context.Context, id string) (string, error) {
	if z, ok := f.zones[id]; ok {
		return z, nil
	}
	return "", &ecs.APIError{Action: "DescribeVSwitches", Code: "InvalidVSwitchId.NotFound"}
}

// member adds an existing instance of group in vsw.
func (f *stockFake) member(id, group, vsw string, extra ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tags := mergeTags(testNamespace, map[string]string{tagGroup: group})
	f.addInstance(id, tags, "")
	inst := f.instances[id]
	inst.VSwitch = vsw
	inst.Locks = append(inst.Locks, extra...)
}

// tried lists the runs as "type@vswitch" with a "spot:" prefix for spot.
func (f *stockFake) tried() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.runs {
		s := r.Args.InstanceType + "@" + r.Args.VSwitchId
		if r.Args.SpotStrategy != "NoSpot" {
			s = "spot:" + s
		}
		out = append(out, s)
	}
	return out
}

var _ ecs.CapacityAPI = (*stockFake)(nil)

// capSpec: capacity holds more RunInstances fields, the closing brace of
// RunInstances, and any top-level keys.
func capSpec(capacity string) instance.Spec {
	s := groupSpec()
	s.Properties = props(`{"RunInstances":{"ImageId":"img-1","SecurityGroupId":"sg-1"` + capacity + `}`)
	return s
}

// recorded is what the plugin published of its capacity outcomes: the
// last stock-out and fallback (capacity/ metadata), as lists of 0 or 1 for
// a plugin that made one Provision.
type recorded struct {
	stockOuts []StockOut
	fallbacks []Fallback
}

func recordedBy(p *Plugin) *recorded {
	h := &recorded{}
	p.views.mu.Lock()
	defer p.views.mu.Unlock()
	if p.views.stockOut != nil {
		h.stockOuts = append(h.stockOuts, *p.views.stockOut)
	}
	if p.views.fallback != nil {
		h.fallbacks = append(h.fallbacks, *p.views.fallback)
	}
	return h
}

func TestCapacityFallbacks(t *testing.T) {
	sameMemCatalogue := []ecs.InstanceType{
		{InstanceTypeId: "ecs.g6.large", InstanceTypeFamily: "ecs.g6", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0},
		{InstanceTypeId: "ecs.g7.large", InstanceTypeFamily: "ecs.g7", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0},   // same size, no stock
		{InstanceTypeId: "ecs.c6.xlarge", InstanceTypeFamily: "ecs.c6", CpuCoreCount: 4, MemorySize: 8, GPUAmount: 0},  // the answer: fewest vCPUs >= 2 with stock
		{InstanceTypeId: "ecs.c6.2xlarge", InstanceTypeFamily: "ecs.c6", CpuCoreCount: 8, MemorySize: 8, GPUAmount: 0}, // more vCPUs
		{InstanceTypeId: "ecs.t5.small", InstanceTypeFamily: "ecs.t5", CpuCoreCount: 1, MemorySize: 8, GPUAmount: 0},   // fewer vCPUs than the original
		{InstanceTypeId: "ecs.r6.large", InstanceTypeFamily: "ecs.r6", CpuCoreCount: 2, MemorySize: 16, GPUAmount: 0},  // other memory
		{InstanceTypeId: "ecs.gn6.xlarge", InstanceTypeFamily: "ecs.gn6", CpuCoreCount: 4, MemorySize: 8, GPUAmount: 1},
	}
	sameMemAvail := map[string]map[string]bool{"cn-hangzhou-h": {"ecs.c6.xlarge": true, "ecs.c6.2xlarge": true, "ecs.t5.small": true, "ecs.r6.large": true, "ecs.gn6.xlarge": true}}

	tests := []struct {
		name     string
		capacity string
		out      map[string]string
		setup    func(f *stockFake)
		wantRuns []string
		wantType string
		wantVsw  string
		wantSpot string
		fallback string // TagFallback, "" = not set
	}{
		{
			name:     "first choice has stock",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g5.large"],"VSwitchIds":["vsw-i"]`,
			wantRuns: []string{"ecs.g6.large@vsw-h"},
			wantType: "ecs.g6.large", wantVsw: "vsw-h", wantSpot: "NoSpot",
		},
		{
			name:     "next type",
			capacity: `,"VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g6.large","ecs.g5.large"]`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeNoStock},
			wantRuns: []string{"ecs.g6.large@vsw-h", "ecs.g5.large@vsw-h"},
			wantType: "ecs.g5.large", wantVsw: "vsw-h", wantSpot: "NoSpot", fallback: "instance-type",
		},
		{
			name:     "InstanceType first, then the list; ZoneNotSupported falls through",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g5.large","ecs.g7.large"]`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeNoStock, "ecs.g5.large@vsw-h": CodeZoneNotSupported},
			wantRuns: []string{"ecs.g6.large@vsw-h", "ecs.g5.large@vsw-h", "ecs.g7.large@vsw-h"},
			wantType: "ecs.g7.large", wantVsw: "vsw-h", wantSpot: "NoSpot", fallback: "instance-type",
		},
		{
			name:     "next zone after every type of the first",
			capacity: `},"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":["vsw-h","vsw-i"]`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeNoStock, "ecs.g5.large@vsw-h": CodeNoStock},
			wantRuns: []string{"ecs.g6.large@vsw-h", "ecs.g5.large@vsw-h", "ecs.g6.large@vsw-i"},
			wantType: "ecs.g6.large", wantVsw: "vsw-i", wantSpot: "NoSpot", fallback: "zone",
		},
		{
			name:     "Zone.NotOnSale skips the rest of that zone",
			capacity: `},"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":["vsw-h","vsw-i"]`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeZoneNotOnSale, "ecs.g6.large@vsw-i": CodeNoStock},
			wantRuns: []string{"ecs.g6.large@vsw-h", "ecs.g6.large@vsw-i", "ecs.g5.large@vsw-i"},
			wantType: "ecs.g5.large", wantVsw: "vsw-i", wantSpot: "NoSpot", fallback: "instance-type+zone",
		},
		{
			name:     "same memory, fewest vCPUs at or above the original",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g7.large"],"SameMemoryFallback":true,"Tags":{"a":"b"}`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeNoStock, "ecs.g7.large@vsw-h": CodeNoStock},
			setup:    func(f *stockFake) { f.catalogue, f.avail = sameMemCatalogue, sameMemAvail },
			wantRuns: []string{"ecs.g6.large@vsw-h", "ecs.g7.large@vsw-h", "ecs.c6.xlarge@vsw-h"},
			wantType: "ecs.c6.xlarge", wantVsw: "vsw-h", wantSpot: "NoSpot", fallback: "same-memory",
		},
		{
			name:     "spot, then on-demand after every spot choice",
			capacity: `,"InstanceType":"ecs.g6.large","SpotStrategy":"SpotWithPriceLimit","SpotPriceLimit":0.5,"SpotInterruptionBehavior":"Terminate"},"VSwitchIds":["vsw-h","vsw-i"],"SpotFallbackOnDemand":true`,
			out:      map[string]string{"spot:ecs.g6.large@vsw-h": CodeNoStock, "spot:ecs.g6.large@vsw-i": CodeNoStock},
			wantRuns: []string{"spot:ecs.g6.large@vsw-h", "spot:ecs.g6.large@vsw-i", "ecs.g6.large@vsw-h"},
			wantType: "ecs.g6.large", wantVsw: "vsw-h", wantSpot: "NoSpot", fallback: "on-demand",
		},
		{
			name:     "spot with stock stays spot",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h","SpotStrategy":"SpotAsPriceGo"},"SpotFallbackOnDemand":true`,
			wantRuns: []string{"spot:ecs.g6.large@vsw-h"},
			wantType: "ecs.g6.large", wantVsw: "vsw-h", wantSpot: "SpotAsPriceGo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := scriptedStockFake(tt.out, tt.setup)
			p, _, _ := newTestPlugin(t, f)
			spec := capSpec(tt.capacity)
			noErr(t, p.Validate(spec.Properties))
			id, err := p.Provision(spec)
			noErr(t, err)
			equal(t, tt.wantRuns, f.tried(), "attempts")
			h := recordedBy(p)

			inst := f.instances[string(*id)]
			equal(t, tt.wantType, inst.Type, "type")
			equal(t, tt.wantVsw, inst.VSwitch, "vswitch")
			equal(t, tt.wantSpot, inst.SpotStrategy, "spot strategy")
			equal(t, tt.fallback, inst.TagMap()[TagFallback], "fallback tag")

			// Every attempt has its own 64-character token; the first is the Provision's.
			tokens := map[string]bool{}
			for _, r := range f.runs {
				equal(t, 64, len(r.ClientToken))
				if tokens[r.ClientToken] {
					t.Errorf("ClientToken %s reused by another attempt", r.ClientToken)
				}
				tokens[r.ClientToken] = true
			}
			base := clientToken(spec, "nonce-1")
			equal(t, base, f.runs[0].ClientToken, "first attempt uses the Provision's token")
			if last := f.runs[len(f.runs)-1]; last.Args.SpotStrategy == "NoSpot" {
				if last.Args.SpotPriceLimit != nil || last.Args.SpotInterruptionBehavior != "" {
					t.Errorf("on-demand attempt carries spot parameters: %+v", last.Args)
				}
			}

			// The choice shows in the described properties and in the hooks.
			descs, err := p.DescribeInstances(map[string]string{tagGroup: "workers"}, true)
			noErr(t, err)
			var ip InstanceProperties
			noErr(t, json.Unmarshal(descs[0].Properties.Bytes(), &ip))
			equal(t, tt.fallback, ip.Fallback, "properties Fallback")
			equal(t, tt.wantType, ip.InstanceType)
			if len(tt.wantRuns) > 1 {
				equal(t, 1, len(h.stockOuts), "stock-out hook calls")
				equal(t, len(tt.wantRuns)-1, len(h.stockOuts[0].StockOuts))
				equal(t, false, h.stockOuts[0].Exhausted)
				equal(t, "workers", h.stockOuts[0].Group)
			} else {
				equal(t, 0, len(h.stockOuts), "stock-out hook calls")
			}
			if tt.fallback != "" {
				equal(t, 1, len(h.fallbacks), "fallback hook calls")
				equal(t, tt.fallback, h.fallbacks[0].Fallback)
				equal(t, string(*id), h.fallbacks[0].InstanceId)
				equal(t, tt.wantType, h.fallbacks[0].Chosen.InstanceType)
			} else {
				equal(t, 0, len(h.fallbacks), "fallback hook calls")
			}
		})
	}
}

func TestCapacitySameMemoryCataloguedOnce(t *testing.T) {
	f := newStockFake()
	f.catalogue = []ecs.InstanceType{{InstanceTypeId: "ecs.g6.large", InstanceTypeFamily: "ecs.g6", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0}, {InstanceTypeId: "ecs.g5.large", InstanceTypeFamily: "ecs.g5", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0}}
	f.avail = map[string]map[string]bool{"cn-hangzhou-h": {"ecs.g5.large": true}}
	f.out["ecs.g6.large@vsw-h"] = CodeNoStock
	p, _, _ := newTestPlugin(t, f)
	for i := 0; i < 3; i++ {
		_, err := p.Provision(capSpec(`,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h","SpotStrategy":"SpotAsPriceGo"},"SameMemoryFallback":true`))
		noErr(t, err)
	}
	equal(t, 1, f.typeCalls, "DescribeInstanceTypes calls (the catalogue is cached)")
	equal(t, []string{"SpotAsPriceGo", "SpotAsPriceGo", "SpotAsPriceGo"}, f.availCalls, "availability is asked each time, for the spot strategy")
}

func TestCapacityErrors(t *testing.T) {
	tests := []struct {
		name     string
		capacity string
		out      map[string]string
		setup    func(f *stockFake)
		wantRuns int
		want     []string
		code     string
		step     time.Duration // each RunInstances takes this long
	}{
		{
			name:     "quota is not a stock error",
			capacity: `,"InstanceType":"ecs.g6.large"},"InstanceTypes":["ecs.g5.large"],"VSwitchIds":["vsw-h","vsw-i"]`,
			out:      map[string]string{"*@vsw-h": "QuotaExceed.ElasticQuota"},
			wantRuns: 1, code: "QuotaExceed.ElasticQuota",
			want: []string{`provision instance in group "workers": runInstances: QuotaExceed.ElasticQuota`},
		},
		{
			name:     "a bad vswitch is not a stock error",
			capacity: `,"InstanceType":"ecs.g6.large"},"VSwitchIds":["vsw-h","vsw-i"]`,
			out:      map[string]string{"ecs.g6.large@vsw-h": CodeNoStock, "ecs.g6.large@vsw-i": "InvalidVSwitchId.NotFound"},
			wantRuns: 2, code: "InvalidVSwitchId.NotFound",
		},
		{
			name:     "no stock anywhere names every choice",
			capacity: `},"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":["vsw-h","vsw-i"]`,
			out:      map[string]string{"*@vsw-h": CodeNoStock, "*@vsw-i": CodeNoStock},
			wantRuns: 4, code: CodeNoStock,
			want: []string{`provision instance in group "workers": no stock for any of 4 choices: ` +
				`ecs.g6.large in cn-hangzhou-h (vsw-h) (OperationDenied.NoStock), ecs.g5.large in cn-hangzhou-h (vsw-h) (OperationDenied.NoStock), ` +
				`ecs.g6.large in cn-hangzhou-i (vsw-i) (OperationDenied.NoStock), ecs.g5.large in cn-hangzhou-i (vsw-i) (OperationDenied.NoStock)`},
		},
		{
			name:     "spot without SpotFallbackOnDemand stays spot",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h","SpotStrategy":"SpotAsPriceGo"}`,
			out:      map[string]string{"spot:ecs.g6.large@vsw-h": CodeNoStock},
			wantRuns: 1, code: CodeNoStock,
			// No capacity keys: no extra call to name the zone.
			want: []string{"no stock for any of 1 choices: spot ecs.g6.large in vsw-h (OperationDenied.NoStock)"},
		},
		{
			name:     "same-memory fallback with nothing in stock says why",
			capacity: `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"SameMemoryFallback":true`,
			out:      map[string]string{"*@vsw-h": CodeNoStock},
			setup: func(f *stockFake) {
				f.catalogue = []ecs.InstanceType{{InstanceTypeId: "ecs.g6.large", InstanceTypeFamily: "ecs.g6", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0}, {InstanceTypeId: "ecs.c6.xlarge", InstanceTypeFamily: "ecs.c6", CpuCoreCount: 4, MemorySize: 8, GPUAmount: 0}}
				f.avail = map[string]map[string]bool{"cn-hangzhou-i": {"ecs.c6.xlarge": true}}
			},
			wantRuns: 1, code: CodeNoStock,
			want: []string{"same-memory fallback: no other type with 8 GiB and at least 2 vCPUs has stock"},
		},
		{
			name:     "time budget bounds the attempts",
			capacity: `},"InstanceTypes":["ecs.g6.large","ecs.g5.large","ecs.g7.large"],"VSwitchIds":["vsw-h","vsw-i","vsw-j"]`,
			out:      map[string]string{"*@vsw-h": CodeNoStock, "*@vsw-i": CodeNoStock, "*@vsw-j": CodeNoStock},
			step:     5 * time.Second,
			wantRuns: 2, code: CodeNoStock, // attempts start at 0 s and 5 s; not at 10 s
			want: []string{"no stock for any of 2 choices", "; 7 more not tried (at most 12 attempts within 9s per Provision)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := scriptedStockFake(tt.out, tt.setup)
			p, clock, _ := newTestPlugin(t, f)
			f.onRun = func() { clock.Sleep(tt.step) }
			_, err := p.Provision(capSpec(tt.capacity))
			isErr(t, err)
			equal(t, tt.wantRuns, len(f.runs), "attempts")
			equal(t, tt.code, ecs.ErrorCode(err), "error code")
			for _, w := range tt.want {
				contains(t, err.Error(), w)
			}
			equal(t, 0, len(f.instances), "instances created")
			h := recordedBy(p)
			equal(t, 0, len(h.fallbacks), "fallback hook calls")
			if tt.code == CodeNoStock {
				var nc *NoCapacityError
				if !errors.As(err, &nc) {
					t.Fatalf("%v is not a *NoCapacityError", err)
				}
				equal(t, 1, len(h.stockOuts), "stock-out hook calls")
				equal(t, true, h.stockOuts[0].Exhausted)
				equal(t, tt.wantRuns, len(h.stockOuts[0].StockOuts))
			}
		})
	}
}

func TestCapacityZoneSpread(t *testing.T) {
	vsws := `,"InstanceType":"ecs.g6.large"},"VSwitchIds":["vsw-h","vsw-i","vsw-j"]`
	tests := []struct {
		name    string
		members map[string][]string // vswitch -> extra lock reasons, one entry per member
		others  []string            // vswitches of another group's members
		want    []string            // vswitches of successive Provisions
	}{
		{name: "empty group: list order, then round robin", want: []string{"vsw-h", "vsw-i", "vsw-j", "vsw-h"}},
		{name: "fewest members first", members: map[string][]string{"vsw-h": {"", ""}, "vsw-j": {""}}, want: []string{"vsw-i", "vsw-i", "vsw-j"}},
		{name: "ties in list order", members: map[string][]string{"vsw-h": {""}}, want: []string{"vsw-i", "vsw-j", "vsw-h"}},
		{name: "other groups do not count", others: []string{"vsw-h", "vsw-h", "vsw-i"}, want: []string{"vsw-h", "vsw-i"}},
		{name: "instances being reclaimed do not count", members: map[string][]string{"vsw-h": {"Recycling"}, "vsw-i": {""}}, want: []string{"vsw-h", "vsw-j"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStockFake()
			n := 0
			for vsw, locks := range tt.members {
				for _, l := range locks {
					n++
					var extra []string
					if l != "" {
						extra = []string{l}
					}
					f.member(fmt.Sprintf("i-old%d", n), "workers", vsw, extra...)
				}
			}
			for _, vsw := range tt.others {
				n++
				f.member(fmt.Sprintf("i-other%d", n), "db", vsw)
			}
			p, _, _ := newTestPlugin(t, f)
			for i, want := range tt.want {
				id, err := p.Provision(capSpec(vsws))
				noErr(t, err)
				equal(t, want, f.instances[string(*id)].VSwitch, fmt.Sprintf("provision %d", i))
				equal(t, "", f.instances[string(*id)].TagMap()[TagFallback], "spreading is not a fallback")
			}
		})
	}
}

// A group without InstanceTypes/VSwitchIds behaves as before: one call, no
// spread lookup, no capacity API.
func TestCapacitySingleChoiceUnchanged(t *testing.T) {
	f := newFake()
	p, _, _ := newTestPlugin(t, f)
	spec := groupSpec()
	_, err := p.Provision(spec)
	noErr(t, err)
	equal(t, 1, len(f.runs))
	equal(t, 0, len(f.describes), "no DescribeInstances for a single vswitch")
	equal(t, clientToken(spec, "nonce-1"), f.runs[0].ClientToken)
	f.failNext("RunInstances", &ecs.APIError{Action: "RunInstances", Code: CodeNoStock, StatusCode: 403})
	_, err = p.Provision(spec)
	equal(t, CodeNoStock, ecs.ErrorCode(err))
	contains(t, err.Error(), "no stock for any of 1 choices: ecs.g7.large in vsw-1 (OperationDenied.NoStock)")
}

// The fallback tag is left out when it would break the 20-tag budget.
func TestCapacityFallbackTagBudget(t *testing.T) {
	f := newStockFake()
	f.out["ecs.g6.large@vsw-h"] = CodeNoStock
	p, _, _ := newTestPlugin(t, f)
	tags := map[string]string{}
	for i := 0; i < groupspec.MaxTags-len(testNamespace)-2; i++ { // + infrakit.group, infrakit.config.hash = 20
		tags[fmt.Sprintf("k%d", i)] = "v"
	}
	b, _ := json.Marshal(tags)
	spec := capSpec(`,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g5.large"],"Tags":` + string(b))
	id, err := p.Provision(spec)
	noErr(t, err)
	inst := f.instances[string(*id)]
	equal(t, "ecs.g5.large", inst.Type)
	equal(t, groupspec.MaxTags, len(inst.TagMap()))
	if _, ok := inst.TagMap()[TagFallback]; ok {
		t.Errorf("fallback tag set beyond the %d-tag budget", groupspec.MaxTags)
	}
}

// Pets: a LogicalID used as PrivateIpAddress fits one vswitch only.
func TestCapacityLogicalIPNeedsOneVSwitch(t *testing.T) {
	f := newStockFake()
	p, _, _ := newTestPlugin(t, f)
	spec := capSpec(`,"InstanceType":"ecs.g6.large"},"VSwitchIds":["vsw-h","vsw-i"]`)
	spec.LogicalID = instance.LogicalIDFromString("172.16.0.9")
	_, err := p.Provision(spec)
	contains(t, fmt.Sprint(err), `LogicalID: "172.16.0.9" is used as PrivateIpAddress, which fits one vswitch only; the properties list 2`)
	equal(t, 0, len(f.runs))

	spec = capSpec(`,"InstanceType":"ecs.g6.large"},"VSwitchIds":["vsw-i"]`)
	spec.LogicalID = instance.LogicalIDFromString("172.16.16.9")
	_, err = p.Provision(spec)
	noErr(t, err)
	equal(t, "vsw-i", f.runs[0].Args.VSwitchId)
	equal(t, "172.16.16.9", f.runs[0].PrivateIP)
}
