package conntrack

import (
	"bytes"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var (
	cli  = netip.MustParseAddr("192.0.2.2")
	srv  = netip.MustParseAddr("203.0.113.9")
	cli6 = netip.MustParseAddr("2001:db8:1::2")
	srv6 = netip.MustParseAddr("2001:db8:2::9")
)

func build(t testing.TB, s packet.Spec, ts int64) *packet.Packet {
	t.Helper()
	p, err := packet.Build(&s)
	if err != nil {
		t.Fatal(err)
	}
	p.Timestamp = ts
	p.InDev = "eth0"
	return p
}

// pass runs a packet through conntrack at PREROUTING and confirms it.
func pass(tr *Tracker, p *packet.Packet) *ext.Env {
	env := &ext.Env{Pkt: p, Family: p.Family}
	if !tr.In(env, nf.PreRouting) {
		return nil
	}
	tr.Confirm(env)
	return env
}

type rec struct{ lines []string }

func (r *rec) on(ev Event) { r.lines = append(r.lines, FormatEvent(ev)) }

func TestUDPFlow(t *testing.T) {
	tab := NewTable()
	var ev rec
	tab.OnEvent = ev.on
	tr := &Tracker{T: tab}
	s := int64(1e9)
	req := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, Payload: []byte("q")}, 100*s)
	env := pass(tr, req)
	if env.CtState != ext.CtStateNew || env.Conn == nil || env.CtReply {
		t.Fatalf("request: state %d conn %v reply %v", env.CtState, env.Conn, env.CtReply)
	}
	if tab.Count() != 1 {
		t.Fatalf("count %d", tab.Count())
	}
	rep := build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 40000, Payload: []byte("a")}, 101*s)
	env = pass(tr, rep)
	if env.CtState != ext.CtStateEstablished || !env.CtReply {
		t.Fatalf("reply: state %d reply %v", env.CtState, env.CtReply)
	}
	var b bytes.Buffer
	tab.WriteList(&b, 101*s)
	want := "udp      17 30 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000 mark=0 use=1\n"
	if b.String() != want {
		t.Errorf("list\n%q\nwant\n%q", b.String(), want)
	}
	// A packet more than two seconds after the first makes it a stream.
	pass(tr, build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53}, 103*s))
	b.Reset()
	tab.WriteProc(&b, 104*s)
	want = "ipv4     2 udp      17 119 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
	if b.String() != want {
		t.Errorf("proc\n%q\nwant\n%q", b.String(), want)
	}
	// Expiry: a GC pass after the timeout destroys it.
	tab.GC(300 * s)
	if tab.Count() != 0 {
		t.Fatalf("count after expiry %d", tab.Count())
	}
	wantEv := []string{
		"    [NEW] udp      17 30 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 [UNREPLIED] src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000",
		" [UPDATE] udp      17 30 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000",
		" [UPDATE] udp      17 120 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000 [ASSURED]",
		"[DESTROY] udp      17 src=192.0.2.2 dst=203.0.113.9 sport=40000 dport=53 src=203.0.113.9 dst=192.0.2.2 sport=53 dport=40000 [ASSURED]",
	}
	if strings.Join(ev.lines, "\n") != strings.Join(wantEv, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(ev.lines, "\n"), strings.Join(wantEv, "\n"))
	}
}

func TestUnconfirmedNeverExists(t *testing.T) {
	tab := NewTable()
	var ev rec
	tab.OnEvent = ev.on
	tr := &Tracker{T: tab}
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}, 1)
	env := &ext.Env{Pkt: p, Family: p.Family}
	tr.In(env, nf.PreRouting)
	if !tr.IsNew(env) {
		t.Fatal("first packet not new")
	}
	// dropped: no Confirm
	p2 := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}, 2)
	env2 := &ext.Env{Pkt: p2, Family: p2.Family}
	tr.In(env2, nf.PreRouting)
	if env2.CtState != ext.CtStateNew || !tr.IsNew(env2) || tab.Count() != 0 || len(ev.lines) != 0 {
		t.Fatalf("after a dropped first packet: state %d count %d events %q", env2.CtState, tab.Count(), ev.lines)
	}
}

func TestICMPEchoAndError(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	s := int64(1e9)
	// An echo reply without request is INVALID, nothing is created.
	env := pass(tr, build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoICMP, ICMPType: 0, ICMPID: 7}, s))
	if env.CtState != ext.CtStateInvalid || env.Conn != nil || tab.Count() != 0 {
		t.Fatalf("lone echo reply: state %d count %d", env.CtState, tab.Count())
	}
	env = pass(tr, build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 7, ICMPSeq: 1}, s))
	if env.CtState != ext.CtStateNew {
		t.Fatalf("echo request: state %d", env.CtState)
	}
	env = pass(tr, build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoICMP, ICMPType: 0, ICMPID: 7, ICMPSeq: 1}, s))
	if env.CtState != ext.CtStateEstablished || !env.CtReply {
		t.Fatalf("echo reply: state %d", env.CtState)
	}
	var b bytes.Buffer
	tab.WriteList(&b, s)
	want := "icmp     1 30 src=192.0.2.2 dst=203.0.113.9 type=8 code=0 id=7 src=203.0.113.9 dst=192.0.2.2 type=0 code=0 id=7 mark=0 use=1\n"
	if b.String() != want {
		t.Errorf("list %q want %q", b.String(), want)
	}
	// UDP flow, then a port unreachable quoting it: RELATED, reply direction.
	udp := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 6000, Payload: []byte("x")}, 2*s)
	pass(tr, udp)
	icmp := build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 3, Quote: udp.Data}, 2*s)
	env = pass(tr, icmp)
	if env.CtState != ext.CtStateRelated || env.Conn == nil || !env.CtReply || env.Conn.Tuple(false).DstPort != 6000 {
		t.Fatalf("port unreachable: state %d conn %v reply %v", env.CtState, env.Conn, env.CtReply)
	}
	// The same error sent to another address is INVALID.
	icmp = build(t, packet.Spec{Src: srv, Dst: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 3, Quote: udp.Data}, 2*s)
	if env = pass(tr, icmp); env.CtState != ext.CtStateInvalid {
		t.Fatalf("misaddressed error: state %d", env.CtState)
	}
	var st bytes.Buffer
	tab.WriteStats(&st)
	if !strings.Contains(st.String(), "invalid=1 ") || !strings.Contains(st.String(), "error=1 ") || !strings.HasPrefix(st.String(), "cpu=0   \tfound=") {
		t.Errorf("stats %q", st.String())
	}
}

func TestICMPv6AndProc(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	env := pass(tr, build(t, packet.Spec{Src: cli6, Dst: srv6, Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 9}, 0))
	if env.CtState != ext.CtStateNew {
		t.Fatalf("echo request: %d", env.CtState)
	}
	env = pass(tr, build(t, packet.Spec{Src: cli6, Dst: srv6, Proto: packet.ProtoICMPv6, ICMPType: 135}, 0))
	if env.CtState != ext.CtStateUntracked {
		t.Fatalf("neighbour solicitation: %d", env.CtState)
	}
	var b bytes.Buffer
	tab.WriteProc(&b, 0)
	want := "ipv6     10 icmpv6   58 30 src=2001:0db8:0001:0000:0000:0000:0000:0002 dst=2001:0db8:0002:0000:0000:0000:0000:0009 type=128 code=0 id=9 [UNREPLIED] src=2001:0db8:0002:0000:0000:0000:0000:0009 dst=2001:0db8:0001:0000:0000:0000:0000:0002 type=129 code=0 id=9 mark=0 zone=0 use=2\n"
	if b.String() != want {
		t.Errorf("proc\n%q\nwant\n%q", b.String(), want)
	}
}

func TestTableFullEarlyDrop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 2
	tab := New(cfg)
	var logs []string
	tab.Log = func(_ uint8, l string) { logs = append(logs, l) }
	tr := &Tracker{T: tab}
	u := func(sport uint16, ts int64) *ext.Env {
		return pass(tr, build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: sport, DstPort: 9}, ts))
	}
	// Flow 1 becomes ASSURED.
	u(1, 0)
	pass(tr, build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 9, DstPort: 1}, 1))
	u(1, 3e9)
	u(2, 3e9)
	if env := u(3, 3e9); env == nil {
		t.Fatal("flow 3 dropped though flow 2 could be evicted")
	}
	if tab.Count() != 2 || tab.Stats.EarlyDrop != 1 {
		t.Fatalf("count %d early drops %d", tab.Count(), tab.Stats.EarlyDrop)
	}
	if _, ok := tab.Lookup(ext.CtTuple{Src: cli, Dst: srv, SrcPort: 2, DstPort: 9, Proto: 17}, 0); ok {
		t.Error("flow 2 survived the early drop")
	}
	if _, ok := tab.Lookup(ext.CtTuple{Src: srv, Dst: cli, SrcPort: 9, DstPort: 1, Proto: 17}, 0); !ok {
		t.Error("assured flow 1 not found by its reply tuple")
	}
	// Flow 3 is evicted for 4; make 4 assured, then 5 finds only assured ones.
	u(4, 3e9)
	pass(tr, build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 9, DstPort: 4}, 3e9))
	u(4, 6e9)
	if env := u(5, 6e9); env != nil {
		t.Fatalf("flow 5 passed a table full of assured flows: %+v", env)
	}
	if len(logs) != 1 || logs[0] != "nf_conntrack: nf_conntrack: table full, dropping packet" || tab.Stats.Drop != 1 {
		t.Errorf("logs %q drops %d", logs, tab.Stats.Drop)
	}
}

func TestGenericZonesAndNoTrack(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	gre := packet.Spec{Src: cli, Dst: srv, Proto: 99, Payload: []byte{0, 0, 8, 0}}
	p := build(t, gre, 0)
	env := &ext.Env{Pkt: p, Family: p.Family, CtTemplate: &ext.CtTemplate{Zone: 5}}
	tr.In(env, nf.PreRouting)
	tr.Confirm(env)
	// Another zone is another connection.
	pass(tr, build(t, gre, 0))
	if tab.Count() != 2 {
		t.Fatalf("count %d, want one per zone", tab.Count())
	}
	var b bytes.Buffer
	tab.WriteList(&b, 0)
	want := "unknown  99 600 src=192.0.2.2 dst=203.0.113.9 [UNREPLIED] src=203.0.113.9 dst=192.0.2.2 mark=0 use=1\n" +
		"unknown  99 600 src=192.0.2.2 dst=203.0.113.9 [UNREPLIED] src=203.0.113.9 dst=192.0.2.2 mark=0 zone=5 use=1\n"
	if b.String() != want {
		t.Errorf("list\n%s\nwant\n%s", b.String(), want)
	}
	env = &ext.Env{Pkt: build(t, gre, 0), CtTemplate: &ext.CtTemplate{NoTrack: true}}
	tr.In(env, nf.PreRouting)
	if env.CtState != ext.CtStateUntracked || env.Conn != nil {
		t.Errorf("notrack: state %d", env.CtState)
	}
}

func TestConfigFrom(t *testing.T) {
	m := map[string]string{"net.netfilter.nf_conntrack_max": "7", "net.netfilter.nf_conntrack_acct": "1",
		"net.netfilter.nf_conntrack_udp_timeout": "10", "net.netfilter.nf_conntrack_tcp_timeout_established": "100"}
	c, err := ConfigFrom(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	if err != nil || c.Max != 7 || !c.Acct || c.UDPTimeout != 10e9 || c.TCP.Timeouts[TCPEstablished] != 100e9 {
		t.Fatalf("%+v %v", c, err)
	}
	m["net.netfilter.nf_conntrack_acct"] = "x"
	if _, err := ConfigFrom(func(k string) (string, bool) { v, ok := m[k]; return v, ok }); err == nil {
		t.Error("bad value accepted")
	}
}

func TestAcctAndTimestamp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Acct, cfg.Timestamp = true, true
	tab := New(cfg)
	tr := &Tracker{T: tab}
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("abcd")}, 10e9)
	pass(tr, p)
	var b bytes.Buffer
	tab.WriteList(&b, 15e9)
	want := "udp      17 25 src=192.0.2.2 dst=203.0.113.9 sport=1 dport=2 packets=1 bytes=32 [UNREPLIED] src=203.0.113.9 dst=192.0.2.2 sport=2 dport=1 packets=0 bytes=0 mark=0 delta-time=5 use=1\n"
	if b.String() != want {
		t.Errorf("list\n%q\nwant\n%q", b.String(), want)
	}
}

func TestLookupAllocs(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}, 0)
	pass(tr, p)
	env := &ext.Env{Pkt: p, Family: p.Family}
	if n := testing.AllocsPerRun(100, func() { tr.In(env, nf.PreRouting); tr.Confirm(env) }); n != 0 {
		t.Errorf("%v allocations per packet of an established flow", n)
	}
}

func fill(b testing.TB, tr *Tracker, n int) []*packet.Packet {
	ps := make([]*packet.Packet, 0, n)
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p := build(b, packet.Spec{Src: a, Dst: srv, Proto: packet.ProtoUDP, SrcPort: uint16(i), DstPort: 53}, 0)
		pass(tr, p)
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkLookup1M(b *testing.B) {
	tab := NewTable()
	tab.Cfg.Max = 0
	tr := &Tracker{T: tab}
	ps := fill(b, tr, 1<<20)
	b.Run("hot", func(b *testing.B) { lookups(b, tr, ps, 1023) })
	b.Run("cold", func(b *testing.B) { lookups(b, tr, ps, 1<<20-1) })
}

// lookups runs packets of established flows: the first mask+1 flows
// (hot: their packets and entries stay in the cache) or all of them.
func lookups(b *testing.B, tr *Tracker, ps []*packet.Packet, mask int) {
	env := &ext.Env{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := ps[(i*7919)&mask]
		*env = ext.Env{Pkt: p, Family: p.Family}
		tr.In(env, nf.PreRouting)
		tr.Confirm(env)
	}
}

func BenchmarkCreate(b *testing.B) {
	tab := NewTable()
	tab.Cfg.Max = 0
	tr := &Tracker{T: tab}
	ps := make([]*packet.Packet, 1<<16)
	for i := range ps {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		ps[i] = build(b, packet.Spec{Src: a, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 53}, 0)
	}
	env := &ext.Env{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := ps[i&(1<<16-1)]
		p.Data[20], p.Data[21] = byte(i>>24), byte(i>>16) // vary the source port
		p.Timestamp = 0
		*env = ext.Env{Pkt: p, Family: p.Family}
		tr.In(env, nf.PreRouting)
		tr.Confirm(env)
	}
}

// TestBytesPerEntry measures the memory a connection costs.
func TestBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100000 connections")
	}
	const n = 100000
	ps := make([]*packet.Packet, n)
	for i := range ps {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ps[i] = build(t, packet.Spec{Src: a, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 53}, 0)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tab := NewTable()
	tr := &Tracker{T: tab}
	env := &ext.Env{}
	for _, p := range ps {
		*env = ext.Env{Pkt: p, Family: p.Family}
		tr.In(env, nf.PreRouting)
		tr.Confirm(env)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	t.Logf("heap %d -> %d", m0.HeapAlloc, m1.HeapAlloc)
	t.Logf("%.0f bytes per connection (Entry %d bytes)", per, entrySize)
	if tab.Count() != n || per > 256 {
		t.Errorf("count %d, %.0f bytes per connection", tab.Count(), per)
	}
	runtime.KeepAlive(tab)
	runtime.KeepAlive(ps)
}
