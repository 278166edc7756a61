package instance

import (
	"fmt"
	"testing"

	"infrakit.aliyun/emulator"
)

// Against the emulator's not_on_sale fault: Zone.NotOnSale for the first
// type in the first zone skips the rest of that zone (the second type there
// is on sale but never tried) and Provision lands in the next zone.
func TestEmulatorCapacityZoneNotOnSale(t *testing.T) {
	h, i := emulator.DefaultVSwitchH, emulator.DefaultVSwitchI
	e := newCapEmu(t)
	e.srv.SetFaults(emulator.Faults{NotOnSale: []emulator.StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}}})
	spec := emuCapSpec("nos", "", fmt.Sprintf(`,"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":[%q,%q]`, h, i))
	noErr(t, e.plugin.Validate(spec.Properties))

	id, err := e.plugin.Provision(spec)
	noErr(t, err)
	v, ok := e.srv.Instance(string(*id))
	if !ok {
		t.Fatalf("instance %s not in the emulator", *id)
	}
	equal(t, "ecs.g6.large", v.InstanceType, "type")
	equal(t, "cn-hangzhou-i", v.ZoneId, "zone")
	equal(t, i, v.VSwitchId, "vswitch")
	equal(t, "zone", v.Tags[TagFallback], "fallback tag")
	// One refused attempt (g6.large in h), then success in i: g5.large in
	// h, on sale, is skipped with the rest of the zone.
	equal(t, 2, e.srv.Stats().Calls["RunInstances"], "RunInstances calls")
	equal(t, 1, e.live(), "live instances")
}
