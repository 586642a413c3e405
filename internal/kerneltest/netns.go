package kerneltest

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// inNetns runs fn on an OS thread switched into the named network
// namespace, so that sockets fn creates belong to that namespace (a socket
// keeps its namespace for life). The thread switches back afterwards; if it
// cannot, it stays locked and Go discards it when the goroutine exits, so
// no other goroutine ever runs in the wrong namespace.
func inNetns(name string, fn func() error) error {
	if sysSetns < 0 {
		return fmt.Errorf("setns: %w", syscall.ENOSYS)
	}
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine: its locked thread is thrown away if restoring fails.
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := setns(int(target.Fd())); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := setns(int(orig.Fd())); err != nil {
			errc <- fmt.Errorf("leave namespace %s: %w", name, err)
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func setns(fd int) error {
	_, _, e := syscall.RawSyscall(uintptr(sysSetns), uintptr(fd), uintptr(syscall.CLONE_NEWNET), 0)
	if e != 0 {
		return e
	}
	return nil
}
