package groupspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/infrakit/pkg/types"
)

func TestParseCapacityProperties(t *testing.T) {
	const img = `"ImageId":"img-1"`
	tests := []parseCase{
		{name: "types and vswitches by list alone",
			in: `{"RunInstances":{` + img + `},"InstanceTypes":["ecs.g6.large","ecs.g5.large"],"VSwitchIds":["vsw-h","vsw-i"],"SameMemoryFallback":true}`,
			check: func(t *testing.T, p Properties) {
				equal(t, []string{"ecs.g6.large", "ecs.g5.large"}, p.InstanceTypeChoices())
				equal(t, []string{"vsw-h", "vsw-i"}, p.VSwitchChoices())
				equal(t, true, p.SameMemoryFallback)
				equal(t, "", p.RunInstances.InstanceType, "the list does not fill RunInstances.InstanceType")
			}},
		{name: "single fields first, then the lists",
			in: `{"RunInstances":{` + img + `,"InstanceType":"ecs.g6.large","VSwitchId":"vsw-h","SpotStrategy":"SpotAsPriceGo"},"InstanceTypes":["ecs.g5.large"],"VSwitchIds":["vsw-i"],"SpotFallbackOnDemand":true}`,
			check: func(t *testing.T, p Properties) {
				equal(t, []string{"ecs.g6.large", "ecs.g5.large"}, p.InstanceTypeChoices())
				equal(t, []string{"vsw-h", "vsw-i"}, p.VSwitchChoices())
				equal(t, true, p.SpotFallbackOnDemand)
			}},
		{name: "null keys are not set", in: `{"RunInstances":{` + img + `,"InstanceType":"t"},"InstanceTypes":null,"SameMemoryFallback":null}`,
			check: func(t *testing.T, p Properties) {
				equal(t, []string{"t"}, p.InstanceTypeChoices())
				equal(t, false, p.SameMemoryFallback)
			}},
		{name: "one vswitch from the list takes a private IP",
			in: `{"RunInstances":{` + img + `,"InstanceType":"t","PrivateIpAddress":"172.16.0.9"},"VSwitchIds":["vsw-h"]}`},
		{name: "no type at all", in: `{"RunInstances":{` + img + `}}`, wantErr: []string{"RunInstances.InstanceType: required"}},
		{name: "empty lists", in: `{"RunInstances":{` + img + `,"InstanceType":"t","VSwitchId":"v"},"InstanceTypes":[],"VSwitchIds":[]}`,
			wantErr: []string{"InstanceTypes: must not be empty (omit the key to use RunInstances.InstanceType alone)",
				"VSwitchIds: must not be empty (omit the key to use RunInstances.VSwitchId alone)"}},
		{name: "empty list and no single type", in: `{"RunInstances":{` + img + `},"InstanceTypes":[]}`,
			wantErr: []string{"RunInstances.InstanceType: required", "InstanceTypes: must not be empty"}},
		{name: "duplicates", in: `{"RunInstances":{` + img + `,"InstanceType":"a"},"InstanceTypes":["b","a","b"],"VSwitchIds":["v","v"]}`,
			wantErr: []string{`InstanceTypes[1]: "a" is already RunInstances.InstanceType, which is tried first; list only the fallbacks`,
				`InstanceTypes[2]: duplicate "b"`, `VSwitchIds[1]: duplicate "v"`}},
		{name: "blank and spaced entries", in: `{"RunInstances":{` + img + `},"InstanceTypes":["", "a b", null]}`,
			wantErr: []string{`InstanceTypes[0]: must not be empty`, `InstanceTypes[1]: "a b" must not contain white space`, `InstanceTypes[2]: must not be empty`}},
		{name: "wrong shapes", in: `{"RunInstances":{` + img + `,"InstanceType":"t"},"InstanceTypes":"ecs.g6.large","VSwitchIds":[1],"SameMemoryFallback":"yes","SpotFallbackOnDemand":1}`,
			wantErr: []string{`InstanceTypes: want a list, got string "ecs.g6.large"`, "VSwitchIds[0]: want a string, got number 1",
				`SameMemoryFallback: want true or false, got string "yes"`, "SpotFallbackOnDemand: want true or false, got number 1"}},
		{name: "misspelt key", in: `{"RunInstances":{` + img + `,"InstanceType":"t"},"instanceTypes":["a"]}`,
			wantErr: []string{`instanceTypes: unknown field (did you mean "InstanceTypes"?)`}},
		{name: "ZoneId with VSwitchIds", in: `{"RunInstances":{` + img + `,"InstanceType":"t","ZoneId":"cn-hangzhou-h"},"VSwitchIds":["vsw-h"]}`,
			wantErr: []string{"RunInstances.ZoneId: must not be set with VSwitchIds: each vswitch implies its zone"}},
		{name: "private IP with two vswitches", in: `{"RunInstances":{` + img + `,"InstanceType":"t","VSwitchId":"vsw-h","PrivateIpAddress":"172.16.0.9"},"VSwitchIds":["vsw-i"]}`,
			wantErr: []string{"RunInstances.PrivateIpAddress: fits one vswitch only, RunInstances.VSwitchId and VSwitchIds give 2"}},
		{name: "SameMemoryFallback without any type", in: `{"RunInstances":{` + img + `},"SameMemoryFallback":true}`,
			wantErr: []string{"SameMemoryFallback: needs RunInstances.InstanceType or InstanceTypes"}},
		{name: "SpotFallbackOnDemand without spot", in: `{"RunInstances":{` + img + `,"InstanceType":"t"},"SpotFallbackOnDemand":true}`,
			wantErr: []string{"SpotFallbackOnDemand: only allowed when RunInstances.SpotStrategy is SpotWithPriceLimit or SpotAsPriceGo"}},
		{name: "too many choices", in: `{"RunInstances":{` + img + `,"InstanceType":"t"},"InstanceTypes":` + list("t", MaxCapacityChoices) + `}`,
			wantErr: []string{fmt.Sprintf("InstanceTypes: %d choices with RunInstances.InstanceType, at most %d", MaxCapacityChoices+1, MaxCapacityChoices)}},
		{name: "legacy form names its own paths", in: `{"CreateInstanceArgs":{` + img + `,"InstanceType":"a","ZoneId":"z"},"InstanceTypes":["a"],"VSwitchIds":["v"]}`,
			wantErr: []string{`InstanceTypes[0]: "a" is already CreateInstanceArgs.InstanceType`, "CreateInstanceArgs.ZoneId: must not be set with VSwitchIds"}},
	}
	runParseCases(t, tests)
}

func list(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// The multi-zone example parses, and names the lists it promises.
func TestMultizoneExampleParses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "example", "aliyun-multizone.json"))
	noErr(t, err)
	var spec struct {
		Properties struct {
			Instance struct{ Properties json.RawMessage }
		}
	}
	noErr(t, json.Unmarshal(b, &spec))
	p, err := ParseProperties(types.AnyBytes(spec.Properties.Instance.Properties))
	noErr(t, err)
	equal(t, 3, len(p.VSwitchChoices()))
	if len(p.InstanceTypeChoices()) < 2 {
		t.Errorf("want an InstanceTypes fallback list, got %v", p.InstanceTypeChoices())
	}
}
