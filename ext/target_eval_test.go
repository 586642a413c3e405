package ext

import (
	"bytes"
	"encoding/binary"
	"github.com/nfgo/nfgo/internal/jhash"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// naiveSum is an independent one's complement sum, byte pair by byte pair,
// to check the checksums the targets write.
func naiveSum(parts ...[]byte) uint16 {
	var s uint64
	for _, b := range parts {
		for i := 0; i < len(b); i += 2 {
			w := uint64(b[i]) << 8
			if i+1 < len(b) {
				w |= uint64(b[i+1])
			}
			s += w
		}
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func pseudo(src, dst netip.Addr, proto uint8, n int) []byte {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	if src.Is4() {
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	return append(b, 0, 0, byte(n>>8), byte(n), 0, 0, 0, proto)
}

// checkSums fails unless the IPv4 header and the transport checksum of d
// verify.
func checkSums(t *testing.T, fam nf.Family, d []byte) {
	t.Helper()
	p := &packet.Packet{Family: fam, Data: d}
	if err := p.Parse(); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if fam == nf.IPv4 {
		if s := naiveSum(d[:packet.IPv4(d).HeaderLen()]); s != 0xffff {
			t.Errorf("IPv4 header checksum wrong (sum %#x)", s)
		}
	}
	if p.L4Off < 0 {
		return
	}
	l4 := d[p.L4Off:]
	var s uint16
	switch p.Proto {
	case packet.ProtoICMP:
		s = naiveSum(l4)
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6:
		s = naiveSum(pseudo(p.Src(), p.Dst(), p.Proto, len(l4)), l4)
	default:
		return
	}
	if s != 0xffff {
		t.Errorf("proto %d checksum wrong (sum %#x)", p.Proto, s)
	}
}

type ip4Opt struct {
	tos, ttl, proto uint8
	frag            uint16
	src, dst        string
}

// build4 makes an IPv4 datagram around l4 with correct checksums.
func build4(o ip4Opt, l4 []byte) []byte {
	d := make([]byte, 20+len(l4))
	d[0], d[1], d[8], d[9] = 0x45, o.tos, o.ttl, o.proto
	binary.BigEndian.PutUint16(d[2:], uint16(len(d)))
	binary.BigEndian.PutUint16(d[4:], 0x1234)
	binary.BigEndian.PutUint16(d[6:], o.frag)
	s, t := netip.MustParseAddr(o.src), netip.MustParseAddr(o.dst)
	copy(d[12:], s.AsSlice())
	copy(d[16:], t.AsSlice())
	copy(d[20:], l4)
	packet.IPv4(d).UpdateChecksum()
	fillL4(d[20:], s, t, o.proto, o.frag&0x1fff == 0)
	return d
}

func build6(src, dst string, nh uint8, l4 []byte) []byte {
	d := make([]byte, 40+len(l4))
	d[0] = 0x60
	binary.BigEndian.PutUint16(d[4:], uint16(len(l4)))
	d[6], d[7] = nh, 64
	s, t := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	copy(d[8:], s.AsSlice())
	copy(d[24:], t.AsSlice())
	copy(d[40:], l4)
	fillL4(d[40:], s, t, nh, true)
	return d
}

func fillL4(l4 []byte, s, t netip.Addr, proto uint8, first bool) {
	if !first {
		return
	}
	var off int
	switch proto {
	case packet.ProtoTCP:
		off = 16
	case packet.ProtoUDP:
		off = 6
	case packet.ProtoICMP, packet.ProtoICMPv6:
		off = 2
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	l4[off], l4[off+1] = 0, 0
	var c uint16
	if proto == packet.ProtoICMP {
		c = ^naiveSum(l4)
	} else {
		c = ^naiveSum(pseudo(s, t, proto, len(l4)), l4)
	}
	if c == 0 && proto == packet.ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

func tcpSeg(sport, dport uint16, seq, ack uint32, flags uint8, opts, payload []byte) []byte {
	b := make([]byte, 20+len(opts)+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte((20+len(opts))/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 64240)
	copy(b[20:], opts)
	copy(b[20+len(opts):], payload)
	return b
}

func udpSeg(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func icmpMsg(typ, code uint8, rest uint32, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[8:], payload)
	return b
}

// testHost: 10.0.0.1 and fd00::1 (eth0), 10.1.0.1 and fd01::1 (eth1) are
// local; 10.0.0.255 is broadcast; 10.1/16 and fd01::/64 route out eth1,
// everything else out eth0.
type testHost struct{ mtu int }

func (testHost) AddrType(a netip.Addr, dev string) uint8 {
	switch a.String() {
	case "10.0.0.1", "10.1.0.1", "fd00::1", "fd01::1", "127.0.0.1", "::1":
		return 2
	case "10.0.0.255":
		return 3
	}
	if a.IsMulticast() {
		return 5
	}
	return 1
}

func (testHost) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	m := map[string]string{"eth0/4": "10.0.0.1", "eth1/4": "10.1.0.1", "eth0/6": "fd00::1", "eth1/6": "fd01::1"}
	k := dev + "/4"
	if fam == nf.IPv6 {
		k = dev + "/6"
	}
	s, ok := m[k]
	if !ok {
		return netip.Addr{}, false
	}
	return netip.MustParseAddr(s), true
}

func (testHost) RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, in string) (string, bool) {
	if netip.MustParsePrefix("10.1.0.0/16").Contains(dst) || netip.MustParsePrefix("fd01::/64").Contains(dst) {
		return "eth1", true
	}
	if dst == netip.MustParseAddr("10.9.9.9") {
		return "", false
	}
	return "eth0", true
}

func (h testHost) RouteMTU(fam nf.Family, dst netip.Addr) int {
	if netip.MustParsePrefix("10.1.0.0/16").Contains(dst) || netip.MustParsePrefix("fd01::/64").Contains(dst) {
		return h.mtu
	}
	return 1500
}

type testSink struct {
	sent  []*packet.Packet
	nflog []string
}

func (s *testSink) Log(uint8, string)     {}
func (s *testSink) Send(p *packet.Packet) { s.sent = append(s.sent, p) }
func (s *testSink) NFLog(g uint16, prefix string, p *packet.Packet) {
	s.nflog = append(s.nflog, prefix)
}

func env(fam nf.Family, d []byte, hook nf.Hook, in string) (*Env, *testSink) {
	p := &packet.Packet{Family: fam, Data: d, InDev: in}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	s := &testSink{}
	return &Env{Pkt: p, Family: fam, Hook: hook, Host: testHost{mtu: 1400}, Sink: s}, s
}

func reject(t *testing.T, fam nf.Family, with uint32, d []byte, hook nf.Hook, in string) *packet.Packet {
	t.Helper()
	e, s := env(fam, d, hook, in)
	if v := (&rejectTarget{Family: fam, With: with}).Target(e); v != VerdictDrop {
		t.Fatalf("verdict %v, want DROP", v)
	}
	switch len(s.sent) {
	case 0:
		return nil
	case 1:
		checkSums(t, fam, s.sent[0].Data)
		return s.sent[0]
	}
	t.Fatalf("%d replies", len(s.sent))
	return nil
}

func TestRejectTCPReset4(t *testing.T) {
	syn := build4(ip4Opt{ttl: 63, tos: 0x10, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"},
		tcpSeg(40000, 80, 1000, 0, packet.TCPSyn, []byte{2, 4, 5, 0xb4}, nil))
	r := reject(t, nf.IPv4, rejectTCPReset4, syn, nf.LocalIn, "eth0")
	if r == nil {
		t.Fatal("no reset for a SYN")
	}
	h := packet.IPv4(r.Data)
	if h.Src().String() != "10.0.0.1" || h.Dst().String() != "10.0.0.2" || h.TTL() != 64 || h.TOS() != 0 ||
		h.ID() != 0 || !h.DontFragment() || h.TotalLen() != 40 || h.Protocol() != 6 {
		t.Errorf("IP header % x", r.Data[:20])
	}
	th := packet.TCP(r.Data[20:])
	if th.SrcPort() != 80 || th.DstPort() != 40000 || th.Seq() != 0 || th.Ack() != 1001 ||
		th.Flags() != packet.TCPRst|packet.TCPAck || th.DataOff() != 20 || th.Window() != 0 {
		t.Errorf("TCP header % x", r.Data[20:])
	}
	if r.Mark != 0 || !r.Local {
		t.Errorf("mark %d local %v", r.Mark, r.Local)
	}

	// An ACK with 5 bytes: the RST takes its ack number as sequence.
	ack := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"},
		tcpSeg(40000, 80, 5000, 777, packet.TCPAck|packet.TCPPsh, nil, []byte("hello")))
	r = reject(t, nf.IPv4, rejectTCPReset4, ack, nf.LocalIn, "eth0")
	if th := packet.TCP(r.Data[20:]); th.Seq() != 777 || th.Ack() != 0 || th.Flags() != packet.TCPRst {
		t.Errorf("RST to ACK: % x", r.Data[20:])
	}
	// FIN without ACK with 3 bytes: ack = seq + 3 + 1.
	fin := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"},
		tcpSeg(1, 2, 0xfffffffe, 0, packet.TCPFin, nil, []byte("abc")))
	r = reject(t, nf.IPv4, rejectTCPReset4, fin, nf.LocalIn, "eth0")
	if th := packet.TCP(r.Data[20:]); th.Ack() != 2 {
		t.Errorf("FIN ack %d, want 2 (wrapped)", th.Ack())
	}

	// A forwarded packet: the reset comes from its destination.
	fwd := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.1.5.5"},
		tcpSeg(1, 2, 9, 0, packet.TCPSyn, nil, nil))
	r = reject(t, nf.IPv4, rejectTCPReset4, fwd, nf.Forward, "eth0")
	if packet.IPv4(r.Data).Src().String() != "10.1.5.5" {
		t.Errorf("forwarded reset from %v", packet.IPv4(r.Data).Src())
	}

	none := map[string][]byte{
		"RST": build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"},
			tcpSeg(1, 2, 9, 0, packet.TCPRst, nil, nil)),
		"fragment": build4(ip4Opt{ttl: 64, proto: 6, frag: 3, src: "10.0.0.2", dst: "10.0.0.1"},
			tcpSeg(1, 2, 9, 0, packet.TCPSyn, nil, nil)),
		"broadcast": build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.255"},
			tcpSeg(1, 2, 9, 0, packet.TCPSyn, nil, nil)),
		"no route back": build4(ip4Opt{ttl: 64, proto: 6, src: "10.9.9.9", dst: "10.0.0.1"},
			tcpSeg(1, 2, 9, 0, packet.TCPSyn, nil, nil)),
	}
	bad := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"}, tcpSeg(1, 2, 9, 0, packet.TCPSyn, nil, nil))
	bad[37] ^= 1
	none["bad checksum"] = bad
	for name, d := range none {
		if r := reject(t, nf.IPv4, rejectTCPReset4, d, nf.LocalIn, "eth0"); r != nil {
			t.Errorf("%s: got a reset", name)
		}
	}
	// A locally generated packet's checksum is not checked (it is partial
	// in the kernel).
	e, s := env(nf.IPv4, bad, nf.LocalOut, "")
	e.Pkt.Local = true
	(&rejectTarget{Family: nf.IPv4, With: rejectTCPReset4}).Target(e)
	if len(s.sent) != 1 {
		t.Errorf("local packet with partial checksum: %d replies", len(s.sent))
	}
}

func TestRejectUnreach4(t *testing.T) {
	codes := map[uint32]uint8{0: 0, 1: 1, 2: 2, 3: 3, 5: 9, 6: 10, 8: 13}
	udp := build4(ip4Opt{ttl: 61, tos: 0xff, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"},
		udpSeg(5353, 53, []byte("query")))
	for with, code := range codes {
		r := reject(t, nf.IPv4, with, append([]byte(nil), udp...), nf.LocalIn, "eth0")
		if r == nil {
			t.Fatalf("with %d: no reply", with)
		}
		h := packet.IPv4(r.Data)
		if h.Src().String() != "10.0.0.1" || h.Dst().String() != "10.0.0.2" || h.TTL() != 64 ||
			h.TOS() != 0xde || h.DontFragment() || h.Protocol() != 1 || int(h.TotalLen()) != 28+len(udp) {
			t.Errorf("with %d: IP header % x", with, r.Data[:20])
		}
		ic := packet.ICMP(r.Data[20:])
		if ic.Type() != 3 || ic.Code() != code || ic.Rest() != 0 || !bytes.Equal(ic.Payload(), udp) {
			t.Errorf("with %d: ICMP % x", with, r.Data[20:])
		}
	}

	// Quoting stops at 576 bytes in all, or at the route's smaller MTU.
	big := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, make([]byte, 1000)))
	r := reject(t, nf.IPv4, 3, big, nf.LocalIn, "eth0")
	if len(r.Data) != 576 || !bytes.Equal(r.Data[28:], big[:548]) {
		t.Errorf("big: reply of %d bytes", len(r.Data))
	}

	// Forwarded: the source is the address of the interface the error
	// leaves by, not the original destination.
	fwd := build4(ip4Opt{ttl: 64, proto: 17, src: "10.1.0.7", dst: "192.0.2.1"}, udpSeg(1, 2, nil))
	r = reject(t, nf.IPv4, 3, fwd, nf.Forward, "eth1")
	if h := packet.IPv4(r.Data); h.Src().String() != "10.1.0.1" || h.Dst().String() != "10.1.0.7" {
		t.Errorf("forwarded: %v -> %v", h.Src(), h.Dst())
	}

	// An echo request gets an error; errors and unknown types do not.
	echo := build4(ip4Opt{ttl: 64, proto: 1, src: "10.0.0.2", dst: "10.0.0.1"}, icmpMsg(8, 0, 0x00010002, []byte("ping")))
	if reject(t, nf.IPv4, 3, echo, nf.LocalIn, "eth0") == nil {
		t.Error("no error for an echo request")
	}
	for _, typ := range []uint8{3, 5, 11, 12, 1, 19, 200} {
		d := build4(ip4Opt{ttl: 64, proto: 1, src: "10.0.0.2", dst: "10.0.0.1"}, icmpMsg(typ, 0, 0, make([]byte, 28)))
		if reject(t, nf.IPv4, 3, d, nf.LocalIn, "eth0") != nil {
			t.Errorf("an error answered ICMP type %d", typ)
		}
	}
	// UDP with no checksum is not verified; with a bad one, no reply.
	nocs := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, []byte("x")))
	nocs[26], nocs[27] = 0, 0
	if reject(t, nf.IPv4, 3, nocs, nf.LocalIn, "eth0") == nil {
		t.Error("no reply to UDP without checksum")
	}
	badcs := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, []byte("x")))
	badcs[28] ^= 0x40
	if reject(t, nf.IPv4, 3, badcs, nf.LocalIn, "eth0") != nil {
		t.Error("reply to UDP with a bad checksum")
	}
	frag := build4(ip4Opt{ttl: 64, proto: 17, frag: 0x2000 | 100, src: "10.0.0.2", dst: "10.0.0.1"}, make([]byte, 16))
	if reject(t, nf.IPv4, 3, frag, nf.LocalIn, "eth0") != nil {
		t.Error("reply to a non-first fragment")
	}
	// Not for us at link level.
	e, s := env(nf.IPv4, append([]byte(nil), udp...), nf.LocalIn, "eth0")
	e.Pkt.PktType = packet.PacketBroadcast
	(&rejectTarget{Family: nf.IPv4, With: 3}).Target(e)
	if len(s.sent) != 0 {
		t.Error("reply to a link-level broadcast")
	}
}

func TestReject6(t *testing.T) {
	codes := map[uint32]uint8{0: 0, 1: 1, 3: 3, 4: 4, 7: 5, 8: 6}
	udp := build6("fd00::2", "fd00::1", 17, udpSeg(5353, 53, []byte("query")))
	for with, code := range codes {
		r := reject(t, nf.IPv6, with, append([]byte(nil), udp...), nf.LocalIn, "eth0")
		if r == nil {
			t.Fatalf("with %d: no reply", with)
		}
		h := packet.IPv6(r.Data)
		if h.Src().String() != "fd00::1" || h.Dst().String() != "fd00::2" || h.HopLimit() != 64 ||
			h.TrafficClass() != 0 || h.FlowLabel() != 0 || h.NextHeader() != 58 || int(h.PayloadLen()) != 8+len(udp) {
			t.Errorf("with %d: header % x", with, r.Data[:40])
		}
		if ic := packet.ICMP(r.Data[40:]); ic.Type() != 1 || ic.Code() != code || !bytes.Equal(ic.Payload(), udp) {
			t.Errorf("with %d: ICMPv6 % x", with, r.Data[40:])
		}
	}
	big := build6("fd00::2", "fd00::1", 17, udpSeg(1, 2, make([]byte, 2000)))
	if r := reject(t, nf.IPv6, 4, big, nf.LocalIn, "eth0"); len(r.Data) != 1280 || !bytes.Equal(r.Data[48:], big[:1232]) {
		t.Errorf("big: %d bytes", len(r.Data))
	}
	// No error about an error; echo requests do get one.
	if reject(t, nf.IPv6, 4, build6("fd00::2", "fd00::1", 58, icmpMsg(1, 4, 0, make([]byte, 48))), nf.LocalIn, "eth0") != nil {
		t.Error("error answered an ICMPv6 error")
	}
	if reject(t, nf.IPv6, 4, build6("fd00::2", "fd00::1", 58, icmpMsg(128, 0, 7, nil)), nf.LocalIn, "eth0") == nil {
		t.Error("no error for an echo request")
	}
	// Forwarded: source from the incoming interface.
	if r := reject(t, nf.IPv6, 4, build6("fd01::9", "2001:db8::1", 17, udpSeg(1, 2, nil)), nf.Forward, "eth1"); r == nil ||
		packet.IPv6(r.Data).Src().String() != "fd01::1" {
		t.Errorf("forwarded: %v", r)
	}
	// Non-first fragment: none.
	fr := make([]byte, 8+16)
	fr[0], fr[2], fr[3] = 17, 0, 8<<3|1
	if reject(t, nf.IPv6, 4, build6("fd00::2", "fd00::1", 44, fr), nf.LocalIn, "eth0") != nil {
		t.Error("reply to a non-first fragment")
	}

	// TCP reset, through a destination options header.
	seg := tcpSeg(40000, 22, 77, 0, packet.TCPSyn, nil, nil)
	withOpts := append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, seg...)
	d := build6("fd00::2", "fd00::1", 60, withOpts)
	// fix the TCP checksum behind the extension header
	fillL4(d[48:], netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1"), 6, true)
	r := reject(t, nf.IPv6, rejectTCPReset6, d, nf.LocalIn, "eth0")
	if r == nil {
		t.Fatal("no reset")
	}
	h := packet.IPv6(r.Data)
	th := packet.TCP(r.Data[40:])
	if h.Src().String() != "fd00::1" || h.Dst().String() != "fd00::2" || h.PayloadLen() != 20 || h.HopLimit() != 64 ||
		th.SrcPort() != 22 || th.DstPort() != 40000 || th.Ack() != 78 || th.Flags() != packet.TCPRst|packet.TCPAck {
		t.Errorf("reset % x", r.Data)
	}
	if reject(t, nf.IPv6, rejectTCPReset6, build6("fd00::2", "ff02::1", 6, tcpSeg(1, 2, 3, 0, packet.TCPSyn, nil, nil)), nf.LocalIn, "eth0") != nil {
		t.Error("reset to multicast")
	}
}

func TestMarkClassify(t *testing.T) {
	d := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, nil))
	e, _ := env(nf.IPv4, d, nf.PreRouting, "eth0")
	e.Pkt.Mark = 0xff00ff00
	for _, c := range []struct{ mark, mask, want uint32 }{
		{0x12, 0xffffffff, 0x12}, // --set-mark 0x12
		{0x0, 0xfffffff0, 0x2},   // --and-mark 0xf
		{0x100, 0x100, 0x102},    // --or-mark 0x100
		{0x3, 0x0, 0x101},        // --xor-mark 3
		{0xa0, 0xf0, 0x1a1},      // --set-xmark 0xa0/0xf0
	} {
		if v := (&markTarget{Mark: c.mark, Mask: c.mask}).Target(e); v != VerdictContinue || e.Pkt.Mark != c.want {
			t.Errorf("MARK %#x/%#x: mark %#x, want %#x", c.mark, c.mask, e.Pkt.Mark, c.want)
		}
	}
	(&classifyTarget{Priority: 0x10002}).Target(e)
	if e.Pkt.Priority != 0x10002 {
		t.Errorf("priority %#x", e.Pkt.Priority)
	}
}

func TestTOSDSCPTTL(t *testing.T) {
	// Every TOS byte and header checksum: compare with the checksum
	// recomputed from scratch. The kernel's arithmetic may give 0xffff
	// where a recomputation gives 0 and the other way round; both verify.
	for tos := 0; tos < 256; tos += 7 {
		for _, id := range []uint16{0, 0x1234, 0xfffe} {
			d := build4(ip4Opt{ttl: 64, tos: uint8(tos), proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, nil))
			binary.BigEndian.PutUint16(d[4:], id)
			packet.IPv4(d).UpdateChecksum()
			e, _ := env(nf.IPv4, d, nf.PreRouting, "eth0")
			(&tosTarget{Value: 0x10, Mask: 0x3f}).Target(e)
			if want := uint8(tos)&^0x3f ^ 0x10; d[1] != want {
				t.Fatalf("TOS %#x -> %#x, want %#x", tos, d[1], want)
			}
			checkSums(t, nf.IPv4, d)
			before := d[1]
			(&dscpTarget{DSCP: 0x2e}).Target(e)
			if want := 0x2e<<2 | before&3; d[1] != want {
				t.Fatalf("DSCP on %#x -> %#x, want %#x", tos, d[1], want)
			}
			checkSums(t, nf.IPv4, d)
		}
	}
	d6 := build6("fd00::2", "fd00::1", 17, udpSeg(1, 2, nil))
	d6[1] |= 0x0a // a flow label to keep
	e, _ := env(nf.IPv6, d6, nf.PreRouting, "eth0")
	(&tosTarget{Value: 0x01, Mask: 0x00}).Target(e) // --xor-tos 1
	(&dscpTarget{DSCP: 0x08}).Target(e)
	if h := packet.IPv6(d6); h.TrafficClass() != 0x21 || h.FlowLabel() != 0xa0000 || h.Version() != 6 {
		t.Errorf("IPv6 tclass %#x flow %#x", h.TrafficClass(), h.FlowLabel())
	}

	for _, c := range []struct {
		mode, val, ttl, want uint8
	}{{TTLSet, 5, 64, 5}, {TTLInc, 10, 250, 255}, {TTLDec, 10, 5, 0}, {TTLDec, 1, 64, 63}, {TTLInc, 1, 64, 65}} {
		d := build4(ip4Opt{ttl: c.ttl, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, nil))
		e, _ := env(nf.IPv4, d, nf.PreRouting, "eth0")
		(&ttlTarget{Mode: c.mode, Value: c.val}).Target(e)
		if d[8] != c.want {
			t.Errorf("TTL mode %d %d on %d: %d, want %d", c.mode, c.val, c.ttl, d[8], c.want)
		}
		checkSums(t, nf.IPv4, d)
		d6 := build6("fd00::2", "fd00::1", 17, udpSeg(1, 2, nil))
		d6[7] = c.ttl
		e, _ = env(nf.IPv6, d6, nf.PreRouting, "eth0")
		(&ttlTarget{Mode: c.mode, Value: c.val, hl: true}).Target(e)
		if d6[7] != c.want {
			t.Errorf("HL mode %d %d on %d: %d, want %d", c.mode, c.val, c.ttl, d6[7], c.want)
		}
	}
}

// TestDSField checks ipv4ChangeDSField against the kernel's C arithmetic
// transcribed literally (u32 with wrap-around) over all checksums.
func TestDSField(t *testing.T) {
	for c := 0; c < 0x10000; c += 3 {
		for _, tc := range [][2]uint8{{0, 0xff}, {0xff, 0}, {0x12, 0x34}} {
			h := make(packet.IPv4, 20)
			h[1] = tc[0]
			h.SetChecksum(uint16(c))
			ipv4ChangeDSField(h, 0, tc[1])
			var check uint32 = uint32(c)
			check += uint32(tc[0])
			if (check+1)>>16 != 0 {
				check = (check + 1) & 0xffff
			}
			check -= uint32(tc[1])
			check += check >> 16
			if h.Checksum() != uint16(check) || h[1] != tc[1] {
				t.Fatalf("check %#x tos %#x->%#x: %#x, want %#x", c, tc[0], tc[1], h.Checksum(), uint16(check))
			}
		}
	}
}

func TestECN(t *testing.T) {
	d := build4(ip4Opt{ttl: 64, tos: 0x03, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"},
		tcpSeg(1, 2, 3, 0, packet.TCPSyn|packet.TCPEce|packet.TCPCwr, nil, nil))
	e, _ := env(nf.IPv4, d, nf.PreRouting, "eth0")
	(&ecnTarget{Operation: ECNOpSetECE | ECNOpSetCWR | ECNOpSetIP, IPECT: 1}).Target(e)
	if d[1] != 0x01 || d[33] != packet.TCPSyn {
		t.Errorf("tos %#x flags %#x", d[1], d[33])
	}
	checkSums(t, nf.IPv4, d)
	// A TCP packet cut short of its header is dropped.
	short := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.0.0.1"}, make([]byte, 10))
	e, _ = env(nf.IPv4, short, nf.PreRouting, "eth0")
	if v := (&ecnTarget{Operation: ECNOpSetECE}).Target(e); v != VerdictDrop {
		t.Errorf("short TCP: %v", v)
	}
}

func TestTCPMSS(t *testing.T) {
	opts := []byte{1, 1, 4, 2, 2, 4, 0x05, 0xb4} // NOP NOP SACK-perm MSS 1460
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		mk := func(o []byte, payload []byte) []byte {
			seg := tcpSeg(1, 2, 3, 0, packet.TCPSyn, o, payload)
			if fam == nf.IPv6 {
				return build6("fd00::2", "fd01::5", 6, seg)
			}
			return build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.1.0.5"}, seg)
		}
		ip := 20
		if fam == nf.IPv6 {
			ip = 40
		}
		// --set-mss lowers, never raises.
		d := mk(opts, nil)
		e, _ := env(fam, d, nf.Forward, "eth0")
		(&tcpmssTarget{Family: fam, MSS: 1000}).Target(e)
		if got := binary.BigEndian.Uint16(d[ip+26:]); got != 1000 {
			t.Errorf("%v set-mss: %d", fam, got)
		}
		checkSums(t, fam, d)
		(&tcpmssTarget{Family: fam, MSS: 1200}).Target(e)
		if got := binary.BigEndian.Uint16(d[ip+26:]); got != 1000 {
			t.Errorf("%v set-mss raised the MSS to %d", fam, got)
		}
		// Clamp: the route to 10.1/16 has MTU 1400 (testHost).
		d = mk(opts, nil)
		e, _ = env(fam, d, nf.Forward, "eth0")
		(&tcpmssTarget{Family: fam, MSS: t2TCPMSSClamp}).Target(e)
		if got := binary.BigEndian.Uint16(d[ip+26:]); int(got) != 1400-ip-20 {
			t.Errorf("%v clamp: %d", fam, got)
		}
		checkSums(t, fam, d)
		// No MSS option: one is inserted, capped at the default MSS.
		d = mk([]byte{1, 1, 4, 2}, nil)
		orig := append([]byte(nil), d...)
		e, _ = env(fam, d, nf.Forward, "eth0")
		(&tcpmssTarget{Family: fam, MSS: 1400}).Target(e)
		d = e.Pkt.Data
		want := uint16(536)
		if fam == nf.IPv6 {
			want = 1220
		}
		if len(d) != len(orig)+4 || d[ip+12]>>4 != 7 || !bytes.Equal(d[ip+20:ip+24], []byte{2, 4, byte(want >> 8), byte(want)}) ||
			!bytes.Equal(d[ip+24:], orig[ip+20:]) {
			t.Errorf("%v insert: % x", fam, d)
		}
		checkSums(t, fam, d)
		// With payload nothing is inserted.
		d = mk(nil, []byte("data"))
		orig = append([]byte(nil), d...)
		e, _ = env(fam, d, nf.Forward, "eth0")
		(&tcpmssTarget{Family: fam, MSS: 1400}).Target(e)
		if !bytes.Equal(e.Pkt.Data, orig) {
			t.Errorf("%v changed a segment with payload", fam)
		}
	}
	// Clamping to an MTU no bigger than the headers drops.
	d := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.1.0.5"}, tcpSeg(1, 2, 3, 0, packet.TCPSyn, nil, nil))
	e, _ := env(nf.IPv4, d, nf.Forward, "eth0")
	e.Host = testHost{mtu: 40}
	if v := (&tcpmssTarget{Family: nf.IPv4, MSS: t2TCPMSSClamp}).Target(e); v != VerdictDrop {
		t.Errorf("tiny MTU: %v", v)
	}
}

func TestNFQueueNFLog(t *testing.T) {
	d := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.2", dst: "10.0.0.1"}, udpSeg(1, 2, nil))
	e, s := env(nf.IPv4, d, nf.PreRouting, "eth0")
	if v := (&nfqueueTarget{QueueNum: 7, QueuesTotal: 1, Flags: NFQBypass}).Target(e); v != VerdictQueue || e.QueueNum != 7 || !e.Bypass {
		t.Errorf("NFQUEUE: %v %d %v", v, e.QueueNum, e.Bypass)
	}
	// Balanced: both directions of a flow land in the same queue, in range.
	rev := build4(ip4Opt{ttl: 64, proto: 17, src: "10.0.0.1", dst: "10.0.0.2"}, udpSeg(2, 1, nil))
	er, _ := env(nf.IPv4, rev, nf.PreRouting, "eth0")
	tg := &nfqueueTarget{QueueNum: 10, QueuesTotal: 4}
	tg.Target(e)
	tg.Target(er)
	if e.QueueNum != er.QueueNum || e.QueueNum < 10 || e.QueueNum > 13 || e.Bypass {
		t.Errorf("balance: %d and %d", e.QueueNum, er.QueueNum)
	}
	// jhash_3words against the reference lookup3 final() for known input:
	// hashword(k={1,2,3}, 3, 0) of lookup3.c is jhash_3words(1,2,3,0) with
	// initval 0xdeadbeef+12.
	if got := jhash.ThreeWords(1, 2, 3, 0); got != lookup3Final(1, 2, 3) {
		t.Errorf("jhash3 %#x", got)
	}
	(&nflogTarget{Group: 5, Prefix: "p"}).Target(e)
	if len(s.nflog) != 1 || s.nflog[0] != "p" {
		t.Errorf("NFLOG: %v", s.nflog)
	}
}

// lookup3Final is Bob Jenkins' hashword() for three words, written from
// lookup3.c independently of jhash3.
func lookup3Final(k0, k1, k2 uint32) uint32 {
	rot := func(x uint32, k uint) uint32 { return x<<k | x>>(32-k) }
	a := 0xdeadbeef + uint32(3<<2)
	b, c := a, a
	a += k0
	b += k1
	c += k2
	c ^= b
	c -= rot(b, 14)
	a ^= c
	a -= rot(c, 11)
	b ^= a
	b -= rot(a, 25)
	c ^= b
	c -= rot(b, 16)
	a ^= c
	a -= rot(c, 4)
	b ^= a
	b -= rot(a, 14)
	c ^= b
	c -= rot(b, 24)
	return c
}

func TestTargetAllocs(t *testing.T) {
	d := build4(ip4Opt{ttl: 64, proto: 6, src: "10.0.0.2", dst: "10.1.0.5"}, tcpSeg(1, 2, 3, 0, packet.TCPSyn, []byte{2, 4, 5, 0xb4}, nil))
	e, _ := env(nf.IPv4, d, nf.Forward, "eth0")
	tgs := []Targeter{
		&markTarget{Mark: 1, Mask: 1}, &classifyTarget{Priority: 1}, &tosTarget{Value: 4, Mask: 0xff},
		&dscpTarget{DSCP: 1}, &ttlTarget{Mode: TTLDec, Value: 1}, &tcpmssTarget{Family: nf.IPv4, MSS: t2TCPMSSClamp},
		&ecnTarget{Operation: ECNOpSetIP, IPECT: 2}, &nfqueueTarget{QueueNum: 1, QueuesTotal: 3}, &checksumTarget{},
		&nflogTarget{Group: 1},
	}
	e.Sink = nopSink{}
	for _, tg := range tgs {
		if n := testing.AllocsPerRun(100, func() { tg.Target(e) }); n != 0 {
			t.Errorf("%T: %v allocations per packet", tg, n)
		}
	}
}

type nopSink struct{}

func (nopSink) Log(uint8, string)                    {}
func (nopSink) Send(*packet.Packet)                  {}
func (nopSink) NFLog(uint16, string, *packet.Packet) {}
