// Command infrakit-instance-aliyun is an InfraKit instance plugin for
// Alibaba Cloud ECS.
package main

import (
	"os"

	"infrakit.aliyun/internal/daemon"
)

func main() {
	os.Exit(daemon.Main())
}
