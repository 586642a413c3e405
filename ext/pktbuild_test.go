package ext_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// pk describes a test packet; build turns it into wire bytes.
type pk struct {
	v6       bool
	src, dst string
	proto    uint8  // IPv4 protocol, or the IPv6 next header after ext
	tos      uint8  // TOS / traffic class
	frag     uint16 // IPv4 flags+offset field
	ext      []byte // IPv6 extension headers, chained by hdrExt6
	firstNH  uint8  // IPv6 first next header when ext is set
	l4       []byte
	srcMAC   [6]byte
	dstMAC   [6]byte
	mark     uint32
	pktType  uint8
	physIn   string
	physOut  string
	owner    bool
	uid, gid uint32
}

// wire returns the IP datagram.
func (k *pk) wire() []byte {
	if !k.v6 {
		b := make([]byte, 20+len(k.l4))
		b[0], b[1] = 0x45, k.tos
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		binary.BigEndian.PutUint16(b[6:], k.frag)
		b[8], b[9] = 64, k.proto
		s, d := netip.MustParseAddr(k.src).As4(), netip.MustParseAddr(k.dst).As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		copy(b[20:], k.l4)
		packet.IPv4(b).UpdateChecksum()
		return b
	}
	b := make([]byte, 40+len(k.ext)+len(k.l4))
	b[0], b[1] = 0x60|k.tos>>4, k.tos<<4
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	b[6], b[7] = k.proto, 64
	if len(k.ext) > 0 {
		b[6] = k.firstNH
	}
	s, d := netip.MustParseAddr(k.src).As16(), netip.MustParseAddr(k.dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], k.ext)
	copy(b[40+len(k.ext):], k.l4)
	return b
}

// frame returns the Ethernet frame carrying the datagram.
func (k *pk) frame() []byte {
	f := make([]byte, 14)
	copy(f, k.dstMAC[:])
	copy(f[6:], k.srcMAC[:])
	f[12], f[13] = 0x08, 0x00
	if k.v6 {
		f[12], f[13] = 0x86, 0xdd
	}
	return append(f, k.wire()...)
}

// packet returns the parsed packet as received on dev.
func (k *pk) packet(t testing.TB, dev string) *packet.Packet {
	t.Helper()
	f := k.frame()
	p := &packet.Packet{Family: nf.IPv4, Data: f[14:], MAC: f[:14], InDev: dev,
		Mark: k.mark, PktType: k.pktType, PhysIn: k.physIn, PhysOut: k.physOut,
		HasOwner: k.owner, UID: k.uid, GID: k.gid}
	if k.v6 {
		p.Family = nf.IPv6
	}
	if err := p.Parse(); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

func hdrTcpSeg(sport, dport uint16, flags uint8, opts ...byte) []byte {
	n := 20 + (len(opts)+3)&^3
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12], b[13] = byte(n/4)<<4, flags
	binary.BigEndian.PutUint16(b[14:], 1000)
	copy(b[20:], opts)
	return b
}

func hdrUdpDgram(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

func hdrIcmpMsg(typ, code uint8) []byte { return []byte{typ, code, 0, 0, 0, 1, 0, 1} }

// hdrExt6 builds an IPv6 extension header of kind (0, 43, 60: options-style
// length; 44 fragment; 51 AH) whose next header is nh, with body after
// its first two bytes, padded to its length unit.
func hdrExt6(kind, nh uint8, body ...byte) []byte {
	switch kind {
	case 44:
		b := make([]byte, 8)
		b[0] = nh
		copy(b[2:], body)
		return b
	case 51:
		n := (2 + len(body) + 3) &^ 3
		b := make([]byte, n)
		b[0], b[1] = nh, byte(n/4-2)
		copy(b[2:], body)
		return b
	}
	n := (2 + len(body) + 7) &^ 7
	b := make([]byte, n)
	b[0], b[1] = nh, byte(n/8-1)
	copy(b[2:], body)
	return b
}

func cat(bs ...[]byte) []byte {
	var o []byte
	for _, b := range bs {
		o = append(o, b...)
	}
	return o
}

// loadRules parses rules ("-A CHAIN ...", one a line) into table tbl.
func loadRules(t testing.TB, fam nf.Family, tbl string, rules []string) []*ruleset.Rule {
	t.Helper()
	rs := ruleset.New(fam)
	in := "*" + tbl + "\n" + strings.Join(rules, "\n") + "\nCOMMIT\n"
	if err := rs.Restore(strings.NewReader(in), ruleset.RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v\n%s", err, in)
	}
	var out []*ruleset.Rule
	byChain := map[string]int{}
	tb := rs.Table(tbl)
	for _, r := range rules {
		f := strings.Fields(r)
		c := tb.Chain(f[1])
		out = append(out, c.Rules[byChain[f[1]]])
		byChain[f[1]]++
	}
	return out
}

// evalRule applies a rule's -p (as ipt_packet_match / ip6_packet_match)
// and its matches; hot reports a hotdrop.
func evalRule(t testing.TB, r *ruleset.Rule, e *ext.Env) (match, hot bool) {
	t.Helper()
	p := e.Pkt
	if r.Proto != 0 {
		if e.Family == nf.IPv6 && p.FragOff != 0 {
			switch p.Proto {
			case 0, 43, 44, 51, 60:
				return false, true
			}
		}
		if (p.Proto == r.Proto) == r.InvProto {
			return false, false
		}
	}
	if e.Family == nf.IPv4 {
		if r.Frag == ruleset.FragOnly && p.FragOff == 0 || r.Frag == ruleset.FragNot && p.FragOff != 0 {
			return false, false
		}
	}
	for _, m := range r.Matches {
		mm, ok := m.Ext.(ext.Matcher)
		if !ok {
			t.Fatalf("match %s does not evaluate", m.Def.Name)
		}
		if pe, ok := m.Ext.(ext.Partial); ok {
			if can, why := pe.CanEval(); !can {
				t.Fatalf("match %s cannot evaluate: %s", m.Def.Name, why)
			}
		}
		e.HotDrop = false
		if !mm.Match(e) {
			return false, e.HotDrop
		}
	}
	return true, false
}

// netHost answers for the test network: 10.9.0.2 and fd00::2 are local on
// vb, 10.9.0.0/24 and fd00::/64 are reached through vb.
type netHost struct{}

func (netHost) AddrType(a netip.Addr, dev string) uint8 {
	if a.Is4() {
		b := a.As4()
		switch {
		case b[0] == 0, a == netip.MustParseAddr("255.255.255.255"), a == netip.MustParseAddr("10.9.0.255"):
			return 3
		case b[0]&0xf0 == 0xe0:
			return 5
		case a == netip.MustParseAddr("10.9.0.2"), b[0] == 127:
			if a == netip.MustParseAddr("10.9.0.2") && dev != "" && dev != "vb" {
				return 1
			}
			return 2
		}
		return 1
	}
	switch {
	case a == netip.MustParseAddr("fd00::2"), a.IsLoopback():
		return 2
	case netip.MustParsePrefix("fd00::/64").Contains(a), a.IsLinkLocalUnicast(), a.IsMulticast():
		return 1
	}
	return 7
}

func (netHost) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	if fam == nf.IPv6 {
		return netip.MustParseAddr("fd00::2"), true
	}
	return netip.MustParseAddr("10.9.0.2"), true
}

func (netHost) RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, in string) (string, bool) {
	switch {
	case dst == netip.MustParseAddr("10.9.0.2"), dst == netip.MustParseAddr("fd00::2"):
		return "lo", true
	case netip.MustParsePrefix("10.9.0.0/24").Contains(dst), netip.MustParsePrefix("fd00::/64").Contains(dst),
		dst.IsLinkLocalUnicast():
		return "vb", true
	}
	return "", false
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
