package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The kernel log is one for all namespaces, so labs take turns: an
// exclusive flock on this file, held from NewLab to cleanup, serialises
// labs across test binaries (go test runs packages in parallel) and, since
// flock locks belong to open file descriptions, within one binary as well.
const labLockPath = "/run/lock/nfgo-kmsg.lock"

// labLockWait bounds the wait for another lab to finish.
const labLockWait = 5 * time.Minute

func lockLabs() (*os.File, error) {
	f, err := os.OpenFile(labLockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	deadline := time.Now().Add(labLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lab lock %s: %w", labLockPath, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lab lock %s: another lab held it for %v (one lab at a time; Close the previous one)", labLockPath, labLockWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LOG from namespaces other than the initial one is dropped unless this is
// set. It is left at 1 afterwards: restoring 0 would silence kernel tests
// running at the same time in other namespaces, and 1 only matters to hosts
// that log from containers.
const logAllNetns = "/proc/sys/net/netfilter/nf_log_all_netns"

func enableNetnsLog() error {
	b, err := os.ReadFile(logAllNetns)
	if err != nil {
		return fmt.Errorf("nf_log_all_netns: %w", err)
	}
	if strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(logAllNetns, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("nf_log_all_netns: %w", err)
	}
	return nil
}

// kmsgReader reads kernel log records from a position taken when it was
// opened; it never blocks.
type kmsgReader struct {
	fd  int
	buf []byte
}

func openKmsg() (*kmsgReader, error) {
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kmsg: %w", err)
	}
	// SEEK_END on /dev/kmsg moves to the record after the newest one.
	if _, err := syscall.Seek(fd, 0, 2); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	return &kmsgReader{fd: fd, buf: make([]byte, 1<<14)}, nil
}

// kmsgRecord is one kernel log record: its syslog facility and level, and
// the message text with /dev/kmsg's \xNN escapes undone.
type kmsgRecord struct {
	facility, level int
	text            string
}

// read returns the records logged since the previous call.
func (k *kmsgReader) read() ([]kmsgRecord, error) {
	var out []kmsgRecord
	for {
		// Each read returns exactly one record.
		n, err := syscall.Read(k.fd, k.buf)
		if err != nil {
			switch {
			case errors.Is(err, syscall.EAGAIN):
				return out, nil
			case errors.Is(err, syscall.EPIPE):
				// Records were overwritten before we read them; the next read
				// continues with the oldest one still stored.
				continue
			case errors.Is(err, syscall.EINTR):
				continue
			}
			return out, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		if r, ok := parseKmsg(string(k.buf[:n])); ok {
			out = append(out, r)
		}
	}
}

func (k *kmsgReader) close() {
	if k != nil && k.fd >= 0 {
		syscall.Close(k.fd)
		k.fd = -1
	}
}

// parseKmsg parses "pri,seq,usec,flags[,...];text\n" followed by optional
// " KEY=value\n" dictionary lines, which belong to the record and are not
// part of the message.
func parseKmsg(rec string) (kmsgRecord, bool) {
	semi := strings.IndexByte(rec, ';')
	if semi < 0 {
		return kmsgRecord{}, false
	}
	head, body := rec[:semi], rec[semi+1:]
	comma := strings.IndexByte(head, ',')
	if comma < 0 {
		return kmsgRecord{}, false
	}
	pri, err := strconv.Atoi(head[:comma])
	if err != nil {
		return kmsgRecord{}, false
	}
	if nl := strings.IndexByte(body, '\n'); nl >= 0 {
		body = body[:nl]
	}
	return kmsgRecord{facility: pri >> 3, level: pri & 7, text: unescapeKmsg(body)}, true
}

// unescapeKmsg undoes the \xNN escapes /dev/kmsg applies to control
// characters, bytes above 126 and the backslash itself.
func unescapeKmsg(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// logIfaces extracts the IN= and OUT= interface names of a netfilter LOG
// line ("<prefix>IN=<in> OUT=<out> ..."). The prefix is free text and may
// itself contain "IN=", so every occurrence is tried.
func logIfaces(line string) (in, out string, ok bool) {
	for i := 0; ; {
		j := strings.Index(line[i:], "IN=")
		if j < 0 {
			return "", "", false
		}
		rest := line[i+j+3:]
		sp := strings.IndexByte(rest, ' ')
		if sp >= 0 && strings.HasPrefix(rest[sp:], " OUT=") {
			o := rest[sp+5:]
			if sp2 := strings.IndexByte(o, ' '); sp2 >= 0 {
				return rest[:sp], o[:sp2], true
			}
		}
		i += j + 3
	}
}

// LockKernelLog makes a test that writes to or reads the kernel log
// outside a Lab take its turn with the labs: it holds the machine-wide
// lab lock until the test ends, so lines from namespaces that share
// interface names (lo, eth0) cannot mix.
func LockKernelLog(t testing.TB) {
	t.Helper()
	f, err := lockLabs()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}
