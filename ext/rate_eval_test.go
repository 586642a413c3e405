package ext_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// ruleMatches parses one rule of the filter table's OUTPUT chain and returns
// its matches, checked as the kernel checks a committed table.
func ruleMatches(t testing.TB, fam nf.Family, rule string) []ext.Matcher {
	t.Helper()
	rs := ruleset.New(fam)
	in := "*filter\n-A OUTPUT " + rule + "\nCOMMIT\n"
	if err := rs.Restore(strings.NewReader(in), ruleset.RestoreOptions{}); err != nil {
		t.Fatalf("restore %q: %v", rule, err)
	}
	var out []ext.Matcher
	for _, c := range rs.Table("filter").Chains {
		for _, r := range c.Rules {
			for _, m := range r.Matches {
				mm, ok := m.Ext.(ext.Matcher)
				if !ok {
					t.Fatalf("%s does not evaluate", m.Def.Name)
				}
				out = append(out, mm)
			}
		}
	}
	return out
}

func oneMatch(t testing.TB, fam nf.Family, rule string) ext.Matcher {
	t.Helper()
	ms := ruleMatches(t, fam, rule)
	if len(ms) != 1 {
		t.Fatalf("rule %q: %d matches", rule, len(ms))
	}
	return ms[0]
}

// udp4 builds an IPv4/UDP packet with the given payload.
func udp4(src, dst string, sport, dport uint16, payload []byte) *packet.Packet {
	b := make([]byte, 28+len(payload))
	b[0], b[8], b[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	binary.BigEndian.PutUint16(b[10:], ^packet.Fold(packet.Sum(b[:20], 0)))
	p := &packet.Packet{Family: nf.IPv4, Data: b, Local: true, OutDev: "eth0"}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return p
}

// udp6 builds an IPv6/UDP packet.
func udp6(src, dst string) *packet.Packet {
	b := make([]byte, 48)
	b[0], b[6], b[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(b[4:], 8)
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.BigEndian.PutUint16(b[44:], 8)
	p := &packet.Packet{Family: nf.IPv6, Data: b, Local: true, OutDev: "eth0"}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return p
}

const jiffy = int64(time.Second / ext.KernelHZ)

// run evaluates m on p at each timestamp and returns the outcomes.
func rateRun(m ext.Matcher, p *packet.Packet, ts []int64) []bool {
	out := make([]bool, len(ts))
	for i, x := range ts {
		p.Timestamp = x
		out[i] = m.Match(&ext.Env{Pkt: p, Family: p.Family})
	}
	return out
}

func count(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

func TestLimitConstants(t *testing.T) {
	// CREDITS_PER_JIFFY: the power of two below 0xFFFFFFFF/(HZ*86400).
	maxCPJ := uint32(0xFFFFFFFF / (ext.KernelHZ * 86400))
	p := uint32(1)
	for p*2 <= maxCPJ {
		p *= 2
	}
	if p != 128 {
		t.Fatalf("CPJ for HZ %d is %d, the code assumes 128", ext.KernelHZ, p)
	}
}

func TestLimitBucket(t *testing.T) {
	useLegacyXtables(t)
	base := int64(1_700_000_000) * int64(time.Second)
	// 1/sec, burst 3: cost = user2credits(10000) = 32000 credits, one
	// refill every 32000/128 = 250 jiffies (exactly one second).
	m := oneMatch(t, nf.IPv4, "-m limit --limit 1/sec --limit-burst 3")
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	ts := []int64{base, base + 1, base + 2, base + 3, // burst of 3, then empty
		base + 249*jiffy,     // one jiffy short of a refill
		base + 250*jiffy - 1, // still in jiffy 249
		base + 250*jiffy,     // 250 jiffies after the start: one packet's worth
		base + 250*jiffy + 1, // empty again
	}
	want := []bool{true, true, true, false, false, false, true, false}
	if got := rateRun(m, p, ts); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Partial credit carries over: 249 jiffies of credit earlier, plus
	// one more jiffy, is one packet.
	m = oneMatch(t, nf.IPv4, "-m limit --limit 1/sec --limit-burst 1")
	ts = []int64{base, base + 100*jiffy, base + 249*jiffy, base + 250*jiffy, base + 10000*jiffy, base + 10000*jiffy}
	want = []bool{true, false, false, true, true, false}
	if got := rateRun(m, p, ts); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("carry: got %v, want %v", got, want)
	}
}

func TestLimitRoundingOfCredits(t *testing.T) {
	// 3/min: avg 200000, cost = (200000*32000)/10000 = 640000 credits =
	// 5000 jiffies (20 s) exactly; 7/min: avg 85714, cost 274284.8 ->
	// 274284 credits: 2142.84 jiffies, so the refill lands on jiffy 2143.
	useLegacyXtables(t)
	base := int64(5) * int64(time.Second)
	for _, c := range []struct {
		rule   string
		refill int64
	}{{"--limit 3/min", 5000}, {"--limit 7/min", 2143}} {
		m := oneMatch(t, nf.IPv4, "-m limit --limit-burst 1 "+c.rule)
		p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
		got := rateRun(m, p, []int64{base, base + (c.refill-1)*jiffy, base + c.refill*jiffy})
		if fmt.Sprint(got) != "[true false true]" {
			t.Errorf("%s: got %v, want a refill exactly at jiffy %d", c.rule, got, c.refill)
		}
	}
}

func TestQuotaAndStatistic(t *testing.T) {
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, make([]byte, 72)) // 100 bytes
	m := oneMatch(t, nf.IPv4, "-m quota --quota 250")
	if got := rateRun(m, p, make([]int64, 4)); fmt.Sprint(got) != "[true true false false]" {
		t.Fatalf("quota: %v", got)
	}
	// After a miss the quota is 0: even a tiny packet fails.
	small := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	if rateRun(m, small, []int64{0})[0] {
		t.Fatal("quota: a packet matched after the quota ran out")
	}
	m = oneMatch(t, nf.IPv4, "-m quota ! --quota 100")
	if got := rateRun(m, p, make([]int64, 2)); fmt.Sprint(got) != "[false true]" {
		t.Fatalf("! quota: %v", got)
	}

	// every 3 packet 0: count starts at 2, so the first packet wraps to 0.
	m = oneMatch(t, nf.IPv4, "-m statistic --mode nth --every 3 --packet 0")
	if got := rateRun(m, p, make([]int64, 7)); fmt.Sprint(got) != "[true false false true false false true]" {
		t.Fatalf("nth: %v", got)
	}
	m = oneMatch(t, nf.IPv4, "-m statistic --mode nth --every 3 --packet 2")
	if got := rateRun(m, p, make([]int64, 6)); fmt.Sprint(got) != "[false false true false false true]" {
		t.Fatalf("nth packet 2: %v", got)
	}
	m = oneMatch(t, nf.IPv4, "-m statistic --mode nth ! --every 2 --packet 1")
	if got := rateRun(m, p, make([]int64, 4)); fmt.Sprint(got) != "[true false true false]" {
		t.Fatalf("! nth: %v", got)
	}
	for _, c := range []struct {
		prob string
		can  bool
		want bool
	}{{"0", true, false}, {"1", true, true}, {"0.5", false, false}} {
		m := oneMatch(t, nf.IPv4, "-m statistic --mode random --probability "+c.prob)
		can, _ := m.(ext.Partial).CanEval()
		if can != c.can {
			t.Errorf("random %s: CanEval %v", c.prob, can)
		}
		if can && rateRun(m, p, []int64{0})[0] != c.want {
			t.Errorf("random %s: wrong outcome", c.prob)
		}
	}
}

func TestTimeMatch(t *testing.T) {
	at := func(s string) int64 {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x.UnixNano()
	}
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	cases := []struct {
		rule string
		ts   string
		want bool
	}{
		{"--timestart 08:00 --timestop 17:00", "2024-03-05T08:00:00Z", true},
		{"--timestart 08:00 --timestop 17:00", "2024-03-05T07:59:59Z", false},
		{"--timestart 08:00 --timestop 17:00", "2024-03-05T17:00:00Z", true},
		{"--timestart 08:00 --timestop 17:00", "2024-03-05T17:00:01Z", false},
		// Wrapping past midnight.
		{"--timestart 23:00 --timestop 01:00", "2024-03-05T23:30:00Z", true},
		{"--timestart 23:00 --timestop 01:00", "2024-03-06T00:30:00Z", true},
		{"--timestart 23:00 --timestop 01:00", "2024-03-06T01:00:01Z", false},
		// 2024-03-04 is a Monday. Without --contiguous, 00:30 Tuesday is a Tuesday.
		{"--timestart 23:00 --timestop 01:00 --weekdays Mon", "2024-03-05T00:30:00Z", false},
		{"--timestart 23:00 --timestop 01:00 --weekdays Mon --contiguous", "2024-03-05T00:30:00Z", true},
		{"--timestart 23:00 --timestop 01:00 --weekdays Mon --contiguous", "2024-03-04T00:30:00Z", false},
		{"--timestart 23:00 --timestop 01:00 --weekdays Mon --contiguous", "2024-03-04T23:30:00Z", true},
		{"--weekdays Sun", "2024-03-10T12:00:00Z", true},
		{"--weekdays Sun", "2024-03-11T12:00:00Z", false},
		{"! --weekdays Sat,Sun", "2024-03-11T12:00:00Z", true},
		{"--monthdays 29", "2024-02-29T12:00:00Z", true},
		{"--monthdays 1", "2024-03-01T00:00:00Z", true},
		{"--monthdays 1", "2023-03-01T00:00:00Z", true},
		{"--monthdays 31", "2023-12-31T23:59:59Z", true},
		{"--monthdays 1 --contiguous --timestart 22:00 --timestop 02:00", "2024-03-02T01:00:00Z", true},
		{"--datestart 2024-03-05T10:00:00", "2024-03-05T09:59:59Z", false},
		{"--datestart 2024-03-05T10:00:00", "2024-03-05T10:00:00Z", true},
		{"--datestop 2024-03-05T10:00:00", "2024-03-05T10:00:00Z", true},
		{"--datestop 2024-03-05T10:00:00", "2024-03-05T10:00:01Z", false},
		{"--kerneltz --timestart 10:00 --timestop 11:00", "2024-03-05T10:30:00Z", true},
	}
	for _, c := range cases {
		m := oneMatch(t, nf.IPv4, "-m time "+c.rule)
		if got := rateRun(m, p, []int64{at(c.ts)})[0]; got != c.want {
			t.Errorf("%s at %s: got %v", c.rule, c.ts, got)
		}
	}
	// Month days for every day of 1970..2037 agree with the calendar.
	for d := time.Date(1970, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() < 2038; d = d.AddDate(0, 0, 1) {
		if d.Day() != 1 && d.Day() != 29 && d.Day() != 31 {
			continue
		}
		m := oneMatch(t, nf.IPv4, fmt.Sprintf("-m time --monthdays %d --weekdays %d", d.Day(), (int(d.Weekday())+6)%7+1))
		if !rateRun(m, p, []int64{d.UnixNano()})[0] {
			t.Fatalf("%s does not match its own month day and weekday", d)
		}
	}
}

func TestStringWindow(t *testing.T) {
	// The payload starts 28 bytes into the packet.
	payload := []byte("xxGET /index.html HTTP/1.1\r\nHost: Example\r\n")
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, payload)
	const off = 28 + 2 // "GET" is here
	for _, algo := range []string{"bm", "kmp"} {
		cases := []struct {
			opts string
			want bool
		}{
			{"--string GET", true},
			{"--string get", false},
			{"--string get --icase", true},
			{"--string HOST --icase", true},
			{"--string GET --from 30", true},
			{"--string GET --from 31", false},
			{"--string GET --to 33", true}, // ends exactly at to
			{"--string GET --to 32", false},
			{"--string GET --from 30 --to 33", true},
			{"! --string GET --to 32", true},
			{"--string nothere", false},
			{"! --string nothere", true},
			{"--hex-string |0d0a|Host", true},
			{"--string Example --to 65535", true},
			{"--string Example --from 200", false},
		}
		for _, c := range cases {
			m := oneMatch(t, nf.IPv4, "-m string --algo "+algo+" "+c.opts)
			if got := rateRun(m, p, []int64{0})[0]; got != c.want {
				t.Errorf("%s %s: got %v", algo, c.opts, got)
			}
		}
	}
	_ = off
}

// naiveFirst returns the first occurrence of pat in text with the kernel's
// upper-casing for icase.
func naiveFirst(text, pat []byte, icase bool) int {
	up := func(c byte) byte {
		if c >= 'a' && c <= 'z' || c >= 0xdf && c != 0xf7 {
			return c - 32
		}
		return c
	}
outer:
	for i := 0; i+len(pat) <= len(text); i++ {
		for j := range pat {
			a, b := text[i+j], pat[j]
			if icase {
				a, b = up(a), up(b)
			}
			if a != b {
				continue outer
			}
		}
		return i
	}
	return -1
}

func TestStringAgainstNaiveSearch(t *testing.T) {
	// Over small alphabets, repeats and overlaps exercise every shift of
	// Boyer-Moore and KMP; both must find what a plain scan finds.
	seed := uint32(12345)
	rnd := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	alpha := []byte("abAB")
	for iter := 0; iter < 3000; iter++ {
		pat := make([]byte, 1+rnd(6))
		for i := range pat {
			pat[i] = alpha[rnd(len(alpha))]
		}
		text := make([]byte, rnd(40))
		for i := range text {
			text[i] = alpha[rnd(len(alpha))]
		}
		icase := rnd(2) == 1
		p := udp4("10.0.0.1", "10.0.0.2", 1, 2, text)
		want := naiveFirst(text, pat, icase) >= 0
		for _, algo := range []string{"bm", "kmp"} {
			rule := fmt.Sprintf("-m string --algo %s --string %s --from 28", algo, pat)
			if icase {
				rule += " --icase"
			}
			m := oneMatch(t, nf.IPv4, rule)
			if got := rateRun(m, p, []int64{0})[0]; got != want {
				t.Fatalf("%s: %q in %q (icase %v): got %v, want %v", algo, pat, text, icase, got, want)
			}
		}
	}
}

func TestU32(t *testing.T) {
	p := udp4("10.0.0.1", "10.0.0.2", 1000, 53, []byte("ABCDEFGH"))
	cases := []struct {
		expr string
		want bool
	}{
		{"0>>28=4", true},
		{"0>>28=6", false},
		{"6&0xFF=17", true},              // the word at 6 is fragment offset, TTL, protocol
		{"8&0xFF=17", false},             // the word at 8 ends with the checksum
		{"8>>24=64", true},               // TTL
		{"0>>22&0x3C@0>>16=1000", true},  // source port via the header length
		{"0>>22&0x3C@0&0xFFFF=53", true}, // destination port
		{"0>>22&0x3C@8=0x41424344", true},
		{"0>>22&0x3C@12=0x45464748", true},
		{"0>>22&0x3C@13=0", false}, // runs past the end
		{"32=0x45464748", true},
		{"33=0", false},
		{"0>>22&0x3C@8=1:0x41424343,0x41424344", true},
		{"0>>22&0x3C@8=1:0x41424343", false},
		{"0>>28=4&&8&0xFF=6", false},
		{"0>>28=4&&6&0xFF=17", true},
		{"0>>22&0x3C@4@0=0", false},  // second @ from the UDP length (16): 20+16 beyond 36
		{"0<<4>>4=0x05000024", true}, // total length 36,
	}
	for _, c := range cases {
		m := oneMatch(t, nf.IPv4, `-m u32 --u32 "`+c.expr+`"`)
		if got := rateRun(m, p, []int64{0})[0]; got != c.want {
			t.Errorf("%s: got %v", c.expr, got)
		}
		mi := oneMatch(t, nf.IPv4, `-m u32 ! --u32 "`+c.expr+`"`)
		if got := rateRun(mi, p, []int64{0})[0]; got == c.want {
			t.Errorf("! %s: got %v", c.expr, got)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	p := udp4("10.0.0.1", "10.0.0.2", 1000, 53, []byte("GET /index.html HTTP/1.1"))
	for _, rule := range []string{
		"-m limit --limit 10/sec",
		"-m string --algo bm --string HTTP --icase",
		"-m string --algo kmp --string HTTP",
		`-m u32 --u32 "0>>22&0x3C@0&0xFFFF=53&&0>>22&0x3C@8=0x47455420"`,
		"-m quota --quota 1000000",
		"-m statistic --mode nth --every 3 --packet 1",
		"-m time --timestart 01:00 --timestop 02:00 --monthdays 3",
	} {
		m := oneMatch(t, nf.IPv4, rule)
		env := &ext.Env{Pkt: p, Family: nf.IPv4}
		ts := int64(0)
		if n := testing.AllocsPerRun(200, func() {
			ts += jiffy
			p.Timestamp = ts
			m.Match(env)
		}); n != 0 {
			t.Errorf("%s: %v allocations per packet", rule, n)
		}
	}
}
