package ext_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// useLegacyXtables evaluates -m limit as xt_limit for the rest of the test.
// Tests that use it must not run in parallel with others that read it.
func useLegacyXtables(t *testing.T) {
	t.Helper()
	old := ext.LegacyXtables
	ext.LegacyXtables = true
	t.Cleanup(func() { ext.LegacyXtables = old })
}

const sec = int64(time.Second)

// The nftables limit expression iptables-nft installs: cost = unit*1e9/rate
// ns per packet, a bucket of cost*burst ns that starts full.

func TestNftLimitBoundaries(t *testing.T) {
	base := int64(1_700_000_000) * sec
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	for _, c := range []struct {
		rule string
		ts   []int64
		want string
	}{
		// cost 1e9, bucket 3e9: three at once, then exactly one second's
		// worth of tokens later (carried over the failed packets) one more.
		{"--limit 1/sec --limit-burst 3",
			[]int64{base, base, base, base, base + sec - 1, base + sec, base + sec},
			"[true true true false false true false]"},
		// 7/min: rate 7 per 60 s, cost 60e9/7 = 8571428571 ns (truncated).
		{"--limit 7/min --limit-burst 1",
			[]int64{base, base + 8571428570, base + 8571428571, base + 2*8571428571 - 1, base + 2*8571428571},
			"[true false true false true]"},
		// 1/day, default burst 5: xt_limit's u32 overflow does not exist
		// here; the sixth packet waits a full day.
		{"--limit 1/day",
			[]int64{base, base, base, base, base, base, base + 86400*sec - 1, base + 86400*sec},
			"[true true true true true false false true]"},
		// 1/hour burst 3: the bucket is full again after 3 hours and
		// holds no more than 3 packets however long it stays idle.
		{"--limit 1/hour --limit-burst 3",
			[]int64{base, base, base, base + 3*3600*sec + 100*86400*sec, base + 3*3600*sec + 100*86400*sec,
				base + 3*3600*sec + 100*86400*sec, base + 3*3600*sec + 100*86400*sec},
			"[true true true true true true false]"},
		// 10000/sec: cost 100 us, default burst 5.
		{"--limit 10000/sec",
			[]int64{base, base, base, base, base, base, base + 99_999, base + 100_000, base + 100_000},
			"[true true true true true false false true false]"},
		// Burst 0 is stored as the default 5.
		{"--limit 2/min --limit-burst 0",
			[]int64{base, base, base, base, base, base, base + 30*sec},
			"[true true true true true false true]"},
	} {
		m := oneMatch(t, nf.IPv4, "-m limit "+c.rule)
		if got := fmt.Sprint(rateRun(m, p, c.ts)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.rule, got, c.want)
		}
	}
}

// TestNftLimitRates checks the rate and unit iptables-nft derives from the
// parsed average (add_nft_limit), through the cost of one packet: after the
// bucket of one packet is used, the next match comes exactly one cost later.
func TestNftLimitRates(t *testing.T) {
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	for _, c := range []struct {
		rate string
		cost int64
	}{
		{"1/sec", 1e9},
		{"3/sec", 333_333_333},
		{"100/sec", 10_000_000},
		{"10000/sec", 100_000},
		{"2/min", 30e9},
		{"7/min", 8_571_428_571},
		{"61/min", 983_606_557},
		// 6000/sec is avg 1 after libxt_limit's integer division, which
		// add_nft_limit turns into 10000/sec.
		{"6000/sec", 100_000},
		{"3/hour", 1200e9},
		{"25/hour", 144e9},
		{"1/day", 86400e9},
		{"7/day", 12_342_857_142_857},
	} {
		m := oneMatch(t, nf.IPv4, "-m limit --limit-burst 1 --limit "+c.rate)
		got := rateRun(m, p, []int64{0, c.cost - 1, c.cost})
		if fmt.Sprint(got) != "[true false true]" {
			t.Errorf("%s: got %v, want a refill exactly %d ns after", c.rate, got, c.cost)
		}
	}
}

// TestLimitBackends shows the observable difference between the two
// implementations on a rule where xt_limit's u32 avg*burst overflows.
func TestLimitBackends(t *testing.T) {
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	ts := make([]int64, 8)
	m := oneMatch(t, nf.IPv4, "-m limit --limit 1/day")
	if n := count(rateRun(m, p, ts)); n != 5 {
		t.Errorf("nft_limit 1/day: %d matches, want 5", n)
	}
	// xt_limit's arithmetic on the same rule, had the kernel loaded it.
	m = oneMatch(t, nf.IPv4, "-m limit --limit 1/day")
	useLegacyXtables(t)
	if n := count(rateRun(m, p, ts)); n != 0 {
		t.Errorf("xt_limit 1/day: %d matches, want 0 (avg*burst overflows u32)", n)
	}
	// xt_limit's checkentry refuses such a rule, and a zero burst; the
	// nftables expression takes both.
	for _, r := range []string{"--limit 1/day", "--limit 3/hour --limit-burst 0"} {
		ext.LegacyXtables = false
		m := oneMatch(t, nf.IPv4, "-m limit "+r).(ext.Checker)
		if err := m.Check(&ext.CheckCtx{}); err != nil {
			t.Errorf("nft %s: %v", r, err)
		}
		ext.LegacyXtables = true
		if err := m.Check(&ext.CheckCtx{}); err == nil {
			t.Errorf("xt %s: accepted", r)
		}
	}
	m = oneMatch(t, nf.IPv4, "-m limit --limit 2/day")
	if err := m.(ext.Checker).Check(&ext.CheckCtx{}); err != nil {
		t.Errorf("xt 2/day: %v", err)
	}
	// A rule keeps the behaviour it started with.
	ext.LegacyXtables = false
	m = oneMatch(t, nf.IPv4, "-m limit --limit 1/day")
	ext.LegacyXtables = true
	rateRun(m, p, ts[:1])
	ext.LegacyXtables = false
	if n := count(rateRun(m, p, ts)); n != 0 {
		t.Errorf("a rule started as xt_limit changed behaviour: %d matches", n)
	}
}

func TestNftLimitClockBackwards(t *testing.T) {
	// A timestamp before the previous one wraps the u64 sum of tokens;
	// the result is clamped to a full bucket, as in nft_limit_eval.
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	m := oneMatch(t, nf.IPv4, "-m limit --limit 1/sec --limit-burst 2")
	base := 100 * sec
	got := rateRun(m, p, []int64{base, base, base, base - 5*sec, base - 5*sec, base - 5*sec})
	if fmt.Sprint(got) != "[true true false true true false]" {
		t.Errorf("got %v", got)
	}
	// A small step back only takes tokens away.
	m = oneMatch(t, nf.IPv4, "-m limit --limit 1/sec --limit-burst 2")
	got = rateRun(m, p, []int64{base, base + sec/2, base + sec/2 - 1})
	if fmt.Sprint(got) != "[true true false]" {
		t.Errorf("small step back: got %v", got)
	}
}
