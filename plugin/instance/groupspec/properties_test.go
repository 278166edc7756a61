package groupspec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
)

const minimal = `{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g7.large"}}`

func manyTags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q:%q", fmt.Sprintf("k%02d", i), "v")
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// parseCase is one row of a ParseProperties table.
type parseCase struct {
	name    string
	in      string   // "" = no properties at all
	wantErr []string // substrings; nil = must succeed
	check   func(t *testing.T, p Properties)
}

// runParseCases parses each case's input and checks the result, or that
// the error is a *PropertiesError naming every wantErr and echoing none of
// the passwords the cases use.
func runParseCases(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var any *types.Any
			if tt.in != "" {
				any = types.AnyString(tt.in)
			}
			p, err := ParseProperties(any)
			if tt.wantErr == nil {
				noErr(t, err)
				if tt.check != nil {
					tt.check(t, p)
				}
				return
			}
			isErr(t, err)
			testutil.ErrorAs[*PropertiesError](t, err)
			for _, w := range tt.wantErr {
				contains(t, err.Error(), w)
			}
			notContains(t, err.Error(), "secretsecret")
			notContains(t, err.Error(), "12345678")
		})
	}
}

func TestParseProperties(t *testing.T) {
	tests := []parseCase{
		{name: "minimal with defaults", in: minimal, check: func(t *testing.T, p Properties) {
			equal(t, "RunInstances", p.Form)
			equal(t, "img-1", p.RunInstances.ImageId)
			equal(t, "PostPaid", p.RunInstances.InstanceChargeType)
			equal(t, "NoSpot", p.RunInstances.SpotStrategy)
			equal(t, "PayByTraffic", p.RunInstances.InternetChargeType)
		}},
		{name: "legacy CreateInstanceArgs form", in: `{"CreateInstanceArgs":{"ImageId":"img-1","InstanceType":"t","IoOptimized":"optimized","RegionId":"cn-hangzhou"},"Tags":{"a":"b"}}`,
			check: func(t *testing.T, p Properties) {
				equal(t, "CreateInstanceArgs", p.Form)
				equal(t, "optimized", p.RunInstances.IoOptimized)
				equal(t, map[string]string{"a": "b"}, p.Tags)
			}},
		{name: "full", in: `{"RunInstances":{"ImageId":"img-1","InstanceType":"t","ZoneId":"z","VSwitchId":"vsw","SecurityGroupIds":["sg-1","sg-2"],
			"InstanceName":"web","HostName":"web-1","KeyPairName":"kp","Password":"Abcdefg1!","RamRoleName":"r","InternetMaxBandwidthOut":5,
			"InternetChargeType":"PayByBandwidth","SystemDisk":{"Category":"cloud_essd","Size":40,"PerformanceLevel":"PL1"},
			"DataDisk":[{"Size":100,"Category":"cloud_essd","DeleteWithInstance":false},{"SnapshotId":"s-1"}],
			"SpotStrategy":"SpotWithPriceLimit","SpotPriceLimit":0.5,"SpotDuration":1,"SpotInterruptionBehavior":"Terminate",
			"Description":"a web server","UserData":"#!/bin/sh\necho hi"},"Tags":{"env":"prod"}}`,
			check: func(t *testing.T, p Properties) {
				a := p.RunInstances
				equal(t, []string{"sg-1", "sg-2"}, a.SecurityGroupIds)
				if a.DataDisk[0].DeleteWithInstance == nil || *a.DataDisk[0].DeleteWithInstance {
					t.Error("DataDisk[0].DeleteWithInstance: want explicit false")
				}
				if a.DataDisk[1].DeleteWithInstance != nil {
					t.Error("DataDisk[1].DeleteWithInstance: want unset")
				}
				equal(t, 0.5, *a.SpotPriceLimit)
				equal(t, 40, *a.SystemDisk.Size)
			}},
		{name: "nil", in: "", wantErr: []string{"RunInstances: required"}},
		{name: "not json", in: `{`, wantErr: []string{"not valid JSON"}},
		{name: "not an object", in: `[1]`, wantErr: []string{"want a JSON object"}},
		{name: "trailing", in: minimal + ` {}`, wantErr: []string{"trailing data"}},
		{name: "no RunInstances", in: `{"Tags":{}}`, wantErr: []string{"RunInstances: required"}},
		{name: "both forms", in: `{"RunInstances":{},"CreateInstanceArgs":{}}`, wantErr: []string{"not both"}},
		{name: "unknown top-level", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"InstanceTypos":["a"]}`, wantErr: []string{"InstanceTypos: unknown field"}},
		{name: "case hint", in: `{"runinstances":{}}`, wantErr: []string{`runinstances: unknown field (did you mean "RunInstances"?)`}},
		{name: "missing image and type", in: `{"RunInstances":{}}`, wantErr: []string{"RunInstances.ImageId: required", "RunInstances.InstanceType: required"}},
		{name: "legacy path in errors", in: `{"CreateInstanceArgs":{"ImageId":"i"}}`, wantErr: []string{"CreateInstanceArgs.InstanceType: required"}},
		{name: "unknown nested field", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":{"Sise":20}}}`, wantErr: []string{"RunInstances.SystemDisk.Sise: unknown field"}},
		{name: "case-insensitive name rejected", in: `{"RunInstances":{"imageId":"i","InstanceType":"t"}}`, wantErr: []string{`RunInstances.imageId: unknown field (did you mean "ImageId"?)`}},
		{name: "plugin-owned field", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","ClientToken":"x","Amount":2}}`, wantErr: []string{"RunInstances.ClientToken: not allowed", "RunInstances.Amount: not allowed"}},
		{name: "wrong type string for int", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InternetMaxBandwidthOut":"5"}}`, wantErr: []string{`RunInstances.InternetMaxBandwidthOut: want an integer, got string "5"`}},
		{name: "float for int", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":{"Size":20.5}}}`, wantErr: []string{"RunInstances.SystemDisk.Size: want an integer, got 20.5"}},
		{name: "wrong type number for string", in: `{"RunInstances":{"ImageId":5,"InstanceType":"t"}}`, wantErr: []string{"RunInstances.ImageId: want a string, got number 5"}},
		{name: "password type error does not echo", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","Password":12345678}}`, wantErr: []string{"RunInstances.Password: want a string"}},
		{name: "wrong type bool", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","DataDisk":[{"Size":1,"DeleteWithInstance":"no"}]}}`, wantErr: []string{`RunInstances.DataDisk[0].DeleteWithInstance: want true or false`}},
		{name: "wrong type list", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SecurityGroupIds":"sg-1"}}`, wantErr: []string{"RunInstances.SecurityGroupIds: want a list"}},
		{name: "tags not object", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":["a"]}`, wantErr: []string{"Tags: want an object"}},
		{name: "tag value not string", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"a":1}}`, wantErr: []string{`Tags["a"]: want a string`}},
		{name: "tag value null", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"a":null}}`, wantErr: []string{`Tags["a"]: want a string, got null`}},
		{name: "21 tags", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":` + manyTags(21) + `}`, wantErr: []string{"Tags: 21 tags, at most 20 per instance including the plugin's own"}},
		{name: "20 tags ok", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":` + manyTags(20) + `}`},
		{name: "reserved aliyun prefix", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"aliyun:x":"v"}}`, wantErr: []string{`Tags["aliyun:x"]: key must not start with "aliyun" or "acs:"`}},
		{name: "reserved acs prefix", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"acs:x":"v"}}`, wantErr: []string{`Tags["acs:x"]: key must not start with`}},
		{name: "http in key", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"see-http://x":"v"}}`, wantErr: []string{`key must not contain "http://" or "https://"`}},
		{name: "https in key", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"https://x":"v"}}`, wantErr: []string{`key must not contain`}},
		{name: "acs value", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"k":"acs:v"}}`, wantErr: []string{`Tags["k"]: value must not start with "acs:"`}},
		{name: "empty key", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"":"v"}}`, wantErr: []string{`Tags[""]: key must not be empty`}},
		{name: "long key", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"` + strings.Repeat("k", 129) + `":"v"}}`, wantErr: []string{"key is 129 characters, at most 128"}},
		{name: "long value", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"k":"` + strings.Repeat("v", 129) + `"}}`, wantErr: []string{"value is 129 characters, at most 128"}},
		{name: "infrakit prefix reserved", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"infrakit.logical_id":"x"}}`, wantErr: []string{`Tags["infrakit.logical_id"]: key prefix "infrakit." is reserved`}},
		{name: "bad spot strategy", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"Cheap"}}`, wantErr: []string{`RunInstances.SpotStrategy: "Cheap", must be one of NoSpot, SpotWithPriceLimit, SpotAsPriceGo`}},
		{name: "price limit needs strategy", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotPriceLimit":1}}`, wantErr: []string{"RunInstances.SpotPriceLimit: only allowed when SpotStrategy is SpotWithPriceLimit"}},
		{name: "strategy needs price limit", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"SpotWithPriceLimit"}}`, wantErr: []string{"RunInstances.SpotPriceLimit: required"}},
		{name: "price limit positive", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"SpotWithPriceLimit","SpotPriceLimit":0}}`, wantErr: []string{"must be greater than 0"}},
		{name: "spot needs postpaid", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotStrategy":"SpotAsPriceGo","InstanceChargeType":"PrePaid","Period":1}}`, wantErr: []string{"RunInstances.SpotStrategy: SpotAsPriceGo needs InstanceChargeType PostPaid"}},
		{name: "spot duration on demand", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SpotDuration":1}}`, wantErr: []string{"RunInstances.SpotDuration: only allowed for spot instances"}},
		{name: "bad internet charge", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InternetChargeType":"Free"}}`, wantErr: []string{"RunInstances.InternetChargeType: \"Free\", must be one of PayByBandwidth, PayByTraffic"}},
		{name: "bad instance charge", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InstanceChargeType":"Monthly"}}`, wantErr: []string{"RunInstances.InstanceChargeType: \"Monthly\""}},
		{name: "prepaid needs period", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InstanceChargeType":"PrePaid"}}`, wantErr: []string{"RunInstances.Period: required when InstanceChargeType is PrePaid"}},
		{name: "prepaid defaults month", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InstanceChargeType":"PrePaid","Period":3}}`, check: func(t *testing.T, p Properties) {
			equal(t, "Month", p.RunInstances.PeriodUnit)
		}},
		{name: "period on postpaid", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","Period":1}}`, wantErr: []string{"RunInstances.Period: only allowed when InstanceChargeType is PrePaid"}},
		{name: "both security group forms", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SecurityGroupId":"sg","SecurityGroupIds":["sg2"]}}`, wantErr: []string{"set either SecurityGroupId or SecurityGroupIds"}},
		{name: "duplicate security group", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SecurityGroupIds":["sg","sg"]}}`, wantErr: []string{`RunInstances.SecurityGroupIds[1]: duplicate "sg"`}},
		{name: "system disk size", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":{"Size":10}}}`, wantErr: []string{"RunInstances.SystemDisk.Size: 10, must be 20 to 2048"}},
		{name: "system disk category", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":{"Category":"hdd"}}}`, wantErr: []string{"RunInstances.SystemDisk.Category: \"hdd\""}},
		{name: "data disk needs size", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","DataDisk":[{"Category":"cloud_essd"}]}}`, wantErr: []string{"RunInstances.DataDisk[0].Size: required unless SnapshotId is set"}},
		{name: "too many data disks", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","DataDisk":[` + strings.TrimSuffix(strings.Repeat(`{"Size":20},`, 17), ",") + `]}}`, wantErr: []string{"RunInstances.DataDisk: 17 disks, at most 16"}},
		{name: "performance level needs essd", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":{"Category":"cloud_ssd","PerformanceLevel":"PL1"}}}`, wantErr: []string{"only allowed with Category cloud_essd"}},
		{name: "bandwidth negative", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","InternetMaxBandwidthOut":-1}}`, wantErr: []string{"RunInstances.InternetMaxBandwidthOut: -1, must be 0 to 100"}},
		{name: "weak password not echoed", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","Password":"secretsecret"}}`, wantErr: []string{"RunInstances.Password: must contain three of"}},
		{name: "short password", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","Password":"Ab1!"}}`, wantErr: []string{"RunInstances.Password: 4 characters, must be 8 to 30"}},
		{name: "hostname", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","HostName":"-web"}}`, wantErr: []string{"RunInstances.HostName: must not start or end"}},
		{name: "private ip", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","PrivateIpAddress":"nope"}}`, wantErr: []string{"RunInstances.PrivateIpAddress: \"nope\" is not an IPv4 address"}},
		{name: "private ip needs vswitch", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","PrivateIpAddress":"10.0.0.1"}}`, wantErr: []string{"RunInstances.PrivateIpAddress: needs VSwitchId"}},
		{name: "image id whitespace", in: `{"RunInstances":{"ImageId":"img 1","InstanceType":"t"}}`, wantErr: []string{"RunInstances.ImageId: \"img 1\" must not contain white space"}},
		{name: "user data too big", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","UserData":"` + strings.Repeat("x", 33000) + `"}}`, wantErr: []string{"RunInstances.UserData: 33000 bytes, at most 32768 before base64"}},
		{name: "null means unset", in: `{"RunInstances":{"ImageId":"i","InstanceType":"t","SystemDisk":null,"ZoneId":null},"Tags":null}`},
	}
	runParseCases(t, tests)
}

func TestParsePropertiesReportsAllProblems(t *testing.T) {
	_, err := ParseProperties(types.AnyString(`{"RunInstances":{"SpotStrategy":"x"},"Tags":{"acs:a":"b"}}`))
	isErr(t, err)
	pe := testutil.ErrorAs[*PropertiesError](t, err)
	if len(pe.Problems) < 4 {
		t.Errorf("want every problem reported, got %q", pe.Problems)
	}
}

func TestParsePropertiesRoundTrip(t *testing.T) {
	p, err := ParseProperties(types.AnyString(`{"RunInstances":{"ImageId":"i","InstanceType":"t","DataDisk":[{"Size":20}]},"Tags":{"a":"b"}}`))
	noErr(t, err)
	b, err := json.Marshal(map[string]interface{}{"RunInstances": p.RunInstances, "Tags": p.Tags})
	noErr(t, err)
	p2, err := ParseProperties(types.AnyBytes(b))
	noErr(t, err)
	p2.Form = p.Form
	equal(t, p, p2)
}

func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		minimal,
		`{"CreateInstanceArgs":{"ImageId":"i","InstanceType":"t"},"Tags":{"a":"b"}}`,
		`{"RunInstances":{"ImageId":"i","InstanceType":"t","DataDisk":[{"Size":1}],"SystemDisk":{"Size":20}}}`,
		`{"RunInstances":{"SpotStrategy":"SpotWithPriceLimit","SpotPriceLimit":1e309}}`,
		`{"RunInstances":{"InternetMaxBandwidthOut":99999999999999999999}}`,
		`{"RunInstances":null}`, `null`, `[]`, `"x"`, `{"Tags":{"":""}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProperties(types.AnyString(s))
		if err != nil {
			if p.Form != "" || p.RunInstances.ImageId != "" {
				t.Fatalf("partial result returned with error %v", err)
			}
			return
		}
		if p.RunInstances.ImageId == "" || p.RunInstances.InstanceType == "" {
			t.Fatalf("accepted without ImageId/InstanceType: %q", s)
		}
		if len(p.Tags) > MaxTags {
			t.Fatalf("accepted %d tags", len(p.Tags))
		}
		// Whatever was accepted must encode without panicking.
		_ = (&ecs.RunRequest{Args: p.RunInstances, Tags: p.Tags}).Values()
	})
}

// Problems come in a fixed order, so an error message (and a test or a
// user comparing two) does not change from one parse to the next.
func TestParsePropertiesProblemOrderIsStable(t *testing.T) {
	in := types.AnyString(`{"RunInstances":{"ImageId":"i","InstanceType":"t","Period":1,"AutoRenew":true,"AutoRenewPeriod":1}}`)
	want := []string{
		"RunInstances.Period: only allowed when InstanceChargeType is PrePaid",
		"RunInstances.AutoRenew: only allowed when InstanceChargeType is PrePaid",
		"RunInstances.AutoRenewPeriod: only allowed when InstanceChargeType is PrePaid",
	}
	for i := 0; i < 20; i++ {
		_, err := ParseProperties(in)
		equal(t, want, testutil.ErrorAs[*PropertiesError](t, err).Problems, "parse", i)
	}
}
