package ext_test

import (
	"fmt"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

func TestHashlimitPerDestination(t *testing.T) {
	// 1/sec burst 2 per destination: v2+ credits, cost = 10^6 *
	// 137438953 credits, 2^39 a jiffy: a refill takes a hair under 250
	// jiffies (249.9999991), so it lands on jiffy 250.
	m := oneMatch(t, nf.IPv4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 2 --hashlimit-mode dstip --hashlimit-name nfgo-t-dst")
	a := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	b := udp4("10.0.0.1", "10.0.0.3", 1, 2, nil)
	base := int64(1000) * jiffy
	seq := []struct {
		p    bool // false: a, true: b
		j    int64
		want bool
	}{
		{false, 0, true}, {false, 0, true}, {false, 0, false},
		{true, 0, true}, {true, 0, true}, {true, 1, false},
		{false, 249, false}, {false, 250, true}, {false, 250, false}, {false, 251, false},
	}
	for i, s := range seq {
		p := a
		if s.p {
			p = b
		}
		if got := rateRun(m, p, []int64{base + s.j*jiffy})[0]; got != s.want {
			t.Fatalf("step %d: got %v", i, got)
		}
	}
}

func TestHashlimitSharedByName(t *testing.T) {
	ms := ruleMatches(t, nf.IPv4, "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-name nfgo-t-shared -m hashlimit --hashlimit-above 1/min --hashlimit-burst 3 --hashlimit-name nfgo-t-shared")
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	// Both rules draw from one bucket of 3; the "above" rule sees the
	// bucket emptied by the "upto" one.
	var got []bool
	for _, m := range []ext.Matcher{ms[0], ms[1], ms[0], ms[1]} {
		got = append(got, rateRun(m, p, []int64{0})[0])
	}
	if fmt.Sprint(got) != "[true false true true]" {
		t.Fatalf("got %v", got)
	}
	// The same name in the other family is another table.
	m6 := oneMatch(t, nf.IPv6, "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-name nfgo-t-shared")
	p6 := udp6("2001:db8::1", "2001:db8::2")
	if c := count(rateRun(m6, p6, make([]int64, 5))); c != 3 {
		t.Fatalf("IPv6 table: %d matches, want 3", c)
	}
}

func TestHashlimitModesAndMasks(t *testing.T) {
	m := oneMatch(t, nf.IPv4, "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-name nfgo-t-mask")
	pkts := []struct {
		src   string
		dport uint16
		want  bool
	}{
		{"10.0.0.1", 80, true},
		{"10.0.0.200", 80, false}, // same /24, same port
		{"10.0.1.1", 80, true},    // other /24
		{"10.0.0.1", 81, true},    // other port
		{"10.0.0.7", 81, false},
	}
	for _, c := range pkts {
		p := udp4(c.src, "192.0.2.1", 999, c.dport, nil)
		if got := rateRun(m, p, []int64{0})[0]; got != c.want {
			t.Fatalf("%s:%d: got %v", c.src, c.dport, got)
		}
	}
}

func TestHashlimitExpiry(t *testing.T) {
	// Byte mode with a burst: the burst allowance (credit_cap) is only
	// restored when the entry is collected and created anew. Expire 1 s,
	// gc every 1 s from the first packet.
	m := oneMatch(t, nf.IPv4, "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 4kb --hashlimit-name nfgo-t-exp --hashlimit-htable-expire 1000 --hashlimit-htable-gcinterval 1000")
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, make([]byte, 1000-28))
	// Each 1000-byte packet costs 63 chunks of 64527753 credits; the
	// bucket holds 4194304000 (one second): 1 packet per refill, and the
	// burst of 4 refills gives 1+4 = 5 packets at once.
	n := count(rateRun(m, p, make([]int64, 10)))
	if n != 5 {
		t.Fatalf("burst: %d packets, want 5", n)
	}
	// At 2 s the gc (runs at 250, 500 jiffies) has freed the entry (its
	// expiry was jiffy 250): a full burst again.
	n = count(rateRun(m, p, []int64{500 * jiffy, 500 * jiffy, 500 * jiffy, 500 * jiffy, 500 * jiffy, 500 * jiffy}))
	if n != 5 {
		t.Fatalf("after expiry: %d packets, want 5", n)
	}
	// Kept alive by a packet every 0.6 s, the entry never expires and the
	// burst is not restored. A packet costs 63*64527753 = 4065248439
	// credits, 2^24 come in a jiffy, and each hit leaves 129055561: the
	// bucket holds enough only at every other visit.
	m = oneMatch(t, nf.IPv4, "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 4kb --hashlimit-name nfgo-t-exp2 --hashlimit-htable-expire 1000 --hashlimit-htable-gcinterval 1000")
	rateRun(m, p, make([]int64, 10)) // use up the burst
	var got []bool
	for j := int64(150); j <= 750; j += 150 {
		got = append(got, rateRun(m, p, []int64{j * jiffy, j * jiffy})...)
	}
	if fmt.Sprint(got) != "[false false true false false false true false false false]" {
		t.Fatalf("kept alive: %v", got)
	}
}

func TestHashlimitRateMatch(t *testing.T) {
	// rate-match, 10/sec, interval 1 s: the rule matches while the
	// packets of the current window stay within burst + rate (12); the
	// next window is judged over by the previous one (14*250 > 250*10).
	m := oneMatch(t, nf.IPv4, "-m hashlimit --hashlimit-upto 10/sec --hashlimit-burst 2 --hashlimit-rate-match --hashlimit-rate-interval 1 --hashlimit-htable-expire 10000 --hashlimit-name nfgo-t-rm")
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	got := rateRun(m, p, make([]int64, 14))
	if c := count(got); c != 12 {
		t.Fatalf("first window: %d matches (%v), want burst 2 + rate 10", c, got)
	}
	// One interval later the previous window was over the rate: no match.
	if rateRun(m, p, []int64{250 * jiffy})[0] {
		t.Fatal("window after an over-rate window matched")
	}
	// Another interval with few packets: matching resumes.
	if !rateRun(m, p, []int64{500 * jiffy})[0] {
		t.Fatal("window after a quiet window did not match")
	}
}

func TestHashlimitCredits(t *testing.T) {
	// Revision 1 (XT_HASHLIMIT_SCALE 10000, 128 credits a jiffy) and
	// revision 2+ (XT_HASHLIMIT_SCALE_v2 10^6, 2^39 credits a jiffy).
	for _, c := range []struct {
		user uint64
		rev  int
		want uint64
	}{
		{10000, 1, 30000},                 // 10000 * (32000/10000)
		{1000000, 2, 1000000 * 137438953}, // 10^6 * (250*2^39/10^6)
		{1000000, 3, 1000000 * 137438953},
	} {
		if got := ext.HashlimitUser2Credits(c.user, c.rev); got != c.want {
			t.Errorf("user2credits(%d, rev %d) = %d, want %d", c.user, c.rev, got, c.want)
		}
	}
}

func TestRecent(t *testing.T) {
	// --set on one rule, --rcheck/--update on others, one list by name.
	ms := ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r1 -m recent --rcheck --seconds 2 --hitcount 3 --name nfgo-t-r1")
	set, check := ms[0], ms[1]
	p := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	other := udp4("10.0.0.9", "10.0.0.2", 1, 2, nil)
	j := func(n int64) []int64 { return []int64{n * jiffy} }
	rateRun(set, p, j(0))
	rateRun(set, p, j(100))
	if rateRun(check, p, j(100))[0] {
		t.Fatal("2 hits matched --hitcount 3")
	}
	rateRun(set, p, j(200))
	if !rateRun(check, p, j(200))[0] {
		t.Fatal("3 hits within 2 s did not match")
	}
	if !rateRun(check, p, j(500))[0] {
		t.Fatal("the hit at 0 is exactly 2 s old at jiffy 500 and still counts")
	}
	if rateRun(check, p, j(501))[0] {
		t.Fatal("the hit at 0 is more than 2 s old at jiffy 501")
	}
	if rateRun(check, other, j(200))[0] {
		t.Fatal("an address never set matched")
	}

	// --update refreshes only on a hit; --remove deletes; ! inverts.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r2 -m recent --update --seconds 1 --name nfgo-t-r2 -m recent --remove --name nfgo-t-r2 -m recent ! --rcheck --name nfgo-t-r2")
	set, upd, rm, notCheck := ms[0], ms[1], ms[2], ms[3]
	rateRun(set, p, j(0))
	if !rateRun(upd, p, j(250))[0] || !rateRun(upd, p, j(500))[0] {
		t.Fatal("--update within --seconds did not match")
	}
	if rateRun(upd, p, j(751))[0] {
		t.Fatal("--update matched after --seconds")
	}
	if rateRun(notCheck, p, j(751))[0] || !rateRun(rm, p, j(751))[0] || !rateRun(notCheck, p, j(751))[0] {
		t.Fatal("--remove or ! --rcheck wrong")
	}

	// The stamp ring holds 32 stamps without --hitcount: a 33rd
	// overwrites the oldest.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r3 -m recent --rcheck --seconds 1 --hitcount 32 --name nfgo-t-r3")
	for i := int64(0); i < 33; i++ {
		rateRun(ms[0], p, j(i*10))
	}
	if rateRun(ms[1], p, j(320))[0] {
		t.Fatal("hitcount 32 matched though only 26 stamps are within 1 s")
	}
	if !rateRun(ms[1], p, j(250))[0] {
		t.Fatal("hitcount 32 did not match with every stamp in the window")
	}

	// ip_list_tot: the 101st address pushes out the least recently seen.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r4 -m recent --rcheck --name nfgo-t-r4")
	for i := 0; i < 101; i++ {
		rateRun(ms[0], udp4(fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), "10.0.0.2", 1, 2, nil), j(int64(i)))
	}
	if rateRun(ms[1], udp4("10.1.0.1", "10.0.0.2", 1, 2, nil), j(200))[0] {
		t.Fatal("the oldest of 101 addresses is still listed")
	}
	if !rateRun(ms[1], udp4("10.1.0.2", "10.0.0.2", 1, 2, nil), j(200))[0] {
		t.Fatal("the second oldest address is gone")
	}

	// --mask and --rdest.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --rdest --mask 255.255.255.0 --name nfgo-t-r5 -m recent --rcheck --rdest --name nfgo-t-r5")
	rateRun(ms[0], udp4("10.0.0.1", "192.0.2.7", 1, 2, nil), j(0))
	if !rateRun(ms[1], udp4("10.9.9.9", "192.0.2.200", 1, 2, nil), j(1))[0] {
		t.Fatal("masked destination not found")
	}
	if rateRun(ms[1], udp4("192.0.2.7", "10.0.0.1", 1, 2, nil), j(1))[0] {
		t.Fatal("--rdest looked at the source")
	}

	// --rttl: the TTL must be the one recorded.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r6 -m recent --rcheck --rttl --name nfgo-t-r6")
	rateRun(ms[0], p, j(0))
	q := udp4("10.0.0.1", "10.0.0.2", 1, 2, nil)
	q.Data[8] = 10
	if rateRun(ms[1], q, j(1))[0] || !rateRun(ms[1], p, j(1))[0] {
		t.Fatal("--rttl did not compare the TTL")
	}

	// --reap removes the least recently updated address once it is too old.
	ms = ruleMatches(t, nf.IPv4, "-m recent --set --name nfgo-t-r7 -m recent --rcheck --seconds 1 --reap --name nfgo-t-r7 -m recent --rcheck --name nfgo-t-r7")
	rateRun(ms[0], other, j(0))
	rateRun(ms[0], p, j(300))
	rateRun(ms[1], p, j(300)) // reaps "other", last seen 300 jiffies ago
	if rateRun(ms[2], other, j(300))[0] {
		t.Fatal("--reap left the old address")
	}
}
