//go:build linux

package kerneltest

// The syscall package's amd64 table stops before setns.
const sysSetns = 308
