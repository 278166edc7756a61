// Package aliyun proves the ECS instance plugin inside real InfraKit: every
// piece runs as its own process over real sockets (the ECS emulator, the
// infrakit-instance-aliyun daemon, InfraKit's group plugin and vanilla
// flavor, and the infrakit CLI), and the tests check both what InfraKit
// reports and what the emulator holds, through its control API.
package aliyun

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

const pluginName = aliyunenv.PluginName

func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }

// world is one test's processes: emulator, plugin, group and vanilla.
type world struct{ *aliyunenv.World }

type worldOptions struct {
	namespaceTags string // --namespace-tags
	credsFromEnv  bool   // credentials and region through ALIBABA_CLOUD_* instead of flags
}

// newWorld starts the world at its pace: 1 s group polls; instances boot
// in 30 s of emulated time, which the emulator runs 30 times faster than
// real time.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	var pluginArgs []string
	if o.namespaceTags != "" {
		pluginArgs = append(pluginArgs, "--namespace-tags", o.namespaceTags)
	}
	return &world{aliyunenv.NewWorld(t, aliyunenv.WorldOptions{
		EmulatorArgs: []string{"--boot-time", "30s", "--time-scale", "30", "--seed", "4"},
		PluginArgs:   pluginArgs,
		CredsFromEnv: o.credsFromEnv,
	})}
}

// rows maps instance ID to the whitespace-separated fields of its table row.
func rows(out string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "i-") {
			m[f[0]] = f
		}
	}
	return m
}

func mustEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// groupSpec is the part of a group spec the tests read and change.
type groupSpec struct {
	ID         string
	Properties struct {
		Allocation struct {
			Size       int      `json:",omitempty"`
			LogicalIDs []string `json:",omitempty"`
		}
		Instance struct {
			Plugin     string
			Properties json.RawMessage
		}
		Flavor struct {
			Plugin     string
			Properties struct {
				Init []string
				Tags map[string]string
			}
		}
	}
}

func examplePath(t *testing.T, name string) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "example", name)
}

func readSpec(t *testing.T, path string) groupSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s groupSpec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// instanceProps decodes the instance plugin's properties of a spec loosely.
type instanceProps struct {
	RunInstances map[string]any
	Tags         map[string]string
}

func (s groupSpec) instance(t *testing.T) instanceProps {
	t.Helper()
	var p instanceProps
	if err := json.Unmarshal(s.Properties.Instance.Properties, &p); err != nil {
		t.Fatal(err)
	}
	return p
}
