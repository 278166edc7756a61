package daemon

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/rpcserver"
)

// Version and Revision are set at build time:
//
//	go build -ldflags "-X infrakit.aliyun/internal/daemon.Version=v0.1.0 -X infrakit.aliyun/internal/daemon.Revision=abc1234"
var (
	Version  = "dev"
	Revision = "unknown"
)

// UserAgent is sent to the ECS API.
func UserAgent() string { return "infrakit.aliyun/" + Version }

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, revision and the InfraKit SPI versions served",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s\n", CommandName)
			fmt.Fprintf(w, "  Version:  %s\n", Version)
			fmt.Fprintf(w, "  Revision: %s\n", Revision)
			fmt.Fprintf(w, "  SPI:      %s\n", strings.Join(rpcserver.SPIVersions(), ", "))
			return nil
		},
	}
}
