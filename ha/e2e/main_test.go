// Package e2e runs InfraKit highly available on a real 3-member etcd
// cluster, every piece a real process: per node an etcd member,
// infrakit-manager (the "group" plugin, elected through etcd), InfraKit's
// stateless group plugin (as "group-stateless"), the vanilla flavor and this
// project's ECS plugin, each node with its own plugins directory and mux
// port, all over one ECS emulator. Leader nodes are SIGKILLed in the middle
// of the group's work and the end state is checked in the emulator.
package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"infrakit.aliyun/internal/e2e/harness"
)

// Binary names beside harness's.
const (
	Manager  = "infrakit-manager"
	Etcd     = "etcd"
	Plugin   = "infrakit-instance-aliyun"
	Emulator = "ecs-emulator"
)

func TestMain(m *testing.M) {
	// InfraKit's pkg/log parses an empty command line in its init: parse
	// again so -test.run and -test.v are honoured.
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if dir := os.Getenv(harness.EnvBinaries); dir != "" {
		harness.Default = &harness.Binaries{Dir: dir}
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ikhabin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	// Each module builds its own binaries with its own go.mod: the main
	// module's mains, this module's manager, the etcd module's server.
	for _, b := range []struct {
		dir  string
		pkgs []string
	}{
		{"../..", []string{"./cmd/infrakit", "./cmd/infrakit-group-default", "./cmd/infrakit-flavor-vanilla",
			"./cmd/infrakit-instance-aliyun", "./cmd/ecs-emulator"}},
		{"..", []string{"./cmd/infrakit-manager"}},
	} {
		if err := goBuild(b.dir, dir+string(os.PathSeparator), b.pkgs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if err := goBuild("../etcd", filepath.Join(dir, Etcd), "go.etcd.io/etcd/server/v3"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built the binaries in %v\n", time.Since(start).Round(time.Millisecond))
	}
	harness.Default = &harness.Binaries{Dir: dir}
	return m.Run()
}

func goBuild(dir, out string, pkgs ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-o", out}, pkgs...)...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %v in %s: %w\n%s", pkgs, dir, err, buf.String())
	}
	return nil
}
