package aliyun

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/types"

	ecsplugin "infrakit.aliyun/plugin/instance"
)

// TestExamplesAreValid checks every group spec in example/: its instance
// properties must pass the running plugin's Validate (called over the socket
// with InfraKit's own RPC client, as the group plugin does) and
// instance.ParseProperties; a deliberately broken copy must fail both.
func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{namespaceTags: "e2e=examples"})
	client, err := rpcinstance.NewClient(plugin.Name(pluginName), w.E.SocketPath(pluginName))
	if err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob(filepath.Join(filepath.Dir(examplePath(t, "x")), "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("example/ holds %d files, expected at least the vanilla and pets specs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if !strings.HasSuffix(f, ".json") {
				t.Fatalf("%s: not a JSON group spec; teach this test about it", f)
			}
			spec := readSpec(t, f)
			if spec.ID == "" || spec.Properties.Instance.Plugin != pluginName || spec.Properties.Flavor.Plugin == "" {
				t.Fatalf("%s: want an ID, Instance.Plugin %q and a flavor: %+v", f, pluginName, spec)
			}
			if spec.Properties.Allocation.Size == 0 && len(spec.Properties.Allocation.LogicalIDs) == 0 {
				t.Fatalf("%s: allocates no instances", f)
			}
			props := types.AnyBytes(spec.Properties.Instance.Properties)
			if err := client.Validate(props); err != nil {
				t.Errorf("%s: plugin Validate over RPC: %v", f, err)
			}
			if _, err := ecsplugin.ParseProperties(props); err != nil {
				t.Errorf("%s: ParseProperties: %v", f, err)
			}

			// the same path rejects a broken copy
			var m map[string]any
			if err := json.Unmarshal(props.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			m["RunInstances"].(map[string]any)["InstanceTyp"] = "ecs.g6.large"
			broken := types.AnyValueMust(m)
			if err := client.Validate(broken); err == nil || !strings.Contains(err.Error(), "RunInstances.InstanceTyp") {
				t.Errorf("Validate of a broken copy: %v, want an error naming RunInstances.InstanceTyp", err)
			}
			if _, err := ecsplugin.ParseProperties(broken); err == nil {
				t.Error("ParseProperties accepted a broken copy")
			}
		})
	}
	if _, err := os.Stat(w.E.SocketPath(pluginName)); err != nil {
		t.Fatal(err)
	}
	w.Stop()
}
