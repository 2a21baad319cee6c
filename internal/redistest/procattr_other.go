//go:build !linux

package redistest

import "syscall"

// procAttr is the default elsewhere: only the test's cleanups stop servers.
func procAttr() *syscall.SysProcAttr { return nil }
