package instance

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testflags"
	"infrakit.aliyun/internal/testutil"
)

// TestMain restores the go test flags that InfraKit's init swallows.
func TestMain(m *testing.M) { os.Exit(testflags.Main(m)) }

// Small stdlib-only assertions: testify's own dependencies are not in go.mod.
// The common ones are shared with the other packages' tests.
var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
	isErr       = testutil.IsErr
)

// manyTags is a JSON object of n tags k00..k(n-1).
func manyTags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q:%q", fmt.Sprintf("k%02d", i), "v")
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// newPlugin builds the plugin over a fake: the call groups the fake (or
// the API under a describe cache) implements besides ecs.InstanceAPI are
// used, as the adapter's are by New.
func newPlugin(api ecs.InstanceAPI, cfg Config) (*Plugin, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	inner := api
	if c, ok := api.(*describeCache); ok {
		inner = c.InstanceAPI
	}
	all := apis{instances: api}
	all.capacity, _ = inner.(ecs.CapacityAPI)
	all.spot, _ = inner.(ecs.SpotAPI)
	return build(all, cfg), nil
}
