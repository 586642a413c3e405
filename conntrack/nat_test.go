package conntrack

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var pub = netip.MustParseAddr("198.51.100.1")

// forward takes a packet through conntrack and the NAT hooks of a
// forwarding host; snat, when set, is the range the POSTROUTING nat
// chain's SNAT target asks for on a connection's first packet. It
// returns the environment and the reason NAT dropped the packet.
func forward(t *testing.T, tr *Tracker, p *packet.Packet, snat *ext.NATRange) (*ext.Env, string) {
	t.Helper()
	env := &ext.Env{Pkt: p, Family: p.Family, NAT: tr}
	if !tr.In(env, nf.PreRouting) {
		t.Fatal("conntrack dropped the packet")
	}
	for _, h := range []nf.Hook{nf.PreRouting, nf.PostRouting} {
		env.Hook = h
		if tr.NATTable(env, h, netip.Addr{}) && h == nf.PostRouting && snat != nil {
			if v := tr.SetupNAT(env, "SNAT", *snat); v != ext.VerdictAccept {
				t.Fatalf("SNAT verdict %v", v)
			}
		}
		if why := tr.NATHook(env, h); why != "" {
			return env, why
		}
	}
	if ok, why := tr.Confirm(env); !ok {
		return env, why
	}
	return env, ""
}

func TestSNATBindingAndTranslation(t *testing.T) {
	tab := NewTable()
	var ev rec
	tab.OnEvent = ev.on
	tab.Cfg.Events = true
	tr := &Tracker{T: tab}
	s := int64(1e9)
	rng := &ext.NATRange{Flags: nat.MapIPs, MinAddr: pub, MaxAddr: pub}
	syn := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, Flags: packet.TCPSyn, Seq: 1}, s)
	env, why := forward(t, tr, syn, rng)
	if why != "" {
		t.Fatal(why)
	}
	e := env.Conn.(*Entry)
	want := ext.CtTuple{Src: srv, Dst: pub, SrcPort: 80, DstPort: 40000, Proto: packet.ProtoTCP}
	if got := e.Tuple(true); got != want {
		t.Fatalf("reply tuple %v, want %v", got, want)
	}
	if st := e.Status(); st&(statusSrcNAT|statusSrcNATDone|statusDstNATDone) != statusSrcNAT|statusSrcNATDone|statusDstNATDone || st&statusDstNAT != 0 {
		t.Fatalf("status %#x", st)
	}
	if syn.Src() != pub || syn.TCP().SrcPort() != 40000 {
		t.Fatalf("SYN leaves as %v:%d", syn.Src(), syn.TCP().SrcPort())
	}
	if !tcpChecksumOK(syn) {
		t.Fatal("SYN checksum wrong after SNAT")
	}
	if len(ev.lines) != 1 || !strings.Contains(ev.lines[0], "src=203.0.113.9 dst=198.51.100.1 sport=80 dport=40000") {
		t.Fatalf("NEW event does not carry the translated reply tuple: %q", ev.lines)
	}
	// The answer comes to the public address and goes back to the client.
	synack := build(t, packet.Spec{Src: srv, Dst: pub, Proto: packet.ProtoTCP, SrcPort: 80, DstPort: 40000, Flags: packet.TCPSyn | packet.TCPAck, Seq: 100, Ack: 2}, 2*s)
	env2, why := forward(t, tr, synack, rng)
	if why != "" || env2.Conn != ext.Conn(e) || !env2.CtReply {
		t.Fatalf("reply: %q conn %v reply %v", why, env2.Conn, env2.CtReply)
	}
	if synack.Dst() != cli || !tcpChecksumOK(synack) {
		t.Fatalf("reply goes to %v (checksum ok %v)", synack.Dst(), tcpChecksumOK(synack))
	}
	// Established packets are translated without allocating.
	ack := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, Flags: packet.TCPAck, Seq: 2, Ack: 101}, 3*s)
	orig := append([]byte(nil), ack.Data...)
	env3 := &ext.Env{Pkt: ack, Family: ack.Family, NAT: tr}
	allocs := testing.AllocsPerRun(100, func() {
		copy(ack.Data, orig)
		tr.In(env3, nf.PreRouting)
		tr.NATHook(env3, nf.PreRouting)
		tr.NATHook(env3, nf.PostRouting)
		tr.Confirm(env3)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per translated packet", allocs)
	}
	if ack.Src() != pub {
		t.Fatalf("ACK leaves from %v", ack.Src())
	}
	// The mapping is forgotten with the connection.
	tab.Remove(e, 4*s)
	if len(tab.bysource) != 0 {
		t.Fatalf("bysource keeps %v", tab.bysource)
	}
}

// A connection whose reply tuple another one already uses is moved to
// another source port by the null binding (no nat rule applies).
func TestNullBindingClash(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	s := int64(1e9)
	rng := &ext.NATRange{Flags: nat.MapIPs, MinAddr: pub, MaxAddr: pub}
	a := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1000, DstPort: 53, Payload: []byte("a")}, s)
	if _, why := forward(t, tr, a, rng); why != "" {
		t.Fatal(why)
	}
	b := build(t, packet.Spec{Src: pub, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1000, DstPort: 53, Payload: []byte("b")}, s)
	env, why := forward(t, tr, b, nil)
	if why != "" {
		t.Fatal(why)
	}
	e := env.Conn.(*Entry)
	r := e.Tuple(true)
	if r.DstPort == 1000 || r.DstPort < 600 || r.DstPort > 1023 || r.Dst != pub {
		t.Fatalf("clashing connection's reply tuple %v: want another port in 600-1023", r)
	}
	if e.Status()&statusSrcNAT == 0 || b.UDP().SrcPort() != r.DstPort {
		t.Fatalf("status %#x, packet source port %d", e.Status(), b.UDP().SrcPort())
	}
	// Without a clash the null binding changes nothing.
	c := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 2000, DstPort: 53, Payload: []byte("c")}, s)
	env, _ = forward(t, tr, c, nil)
	if st := env.Conn.Status(); st&statusNATMask != 0 || st&(statusSrcNATDone|statusDstNATDone) != statusSrcNATDone|statusDstNATDone {
		t.Fatalf("untranslated connection status %#x", st)
	}
}

func TestMasqueradeWithoutAddressDrops(t *testing.T) {
	tr := &Tracker{T: NewTable()}
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}, 1e9)
	p.OutDev = "eth1"
	env := &ext.Env{Pkt: p, Family: nf.IPv4, NAT: tr, Hook: nf.PostRouting}
	tr.In(env, nf.PreRouting)
	if v := tr.SetupNAT(env, "MASQUERADE", ext.NATRange{}); v != ext.VerdictDrop {
		t.Fatalf("MASQUERADE without an address: %v, want DROP", v)
	}
}

func tcpChecksumOK(p *packet.Packet) bool {
	l4 := p.L4()
	return packet.Fold(packet.Sum(l4, packet.PseudoSum(p.Src(), p.Dst(), packet.ProtoTCP, len(l4)))) == 0xffff
}
