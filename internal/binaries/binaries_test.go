package binaries

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleasedBinariesDoNotLinkTesting: no main package under cmd/ (of
// this module and of the ha module) may depend on package testing (it
// registers test flags and drags the test runtime into a released
// binary). The bench command once did, through the e2e harness.
func TestReleasedBinariesDoNotLinkTesting(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if n := checkMains(t, root); n < 5 {
		t.Fatalf("found %d main packages under cmd/, want every released binary", n)
	}
	if n := checkMains(t, filepath.Join(root, "ha")); n < 1 {
		t.Fatalf("found %d main packages under ha/cmd/, want infrakit-manager", n)
	}
}

// checkMains reports every main package under dir/cmd linking testing and
// returns how many main packages it checked.
func checkMains(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command(goTool(), "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Deps " "}}`, "./cmd/...")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./cmd/... in %s: %v", dir, err)
	}
	mains := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "main" {
			continue
		}
		mains++
		for _, dep := range f[2:] {
			if dep == "testing" {
				t.Errorf("%s links package testing", f[0])
			}
		}
	}
	return mains
}
