//go:build !linux

package demo

import "syscall"

// sysProcAttr puts a background process in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
