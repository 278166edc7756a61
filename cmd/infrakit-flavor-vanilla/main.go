// Command infrakit-flavor-vanilla runs InfraKit's vanilla flavor plugin,
// listening as "flavor-vanilla" in the InfraKit plugins directory.
package main

import (
	"os"

	"infrakit.aliyun/internal/infrakitplugins"
)

func main() {
	os.Exit(infrakitplugins.Main(infrakitplugins.Vanilla, os.Args[1:], os.Stderr))
}
