package ext_test

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// sendTimed sends the packets from inside the namespace, pausing gaps[i]
// before packet i, and returns for each packet the monotonic times just
// before and just after its sendto: the kernel evaluated the OUTPUT rules
// on it somewhere in between.
func (n *kns) sendTimed(pkts [][]byte, gaps []time.Duration) (before, after []int64) {
	n.t.Helper()
	hs := make([]string, len(pkts))
	gs := make([]string, len(pkts))
	for i, p := range pkts {
		hs[i] = hex.EncodeToString(p)
		gs[i] = strconv.FormatInt(int64(gaps[i]), 10)
	}
	f := filepath.Join(n.t.TempDir(), "times")
	cmd := exec.Command("ip", "netns", "exec", n.name, os.Args[0], "-test.run=^TestRawSendHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), rawSendEnv+"="+strings.Join(hs, ","),
		rawSendGapsEnv+"="+strings.Join(gs, ","), rawSendTimesEnv+"="+f)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("sending: %v: %s", err, out)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		n.t.Fatal(err)
	}
	fs := strings.Fields(string(b))
	if len(fs) != 2*len(pkts) {
		n.t.Fatalf("sender wrote %d times for %d packets", len(fs), len(pkts))
	}
	for i := 0; i < len(fs); i += 2 {
		x, err1 := strconv.ParseInt(fs[i], 10, 64)
		y, err2 := strconv.ParseInt(fs[i+1], 10, 64)
		if err1 != nil || err2 != nil {
			n.t.Fatalf("bad times %q", b)
		}
		before, after = append(before, x), append(after, y)
	}
	return before, after
}

// limitCountRange evaluates the rules in nfgo over the timelines the
// kernel may have seen: every gap between two packets as short and as
// long as the send times allow, and for xt_limit every phase of the
// jiffy clock. A token bucket never matches fewer packets when a gap
// grows, so the kernel's count lies between the extremes.
func limitCountRange(t *testing.T, rules []string, pkts [][]byte, before, after []int64, legacy bool) (lo, hi []int) {
	t.Helper()
	old := ext.LegacyXtables
	ext.LegacyXtables = legacy
	defer func() { ext.LegacyXtables = old }()
	const t0 = int64(1_700_000_000_000_000_000)
	for _, short := range []bool{true, false} {
		// Offsets of the packets from the first.
		off := make([]int64, len(pkts))
		for i := 1; i < len(off); i++ {
			gap := after[i] - before[i-1]
			if short {
				gap = max(0, before[i]-after[i-1])
			}
			off[i] = off[i-1] + gap
		}
		phases := []int64{0}
		if legacy {
			// xt_limit counts jiffies: try a tick before every packet
			// of the first jiffy, so a tick anywhere in a short burst
			// is covered, besides a spread of phases.
			for p := int64(1); p < 8; p++ {
				phases = append(phases, p*jiffy/8)
			}
			for i := 1; i < len(off); i++ {
				if off[i] < jiffy {
					phases = append(phases, jiffy-off[i])
				}
			}
		}
		for _, ph := range phases {
			ts := make([]int64, len(pkts))
			for i := range ts {
				ts[i] = t0 + ph + off[i]
			}
			c := nfgoCounts(t, rules, pkts, ts)
			if lo == nil {
				lo, hi = append([]int(nil), c...), append([]int(nil), c...)
			}
			for j := range c {
				lo[j], hi[j] = min(lo[j], c[j]), max(hi[j], c[j])
			}
		}
	}
	return lo, hi
}

// TestKernelLimitBackends compares -m limit under iptables-nft (the
// nftables limit expression) and iptables-legacy (xt_limit) with nfgo in
// the matching mode, over packets sent back to back and with pauses.
func TestKernelLimitBackends(t *testing.T) {
	allRules := []string{
		"-m limit --limit 1/day",
		"-m limit --limit 1/hour --limit-burst 3",
		"-m limit --limit 2/min --limit-burst 5",
		"-m limit --limit 100/sec --limit-burst 1",
		"-m limit --limit 10000/sec",
		"-m limit --limit 3/sec --limit-burst 2",
		"-m limit --limit 3/sec --limit-burst 1",
		"-m limit --limit 5/sec --limit-burst 1",
		"-m limit --limit 1/sec --limit-burst 4",
		"-m limit --limit 2/sec --limit-burst 0",
	}
	// exact says which rules the scenario decides whatever the timing
	// (checked on nfgo's range); the others only need the kernel's count
	// within the range.
	type scenario struct {
		name  string
		gaps  []time.Duration
		exact func(rule string) bool
	}
	fast := func(r string) bool { return strings.Contains(r, "10000/sec") }
	b2b := scenario{name: "back-to-back", gaps: make([]time.Duration, 14), exact: func(r string) bool { return !fast(r) }}
	// Groups of packets back to back with 400 ms between groups: 3/sec
	// gains 1.2 packets' worth per pause, so its outcomes sit at least
	// 66 ms from a boundary; a late wakeup only lengthens the pause, which
	// the measured times account for.
	var paced []time.Duration
	for _, g := range []int{4, 3, 1, 2, 3} {
		for i := 0; i < g; i++ {
			d := time.Duration(0)
			if i == 0 && len(paced) > 0 {
				d = 400 * time.Millisecond
			}
			paced = append(paced, d)
		}
	}
	sc := []scenario{b2b, {name: "paced", gaps: paced, exact: func(r string) bool { return !fast(r) }}}

	for _, s := range sc {
		var pkts [][]byte
		for i := range s.gaps {
			pkts = append(pkts, rateKpkt("10.202.0.1", uint16(6000+i), []byte("x")))
		}
		for _, backend := range []string{"iptables", "iptables-legacy"} {
			t.Run(s.name+"/"+backend, func(t *testing.T) {
				legacy := backend == "iptables-legacy"
				n := newKNSNamed(t, "nfx-nftlimit")
				// xt_limit refuses some rules nft_limit takes: both
				// kernels and nfgo's check must agree on which.
				old := ext.LegacyXtables
				var rules []string
				for _, r := range allRules {
					ext.LegacyXtables = false // loads every rule
					m := oneMatch(t, nf.IPv4, r)
					ext.LegacyXtables = legacy
					err := m.(ext.Checker).Check(&ext.CheckCtx{})
					kerr := exec.Command("ip", append([]string{"netns", "exec", n.name, backend, "-A", "OUTPUT"}, strings.Fields(r)...)...).Run()
					if (err != nil) != (kerr != nil) {
						t.Errorf("%q: nfgo check %v, kernel %v", r, err, kerr)
					}
					if err == nil {
						rules = append(rules, r)
					}
				}
				ext.LegacyXtables = old
				n.rateRun("", backend, "-F", "OUTPUT")
				var in strings.Builder
				in.WriteString("*filter\n")
				for _, r := range rules {
					in.WriteString("-A OUTPUT " + r + "\n")
				}
				in.WriteString("COMMIT\n")
				n.rateRun(in.String(), backend+"-restore")
				before, after := n.sendTimed(pkts, s.gaps)
				got := n.counts(backend + "-save")
				if len(got) != len(rules) {
					t.Fatalf("kernel counters %v for %d rules", got, len(rules))
				}
				lo, hi := limitCountRange(t, rules, pkts, before, after, legacy)
				for j, r := range rules {
					if s.exact(r) && lo[j] != hi[j] {
						t.Errorf("test design: %q is not decided by the scenario: nfgo %d..%d", r, lo[j], hi[j])
					}
					if got[j] < lo[j] || got[j] > hi[j] {
						t.Errorf("%q: kernel %d, nfgo %d..%d", r, got[j], lo[j], hi[j])
					}
				}
				t.Logf("kernel %v, nfgo %v..%v, sending took %v", got, lo, hi, time.Duration(after[len(after)-1]-before[0]))
			})
		}
	}
}
