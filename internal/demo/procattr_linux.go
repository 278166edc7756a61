package demo

import "syscall"

// sysProcAttr puts a background process in its own process group and has
// the kernel send it SIGTERM if the demo dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
