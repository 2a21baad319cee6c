package redistest

import "syscall"

// procAttr makes the kernel kill a server when the test process dies
// without running its cleanups (a panic, a -timeout), so that no
// redis-server outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
