//go:build linux

package kerneltest

import "syscall"

const sysSetns = syscall.SYS_SETNS
