package ext_test

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// fakeConn is a tracked connection as conntrack would present it.
type fakeConn struct {
	orig, repl ext.CtTuple
	status     uint32
	mark       uint32
	markSets   int
	labels     [2]uint64
	labelSets  int
	zone       uint16
	helper     string
	master     *fakeConn
	expiresAt  int64        // ns
	cnt        [2][2]uint64 // [reply]{packets, bytes}
	tcp        uint8
}

func (c *fakeConn) Tuple(reply bool) ext.CtTuple {
	if reply {
		return c.repl
	}
	return c.orig
}
func (c *fakeConn) Status() uint32          { return c.status }
func (c *fakeConn) Mark() uint32            { return c.mark }
func (c *fakeConn) SetMark(m uint32)        { c.mark = m; c.markSets++ }
func (c *fakeConn) Labels() [2]uint64       { return c.labels }
func (c *fakeConn) SetLabels(l [2]uint64)   { c.labels = l; c.labelSets++ }
func (c *fakeConn) Zone() uint16            { return c.zone }
func (c *fakeConn) Helper() string          { return c.helper }
func (c *fakeConn) TCPState() (uint8, bool) { return c.tcp, c.orig.Proto == 6 }
func (c *fakeConn) Counters(r bool) (p, b uint64) {
	d := 0
	if r {
		d = 1
	}
	return c.cnt[d][0], c.cnt[d][1]
}
func (c *fakeConn) Expires(now int64) uint32 {
	if now >= c.expiresAt {
		return 0
	}
	return uint32((c.expiresAt - now) / 1e9)
}
func (c *fakeConn) Master() ext.Conn {
	if c.master == nil {
		return nil
	}
	return c.master
}

func newConn(src, dst string, sport, dport uint16, proto uint8) *fakeConn {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	return &fakeConn{
		orig: ext.CtTuple{Src: s, Dst: d, SrcPort: sport, DstPort: dport, Proto: proto},
		repl: ext.CtTuple{Src: d, Dst: s, SrcPort: dport, DstPort: sport, Proto: proto},
	}
}

// fakeTable is the conntrack table: confirmed connections by either tuple.
type fakeTable map[ext.CtTuple]*fakeConn

func (t fakeTable) add(c *fakeConn) {
	c.status |= ext.CTStatusConfirmed
	t[c.orig], t[c.repl] = c, c
}
func (t fakeTable) del(c *fakeConn) { delete(t, c.orig); delete(t, c.repl) }
func (t fakeTable) Lookup(tu ext.CtTuple, zone uint16) (ext.Conn, bool) {
	c, ok := t[tu]
	if !ok || c.zone != zone {
		return nil, false
	}
	return c, true
}

func tcpPkt(t testing.TB, src, dst string, sport, dport uint16) *packet.Packet {
	k := pk{src: src, dst: dst, proto: 6, l4: hdrTcpSeg(sport, dport, 0x02)}
	return k.packet(t, "eth0")
}

func matchOf(t *testing.T, fam nf.Family, rule string) ext.Matcher {
	t.Helper()
	r := loadRules(t, fam, "filter", []string{rule})[0]
	m := r.Matches[len(r.Matches)-1].Ext
	if pe, ok := m.(ext.Partial); ok {
		if can, why := pe.CanEval(); !can {
			t.Fatalf("%s: cannot evaluate: %s", rule, why)
		}
	}
	return m.(ext.Matcher)
}

func TestConntrackMatch(t *testing.T) {
	plain := newConn("10.0.0.1", "10.0.0.2", 40000, 80, 6)
	plain.status = ext.CTStatusConfirmed | ext.CTStatusAssured | ext.CTStatusSeenReply
	// DNAT to 192.168.1.5:8080 and SNAT to 203.0.113.9.
	nat := newConn("10.0.0.1", "203.0.113.1", 40000, 80, 6)
	nat.repl = ext.CtTuple{Src: netip.MustParseAddr("192.168.1.5"), Dst: netip.MustParseAddr("203.0.113.9"), SrcPort: 8080, DstPort: 1234, Proto: 6}
	nat.status = ext.CTStatusSrcNAT | ext.CTStatusDstNAT | ext.CTStatusConfirmed
	ping := newConn("10.0.0.1", "10.0.0.2", 77, 8<<8, 1) // echo request id 77
	ping.repl.SrcPort, ping.repl.DstPort = 77, 0
	const ts = int64(5e9)
	exp := newConn("10.0.0.1", "10.0.0.2", 1, 2, 17)
	exp.expiresAt = ts + 100e9 + 5e8 // 100.5 s left: 100

	est, nw, inv, untr := ext.CtStateEstablished, ext.CtStateNew, ext.CtStateInvalid, ext.CtStateUntracked
	cases := []struct {
		rule  string
		conn  *fakeConn
		state uint8
		reply bool
		want  bool
	}{
		{"-m conntrack --ctstate NEW", plain, nw, false, true},
		{"-m conntrack --ctstate ESTABLISHED,RELATED", plain, nw, false, false},
		{"-m conntrack ! --ctstate NEW", plain, est, false, true},
		{"-m state --state ESTABLISHED", plain, est, true, true},
		// No entry, not untracked: INVALID.
		{"-m conntrack --ctstate INVALID", nil, 0, false, true},
		{"-m conntrack --ctstate INVALID", nil, inv, false, true},
		{"-m conntrack --ctstate NEW", nil, inv, false, false},
		{"-m conntrack ! --ctstate NEW", nil, inv, false, true},
		{"-m state --state INVALID", nil, inv, false, true},
		// Without an entry every option but the state fails, inverted too,
		// and the state alone decides when it is given.
		{"-m conntrack --ctproto tcp", nil, inv, false, false},
		{"-m conntrack ! --ctproto tcp", nil, inv, false, false},
		{"-m conntrack ! --ctstatus ASSURED", nil, inv, false, false},
		{"-m conntrack --ctstate INVALID --ctproto tcp", nil, inv, false, true},
		{"-m conntrack --ctstate INVALID --ctproto udp --ctdir REPLY", nil, inv, false, true},
		// UNTRACKED is a state of its own, not INVALID.
		{"-m conntrack --ctstate UNTRACKED", nil, untr, false, true},
		{"-m state --state UNTRACKED", nil, untr, false, true},
		{"-m conntrack --ctstate INVALID", nil, untr, false, false},
		{"-m conntrack ! --ctstate INVALID --ctdir ORIGINAL", nil, untr, false, true},
		{"-m conntrack --ctdir ORIGINAL", nil, untr, false, false},
		// SNAT and DNAT come from the status bits only.
		{"-m conntrack --ctstate SNAT", nat, est, false, true},
		{"-m conntrack --ctstate DNAT", nat, est, false, true},
		{"-m conntrack --ctstate SNAT", plain, est, false, false},
		{"-m conntrack ! --ctstate SNAT,DNAT", plain, est, false, true},
		{"-m conntrack --ctstate SNAT", nil, inv, false, false},
		{"-m conntrack --ctproto tcp", plain, est, false, true},
		{"-m conntrack --ctproto udp", plain, est, false, false},
		{"-m conntrack ! --ctproto udp", plain, est, false, true},
		{"-m conntrack --ctorigsrc 10.0.0.0/24", plain, est, false, true},
		{"-m conntrack --ctorigsrc 10.0.1.0/24", plain, est, false, false},
		{"-m conntrack ! --ctorigsrc 10.0.1.0/24", plain, est, false, true},
		{"-m conntrack --ctorigdst 203.0.113.1 --ctreplsrc 192.168.1.5 --ctrepldst 203.0.113.9", nat, est, false, true},
		{"-m conntrack --ctreplsrc 203.0.113.1", nat, est, false, false},
		{"-m conntrack ! --ctrepldst 10.0.0.1", nat, est, false, true},
		{"-m conntrack ! --ctrepldst 10.0.0.1", plain, est, false, false},
		{"-m conntrack --ctorigdstport 80", plain, est, false, true},
		{"-m conntrack --ctorigdstport 1:79", plain, est, false, false},
		{"-m conntrack --ctorigdstport 70:90 --ctorigsrcport 40000", plain, est, false, true},
		{"-m conntrack ! --ctorigdstport 70:90", plain, est, false, false},
		{"-m conntrack --ctreplsrcport 8080 --ctrepldstport 1000:2000", nat, est, false, true},
		{"-m conntrack ! --ctrepldstport 1000:2000", nat, est, false, false},
		{"-m conntrack --ctorigdstport 2048 --ctorigsrcport 77", ping, est, false, true}, // type 8 code 0
		{"-m conntrack --ctstatus ASSURED", plain, est, false, true},
		{"-m conntrack --ctstatus EXPECTED,SEEN_REPLY", plain, est, false, true},
		{"-m conntrack --ctstatus EXPECTED", plain, est, false, false},
		{"-m conntrack ! --ctstatus EXPECTED", plain, est, false, true},
		{"-m conntrack --ctstatus NONE", plain, est, false, false},
		{"-m conntrack ! --ctstatus NONE", plain, est, false, true},
		{"-m conntrack --ctexpire 100", exp, nw, false, true},
		{"-m conntrack --ctexpire 101:200", exp, nw, false, false},
		{"-m conntrack ! --ctexpire 0:99", exp, nw, false, true},
		{"-m conntrack ! --ctexpire 90:110", exp, nw, false, false},
		{"-m conntrack --ctdir REPLY", plain, est, true, true},
		{"-m conntrack --ctdir REPLY", plain, est, false, false},
		{"-m conntrack --ctdir ORIGINAL", plain, est, false, true},
		{"-m conntrack --ctdir ORIGINAL", plain, est, true, false},
		{"-m conntrack --ctstate ESTABLISHED --ctproto tcp --ctorigsrc 10.0.0.1 --ctdir ORIGINAL", plain, est, false, true},
	}
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 40000, 80)
	p.Timestamp = ts
	for _, c := range cases {
		m := matchOf(t, nf.IPv4, "-A INPUT "+c.rule)
		e := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.LocalIn, CtState: c.state, CtReply: c.reply}
		if c.conn != nil {
			e.Conn = c.conn
		}
		if got := m.Match(e); got != c.want {
			t.Errorf("%s (conn %v, state %#x, reply %v): %v, want %v", c.rule, c.conn != nil, c.state, c.reply, got, c.want)
		}
	}

	c6 := newConn("fd00:1::5", "fd00:2::1", 1, 2, 17)
	p6 := (&pk{v6: true, src: "fd00:1::5", dst: "fd00:2::1", proto: 17, l4: hdrUdpDgram(1, 2, 0)}).packet(t, "eth0")
	for rule, want := range map[string]bool{
		"-m conntrack --ctorigsrc fd00:1::/64":                true,
		"-m conntrack --ctorigsrc fd00:1:0:1::/64":            false,
		"-m conntrack --ctrepldst fd00:1::5":                  true,
		"-m conntrack ! --ctreplsrc fd00:2::/120":             false,
		"-m conntrack --ctorigdst fd00:2::1/128 --ctproto 17": true,
	} {
		m := matchOf(t, nf.IPv6, "-A INPUT "+rule)
		if got := m.Match(&ext.Env{Pkt: p6, Family: nf.IPv6, Conn: c6, CtState: nw}); got != want {
			t.Errorf("IPv6 %s: %v, want %v", rule, got, want)
		}
	}
}

func TestConnmark(t *testing.T) {
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	c := newConn("10.0.0.1", "10.0.0.2", 1, 2, 6)
	c.mark = 0x15
	for rule, want := range map[string]bool{
		"--mark 0x5/0xf": true, "--mark 0x15": true, "--mark 0x5": false, "! --mark 0x5": true, "! --mark 0x15": false,
	} {
		m := matchOf(t, nf.IPv4, "-A INPUT -m connmark "+rule)
		if got := m.Match(&ext.Env{Pkt: p, Family: nf.IPv4, Conn: c}); got != want {
			t.Errorf("connmark %s: %v, want %v", rule, got, want)
		}
		if m.Match(&ext.Env{Pkt: p, Family: nf.IPv4, CtState: ext.CtStateUntracked}) {
			t.Errorf("connmark %s matched a packet without a connection", rule)
		}
	}

	cases := []struct {
		args           string
		ct, pkt        uint32
		wantCt, wantPk uint32
	}{
		{"--set-xmark 0x1/0xf0f0", 0xff00, 7, 0x0f01, 7},
		{"--set-mark 0x1/0xf", 0xff00, 7, 0xff01, 7},
		{"--set-mark 0x42", 0xff00, 7, 0x42, 7},
		{"--and-mark 0xf0f0", 0xff00, 7, 0xf000, 7},
		{"--or-mark 0x3", 0xff00, 7, 0xff03, 7},
		{"--or-mark 0xff00", 0xff00, 7, 0xff00, 7}, // unchanged: no event
		{"--xor-mark 0x0f00", 0xff00, 7, 0xf000, 7},
		{"--save-mark", 0xff00, 0x1234, 0x1234, 0x1234},
		{"--save-mark --nfmask 0xff --ctmask 0xf0f", 0xff00, 0x1234, 0xf034, 0x1234},
		{"--save-mark --mask 0xff", 0xff00, 0x1234, 0xff34, 0x1234},
		{"--restore-mark", 0xabcd, 0x1234, 0xabcd, 0xabcd},
		{"--restore-mark --nfmask 0xff00 --ctmask 0x0ff0", 0xabcd, 0x1234, 0xabcd, 0x0bf4},
		{"--set-xmark 0x1/0xffffffff --left-shift-mark 4", 0xff00, 7, 0x10, 7},
		{"--save-mark --right-shift-mark 4", 0, 0xf0, 0xf, 0xf0},
		{"--restore-mark --left-shift-mark 8", 0x12, 0x34, 0x12, 0x1200},
		{"--restore-mark --nfmask 0xff --ctmask 0xff00 --right-shift-mark 8", 0xab00, 0x1234, 0xab00, 0x12ab},
	}
	for _, tc := range cases {
		r := loadRules(t, nf.IPv4, "mangle", []string{"-A PREROUTING -j CONNMARK " + tc.args})[0]
		tg := r.Target.Ext.(ext.Targeter)
		c := newConn("10.0.0.1", "10.0.0.2", 1, 2, 6)
		c.mark = tc.ct
		q := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
		q.Mark = tc.pkt
		if v := tg.Target(&ext.Env{Pkt: q, Family: nf.IPv4, Conn: c}); v != ext.VerdictContinue {
			t.Errorf("CONNMARK %s: verdict %v", tc.args, v)
		}
		if c.mark != tc.wantCt || q.Mark != tc.wantPk {
			t.Errorf("CONNMARK %s: ct %#x pkt %#x, want %#x %#x", tc.args, c.mark, q.Mark, tc.wantCt, tc.wantPk)
		}
		if changed := tc.ct != tc.wantCt; (c.markSets == 1) != changed || c.markSets > 1 {
			t.Errorf("CONNMARK %s: SetMark called %d times, mark changed %v", tc.args, c.markSets, changed)
		}
		q.Mark = tc.pkt
		tg.Target(&ext.Env{Pkt: q, Family: nf.IPv4, CtState: ext.CtStateInvalid})
		if q.Mark != tc.pkt {
			t.Errorf("CONNMARK %s without a connection changed the packet mark", tc.args)
		}
	}
}

func TestConnlabel(t *testing.T) {
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	for _, tc := range []struct {
		args      string
		nilConn   bool
		want      bool
		wantSet   int
		wantLabel [2]uint64
	}{
		{"--label 3", false, true, 0, [2]uint64{1 << 3, 1 << 6}},
		{"--label 70", false, true, 0, [2]uint64{1 << 3, 1 << 6}},
		{"--label 4", false, false, 0, [2]uint64{1 << 3, 1 << 6}},
		{"! --label 4", false, true, 0, [2]uint64{1 << 3, 1 << 6}},
		{"! --label 3", false, false, 0, [2]uint64{1 << 3, 1 << 6}},
		{"--label 4 --set", false, true, 1, [2]uint64{1<<3 | 1<<4, 1 << 6}},
		{"--label 127 --set", false, true, 1, [2]uint64{1 << 3, 1<<6 | 1<<63}},
		{"--label 3 --set", false, true, 0, [2]uint64{1 << 3, 1 << 6}},
		{"! --label 4 --set", false, false, 1, [2]uint64{1<<3 | 1<<4, 1 << 6}},
		{"--label 3", true, false, 0, [2]uint64{}},
		{"! --label 3", true, true, 0, [2]uint64{}},
	} {
		m := matchOf(t, nf.IPv4, "-A INPUT -m connlabel "+tc.args)
		c := newConn("10.0.0.1", "10.0.0.2", 1, 2, 6)
		c.labels = [2]uint64{1 << 3, 1 << 6}
		e := &ext.Env{Pkt: p, Family: nf.IPv4, Conn: c}
		if tc.nilConn {
			e.Conn, c.labels = nil, [2]uint64{}
		}
		if got := m.Match(e); got != tc.want {
			t.Errorf("connlabel %s: %v, want %v", tc.args, got, tc.want)
		}
		if c.labelSets != tc.wantSet || c.labels != tc.wantLabel {
			t.Errorf("connlabel %s: labels %x after %d sets, want %x after %d", tc.args, c.labels, c.labelSets, tc.wantLabel, tc.wantSet)
		}
	}
}

func TestConnbytes(t *testing.T) {
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	c := newConn("10.0.0.1", "10.0.0.2", 1, 2, 6)
	c.cnt = [2][2]uint64{{10, 1000}, {5, 3000}}
	empty := newConn("10.0.0.1", "10.0.0.2", 1, 2, 6)
	for _, tc := range []struct {
		args string
		conn *fakeConn
		want bool
	}{
		{"--connbytes 10:10 --connbytes-dir original --connbytes-mode packets", c, true},
		{"--connbytes 11 --connbytes-dir original --connbytes-mode packets", c, false},
		{"! --connbytes 11 --connbytes-dir original --connbytes-mode packets", c, true},
		{"--connbytes 15 --connbytes-dir both --connbytes-mode packets", c, true},
		{"--connbytes 16 --connbytes-dir both --connbytes-mode packets", c, false},
		{"--connbytes 0:4 --connbytes-dir reply --connbytes-mode packets", c, false},
		{"--connbytes 3000:3000 --connbytes-dir reply --connbytes-mode bytes", c, true},
		{"--connbytes 3001 --connbytes-dir reply --connbytes-mode bytes", c, false},
		{"--connbytes 4000:4000 --connbytes-dir both --connbytes-mode bytes", c, true},
		{"--connbytes 266:266 --connbytes-dir both --connbytes-mode avgpkt", c, true}, // 4000/15
		{"--connbytes 600:600 --connbytes-dir reply --connbytes-mode avgpkt", c, true},
		{"! --connbytes 100:200 --connbytes-dir original --connbytes-mode avgpkt", c, false},
		{"! --connbytes 101:200 --connbytes-dir original --connbytes-mode avgpkt", c, true},
		{"--connbytes 0:0 --connbytes-dir both --connbytes-mode avgpkt", empty, true},
		{"--connbytes 0 --connbytes-dir both --connbytes-mode packets", nil, false},
		{"! --connbytes 5 --connbytes-dir both --connbytes-mode packets", nil, false},
	} {
		m := matchOf(t, nf.IPv4, "-A INPUT -m connbytes "+tc.args)
		e := &ext.Env{Pkt: p, Family: nf.IPv4}
		if tc.conn != nil {
			e.Conn = tc.conn
		}
		if got := m.Match(e); got != tc.want {
			t.Errorf("connbytes %s: %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestHelperMatch(t *testing.T) {
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	ctl := newConn("10.0.0.1", "10.0.0.2", 40000, 21, 6)
	ctl.helper = "ftp"
	data := newConn("10.0.0.2", "10.0.0.1", 20, 40001, 6)
	data.master = ctl
	orphan := newConn("10.0.0.2", "10.0.0.1", 20, 40001, 6)
	orphan.master = newConn("10.0.0.1", "10.0.0.2", 1, 2, 6) // master without a helper
	for _, tc := range []struct {
		args string
		conn *fakeConn
		want bool
	}{
		{`--helper ftp`, data, true},
		{`--helper ftp-2121`, data, true}, // strncmp over the helper's name length
		{`--helper ft`, data, false},
		{`--helper tftp`, data, false},
		{`! --helper tftp`, data, true},
		{`! --helper ftp`, data, false},
		{`--helper ""`, data, true},
		{`! --helper ""`, data, false},
		{`--helper ftp`, ctl, false}, // the control connection has no master
		{`! --helper ftp`, ctl, true},
		{`--helper ""`, orphan, false},
		{`! --helper ftp`, orphan, true},
		{`--helper ftp`, nil, false},
		{`! --helper ftp`, nil, true},
	} {
		m := matchOf(t, nf.IPv4, "-A INPUT -m helper "+tc.args)
		e := &ext.Env{Pkt: p, Family: nf.IPv4, CtState: ext.CtStateRelated}
		if tc.conn != nil {
			e.Conn = tc.conn
		}
		if got := m.Match(e); got != tc.want {
			t.Errorf("helper %s (conn %v): %v, want %v", tc.args, tc.conn != nil, got, tc.want)
		}
	}
}

func TestCTTarget(t *testing.T) {
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 21)
	rules := loadRules(t, nf.IPv4, "raw", []string{
		"-A PREROUTING -j CT --notrack",
		"-A PREROUTING -j NOTRACK",
		"-A PREROUTING -j CT --zone-orig 5 --ctevents new,destroy --expevents new",
		"-A PREROUTING -p tcp -j CT --helper ftp --zone mark",
		"-A PREROUTING -j CT --zone-reply 7",
		"-A PREROUTING -j CT --notrack --zone 3",
	})
	tg := func(i int) ext.Targeter { return rules[i].Target.Ext.(ext.Targeter) }
	for _, i := range []int{0, 1, 5} {
		e := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
		if v := tg(i).Target(e); v != ext.VerdictContinue {
			t.Errorf("rule %d: verdict %v", i, v)
		}
		if e.CtState != ext.CtStateUntracked || e.Conn != nil || e.CtTemplate == nil || !e.CtTemplate.NoTrack {
			t.Errorf("rule %d: state %#x conn %v template %+v, want UNTRACKED", i, e.CtState, e.Conn, e.CtTemplate)
		}
	}
	e := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
	tg(2).Target(e)
	want := ext.CtTemplate{Zone: 5, ZoneDir: 1, Events: 1<<0 | 1<<2, ExpEvents: 1}
	if e.CtTemplate == nil || *e.CtTemplate != want || e.CtState != 0 {
		t.Fatalf("CT --zone-orig 5: template %+v state %#x, want %+v", e.CtTemplate, e.CtState, want)
	}
	first := e.CtTemplate
	// The first CT rule wins; later ones leave the packet alone.
	tg(3).Target(e)
	tg(0).Target(e)
	if e.CtTemplate != first || e.CtState != 0 {
		t.Errorf("later CT rules changed the template: %+v state %#x", e.CtTemplate, e.CtState)
	}
	// One template per rule, shared by its packets.
	e2 := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
	tg(2).Target(e2)
	if e2.CtTemplate != first {
		t.Errorf("a second packet got a new template")
	}
	e3 := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
	tg(3).Target(e3)
	if w := (ext.CtTemplate{Helper: "ftp", ZoneFromMark: true}); e3.CtTemplate == nil || *e3.CtTemplate != w {
		t.Errorf("CT --helper ftp --zone mark: %+v, want %+v", e3.CtTemplate, w)
	}
	e4 := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
	tg(4).Target(e4)
	if w := (ext.CtTemplate{Zone: 7, ZoneDir: 2}); e4.CtTemplate == nil || *e4.CtTemplate != w {
		t.Errorf("CT --zone-reply 7: %+v, want %+v", e4.CtTemplate, w)
	}
	// A packet already untracked by NOTRACK is not given a template.
	e5 := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}
	tg(1).Target(e5)
	tg(2).Target(e5)
	if !e5.CtTemplate.NoTrack || e5.CtState != ext.CtStateUntracked {
		t.Errorf("CT after NOTRACK: %+v state %#x", e5.CtTemplate, e5.CtState)
	}
}

func TestCluster(t *testing.T) {
	// Node numbers from the kernel's jhash (jhash_1word, jhash2) computed
	// with include/linux/jhash.h: 192.168.1.10 with seed 0x12345678 hashes
	// to 0x9938cf0c (node 3 of 4), 2001:db8::1 with seed 0xdeadbeef to
	// 0xf9dbfa2e (node 4 of 4).
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	v4 := newConn("192.168.1.10", "10.0.0.2", 1, 2, 6)
	data := newConn("10.0.0.2", "10.0.0.9", 20, 3, 6)
	data.master = v4
	v6 := newConn("2001:db8::1", "2001:db8::2", 1, 2, 6)
	for _, tc := range []struct {
		fam  nf.Family
		args string
		conn *fakeConn
		want bool
	}{
		{nf.IPv4, "--cluster-total-nodes 4 --cluster-local-node 3 --cluster-hash-seed 0x12345678", v4, true},
		{nf.IPv4, "--cluster-total-nodes 4 --cluster-local-node 2 --cluster-hash-seed 0x12345678", v4, false},
		{nf.IPv4, "--cluster-total-nodes 4 ! --cluster-local-node 2 --cluster-hash-seed 0x12345678", v4, true},
		{nf.IPv4, "--cluster-total-nodes 4 --cluster-local-nodemask 5 --cluster-hash-seed 0x12345678", v4, true},
		{nf.IPv4, "--cluster-total-nodes 4 --cluster-local-node 3 --cluster-hash-seed 0x12345678", data, true},
		{nf.IPv4, "--cluster-total-nodes 4 ! --cluster-local-node 3 --cluster-hash-seed 0x12345678", nil, false},
		{nf.IPv6, "--cluster-total-nodes 4 --cluster-local-node 4 --cluster-hash-seed 0xdeadbeef", v6, true},
		{nf.IPv6, "--cluster-total-nodes 4 --cluster-local-node 3 --cluster-hash-seed 0xdeadbeef", v6, false},
	} {
		m := matchOf(t, tc.fam, "-A INPUT -m cluster "+tc.args)
		e := &ext.Env{Pkt: p, Family: tc.fam}
		if tc.conn != nil {
			e.Conn = tc.conn
		}
		if got := m.Match(e); got != tc.want {
			t.Errorf("cluster %s: %v, want %v", tc.args, got, tc.want)
		}
	}
	q := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 2)
	q.PktType = packet.PacketMulticast
	m := matchOf(t, nf.IPv4, "-A INPUT -m cluster --cluster-total-nodes 2 --cluster-local-node 1 --cluster-hash-seed 1")
	m.Match(&ext.Env{Pkt: q, Family: nf.IPv4})
	if q.PktType != packet.PacketHost {
		t.Errorf("cluster left PACKET_MULTICAST on a unicast packet: %d", q.PktType)
	}
}
