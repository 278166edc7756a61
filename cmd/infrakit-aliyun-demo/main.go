// Command infrakit-aliyun-demo is `make demo`: the infrakit-instance-aliyun
// tutorial run for real on the bundled ECS emulator; see internal/demo.
package main

import (
	"os"

	"infrakit.aliyun/internal/demo"
)

func main() {
	os.Exit(demo.Main(os.Args[1:], os.Stdout, os.Stderr))
}
