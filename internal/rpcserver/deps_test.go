package rpcserver

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// ecsPackages are what a server knowing nothing of ECS must not reach: the
// ECS SDKs, the ECS seam, the cloud configuration, the plugin, the emulator.
var ecsPackages = []string{
	"github.com/denverdino/aliyungo",
	"github.com/alibabacloud-go",
	"github.com/aliyun",
	"infrakit.aliyun/internal/ecs",
	"infrakit.aliyun/internal/cloud",
	"infrakit.aliyun/plugin/instance",
	"infrakit.aliyun/emulator",
}

// ecsDeps returns the packages pkg depends on (go list -deps) that are
// ECS packages or under one.
func ecsDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/docker/infrakit/pkg/spi/instance") {
		t.Fatalf("go list -deps %s listed too little to be trusted: %q", pkg, deps)
	}
	var bad []string
	for _, d := range deps {
		for _, f := range ecsPackages {
			if d == f || strings.HasPrefix(d, f+"/") {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

// The server knows nothing of ECS: neither it nor anything it imports
// reaches an ECS package. The daemon, which does, shows the check can fail.
func TestImportsNothingOfECS(t *testing.T) {
	if bad := ecsDeps(t, "infrakit.aliyun/internal/rpcserver"); len(bad) > 0 {
		t.Errorf("rpcserver depends on %q", bad)
	}
	if bad := ecsDeps(t, "infrakit.aliyun/internal/daemon"); len(bad) == 0 {
		t.Error("the check found no ECS package under internal/daemon, which builds the ECS plugin: it cannot fail")
	}
}
