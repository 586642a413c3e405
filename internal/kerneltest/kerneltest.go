// Package kerneltest is nfgo's kernel oracle kit: it runs the real Linux
// netfilter, through Debian's iptables tools, inside throw-away network
// namespaces, so that tests can compare nfgo with the kernel. NS runs the
// iptables tools; Lab (lab.go) adds a device under test wired to an
// injection namespace, for sending frames through the kernel's packet path
// and collecting what comes out: frames, LOG lines and counters.
//
// Tests using it need root, `ip netns` and the iptables binaries; elsewhere
// they skip with a message saying what is missing.
package kerneltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	checkOnce sync.Once
	missing   string
	seq       atomic.Int64
)

// Available reports whether kernel tests can run here, and if not, why.
func Available() (bool, string) {
	checkOnce.Do(func() {
		if os.Geteuid() != 0 {
			missing = "kernel comparison needs root (network namespaces)"
			return
		}
		for _, bin := range []string{"ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save", "iptables", "ip6tables"} {
			if _, err := exec.LookPath(bin); err != nil {
				missing = "kernel comparison needs " + bin + " (apt-get install iptables iproute2)"
				return
			}
		}
		name := fmt.Sprintf("nfgo-probe-%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			missing = "cannot create a network namespace: " + strings.TrimSpace(string(out))
			return
		}
		exec.Command("ip", "netns", "del", name).Run()
	})
	return missing == "", missing
}

// Require skips the test unless the kernel oracle is available.
func Require(t testing.TB) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip("skipping kernel comparison: " + why)
	}
}

// NS is a network namespace owned by one test.
type NS struct {
	Name string
	t    testing.TB
}

// NewNS creates a uniquely named namespace, deleted when the test ends.
func NewNS(t testing.TB) *NS {
	t.Helper()
	Require(t)
	name := fmt.Sprintf("nfgo-t%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, t: t}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return ns
}

// Result is the outcome of a command run in the namespace.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs a command inside the namespace with stdin as its input.
func (n *NS) Run(stdin string, name string, args ...string) Result {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return Result{Stdout: o.String(), Stderr: e.String(), Code: code}
}

func tool(fam int, base string) string {
	if fam == 6 {
		return "ip6" + base
	}
	return "ip" + base
}

// Flush removes every rule, chain and table in the namespace.
func (n *NS) Flush() {
	if r := n.Run("", "nft", "flush", "ruleset"); r.Code != 0 {
		for _, fam := range []int{4, 6} {
			for _, t := range []string{"raw", "mangle", "nat", "filter", "security"} {
				n.Run("", tool(fam, "tables"), "-t", t, "-F")
				n.Run("", tool(fam, "tables"), "-t", t, "-X")
			}
		}
	}
}

// Restore loads rules with the real iptables-restore (fam 4) or
// ip6tables-restore (fam 6); extra arguments are passed on (e.g. "-c").
func (n *NS) Restore(fam int, rules string, extra ...string) Result {
	return n.Run(rules, tool(fam, "tables-restore"), extra...)
}

// Save returns the real iptables-save output with comment lines removed.
func (n *NS) Save(fam int, extra ...string) (string, error) {
	r := n.Run("", tool(fam, "tables-save"), extra...)
	if r.Code != 0 {
		return "", fmt.Errorf("%s: exit %d: %s", tool(fam, "tables-save"), r.Code, r.Stderr)
	}
	return StripComments(r.Stdout), nil
}

// Iptables runs iptables (fam 4) or ip6tables (fam 6) with args.
func (n *NS) Iptables(fam int, args ...string) Result {
	return n.Run("", tool(fam, "tables"), args...)
}

// StripComments removes the "# ..." lines iptables-save prints.
func StripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
