package nat

import (
	"encoding/binary"
	"github.com/nfgo/nfgo/internal/jhash"
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/packet"
)

// Table is what tuple selection asks of the conntrack table.
type Table interface {
	// TupleTaken is nf_conntrack_tuple_taken(): whether a connection
	// other than the one being set up already uses t, in either of its
	// directions, in zone. Selection passes the reply tuple a candidate
	// mapping would give the new connection.
	TupleTaken(t ext.CtTuple, zone uint16) bool
	// SameSource calls fn with the reply tuple of each connection whose
	// original direction has orig's protocol, source address and source
	// port in zone, among those a source mapping (SNAT, MASQUERADE, the
	// null binding of an unmapped connection) was set up for, most
	// recent first (the kernel's nf_nat_bysource list), until fn returns
	// true.
	SameSource(orig ext.CtTuple, zone uint16, fn func(reply ext.CtTuple) bool)
}

// ClashTable is implemented by a Table that can make the two refinements
// the kernel applies to clashes; without it a clash always counts.
type ClashTable interface {
	// IgnorableClash is nf_nat_used_tuple_new()'s check for a connection
	// that is not translated at all (UDP, UDP-Lite, GRE and protocols
	// without ports): orig clashes with an existing entry; the clash is
	// ignored (true) when that entry is not subject to NAT or sequence
	// adjustment and its original tuple is the new connection's reply
	// tuple (both ends opened at once; conntrack resolves it on insert).
	IgnorableClash(orig ext.CtTuple, zone uint16) bool
	// EvictTimeWait is nf_nat_used_tuple_harder()'s last resort for a
	// TCP connection in SYN_SENT: the entry using reply (in its reply
	// direction) is removed if it is a source-translated TCP connection
	// in TIME_WAIT or later, not dying or with a fixed timeout, whose
	// original sequence end is behind seqEnd (the new connection's).
	// It returns whether the tuple is free now.
	EvictTimeWait(reply ext.CtTuple, zone uint16, seqEnd uint32) bool
}

// Conn is the connection a mapping is chosen for.
type Conn struct {
	Zone uint16
	// Status is the connection's IPS_* bits (an earlier mapping's
	// SRC_NAT/DST_NAT, SEQ_ADJUST).
	Status uint32
	// SynSent is set for a TCP connection in state SYN_SENT, SeqEnd is
	// then its original direction's td_end (for EvictTimeWait).
	SynSent bool
	SeqEnd  uint32
	// Master is set for a connection expected by a helper (GRE keys are
	// mapped only for PPTP's, which nfgo does not translate).
	Master bool
}

// Selector chooses translated tuples (get_unique_tuple).
type Selector struct {
	Table Table
	// Rand returns random numbers where the kernel draws them
	// (get_random_u16: the start of the port search for source mappings
	// and with --random or --random-fully); nil uses math/rand/v2. The
	// kernel's choice there is unpredictable, so it cannot be reproduced;
	// a destination mapping without random flags is deterministic and
	// matches the kernel's.
	Rand func() uint32
}

const (
	maxAttempts  = 128             // NF_NAT_MAX_ATTEMPTS
	harderThresh = maxAttempts / 4 // NF_NAT_HARDER_THRESH
)

func (s *Selector) rand16() uint16 {
	if s.Rand != nil {
		return uint16(s.Rand())
	}
	return uint16(rand.Uint32())
}

// Unique is get_unique_tuple(): given the connection's tuple as the
// mapping sees it (curr: the inverse of its reply tuple, which reflects
// earlier mappings), the range and the manip type, it returns the tuple
// the connection's packets are to have in the original direction. The
// result equals curr when no change is needed. The connection's reply
// tuple becomes Invert(result).
func (s *Selector) Unique(curr ext.CtTuple, r *Range, m Manip, c *Conn) ext.CtTuple {
	// 1) A source mapping keeps the tuple if it is in range and free, or
	// reuses the mapping an earlier connection from the same source got.
	if m == ManipSrc && r.Flags&ProtoRandomAll == 0 {
		if inRange(curr, r) {
			if !s.usedNew(curr, c) {
				return curr
			}
		} else if t, ok := s.appropriateSrc(curr, r, c.Zone); ok {
			if !s.used(t, c.Zone) {
				return t
			}
		}
	}

	// 2) The address: a hash of the tuple picks one from the range.
	t := curr
	BestAddr(&t, r, m, c.Zone)

	// 3) The port or id, unless already in range and free.
	if r.Flags&ProtoRandomAll == 0 {
		if r.Flags&ProtoSpecified != 0 {
			if r.Flags&ProtoOffset == 0 && protoInRange(t, m, r.MinProto, r.MaxProto) &&
				(r.MinProto == r.MaxProto || !s.used(t, c.Zone)) {
				return t
			}
		} else if !s.used(t, c.Zone) {
			return t
		}
	}
	s.uniqueProto(&t, r, m, c)
	return t
}

// used is nf_nat_used_tuple.
func (s *Selector) used(t ext.CtTuple, zone uint16) bool {
	return s.Table.TupleTaken(Invert(t), zone)
}

// usesNAT: IPS_NAT_MASK | IPS_SEQ_ADJUST.
const usesNAT = ext.CTStatusSrcNAT | ext.CTStatusDstNAT | ext.CTStatusSeqAdjust

// usedNew is nf_nat_used_tuple_new.
func (s *Selector) usedNew(t ext.CtTuple, c *Conn) bool {
	if !s.used(t, c.Zone) {
		return false
	}
	if !allowClash(t.Proto) || c.Status&usesNAT != 0 {
		return true
	}
	if ct, ok := s.Table.(ClashTable); ok {
		return !ct.IgnorableClash(t, c.Zone)
	}
	return true
}

// allowClash: the l4 trackers with allow_clash (UDP, UDP-Lite, GRE and
// the generic one).
func allowClash(proto uint8) bool {
	switch proto {
	case packet.ProtoTCP, packet.ProtoICMP, packet.ProtoICMPv6, packet.ProtoSCTP, packet.ProtoDCCP:
		return false
	}
	return true
}

// usedHarder is nf_nat_used_tuple_harder.
func (s *Selector) usedHarder(t ext.CtTuple, c *Conn, left int) bool {
	reply := Invert(t)
	if left > harderThresh || t.Proto != packet.ProtoTCP || !c.SynSent {
		return s.Table.TupleTaken(reply, c.Zone)
	}
	if ct, ok := s.Table.(ClashTable); ok {
		return !ct.EvictTimeWait(reply, c.Zone, c.SeqEnd)
	}
	return s.Table.TupleTaken(reply, c.Zone)
}

// appropriateSrc is find_appropriate_src.
func (s *Selector) appropriateSrc(orig ext.CtTuple, r *Range, zone uint16) (ext.CtTuple, bool) {
	var res ext.CtTuple
	found := false
	s.Table.SameSource(orig, zone, func(reply ext.CtTuple) bool {
		t := Invert(reply)
		// The destination half (address, port or ICMP type and code)
		// stays the connection's own.
		t.Dst, t.DstPort = orig.Dst, orig.DstPort
		if inRange(t, r) {
			res, found = t, true
			return true
		}
		return false
	})
	return res, found
}

func isICMP(p uint8) bool { return p == packet.ProtoICMP || p == packet.ProtoICMPv6 }

// hasPorts: the protocols whose tuples carry ports NAT can map.
func hasPorts(p uint8) bool {
	switch p {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		return true
	}
	return false
}

// inRange is nf_in_range: whether a source mapping to t meets the range.
func inRange(t ext.CtTuple, r *Range) bool {
	if r.Flags&MapIPs != 0 && (t.Src.Compare(r.MinAddr) < 0 || t.Src.Compare(r.MaxAddr) > 0) {
		return false
	}
	if r.Flags&ProtoSpecified == 0 {
		return true
	}
	return protoInRange(t, ManipSrc, r.MinProto, r.MaxProto)
}

// protoInRange is l4proto_in_range.
func protoInRange(t ext.CtTuple, m Manip, lo, hi uint16) bool {
	switch {
	case isICMP(t.Proto):
		return t.SrcPort >= lo && t.SrcPort <= hi
	case hasPorts(t.Proto) || t.Proto == 47:
		p := t.SrcPort
		if m == ManipDst {
			p = t.DstPort
		}
		return p >= lo && p <= hi
	}
	return true
}

// BestAddr is find_best_ips_proto: it puts the address a mapping to the
// range gives into t (the source for ManipSrc, else the destination),
// chosen from the range by the kernel's Jenkins hash of the tuple's
// source address (and, unless Persistent, its destination address and
// the zone), so that nfgo picks the same address as the kernel. The
// kernel hashes the addresses' bytes as host-order words; this follows
// little-endian hosts (x86, arm64), the ones Linux runs NAT on in
// practice.
func BestAddr(t *ext.CtTuple, r *Range, m Manip, zone uint16) {
	if r.Flags&MapIPs == 0 {
		return
	}
	if r.MinAddr == r.MaxAddr {
		if m == ManipSrc {
			t.Src = r.MinAddr
		} else {
			t.Dst = r.MinAddr
		}
		return
	}
	v4 := t.Src.Is4()
	words := func(a netip.Addr) (w [4]uint32) {
		var b [16]byte
		if a.Is4() {
			a4 := a.As4()
			copy(b[:], a4[:])
		} else {
			b = a.As16()
		}
		for i := range w {
			w[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
		return w
	}
	src, dst := words(t.Src), words(t.Dst)
	lo, hi := words(r.MinAddr), words(r.MaxAddr)
	last := 3
	if v4 {
		last = 0
	}
	var init uint32
	if r.Flags&Persistent == 0 {
		init = dst[last] ^ uint32(zone)
	}
	j := jhash.Words(src[:], init)
	// The kernel writes the chosen words into the tuple as it goes; for
	// a destination mapping the hash is then mixed with the new words.
	v := &src
	if m == ManipDst {
		v = &dst
	}
	full := false
	for i := 0; i <= last; i++ {
		var minip, dist uint32
		if !full {
			minip = bits.ReverseBytes32(lo[i])
			dist = bits.ReverseBytes32(hi[i]) - minip + 1
		} else {
			dist = ^uint32(0)
		}
		v[i] = bits.ReverseBytes32(minip + uint32(uint64(j)*uint64(dist)>>32))
		if v[i] != hi[i] {
			full = true
		}
		if r.Flags&Persistent == 0 {
			j ^= dst[i]
		}
	}
	var b [16]byte
	for i := range v {
		binary.LittleEndian.PutUint32(b[4*i:], v[i])
	}
	a := netip.AddrFrom16(b)
	if v4 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	}
	if m == ManipSrc {
		t.Src = a
	} else {
		t.Dst = a
	}
}

// uniqueProto is nf_nat_l4proto_unique_tuple: it searches the port (or
// ICMP id) range for a value that makes the tuple unique.
func (s *Selector) uniqueProto(t *ext.CtTuple, r *Range, m Manip, c *Conn) {
	var key *uint16
	var min, size uint32
	switch {
	case isICMP(t.Proto):
		key = &t.SrcPort
		if r.Flags&ProtoSpecified == 0 {
			min, size = 0, 65536
		} else {
			min = uint32(r.MinProto)
			size = uint32(int32(r.MaxProto) - int32(r.MinProto) + 1)
		}
	case hasPorts(t.Proto):
		key = &t.SrcPort
		if m == ManipDst {
			key = &t.DstPort
		}
		if r.Flags&ProtoSpecified == 0 {
			if m == ManipDst {
				return // a destination port is never changed unasked
			}
			switch {
			case *key < 512:
				min, size = 1, 511
			case *key < 1024:
				min, size = 600, 1023-600+1
			default:
				min, size = 1024, 65535-1024+1
			}
		} else {
			lo, hi := uint32(r.MinProto), uint32(r.MaxProto)
			if hi < lo {
				lo, hi = hi, lo
			}
			min, size = lo, hi-lo+1
		}
	default:
		// GRE keys are mapped for PPTP only; other protocols have no
		// ports.
		return
	}

	if size == 0 {
		return
	}
	var off uint16
	switch {
	case r.Flags&ProtoOffset != 0:
		off = *key - r.BaseProto
	case r.Flags&ProtoRandomAll != 0 || m != ManipDst:
		off = s.rand16()
	}
	attempts := size
	if attempts > maxAttempts {
		attempts = maxAttempts
	}
	for {
		for i := uint32(0); i < attempts; i, off = i+1, off+1 {
			*key = uint16(min + uint32(off)%size)
			if !s.usedHarder(*t, c, int(attempts-i)) {
				return
			}
		}
		if attempts >= size || attempts < 16 {
			return
		}
		attempts /= 2
		off = s.rand16()
	}
}

// Invert is nf_ct_invert_tuple: the tuple of the other direction.
// ICMP and ICMPv6 keep the id and turn a query type into its reply type
// (echo, timestamp, information, address mask; ICMPv6 echo and node
// information).
func Invert(t ext.CtTuple) ext.CtTuple {
	r := ext.CtTuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
	switch t.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		typ, code := uint8(t.DstPort>>8), uint8(t.DstPort)
		if inv, ok := icmpInverse(t.Proto, typ); ok {
			typ = inv
		}
		r.SrcPort, r.DstPort = t.SrcPort, uint16(typ)<<8|uint16(code)
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP, 47:
	default:
		r.SrcPort, r.DstPort = 0, 0
	}
	return r
}

func icmpInverse(proto, typ uint8) (uint8, bool) {
	if proto == packet.ProtoICMP {
		switch typ {
		case 8:
			return 0, true
		case 0:
			return 8, true
		case 13:
			return 14, true
		case 14:
			return 13, true
		case 15:
			return 16, true
		case 16:
			return 15, true
		case 17:
			return 18, true
		case 18:
			return 17, true
		}
		return 0, false
	}
	switch typ {
	case 128:
		return 129, true
	case 129:
		return 128, true
	case 139:
		return 140, true
	case 140:
		return 139, true
	}
	return 0, false
}
