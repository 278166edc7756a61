// Command infrakit is the InfraKit command line interface, built from
// InfraKit's CLI library and its dynamic plugin commands.
package main

import (
	"os"

	"infrakit.aliyun/internal/infrakitcli"
)

func main() {
	os.Exit(infrakitcli.Main(os.Args[1:]))
}
