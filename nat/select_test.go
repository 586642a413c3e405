package nat

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

func udp(src string, sport uint16, dst string, dport uint16) ext.CtTuple {
	return ext.CtTuple{Src: a(src), Dst: a(dst), SrcPort: sport, DstPort: dport, Proto: packet.ProtoUDP}
}

func TestUniqueKeepsFreeOriginal(t *testing.T) {
	sel := &Selector{Table: &fakeTable{}, Rand: func() uint32 { t.Fatal("random number drawn"); return 0 }}
	o := udp("192.0.2.2", 40000, "203.0.113.9", 53)
	r := Range{Flags: MapIPs, MinAddr: a("198.51.100.1"), MaxAddr: a("198.51.100.1")}
	n := sel.Unique(o, &r, ManipSrc, &Conn{})
	if n.Src != a("198.51.100.1") || n.SrcPort != 40000 {
		t.Errorf("%v", n)
	}
	// Already in range: unchanged.
	r2 := Range{Flags: MapIPs, MinAddr: a("192.0.2.0"), MaxAddr: a("192.0.2.9")}
	if n := sel.Unique(o, &r2, ManipSrc, &Conn{}); n != o {
		t.Errorf("%v", n)
	}
}

func TestUniqueClashSearchesPorts(t *testing.T) {
	tab := &fakeTable{}
	var draws int
	sel := &Selector{Table: tab, Rand: func() uint32 { draws++; return 10 }}
	r := Range{Flags: MapIPs, MinAddr: a("198.51.100.1"), MaxAddr: a("198.51.100.1")}
	first := tab.add(sel, udp("192.0.2.2", 40000, "203.0.113.9", 53), &r, ManipSrc)
	second := tab.add(sel, udp("192.0.2.3", 40000, "203.0.113.9", 53), &r, ManipSrc)
	if first.SrcPort != 40000 {
		t.Errorf("first %v", first)
	}
	// Search from 1024 + 10 (the random offset) in 1024-65535.
	if second.SrcPort != 1034 || draws != 1 {
		t.Errorf("second %v after %d draws", second, draws)
	}
	// Low ports stay low: 1-511 and 600-1023.
	tab.add(sel, udp("192.0.2.2", 53, "203.0.113.9", 53), &r, ManipSrc)
	if n := tab.add(sel, udp("192.0.2.3", 53, "203.0.113.9", 53), &r, ManipSrc); n.SrcPort != 11 {
		t.Errorf("low port %v", n)
	}
	tab.add(sel, udp("192.0.2.2", 700, "203.0.113.9", 53), &r, ManipSrc)
	if n := tab.add(sel, udp("192.0.2.3", 700, "203.0.113.9", 53), &r, ManipSrc); n.SrcPort != 610 {
		t.Errorf("privileged port %v", n)
	}
}

// A destination mapping searches its port range from the start, without
// random numbers (deterministic in the kernel too).
func TestUniqueDNATPortRange(t *testing.T) {
	tab := &fakeTable{}
	sel := &Selector{Table: tab, Rand: func() uint32 { t.Fatal("random number drawn"); return 0 }}
	r := Range{Flags: MapIPs | ProtoSpecified, MinAddr: a("10.0.0.5"), MaxAddr: a("10.0.0.5"), MinProto: 8000, MaxProto: 8002}
	// The port is in range only if the original is: 80 is not, so the
	// search starts at 8000 and moves past taken ones.
	var ports []uint16
	for i := 0; i < 3; i++ {
		n := tab.add(sel, udp("192.0.2.2", 5000, "203.0.113.9", 80), &r, ManipDst)
		ports = append(ports, n.DstPort)
	}
	if ports[0] != 8000 || ports[1] != 8001 || ports[2] != 8002 {
		t.Errorf("ports %v", ports)
	}
	// All taken: the last candidate is left (the clash drops the packet
	// on confirmation).
	if n := sel.Unique(udp("192.0.2.2", 5000, "203.0.113.9", 80), &r, ManipDst, &Conn{}); n.DstPort != 8002 {
		t.Errorf("exhausted range: %v", n)
	}
	// Shifted port map: 80 with base 70 lands at 8000+10%3.
	r.Flags |= ProtoOffset
	r.BaseProto = 70
	tab.conns = nil
	if n := sel.Unique(udp("192.0.2.2", 5000, "203.0.113.9", 80), &r, ManipDst, &Conn{}); n.DstPort != 8001 {
		t.Errorf("offset: %v", n)
	}
	// A destination mapping without ports never changes the port.
	r2 := Range{Flags: MapIPs, MinAddr: a("10.0.0.5"), MaxAddr: a("10.0.0.5")}
	tab.add(sel, udp("192.0.2.2", 5000, "203.0.113.9", 80), &r2, ManipDst)
	if n := sel.Unique(udp("192.0.2.2", 5000, "203.0.113.9", 80), &r2, ManipDst, &Conn{}); n.DstPort != 80 {
		t.Errorf("port changed: %v", n)
	}
}

func TestUniqueICMPID(t *testing.T) {
	tab := &fakeTable{}
	sel := &Selector{Table: tab}
	r := Range{Flags: MapIPs, MinAddr: a("10.0.0.5"), MaxAddr: a("10.0.0.5")}
	o := ext.CtTuple{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), SrcPort: 300, DstPort: 8 << 8, Proto: packet.ProtoICMP}
	tab.add(sel, o, &r, ManipDst)
	// Another host's echo with the same id does not clash.
	other := o
	other.Src = a("192.0.2.3")
	if n := sel.Unique(other, &r, ManipDst, &Conn{}); n.SrcPort != 300 {
		t.Errorf("free id changed: %v", n)
	}
	// The same host's to another address mapped to the same backend
	// clashes: the destination mapping searches the ids from 0.
	for i, want := range []uint16{0, 1, 2} {
		o2 := o
		o2.Dst = netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)})
		if n := tab.add(sel, o2, &r, ManipDst); n.SrcPort != want {
			t.Errorf("clashing id: %v, want %d", n, want)
		}
	}
}

func TestSameSourceReuse(t *testing.T) {
	tab := &fakeTable{}
	sel := &Selector{Table: tab}
	r := Range{Flags: MapIPs, MinAddr: a("198.51.100.10"), MaxAddr: a("198.51.100.19")}
	first := tab.add(sel, udp("192.0.2.2", 4000, "203.0.113.1", 53), &r, ManipSrc)
	for i := 2; i < 60; i++ {
		o := udp("192.0.2.2", 4000, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String(), 53)
		n := tab.add(sel, o, &r, ManipSrc)
		if n.Src != first.Src || n.SrcPort != 4000 {
			t.Fatalf("%v mapped to %v, first to %v", o, n, first)
		}
	}
	// --random skips the reuse: the hash decides.
	r.Flags |= ProtoRandom
	seen := map[netip.Addr]bool{}
	for i := 2; i < 60; i++ {
		o := udp("192.0.2.2", 4000, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String(), 53)
		seen[sel.Unique(o, &r, ManipSrc, &Conn{}).Src] = true
	}
	if len(seen) < 3 {
		t.Errorf("random: addresses %v", seen)
	}
}

func TestPersistentIgnoresDestination(t *testing.T) {
	r := Range{Flags: MapIPs | Persistent, MinAddr: a("10.0.0.10"), MaxAddr: a("10.0.0.20")}
	var got netip.Addr
	for i := 1; i < 50; i++ {
		x := udp("192.0.2.2", 1, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String(), 2)
		BestAddr(&x, &r, ManipDst, uint16(i))
		if i > 1 && x.Dst != got {
			t.Fatalf("persistent: %v then %v", got, x.Dst)
		}
		got = x.Dst
	}
	r.Flags &^= Persistent
	seen := map[netip.Addr]bool{}
	for i := 1; i < 50; i++ {
		x := udp("192.0.2.2", 1, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String(), 2)
		BestAddr(&x, &r, ManipDst, 0)
		if x.Dst.Compare(r.MinAddr) < 0 || x.Dst.Compare(r.MaxAddr) > 0 {
			t.Fatalf("%v out of range", x.Dst)
		}
		seen[x.Dst] = true
	}
	if len(seen) < 5 {
		t.Errorf("not persistent: only %d addresses", len(seen))
	}
}

func TestNetmap(t *testing.T) {
	rule := Rule{Kind: KindNetmap, Range: Range{Flags: MapIPs, MinAddr: a("10.9.0.0"), MaxAddr: a("10.9.255.255")}}
	q := &Request{Family: nf.IPv4, Hook: nf.PreRouting, Src: a("192.0.2.2"), Dst: a("172.16.33.44")}
	rng, m, _, err := rule.Resolve(q, nil)
	if err != nil || m != ManipDst || rng.MinAddr != a("10.9.33.44") || rng.MaxAddr != rng.MinAddr {
		t.Errorf("%v %v %v", rng, m, err)
	}
	q.Hook = nf.PostRouting
	rng, m, _, _ = rule.Resolve(q, nil)
	if m != ManipSrc || rng.MinAddr != a("10.9.2.2") {
		t.Errorf("%v %v", rng, m)
	}
	if got := NetmapAddr(a("2001:db8::1:2"), a("fd00:1::"), a("fd00:1::ffff:ffff")); got != a("fd00:1::1:2") {
		t.Errorf("IPv6 %v", got)
	}
}

type fakeAddrs struct{}

func (fakeAddrs) MasqueradeAddr(fam nf.Family, dev string, nh netip.Addr) (netip.Addr, bool) {
	return SelectAddr4([]IfAddr{
		{Prefix: netip.MustParsePrefix("198.51.100.1/24")},
		{Prefix: netip.MustParsePrefix("203.0.113.1/24")},
		{Prefix: netip.MustParsePrefix("203.0.113.2/24"), Secondary: true},
	}, nh, false), true
}
func (fakeAddrs) RedirectAddr(fam nf.Family, dev string, scope uint8) (netip.Addr, bool) {
	return a("192.0.2.1"), true
}

func TestMasqueradeRedirect(t *testing.T) {
	m := Rule{Kind: KindMasquerade, Range: Range{Flags: ProtoSpecified, MinProto: 1000, MaxProto: 2000}}
	q := &Request{Family: nf.IPv4, Hook: nf.PostRouting, Src: a("192.0.2.2"), OrigSrc: a("192.0.2.2"), Dst: a("8.8.8.8"), NextHop: a("203.0.113.254"), OutDev: "eth1"}
	rng, mm, skip, err := m.Resolve(q, fakeAddrs{})
	if err != nil || skip || mm != ManipSrc || rng.MinAddr != a("203.0.113.1") || rng.Flags != MapIPs|ProtoSpecified || rng.MinProto != 1000 {
		t.Errorf("%+v %v %v %v", rng, mm, skip, err)
	}
	q.NextHop = a("10.1.1.1")
	if rng, _, _, _ = m.Resolve(q, fakeAddrs{}); rng.MinAddr != a("198.51.100.1") {
		t.Errorf("no subnet match: %v", rng.MinAddr)
	}
	q.OrigSrc = a("0.0.0.0")
	if _, _, skip, _ = m.Resolve(q, fakeAddrs{}); !skip {
		t.Error("0.0.0.0 masqueraded")
	}
	red := Rule{Kind: KindRedirect, Range: Range{Flags: ProtoSpecified, MinProto: 3128, MaxProto: 3128}}
	q = &Request{Family: nf.IPv4, Hook: nf.PreRouting, Dst: a("8.8.8.8"), InDev: "eth0"}
	if rng, mm, _, _ = red.Resolve(q, fakeAddrs{}); rng.MinAddr != a("192.0.2.1") || mm != ManipDst {
		t.Errorf("%v", rng)
	}
	q.Hook, q.Family = nf.LocalOut, nf.IPv6
	if rng, _, _, _ = red.Resolve(q, fakeAddrs{}); rng.MinAddr != netip.IPv6Loopback() {
		t.Errorf("%v", rng)
	}
}
