package binaries

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReleasedBinariesDoNotLinkTesting: no main package under cmd/ may
// depend on package testing (it registers test flags and drags the test
// runtime into a released binary). The bench command once did, through
// the e2e harness.
func TestReleasedBinariesDoNotLinkTesting(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool(), "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Deps " "}}`, "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./cmd/...: %v", err)
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
	if mains < 5 {
		t.Fatalf("found %d main packages under cmd/, want the released binaries:\n%s", mains, out)
	}
}
