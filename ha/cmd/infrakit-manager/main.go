// Command infrakit-manager runs InfraKit's manager (leader election and the
// stored group specs, over etcd or a file) as the "group" plugin of a node.
package main

import (
	"os"

	"infrakit.aliyun/ha/internal/managercmd"
)

func main() {
	os.Exit(managercmd.Main(os.Args[1:], os.Stderr))
}
