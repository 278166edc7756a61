package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// createParams is a valid CreateInstance request in the default catalogue.
func createParams(extra map[string]string) map[string]string {
	p := runParams(extra)
	p["Action"] = "CreateInstance"
	return p
}

// TestNotOnSale: the not_on_sale fault answers 403 Zone.NotOnSale to
// RunInstances and CreateInstance for matching type/zone pairs only.
func TestNotOnSale(t *testing.T) {
	pair := StockKey{InstanceType: DefaultInstanceType, ZoneId: DefaultZone}
	tests := []struct {
		name      string
		notOnSale []StockKey
		noStock   []StockKey
		params    map[string]string
		status    int
		code      string // "" for success
	}{
		{name: "run: pair not on sale", notOnSale: []StockKey{pair}, params: runParams(nil),
			status: 403, code: "Zone.NotOnSale"},
		{name: "create: pair not on sale", notOnSale: []StockKey{pair}, params: createParams(nil),
			status: 403, code: "Zone.NotOnSale"},
		{name: "run: same type in another zone", notOnSale: []StockKey{pair},
			params: runParams(map[string]string{"VSwitchId": DefaultVSwitchI}), status: 200},
		{name: "run: another type in the zone", notOnSale: []StockKey{pair},
			params: runParams(map[string]string{"InstanceType": "ecs.c6.large"}), status: 200},
		{name: "run: whole zone (empty InstanceType)", notOnSale: []StockKey{{ZoneId: DefaultZone}},
			params: runParams(map[string]string{"InstanceType": "ecs.c6.large"}), status: 403, code: "Zone.NotOnSale"},
		{name: "create: type in every zone (empty ZoneId)", notOnSale: []StockKey{{InstanceType: DefaultInstanceType}},
			params: createParams(map[string]string{"VSwitchId": DefaultVSwitchJ}), status: 403, code: "Zone.NotOnSale"},
		{name: "run: not on sale wins over no stock", notOnSale: []StockKey{pair}, noStock: []StockKey{pair},
			params: runParams(nil), status: 403, code: "Zone.NotOnSale"},
		{name: "run: no stock alone is still NoStock", noStock: []StockKey{pair},
			params: runParams(nil), status: 403, code: "OperationDenied.NoStock"},
		{name: "run: SpotOnly key, spot request", notOnSale: []StockKey{{InstanceType: DefaultInstanceType, SpotOnly: true}},
			params: runParams(map[string]string{"SpotStrategy": "SpotAsPriceGo"}), status: 403, code: "Zone.NotOnSale"},
		{name: "run: SpotOnly key, on-demand request", notOnSale: []StockKey{{InstanceType: DefaultInstanceType, SpotOnly: true}},
			params: runParams(map[string]string{"SpotStrategy": "NoSpot"}), status: 200},
		{name: "run: DryRun reports it too", notOnSale: []StockKey{pair},
			params: runParams(map[string]string{"DryRun": "true"}), status: 403, code: "Zone.NotOnSale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, fc := newTestServer(t, Options{})
			srv.SetFaults(Faults{NotOnSale: tt.notOnSale, NoStock: tt.noStock})
			g := api(t, srv, fc, tt.params)
			if g.Status != tt.status || g.Code() != tt.code {
				t.Fatalf("got %d %q, want %d %q: %s", g.Status, g.Code(), tt.status, tt.code, g.Text)
			}
			want := 0
			if tt.status == 200 {
				want = 1
			}
			if n := len(srv.Instances()); n != want {
				t.Fatalf("%d instances, want %d", n, want)
			}
		})
	}
}

// availability is DescribeAvailableResource's answer flattened to
// "zone" -> "Status/StatusCategory" and "zone|value" -> the same.
func availability(t *testing.T, r rawResp) map[string]string {
	t.Helper()
	var body struct {
		AvailableZones struct {
			AvailableZone []struct {
				ZoneId, Status, StatusCategory string
				AvailableResources             struct {
					AvailableResource []struct {
						SupportedResources struct {
							SupportedResource []struct{ Value, Status, StatusCategory string }
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(mustOK(t, r).Text), &body); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, z := range body.AvailableZones.AvailableZone {
		out[z.ZoneId] = z.Status + "/" + z.StatusCategory
		for _, ar := range z.AvailableResources.AvailableResource {
			for _, sr := range ar.SupportedResources.SupportedResource {
				out[z.ZoneId+"|"+sr.Value] = sr.Status + "/" + sr.StatusCategory
			}
		}
	}
	return out
}

// TestNotOnSaleAvailableResource: DescribeAvailableResource reports a type
// no longer sold as SoldOut/ClosedWithoutStock (sold out, not replenished),
// next to SoldOut/WithoutStock for a mere stock-out.
func TestNotOnSaleAvailableResource(t *testing.T) {
	const (
		avail  = "Available/WithStock"
		out    = "SoldOut/WithoutStock"
		closed = "SoldOut/ClosedWithoutStock"
	)
	tests := []struct {
		name      string
		notOnSale []StockKey
		noStock   []StockKey
		params    map[string]string
		want      map[string]string
	}{
		{
			name:      "instance types in a zone",
			notOnSale: []StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}},
			noStock:   []StockKey{{InstanceType: "ecs.c6.large", ZoneId: "cn-hangzhou-h"}},
			params:    map[string]string{"DestinationResource": "InstanceType", "ZoneId": "cn-hangzhou-h"},
			want: map[string]string{"cn-hangzhou-h": avail, "cn-hangzhou-h|ecs.g6.large": closed,
				"cn-hangzhou-h|ecs.c6.large": out, "cn-hangzhou-h|ecs.g7.large": avail},
		},
		{
			name:      "one type across zones",
			notOnSale: []StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}},
			noStock:   []StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-i"}},
			params:    map[string]string{"DestinationResource": "InstanceType", "InstanceType": "ecs.g6.large"},
			want: map[string]string{"cn-hangzhou-h": closed, "cn-hangzhou-h|ecs.g6.large": closed,
				"cn-hangzhou-i": out, "cn-hangzhou-i|ecs.g6.large": out,
				"cn-hangzhou-j": avail, "cn-hangzhou-j|ecs.g6.large": avail},
		},
		{
			name:      "zone destination, whole zone closed",
			notOnSale: []StockKey{{ZoneId: "cn-hangzhou-h"}},
			params:    map[string]string{"DestinationResource": "Zone"},
			want: map[string]string{"cn-hangzhou-h": closed, "cn-hangzhou-h|cn-hangzhou-h": closed,
				"cn-hangzhou-i": avail, "cn-hangzhou-i|cn-hangzhou-i": avail},
		},
		{
			name:      "zone partly closed, rest out of stock",
			notOnSale: []StockKey{{InstanceType: "ecs.g6.large", ZoneId: "cn-hangzhou-h"}},
			noStock:   []StockKey{{ZoneId: "cn-hangzhou-h"}},
			params:    map[string]string{"DestinationResource": "Zone", "ZoneId": "cn-hangzhou-h"},
			want:      map[string]string{"cn-hangzhou-h": out},
		},
		{
			name:      "SpotOnly key: spot closed",
			notOnSale: []StockKey{{InstanceType: "ecs.g6.large", SpotOnly: true}},
			params: map[string]string{"DestinationResource": "InstanceType", "InstanceType": "ecs.g6.large",
				"ZoneId": "cn-hangzhou-j", "SpotStrategy": "SpotAsPriceGo"},
			want: map[string]string{"cn-hangzhou-j|ecs.g6.large": closed},
		},
		{
			name:      "SpotOnly key: on-demand on sale",
			notOnSale: []StockKey{{InstanceType: "ecs.g6.large", SpotOnly: true}},
			params:    map[string]string{"DestinationResource": "InstanceType", "InstanceType": "ecs.g6.large", "ZoneId": "cn-hangzhou-j"},
			want:      map[string]string{"cn-hangzhou-j|ecs.g6.large": avail},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, fc := newTestServer(t, Options{})
			srv.SetFaults(Faults{NotOnSale: tt.notOnSale, NoStock: tt.noStock})
			p := map[string]string{"Action": "DescribeAvailableResource", "RegionId": DefaultRegion}
			for k, v := range tt.params {
				p[k] = v
			}
			got := availability(t, api(t, srv, fc, p))
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s: %q, want %q (all: %v)", k, got[k], want, got)
				}
			}
		})
	}
}

// TestConflictFault: the conflict fault answers 409 OperationConflict to the
// listed actions only, before they run.
func TestConflictFault(t *testing.T) {
	tests := []struct {
		name     string
		conflict map[string]float64
		action   string
		status   int
		code     string
		after    string // the instance's status after the call
	}{
		{name: "stop conflicts", conflict: map[string]float64{"StopInstance": 1}, action: "StopInstance",
			status: 409, code: "OperationConflict", after: StatusRunning},
		{name: "delete conflicts", conflict: map[string]float64{"DeleteInstance": 1}, action: "DeleteInstance",
			status: 409, code: "OperationConflict", after: StatusRunning},
		{name: "other actions unaffected", conflict: map[string]float64{"StartInstance": 1}, action: "StopInstance",
			status: 200, after: StatusStopping},
		{name: "rate zero", conflict: map[string]float64{"StopInstance": 0}, action: "StopInstance",
			status: 200, after: StatusStopping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, fc := newTestServer(t, Options{})
			id := runIDs(t, api(t, srv, fc, runParams(nil)))[0]
			srv.Advance(DefaultBootTime)
			// Actions does not limit the conflict fault.
			srv.SetFaults(Faults{Conflict: tt.conflict, Actions: []string{"DescribeRegions"}})
			p := map[string]string{"Action": tt.action, "InstanceId": id}
			if tt.action == "DeleteInstance" {
				p["Force"] = "true"
			}
			g := api(t, srv, fc, p)
			if g.Status != tt.status || g.Code() != tt.code {
				t.Fatalf("got %d %q, want %d %q: %s", g.Status, g.Code(), tt.status, tt.code, g.Text)
			}
			if got := status(t, srv, id); got != tt.after {
				t.Fatalf("status %s, want %s", got, tt.after)
			}
			wantFaults := 0
			if tt.code != "" {
				wantFaults = 1
			}
			if n := srv.Stats().Faults["conflicts"]; n != wantFaults {
				t.Fatalf("conflict faults %d, want %d", n, wantFaults)
			}
		})
	}
}

// TestFaultsHTTPNotOnSaleConflict: both faults go through the control API,
// and conflict rates outside [0,1] are refused.
func TestFaultsHTTPNotOnSaleConflict(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL()+"/emulator/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(`{"not_on_sale":[{"ZoneId":"cn-hangzhou-k"}],"conflict":{"StopInstance":0.5}}`)
	var echoed Faults
	if err := json.Unmarshal([]byte(body), &echoed); code != 200 || err != nil {
		t.Fatalf("POST faults: %d %s %v", code, body, err)
	}
	for _, f := range []Faults{echoed, srv.Faults()} {
		if len(f.NotOnSale) != 1 || f.NotOnSale[0] != (StockKey{ZoneId: "cn-hangzhou-k"}) || f.Conflict["StopInstance"] != 0.5 {
			t.Fatalf("faults: %+v", f)
		}
	}
	if code, body := post(`{"conflict":{"StopInstance":1.5}}`); code != 400 {
		t.Fatalf("conflict rate 1.5: %d %s", code, body)
	}
}
