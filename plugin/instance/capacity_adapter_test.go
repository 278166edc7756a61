package instance

import (
	"net/url"
	"strconv"
	"testing"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/ecs/ecstest"
)

// Over the wire: a temporary error retries the same attempt with the same
// ClientToken; a stock-out moves to the next choice with a new one.
func TestCapacityWireClientTokens(t *testing.T) {
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		switch q.Get("Action") {
		case "RunInstances":
			switch n {
			case 1:
				return 503, ecsErr("ServiceUnavailable")
			case 2:
				return 403, ecsErr(CodeNoStock)
			}
			return 200, runOK("i-1")
		}
		return 400, ecsErr("InvalidParameter")
	})
	p, _, _ := newWirePlugin(t, w, nil)
	_, err := p.Provision(capSpec(`,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h"},"InstanceTypes":["ecs.g5.large"]`))
	noErr(t, err)
	var got []url.Values
	for _, q := range w.got() {
		if q.Get("Action") == "RunInstances" {
			got = append(got, q)
		}
	}
	if len(got) != 3 {
		t.Fatalf("want 3 RunInstances calls, got %d: %v", len(got), got)
	}
	equal(t, "ecs.g6.large", got[0].Get("InstanceType"))
	equal(t, "ecs.g6.large", got[1].Get("InstanceType"))
	equal(t, "ecs.g5.large", got[2].Get("InstanceType"))
	equal(t, got[0].Get("ClientToken"), got[1].Get("ClientToken"), "a retry reuses the attempt's token")
	if got[2].Get("ClientToken") == got[1].Get("ClientToken") || len(got[2].Get("ClientToken")) != 64 {
		t.Errorf("the next choice needs its own 64-character token: %q vs %q", got[2].Get("ClientToken"), got[1].Get("ClientToken"))
	}
	equal(t, "instance-type", tagsOf(got[2])[TagFallback])
	equal(t, "", tagsOf(got[0])[TagFallback])
}

func tagsOf(q url.Values) map[string]string {
	out := map[string]string{}
	for i := 1; q.Get("Tag."+itoa(i)+".Key") != ""; i++ {
		out[q.Get("Tag."+itoa(i)+".Key")] = q.Get("Tag." + itoa(i) + ".Value")
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// The capacity calls decode the wire shapes (DescribeAvailableResource's
// Min/Max are numbers) and send the parameters ECS expects.
func TestCapacityWireCalls(t *testing.T) {
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		switch q.Get("Action") {
		case "DescribeInstanceTypes":
			if q.Get("NextToken") == "" {
				return 200, map[string]interface{}{"RequestId": "r1", "NextToken": "p2", "InstanceTypes": map[string]interface{}{"InstanceType": []map[string]interface{}{
					{"InstanceTypeId": "ecs.g6.large", "InstanceTypeFamily": "ecs.g6", "CpuCoreCount": 2, "MemorySize": 8.0, "GPUAmount": 0}}}}
			}
			return 200, map[string]interface{}{"RequestId": "r2", "InstanceTypes": map[string]interface{}{"InstanceType": []map[string]interface{}{
				{"InstanceTypeId": "ecs.c6.xlarge", "InstanceTypeFamily": "ecs.c6", "CpuCoreCount": 4, "MemorySize": 8.0}}}}
		case "DescribeAvailableResource":
			return 200, map[string]interface{}{"RequestId": "r3", "AvailableZones": map[string]interface{}{"AvailableZone": []map[string]interface{}{
				{"ZoneId": "cn-hangzhou-h", "AvailableResources": map[string]interface{}{"AvailableResource": []map[string]interface{}{
					{"Type": "InstanceType", "SupportedResources": map[string]interface{}{"SupportedResource": []map[string]interface{}{
						{"Value": "ecs.g6.large", "Status": "SoldOut", "StatusCategory": "WithoutStock"},
						{"Value": "ecs.c6.xlarge", "Status": "Available", "StatusCategory": "WithStock", "Min": 1, "Max": 2}}}}}}}}}}
		case "DescribeVSwitches":
			return 200, map[string]interface{}{"RequestId": "r4", "VSwitches": map[string]interface{}{"VSwitch": []map[string]interface{}{
				{"VSwitchId": q.Get("VSwitchId"), "ZoneId": "cn-hangzhou-h"}}}}
		}
		return 400, ecsErr("InvalidParameter")
	})
	_, a, _ := newWirePlugin(t, w, nil)
	ctx := t.Context()
	types, err := a.DescribeInstanceTypes(ctx)
	noErr(t, err)
	equal(t, []ecs.InstanceType{{InstanceTypeId: "ecs.g6.large", InstanceTypeFamily: "ecs.g6", CpuCoreCount: 2, MemorySize: 8, GPUAmount: 0}, {InstanceTypeId: "ecs.c6.xlarge", InstanceTypeFamily: "ecs.c6", CpuCoreCount: 4, MemorySize: 8, GPUAmount: 0}}, types)
	avail, err := a.DescribeAvailableInstanceTypes(ctx, "", "SpotAsPriceGo")
	noErr(t, err)
	equal(t, map[string]map[string]bool{"cn-hangzhou-h": {"ecs.c6.xlarge": true}}, avail)
	zone, err := a.DescribeVSwitchZone(ctx, "vsw-h")
	noErr(t, err)
	equal(t, "cn-hangzhou-h", zone)

	got := w.got()
	equal(t, "p2", got[1].Get("NextToken"))
	q := got[2]
	equal(t, "InstanceType", q.Get("DestinationResource"))
	equal(t, "SpotAsPriceGo", q.Get("SpotStrategy"))
	equal(t, "PostPaid", q.Get("InstanceChargeType"))
	equal(t, "", q.Get("ZoneId"))
	equal(t, "vsw-h", got[3].Get("VSwitchId"))
}

// TestCapacityStockReadLikeInventory reads the answer internal/inventory's
// TestStockReadLikeThePlugin reads: the Provision fallback counts as in
// stock exactly what validate --online passes.
func TestCapacityStockReadLikeInventory(t *testing.T) {
	w := newWireServer(t, func(n int, q url.Values) (int, interface{}) {
		if q.Get("Action") == "DescribeAvailableResource" {
			return 200, ecstest.StockAnswer("cn-hangzhou-h")
		}
		return 400, ecsErr("InvalidParameter")
	})
	_, a, _ := newWirePlugin(t, w, nil)
	avail, err := a.DescribeAvailableInstanceTypes(t.Context(), "cn-hangzhou-h", "")
	noErr(t, err)
	want := map[string]bool{}
	for _, typ := range ecstest.StockAnswerInStock {
		want[typ] = true
	}
	equal(t, map[string]map[string]bool{"cn-hangzhou-h": want}, avail)
}
