package nat

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var a = netip.MustParseAddr

func build(t *testing.T, s *packet.Spec) *packet.Packet {
	t.Helper()
	p, err := packet.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSums verifies the IPv4 header checksum and the transport checksum
// by full recomputation.
func checkSums(t *testing.T, p *packet.Packet) {
	t.Helper()
	if err := p.Parse(); err != nil {
		t.Fatal(err)
	}
	if p.Family == nf.IPv4 {
		h := packet.IPv4(p.Data)
		if packet.Fold(packet.Sum(h[:h.HeaderLen()], 0)) != 0xffff {
			t.Errorf("IPv4 header checksum wrong")
		}
	}
	l4 := p.L4()
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6, packet.ProtoDCCP:
		if p.Proto == packet.ProtoUDP && p.Family == nf.IPv4 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return
		}
		if packet.Fold(packet.Sum(l4, packet.PseudoSum(p.Src(), p.Dst(), p.Proto, len(l4)))) != 0xffff {
			t.Errorf("%d checksum wrong", p.Proto)
		}
	case packet.ProtoICMP:
		if packet.Fold(packet.Sum(l4, 0)) != 0xffff {
			t.Errorf("ICMP checksum wrong")
		}
	}
}

func TestManipPacketTCPUDP(t *testing.T) {
	for _, fam := range []string{"4", "6"} {
		src, dst, nsrc, ndst := a("192.0.2.2"), a("203.0.113.9"), a("198.51.100.1"), a("10.0.0.7")
		if fam == "6" {
			src, dst, nsrc, ndst = a("2001:db8:1::2"), a("2001:db8:3::9"), a("2001:db8:2::1"), a("fd00::7")
		}
		for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
			p := build(t, &packet.Spec{Src: src, Dst: dst, Proto: proto, SrcPort: 40000, DstPort: 80, Flags: 0x12, Seq: 7, Payload: []byte("hello there")})
			if err := ManipPacket(p, ext.CtTuple{Src: nsrc, SrcPort: 1024, Proto: proto}, ManipSrc); err != nil {
				t.Fatal(err)
			}
			if err := ManipPacket(p, ext.CtTuple{Dst: ndst, DstPort: 8080, Proto: proto}, ManipDst); err != nil {
				t.Fatal(err)
			}
			if p.Src() != nsrc || p.Dst() != ndst {
				t.Errorf("addresses %s > %s", p.Src(), p.Dst())
			}
			if s, d, _ := p.Ports(); s != 1024 || d != 8080 {
				t.Errorf("ports %d > %d", s, d)
			}
			checkSums(t, p)
		}
	}
}

func TestManipUDPZeroChecksum(t *testing.T) {
	p := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2})
	binary.BigEndian.PutUint16(p.L4()[6:], 0)
	if err := ManipPacket(p, ext.CtTuple{Src: a("192.0.2.77"), SrcPort: 999, Proto: packet.ProtoUDP}, ManipSrc); err != nil {
		t.Fatal(err)
	}
	if c := binary.BigEndian.Uint16(p.L4()[6:]); c != 0 {
		t.Errorf("UDP checksum 0 became %#x", c)
	}
	checkSums(t, p)

	// A rewrite whose checksum comes out as zero is sent as 0xffff: find
	// a source port that makes it so.
	for port := 0; port < 65536; port++ {
		q := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("z")})
		if err := ManipPacket(q, ext.CtTuple{Src: a("192.0.2.2"), SrcPort: uint16(port), Proto: packet.ProtoUDP}, ManipSrc); err != nil {
			t.Fatal(err)
		}
		l4 := q.L4()
		binary.BigEndian.PutUint16(l4[6:], 0)
		if packet.TransportChecksum(q.Src(), q.Dst(), packet.ProtoUDP, l4) != 0xffff && packet.TransportChecksum(q.Src(), q.Dst(), packet.ProtoUDP, l4) != 0 {
			continue
		}
		// Redo it to see what NAT wrote.
		q = build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("z")})
		ManipPacket(q, ext.CtTuple{Src: a("192.0.2.2"), SrcPort: uint16(port), Proto: packet.ProtoUDP}, ManipSrc)
		if c := binary.BigEndian.Uint16(q.L4()[6:]); c != 0xffff {
			t.Errorf("port %d: checksum %#x, want 0xffff (CSUM_MANGLED_0)", port, c)
		}
		return
	}
	t.Fatal("no port gives a zero checksum")
}

func TestManipSCTPAndDCCP(t *testing.T) {
	// SCTP: common header and a DATA-like chunk; CRC32c computed afresh.
	sctp := make([]byte, 12+16)
	binary.BigEndian.PutUint16(sctp[0:], 5000)
	binary.BigEndian.PutUint16(sctp[2:], 38412)
	copy(sctp[12:], "chunk data bytes")
	binary.LittleEndian.PutUint32(sctp[8:], crc32.Checksum(sctp, crc32.MakeTable(crc32.Castagnoli)))
	p := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoSCTP, Payload: sctp})
	if err := ManipPacket(p, ext.CtTuple{Dst: a("10.0.0.3"), DstPort: 2905, Proto: packet.ProtoSCTP}, ManipDst); err != nil {
		t.Fatal(err)
	}
	l4 := append([]byte(nil), p.L4()...)
	got := binary.LittleEndian.Uint32(l4[8:])
	clear(l4[8:12])
	if want := crc32.Checksum(l4, crc32.MakeTable(crc32.Castagnoli)); got != want || binary.BigEndian.Uint16(l4[2:]) != 2905 {
		t.Errorf("SCTP crc %#x want %#x, port %d", got, want, binary.BigEndian.Uint16(l4[2:]))
	}
	checkSums(t, p)

	// DCCP: 12-byte generic header (checksum at 6) plus data.
	d := make([]byte, 16)
	binary.BigEndian.PutUint16(d[0:], 3000)
	binary.BigEndian.PutUint16(d[2:], 4000)
	d[4] = 3
	copy(d[12:], "dccp")
	q := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoDCCP, Payload: d})
	l := q.L4()
	binary.BigEndian.PutUint16(l[6:], packet.TransportChecksum(q.Src(), q.Dst(), packet.ProtoDCCP, l))
	if err := ManipPacket(q, ext.CtTuple{Src: a("198.51.100.1"), SrcPort: 3333, Proto: packet.ProtoDCCP}, ManipSrc); err != nil {
		t.Fatal(err)
	}
	checkSums(t, q)
}

func TestManipICMPEcho(t *testing.T) {
	p := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 77, ICMPSeq: 1, Payload: []byte("ping")})
	if err := ManipPacket(p, ext.CtTuple{Src: a("198.51.100.1"), SrcPort: 1234, Proto: packet.ProtoICMP}, ManipSrc); err != nil {
		t.Fatal(err)
	}
	if id := packet.ICMP(p.L4()).ID(); id != 1234 {
		t.Errorf("id %d", id)
	}
	checkSums(t, p)
	q := build(t, &packet.Spec{Src: a("2001:db8:1::2"), Dst: a("2001:db8:3::9"), Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 77, Payload: []byte("ping")})
	if err := ManipPacket(q, ext.CtTuple{Src: a("2001:db8:2::1"), SrcPort: 999, Proto: packet.ProtoICMPv6}, ManipSrc); err != nil {
		t.Fatal(err)
	}
	if id := packet.ICMP(q.L4()).ID(); id != 999 {
		t.Errorf("id %d", id)
	}
	checkSums(t, q)
}

func TestManipAllocs(t *testing.T) {
	p := build(t, &packet.Spec{Src: a("192.0.2.2"), Dst: a("203.0.113.9"), Proto: packet.ProtoTCP, SrcPort: 1, DstPort: 2})
	tgt := ext.CtTuple{Src: a("198.51.100.1"), SrcPort: 9, Proto: packet.ProtoTCP}
	if n := testing.AllocsPerRun(100, func() { ManipPacket(p, tgt, ManipSrc) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

// testConn is a connection with fixed tuples and status.
type testConn struct {
	ext.Conn
	tup    [2]ext.CtTuple
	status uint32
}

func (c *testConn) Tuple(reply bool) ext.CtTuple {
	if reply {
		return c.tup[1]
	}
	return c.tup[0]
}
func (c *testConn) Status() uint32 { return c.status }

// An ICMP error about a SNATed connection, coming back to the NAT
// address, is given the client's addresses inside and out.
func TestTranslateICMPError(t *testing.T) {
	for _, fam := range []string{"4", "6"} {
		cli, nat, srv := a("192.0.2.2"), a("198.51.100.1"), a("203.0.113.9")
		router := a("203.0.113.254")
		icmpProto, typ := packet.ProtoICMP, uint8(3)
		if fam == "6" {
			cli, nat, srv, router = a("2001:db8:1::2"), a("2001:db8:2::1"), a("2001:db8:3::9"), a("2001:db8:3::fe")
			icmpProto, typ = packet.ProtoICMPv6, 1
		}
		orig := ext.CtTuple{Src: cli, Dst: srv, SrcPort: 40000, DstPort: 53, Proto: packet.ProtoUDP}
		reply := ext.CtTuple{Src: srv, Dst: nat, SrcPort: 53, DstPort: 1024, Proto: packet.ProtoUDP}
		c := &testConn{tup: [2]ext.CtTuple{orig, reply}, status: ext.CTStatusSrcNAT | ext.CTStatusSrcNATDone | ext.CTStatusDstNATDone}
		// The packet as it left the NAT box, quoted by a router.
		sent := build(t, &packet.Spec{Src: nat, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1024, DstPort: 53, Payload: []byte("query")})
		errp := build(t, &packet.Spec{Src: router, Dst: nat, Proto: icmpProto, ICMPType: typ, Quote: sent.Data})
		// At PREROUTING (DST manip) in the reply direction: SRC_NAT applies.
		if err := TranslateICMPError(errp, c, true, ManipDst); err != nil {
			t.Fatal(err)
		}
		if errp.Dst() != cli || errp.Src() != router {
			t.Errorf("outer %s > %s", errp.Src(), errp.Dst())
		}
		checkSums(t, errp)
		inner := &packet.Packet{Family: errp.Family, Data: append([]byte(nil), errp.L4()[8:]...)}
		want := build(t, &packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, Payload: []byte("query")})
		if !bytes.Equal(inner.Data, want.Data) {
			t.Errorf("quoted packet\n%x\nwant\n%x", inner.Data, want.Data)
		}
		// A corrupted checksum is dropped.
		bad := build(t, &packet.Spec{Src: router, Dst: nat, Proto: icmpProto, ICMPType: typ, Quote: sent.Data})
		bad.L4()[2] ^= 1
		if err := TranslateICMPError(bad, c, true, ManipDst); err == nil {
			t.Error("bad checksum accepted")
		}
	}
}

func TestInvert(t *testing.T) {
	e := ext.CtTuple{Src: a("192.0.2.1"), Dst: a("192.0.2.2"), SrcPort: 7, DstPort: 8 << 8, Proto: packet.ProtoICMP}
	if r := Invert(e); r.SrcPort != 7 || r.DstPort != 0 || r.Src != e.Dst {
		t.Errorf("%v", r)
	}
}
