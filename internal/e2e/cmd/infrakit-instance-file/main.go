// Command infrakit-instance-file is a test helper: it runs InfraKit's own
// file-backed instance plugin (pkg/run/v0/file) as "instance-file", so the
// group plugin and CLI can be exercised without a cloud.
// The directory for instance files comes from INFRAKIT_INSTANCE_FILE_DIR or
// --options '{"Dir":"..."}'.
package main

import (
	"os"

	file_kind "github.com/docker/infrakit/pkg/run/v0/file"

	"infrakit.aliyun/internal/infrakitplugins"
)

func main() {
	os.Exit(infrakitplugins.Main(infrakitplugins.Kind{
		Program:        "infrakit-instance-file",
		DefaultName:    "instance-file",
		Run:            file_kind.Run,
		DefaultOptions: file_kind.DefaultOptions,
		Env:            []string{file_kind.EnvDir, "INFRAKIT_PLUGINS_DIR / INFRAKIT_HOME"},
	}, os.Args[1:], os.Stderr))
}
