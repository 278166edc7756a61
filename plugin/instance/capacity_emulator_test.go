package instance

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

// emuCapSpec: a group spec over the default emulator world with the given
// RunInstances fields (beyond image and security group) and top-level keys.
func emuCapSpec(group, run, top string) instance.Spec {
	return instance.Spec{
		Properties: props(fmt.Sprintf(`{"RunInstances":{"ImageId":%q,"SecurityGroupId":%q%s}%s}`,
			emulator.DefaultImageID, emulator.DefaultSecurityGroupID, run, top)),
		Tags: map[string]string{"infrakit.group": group, "infrakit.config.hash": "h1"},
	}
}

// newCapEmu is newEmu with the plugin on the wall clock: the capacity time
// budget is real time, and the emulator's clock runs 1000 times faster.
func newCapEmu(t *testing.T) *emuEnv {
	e := newEmu(t)
	e.plugin.clock.fn = time.Now
	return e
}

func TestEmulatorCapacityFallback(t *testing.T) {
	h, i, j := emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ
	tests := []struct {
		name     string
		noStock  []emulator.StockKey
		run, top string
		wantType string
		wantZone string
		wantSpot string
		fallback string
	}{
		{
			name:     "type fallback",
			noStock:  []emulator.StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}},
			run:      fmt.Sprintf(`,"VSwitchId":%q`, h),
			top:      `,"InstanceTypes":["ecs.g6.large","ecs.g5.large"]`,
			wantType: "ecs.g5.large", wantZone: "cn-hangzhou-h", wantSpot: "NoSpot", fallback: "instance-type",
		},
		{
			name:     "zone fallback",
			noStock:  []emulator.StockKey{{ZoneId: "cn-hangzhou-h"}},
			run:      `,"InstanceType":"ecs.g6.large"`,
			top:      fmt.Sprintf(`,"VSwitchIds":[%q,%q,%q],"InstanceTypes":["ecs.g5.large"]`, h, i, j),
			wantType: "ecs.g6.large", wantZone: "cn-hangzhou-i", wantSpot: "NoSpot", fallback: "zone",
		},
		{
			name:     "same memory: fewest vCPUs at or above the original",
			noStock:  []emulator.StockKey{{InstanceType: "ecs.g6.large"}, {InstanceType: "ecs.g7.large"}, {InstanceType: "ecs.g5.large"}},
			run:      fmt.Sprintf(`,"InstanceType":"ecs.g6.large","VSwitchId":%q`, h),
			top:      `,"SameMemoryFallback":true`,
			wantType: "ecs.c6.xlarge", wantZone: "cn-hangzhou-h", wantSpot: "NoSpot", fallback: "same-memory",
		},
		{
			name:     "spot to on-demand",
			noStock:  []emulator.StockKey{{InstanceType: "ecs.g6.large", SpotOnly: true}},
			run:      `,"InstanceType":"ecs.g6.large","SpotStrategy":"SpotAsPriceGo"`,
			top:      fmt.Sprintf(`,"VSwitchIds":[%q,%q],"SpotFallbackOnDemand":true`, h, i),
			wantType: "ecs.g6.large", wantZone: "cn-hangzhou-h", wantSpot: "NoSpot", fallback: "on-demand",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCapEmu(t)
			e.srv.SetFaults(emulator.Faults{NoStock: tt.noStock})
			spec := emuCapSpec("cap", tt.run, tt.top)
			noErr(t, e.plugin.Validate(spec.Properties))
			id, err := e.plugin.Provision(spec)
			noErr(t, err)

			v, ok := e.srv.Instance(string(*id))
			if !ok {
				t.Fatalf("instance %s not in the emulator", *id)
			}
			equal(t, tt.wantType, v.InstanceType, "type")
			equal(t, tt.wantZone, v.ZoneId, "zone")
			equal(t, tt.wantSpot, v.SpotStrategy, "spot strategy")
			equal(t, tt.fallback, v.Tags[TagFallback], "fallback tag")
			live := 0
			for _, in := range e.srv.Instances() {
				if !in.Released {
					live++
				}
			}
			equal(t, 1, live, "failed attempts create nothing")

			descs, err := e.plugin.DescribeInstances(map[string]string{"infrakit.group": "cap"}, true)
			noErr(t, err)
			equal(t, 1, len(descs))
			var ip InstanceProperties
			noErr(t, json.Unmarshal(descs[0].Properties.Bytes(), &ip))
			equal(t, tt.fallback, ip.Fallback)
			equal(t, tt.wantZone, ip.ZoneId)
		})
	}
}

func TestEmulatorCapacityNoStockAnywhere(t *testing.T) {
	e := newCapEmu(t)
	e.srv.SetFaults(emulator.Faults{NoStock: []emulator.StockKey{{ZoneId: "cn-hangzhou-h"}, {ZoneId: "cn-hangzhou-i"}}})
	spec := emuCapSpec("cap", "", fmt.Sprintf(`,"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":[%q,%q]`,
		emulator.DefaultVSwitchH, emulator.DefaultVSwitchI))
	_, err := e.plugin.Provision(spec)
	isErr(t, err)
	equal(t, CodeNoStock, ecs.ErrorCode(err))
	contains(t, err.Error(), fmt.Sprintf(`provision instance in group "cap": no stock for any of 4 choices: ecs.g6.large in cn-hangzhou-h (%s) (OperationDenied.NoStock), `, emulator.DefaultVSwitchH))
	contains(t, err.Error(), fmt.Sprintf("ecs.g5.large in cn-hangzhou-i (%s) (OperationDenied.NoStock)", emulator.DefaultVSwitchI))
	equal(t, 0, len(e.srv.Instances()))
	equal(t, 4, e.srv.Stats().Calls["RunInstances"])
}

// Cattle spread over three zones: six Provisions give two per zone.
func TestEmulatorCapacitySpread(t *testing.T) {
	e := newCapEmu(t)
	spec := emuCapSpec("spread", `,"InstanceType":"ecs.g6.large"`, fmt.Sprintf(`,"VSwitchIds":[%q,%q,%q]`,
		emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ))
	for n := 0; n < 6; n++ {
		_, err := e.plugin.Provision(spec)
		noErr(t, err)
	}
	zones := map[string]int{}
	for _, in := range e.srv.Instances() {
		zones[in.ZoneId]++
	}
	equal(t, map[string]int{"cn-hangzhou-h": 2, "cn-hangzhou-i": 2, "cn-hangzhou-j": 2}, zones)
}

// Concurrent Provisions of one group, as InfraKit's scaler makes them,
// still spread evenly: in-flight and just-created instances count.
func TestEmulatorCapacitySpreadConcurrent(t *testing.T) {
	e := newCapEmu(t)
	spec := emuCapSpec("burst", `,"InstanceType":"ecs.g6.large"`, fmt.Sprintf(`,"VSwitchIds":[%q,%q,%q]`,
		emulator.DefaultVSwitchH, emulator.DefaultVSwitchI, emulator.DefaultVSwitchJ))
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for n := 0; n < 9; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.plugin.Provision(spec)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	zones := map[string]int{}
	for _, in := range e.srv.Instances() {
		zones[in.ZoneId]++
	}
	equal(t, map[string]int{"cn-hangzhou-h": 3, "cn-hangzhou-i": 3, "cn-hangzhou-j": 3}, zones)
	equal(t, 0, e.plugin.planner.Reserved(), "no reservation left behind")
}
