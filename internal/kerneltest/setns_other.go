//go:build !linux || !(amd64 || arm64)

package kerneltest

// Labs need setns; on other architectures NewLab skips.
const sysSetns = -1
