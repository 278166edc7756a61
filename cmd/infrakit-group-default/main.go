// Command infrakit-group-default runs InfraKit's default group plugin,
// listening as "group" in the InfraKit plugins directory.
package main

import (
	"os"

	"infrakit.aliyun/internal/infrakitplugins"
)

func main() {
	os.Exit(infrakitplugins.Main(infrakitplugins.Group, os.Args[1:], os.Stderr))
}
