package infrakitcli

import (
	"runtime/debug"

	"github.com/docker/infrakit/pkg/cli"
	"github.com/spf13/cobra"
)

const infrakitModule = "github.com/docker/infrakit"

// versionCommand is infrakit's own version command, with the build's module
// versions filled in when no -ldflags set cli.Version / cli.Revision.
func versionCommand() *cobra.Command {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if cli.Version == "Unspecified" && bi.Main.Version != "" {
			cli.Version = bi.Main.Path + " " + bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && cli.Revision == "Unspecified" {
				cli.Revision = s.Value
			}
		}
		for _, d := range bi.Deps {
			if d.Path == infrakitModule {
				cli.RegisterInfo("InfraKit library", map[string]interface{}{
					"Module":  d.Path,
					"Version": d.Version,
				})
			}
		}
	}
	return cli.VersionCommand()
}
