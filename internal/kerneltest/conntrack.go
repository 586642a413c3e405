package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The DUT's connection tracking as the tools show it: conntrack -L and
// conntrack -E run inside the DUT namespace.

// Conntrack returns the DUT's conntrack table as `conntrack -L` prints
// it, one entry a line (the summary line on stderr dropped), in the
// kernel's dump order.
func (l *Lab) Conntrack(args ...string) ([]string, error) {
	l.Settle()
	r := l.Run(append([]string{"conntrack", "-L"}, args...)...)
	if r.Code != 0 {
		return nil, fmt.Errorf("conntrack -L: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	}
	return splitLines(r.Stdout), nil
}

// ProcConntrack returns the DUT's /proc/net/nf_conntrack lines.
func (l *Lab) ProcConntrack() ([]string, error) {
	l.Settle()
	r := l.Run("cat", "/proc/net/nf_conntrack")
	if r.Code != 0 {
		return nil, fmt.Errorf("/proc/net/nf_conntrack: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	}
	return splitLines(r.Stdout), nil
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ctEvents is a running `conntrack -E` in the DUT.
type ctEvents struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

// StartConntrackEvents starts `conntrack -E` (with extra arguments) in
// the DUT; ConntrackEvents stops it and returns what it printed. Start it
// before injecting: it listens from then on.
func (l *Lab) StartConntrackEvents(args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.DUT.Name, "conntrack", "-E"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	ev := &ctEvents{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("conntrack -E: %w", err)
	}
	go func() {
		defer close(ev.done)
		s := bufio.NewScanner(out)
		for s.Scan() {
			ev.mu.Lock()
			ev.buf.WriteString(s.Text())
			ev.buf.WriteByte('\n')
			ev.mu.Unlock()
		}
	}()
	l.mu.Lock()
	l.ctev = ev
	l.mu.Unlock()
	// conntrack subscribes to the event groups right after it starts;
	// give it that moment so the first event is not missed.
	time.Sleep(100 * time.Millisecond)
	return nil
}

// ConntrackEvents stops the running `conntrack -E` and returns its event
// lines in order.
func (l *Lab) ConntrackEvents() []string {
	l.Settle()
	l.mu.Lock()
	ev := l.ctev
	l.ctev = nil
	l.mu.Unlock()
	if ev == nil {
		return nil
	}
	// Events are delivered asynchronously; a short pause lets the last
	// ones reach the listener before it is told to stop. SIGINT makes
	// conntrack flush and exit cleanly.
	time.Sleep(100 * time.Millisecond)
	ev.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-ev.done:
	case <-time.After(3 * time.Second):
		ev.cmd.Process.Kill()
		<-ev.done
	}
	ev.cmd.Wait()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return splitLines(ev.buf.String())
}

// Lines splits command output into its non-empty lines.
func Lines(s string) []string { return splitLines(s) }

// ctTimeoutCol finds the timeout column of conntrack -L and -E lines and
// of their expectation forms.
var ctTimeoutCol = regexp.MustCompile(`^(\s*\[\w+\]\s+)?(\w+\s+\d+ |)(\d+) `)

// SameConntrackLine compares a kernel line with nfgo's, the kernel's
// timeout allowed to be up to 5 seconds lower: it counts down while the
// tools run, nfgo's is taken at the last packet.
func SameConntrackLine(kernel, nfgo string) bool {
	km, nm := ctTimeoutCol.FindStringSubmatch(kernel), ctTimeoutCol.FindStringSubmatch(nfgo)
	if km == nil || nm == nil {
		return kernel == nfgo
	}
	kt, _ := strconv.Atoi(km[3])
	nt, _ := strconv.Atoi(nm[3])
	if kt > nt || kt < nt-5 {
		return false
	}
	return km[1]+km[2]+kernel[len(km[0]):] == nm[1]+nm[2]+nfgo[len(nm[0]):]
}

// CompareConntrack reports kernel and nfgo conntrack lines that differ
// (SameConntrackLine), sorted first when the kernel's order is its hash
// order.
func CompareConntrack(t testing.TB, what string, kernel, nfgo []string, sorted bool) {
	t.Helper()
	if sorted {
		// By the line without its timeout, which differs a little.
		key := func(l string) string { return ctTimeoutCol.ReplaceAllString(l, "${1}${2}") }
		byKey := func(a, b string) int { return strings.Compare(key(a), key(b)) }
		kernel, nfgo = slices.Clone(kernel), slices.Clone(nfgo)
		slices.SortFunc(kernel, byKey)
		slices.SortFunc(nfgo, byKey)
	}
	ok := len(kernel) == len(nfgo)
	for i := 0; ok && i < len(kernel); i++ {
		ok = SameConntrackLine(kernel[i], nfgo[i])
	}
	if !ok {
		t.Errorf("%s differ\nkernel:\n%s\nnfgo:\n%s", what, strings.Join(kernel, "\n"), strings.Join(nfgo, "\n"))
	}
}
