package docgen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"infrakit.aliyun/internal/testflags"
)

func TestMain(m *testing.M) { os.Exit(testflags.Main(m)) }

// TestGeneratedDocsAreCurrent fails when docs/properties.md or
// docs/ram-policy.json differ from what the code generates. With
// UPDATE_DOCS=1 it rewrites them instead (go generate ./internal/docgen).
func TestGeneratedDocsAreCurrent(t *testing.T) {
	props, err := Properties()
	if err != nil {
		t.Fatal(err)
	}
	actions, err := Actions(ECSDir())
	if err != nil {
		t.Fatal(err)
	}
	policy, err := RAMPolicy(actions)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"properties.md": props, "ram-policy.json": policy} {
		path := filepath.Join(RepoRoot(), "docs", name)
		if os.Getenv("UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/%s is stale (or missing: %v); run: go generate ./internal/docgen", name, err)
		}
	}
}

func TestPropertiesReferenceContent(t *testing.T) {
	b, err := Properties()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"| `RunInstances` | object ([RunInstancesArgs](#runinstancesargs)) |",
		"| `Tags` | object (string → string) |",
		"| `InstanceTypes` | array of string |",
		"| `SameMemoryFallback` | boolean |",
		"## SystemDiskArgs", "## DataDiskArgs",
		"| `SpotPriceLimit` | number |", "| `DataDisk` | array of object ([DataDiskArgs](#datadiskargs)) |",
		"CreateInstanceArgs", // the legacy alias, from RunInstances' doc comment
	} {
		if !strings.Contains(s, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if strings.Contains(s, "| `Form` |") {
		t.Error("Form is set by the parser, not a key, but is documented as one")
	}
	if isTopLevelKey("NoSuchKey") || !isTopLevelKey("Tags") {
		t.Error("isTopLevelKey does not tell keys from non-keys")
	}
}

// The checked-in policy must allow every action the plugin calls; the
// scanner must see the adapter's known calls and refuse dynamic names. The
// plugin itself calls no ECS action but through internal/ecs.
func TestRAMPolicyCoversPluginActions(t *testing.T) {
	direct, err := Actions(PluginDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) != 0 {
		t.Errorf("plugin/instance calls ECS past internal/ecs: %v", direct)
	}
	actions, err := Actions(ECSDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"RunInstances", "DescribeInstances", "DeleteInstance", "TagResources"} {
		found := false
		for _, a := range actions {
			found = found || a == must
		}
		if !found {
			t.Errorf("scanner missed %s (got %v)", must, actions)
		}
	}
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "docs", "ram-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource string
		}
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if st.Effect == "Allow" {
				allowed[a] = true
			}
		}
	}
	for _, a := range actions {
		if !allowed["ecs:"+a] {
			t.Errorf("docs/ram-policy.json does not allow ecs:%s", a)
		}
	}
	if len(allowed) != len(actions) {
		t.Errorf("policy allows %d actions, the plugin calls %d: it must list exactly those", len(allowed), len(actions))
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.go"), []byte(`package x
const actStop = "StopInstance"
func f(a, c any, name string) {
	call[int](nil, a, "StartInstance", nil)
	c.Invoke(actStop, nil, nil)
	call[int](nil, a, name, nil)
}`), 0o644)
	if _, err := Actions(dir); err == nil || !strings.Contains(err.Error(), "x.go:6") {
		t.Errorf("dynamic action name not refused: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "x.go"), []byte(`package x
const actStop = "StopInstance"
func f(a, c any) { call[int](nil, a, "StartInstance", nil); c.Invoke(actStop, nil, nil); callPages[int](nil, a, "DescribeDisks", 100, nil, nil) }`), 0o644)
	got, err := Actions(dir)
	if err != nil || strings.Join(got, ",") != "DescribeDisks,StartInstance,StopInstance" {
		t.Errorf("Actions = %v, %v", got, err)
	}
}
