// Package aliyunenv is what the end-to-end tests of the ECS plugin (the
// aliyun, crash and spot packages) share on top of harness: the binaries
// they build, the TestMain that builds them, and starting the ECS emulator.
//
//	func TestMain(m *testing.M) { os.Exit(aliyunenv.Main(m)) }
package aliyunenv

import (
	"testing"

	"infrakit.aliyun/internal/e2e/emuctl"
	"infrakit.aliyun/internal/e2e/harness"
)

// Import paths of the plugin and the emulator.
const (
	PkgPlugin   = "infrakit.aliyun/cmd/infrakit-instance-aliyun"
	PkgEmulator = "infrakit.aliyun/cmd/ecs-emulator"
)

// Binary names (base names of the packages above), and the plugin's
// default name (its socket in the plugins directory, and the CLI command).
const (
	Plugin     = "infrakit-instance-aliyun"
	Emulator   = "ecs-emulator"
	PluginName = "instance-aliyun"
)

// Main is for TestMain: it builds InfraKit's CLI, group plugin and vanilla
// flavor, the plugin and the emulator with harness.RunMain (which also
// restores the test flags InfraKit's init swallows), runs the tests and
// returns the exit code.
func Main(m *testing.M) int {
	return harness.RunMain(m, harness.PkgCLI, harness.PkgGroup, harness.PkgVanilla, PkgPlugin, PkgEmulator)
}

// StartEmulator starts ecs-emulator in e on a free port, with args added
// to --listen, and waits until it prints its URL. It returns the process
// and a client of its control API, or fails the test with its output.
func StartEmulator(e *harness.Env, args ...string) (*harness.Process, *emuctl.Client) {
	e.T.Helper()
	p := e.Start(Emulator, Emulator, append([]string{"--listen", "127.0.0.1:0"}, args...))
	m, err := p.WaitForOutput(emuctl.ListenLine, harness.StartTimeout)
	if err != nil {
		e.T.Fatalf("%v\n%s", err, p.Output())
	}
	return p, emuctl.New(m[1])
}
