// Package binaries builds this module's main packages (and InfraKit's,
// pinned in go.mod) into a directory with one `go build`, and names them.
// The e2e harness and the released bench command both use it; it must not
// import package testing, so the bench binary does not link it.
package binaries

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Import paths of the binaries this project builds for InfraKit.
const (
	PkgCLI          = "infrakit.aliyun/cmd/infrakit"
	PkgGroup        = "infrakit.aliyun/cmd/infrakit-group-default"
	PkgVanilla      = "infrakit.aliyun/cmd/infrakit-flavor-vanilla"
	PkgInstanceFile = "infrakit.aliyun/internal/e2e/cmd/infrakit-instance-file"
)

// Binary names (base names of the packages above).
const (
	CLI          = "infrakit"
	Group        = "infrakit-group-default"
	Vanilla      = "infrakit-flavor-vanilla"
	InstanceFile = "infrakit-instance-file"
)

// Set is a directory of built executables.
type Set struct {
	Dir string
}

// Path returns the path of the named binary (base name of its package).
func (b *Set) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(b.Dir, name)
}

// ModuleRoot returns the directory of the go.mod enclosing the current directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// Build compiles the given main packages (import paths or ./relative to the
// module root) into dir with one `go build` and returns the binaries.
func Build(dir string, pkgs ...string) (*Set, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return &Set{Dir: dir}, nil
}
