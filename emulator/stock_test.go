package emulator

import (
	"strings"
	"testing"
)

// TestSpotOnlyStockOut: a SpotOnly stock key fails spot RunInstances and
// reports spot capacity as sold out, while on-demand requests for the same
// pair (and spot requests for other pairs) still have stock.
func TestSpotOnlyStockOut(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	srv.SetFaults(Faults{NoStock: []StockKey{{InstanceType: DefaultInstanceType, ZoneId: DefaultZone, SpotOnly: true}}})

	spot := map[string]string{"SpotStrategy": "SpotAsPriceGo"}
	if g := api(t, srv, fc, runParams(spot)); g.Status != 403 || g.Code() != "OperationDenied.NoStock" {
		t.Fatalf("spot run: %d %s, want 403 OperationDenied.NoStock", g.Status, g.Code())
	}
	if ids := runIDs(t, api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "NoSpot"}))); len(ids) != 1 {
		t.Fatalf("on-demand run: %v", ids)
	}
	if ids := runIDs(t, api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "SpotAsPriceGo", "VSwitchId": DefaultVSwitchI}))); len(ids) != 1 {
		t.Fatalf("spot run in another zone: %v", ids)
	}

	avail := func(strategy string) string {
		p := map[string]string{"Action": "DescribeAvailableResource", "RegionId": DefaultRegion,
			"DestinationResource": "InstanceType", "ZoneId": DefaultZone, "InstanceType": DefaultInstanceType}
		if strategy != "" {
			p["SpotStrategy"] = strategy
		}
		return mustOK(t, api(t, srv, fc, p)).Text
	}
	soldOut := `{"Value":"ecs.g6.large","Status":"SoldOut","StatusCategory":"WithoutStock"}`
	if got := avail("SpotAsPriceGo"); !strings.Contains(got, soldOut) {
		t.Errorf("spot availability should be sold out: %s", got)
	}
	for _, s := range []string{"", "NoSpot"} {
		if got := avail(s); strings.Contains(got, soldOut) {
			t.Errorf("on-demand availability (SpotStrategy %q) should have stock: %s", s, got)
		}
	}
	if g := api(t, srv, fc, map[string]string{"Action": "DescribeAvailableResource", "RegionId": DefaultRegion,
		"DestinationResource": "InstanceType", "SpotStrategy": "Cheap"}); g.Status != 400 || g.Code() != "InvalidParameter" {
		t.Errorf("bad SpotStrategy: %d %s, want 400 InvalidParameter", g.Status, g.Code())
	}

	// A key without SpotOnly stops both kinds.
	srv.SetFaults(Faults{NoStock: []StockKey{{InstanceType: DefaultInstanceType, ZoneId: DefaultZone}}})
	if g := api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "NoSpot"})); g.Code() != "OperationDenied.NoStock" {
		t.Errorf("on-demand run with a full stock-out: %d %s", g.Status, g.Code())
	}
}
