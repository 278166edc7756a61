// Command ecs-emulator serves an emulated Alibaba Cloud ECS API; see
// package infrakit.aliyun/emulator.
package main

import "infrakit.aliyun/internal/emulatorcmd"

func main() { emulatorcmd.Main() }
