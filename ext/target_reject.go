package ext

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// REJECT: -j REJECT (libipt_REJECT, libip6t_REJECT, ipt_REJECT.c,
// ip6t_REJECT.c). The kernel allows it in table filter only, at INPUT,
// FORWARD and OUTPUT; tcp-reset needs "-p tcp".

// rejectType is one --reject-with value; With is the kernel's code.
type rejectType struct {
	With  uint32
	Name  string
	Alias string
}

// In kernel enum order (ipt_reject_with), without the unsupported echo-reply.
var rejectTypes4 = []rejectType{
	{0, "icmp-net-unreachable", "net-unreach"},
	{1, "icmp-host-unreachable", "host-unreach"},
	{2, "icmp-proto-unreachable", "proto-unreach"},
	{3, "icmp-port-unreachable", "port-unreach"},
	{5, "icmp-net-prohibited", "net-prohib"},
	{6, "icmp-host-prohibited", "host-prohib"},
	{7, "tcp-reset", "tcp-rst"},
	{8, "icmp-admin-prohibited", "admin-prohib"},
}

// ip6t_reject_with order, without not-neighbour and echo-reply.
var rejectTypes6 = []rejectType{
	{0, "icmp6-no-route", "no-route"},
	{1, "icmp6-adm-prohibited", "adm-prohibited"},
	{3, "icmp6-addr-unreachable", "addr-unreach"},
	{4, "icmp6-port-unreachable", "port-unreach"},
	{6, "tcp-reset", "tcp-reset"},
	{7, "icmp6-policy-fail", "policy-fail"},
	{8, "icmp6-reject-route", "reject-route"},
}

const (
	rejectTCPReset4 = 7
	rejectTCPReset6 = 6
)

type rejectTarget struct {
	Family nf.Family
	With   uint32 // kernel reject type (ipt_reject_with / ip6t_reject_with)
}

func init() {
	opts := []Option{{Name: "reject-with", Arg: NeedArg}}
	hooks := nf.Hooks(nf.LocalIn, nf.Forward, nf.LocalOut)
	Register(&Def{
		Name: "REJECT", Kind: TargetKind, Family: nf.IPv4, Options: opts,
		Tables: []string{"filter"}, Hooks: hooks,
		New: func() Ext { return &rejectTarget{Family: nf.IPv4, With: 3} },
	})
	Register(&Def{
		Name: "REJECT", Kind: TargetKind, Family: nf.IPv6, Options: opts,
		Tables: []string{"filter"}, Hooks: hooks,
		New: func() Ext { return &rejectTarget{Family: nf.IPv6, With: 4} },
	})
}

func (t *rejectTarget) types() []rejectType {
	if t.Family == nf.IPv6 {
		return rejectTypes6
	}
	return rejectTypes4
}

func (t *rejectTarget) Parse(u *Use) error {
	// iptables takes the first type whose name or alias starts with the
	// value, ignoring case.
	arg := strings.ToLower(u.Arg)
	for _, rt := range t.types() {
		if strings.HasPrefix(rt.Name, arg) || strings.HasPrefix(rt.Alias, arg) {
			t.With = rt.With
			return nil
		}
	}
	var names []string
	for _, rt := range t.types() {
		names = append(names, rt.Name)
	}
	msg := "unknown reject type \"%s\": expected one of " + strings.Join(names, ", ") + " (or an alias)"
	if t.Family == nf.IPv4 && (strings.HasPrefix("echo-reply", arg) || strings.HasPrefix("echoreply", arg)) {
		msg = "--reject-with echo-reply is no longer supported; " + msg
	}
	return Errorf(msg, u.Arg)
}

func (t *rejectTarget) Final(*RuleInfo) error { return nil }

// Check is the kernel's checkentry: a TCP reset needs "-p tcp".
func (t *rejectTarget) Check(c *CheckCtx) error {
	rst := uint32(rejectTCPReset4)
	if t.Family == nf.IPv6 {
		rst = rejectTCPReset6
	}
	if t.With == rst && (c.Rule.Proto != nf.ProtoTCP || c.Rule.InvProto) {
		return Errorf("--reject-with tcp-reset is only valid for TCP: the rule needs \"-p tcp\"")
	}
	return nil
}

func (t *rejectTarget) name() string {
	for _, rt := range t.types() {
		if rt.With == t.With {
			return rt.Name
		}
	}
	return "(null)"
}

func (t *rejectTarget) Save(b *Buf) { b.Opt(false, "reject-with", t.name()) }

func (t *rejectTarget) Print(b *Buf, _ bool) { b.S(" reject-with ").S(t.name()) }

// What REJECT sends, from nf_reject_ipv4.c / nf_reject_ipv6.c and the
// ICMP code they hand over to (icmp_send, icmp6_send).
const (
	// rejectHopLimit is the TTL/hop limit of every reply: a route's
	// hoplimit metric, else net.ipv4.ip_default_ttl and
	// net.ipv6.conf.*.hop_limit, all 64 unless configured.
	rejectHopLimit = 64
	// icmp4MaxLen: an ICMPv4 error carries as much of the packet as fits
	// in 576 bytes (RFC 1812) with a 20-byte IP and an 8-byte ICMP header.
	icmp4MaxLen = 576
	// icmp6Quote: an ICMPv6 error carries as much as fits in the minimum
	// IPv6 MTU (RFC 4443 2.4(c)).
	icmp6Quote = 1280 - 40 - 8
)

// inaddrDummy is 192.0.0.8, the source icmp_send falls back to when no
// address could be selected.
var inaddrDummy = netip.AddrFrom4([4]byte{192, 0, 0, 8})

// Target sends the reply nf_send_unreach / nf_send_reset (IPv6:
// nf_send_unreach6 / nf_send_reset6) would send, if any, and drops the
// packet.
func (t *rejectTarget) Target(e *Env) Verdict {
	if r := t.Reply(e); r != nil && e.Sink != nil {
		e.Sink.Send(r)
	}
	return VerdictDrop
}

// Reply builds the packet the kernel sends for e.Pkt, nil when it sends
// none. The reply is a locally generated packet starting at its network
// header, already parsed, with mark 0 (net.ipv4.fwmark_reflect and
// net.ipv6.fwmark_reflect are off by default) and priority 0.
//
// Deviations, all in fields the kernel makes unpredictable or depends on
// state nfgo has not got:
//   - The IPv4 ID of an ICMP error is 0; the kernel's comes from a keyed
//     hash (ip_select_ident, DF is never set on ICMP errors). TCP resets
//     carry ID 0 and DF in the kernel too.
//   - The IPv6 flow label of an ICMPv6 error is 0; the kernel's is a keyed
//     hash of the flow (net.ipv6.auto_flowlabels). TCP resets carry 0.
//   - ICMP errors are not rate limited (net.ipv4.icmp_ratelimit,
//     icmp_msgs_per_sec, net.ipv6.icmp.ratelimit): that is the host's
//     output path, not the target.
//   - IPv4 options of the original (record route, timestamp, source
//     route) are not echoed into ICMP errors.
//   - Received packets are treated as CHECKSUM_NONE, so their checksums
//     are verified at every hook as on a NIC without receive offload;
//     locally generated packets are trusted (CHECKSUM_PARTIAL).
func (t *rejectTarget) Reply(e *Env) *packet.Packet {
	var r []byte
	if t.Family == nf.IPv6 {
		switch t.With {
		case rejectTCPReset6:
			r = reset6(e)
		case 0, 1, 2, 3, 4:
			r = unreach6(e, uint8(t.With))
		case 7:
			r = unreach6(e, 5) // ICMPV6_POLICY_FAIL
		case 8:
			r = unreach6(e, 6) // ICMPV6_REJECT_ROUTE
		}
	} else {
		switch t.With {
		case rejectTCPReset4:
			r = reset4(e)
		case 0, 1, 2, 3:
			r = unreach4(e, uint8(t.With))
		case 5:
			r = unreach4(e, 9) // ICMP_NET_ANO
		case 6:
			r = unreach4(e, 10) // ICMP_HOST_ANO
		case 8:
			r = unreach4(e, 13) // ICMP_PKT_FILTERED
		}
	}
	if r == nil {
		return nil
	}
	q := &packet.Packet{Family: t.Family, Data: r, Local: true, Timestamp: e.Pkt.Timestamp}
	if q.Parse() != nil {
		return nil
	}
	return q
}

func addrType(e *Env, a netip.Addr) uint8 {
	if e.Host == nil {
		return 0
	}
	return e.Host.AddrType(a, "")
}

// routeBack looks up the route a reply to dst takes, as the kernel does
// before sending; without a Host every destination is reachable.
func routeBack(e *Env, src, dst netip.Addr) (string, bool) {
	if e.Host == nil {
		return "", true
	}
	return e.Host.RouteOut(e.Family, src, dst, 0, "")
}

// rejectVerifyCsum is nf_reject_verify_csum: whether the protocol's
// checksum covers the whole payload with the one's complement sum.
func rejectVerifyCsum(proto uint8, l4 []byte) bool {
	switch proto {
	case packet.ProtoUDP:
		// The checksum is optional: 0 means none.
		return len(l4) < 8 || l4[6] != 0 || l4[7] != 0
	case 47, packet.ProtoAH, packet.ProtoESP, packet.ProtoSCTP, packet.ProtoUDPLite, packet.ProtoDCCP:
		return false
	}
	return true
}

// csumOK4 is nf_ip_checksum on a CHECKSUM_NONE packet. The kernel sums
// from the IP header on: a valid header sums to 0xffff, which leaves the
// total unchanged, so this is the transport checksum (TCP and UDP with the
// pseudo-header, anything else a plain sum of its payload).
func csumOK4(d packet.IPv4, ihl int, proto uint8) bool {
	var s uint32
	if proto == packet.ProtoTCP || proto == packet.ProtoUDP {
		s = packet.PseudoSum(d.Src(), d.Dst(), proto, len(d)-ihl)
	}
	return packet.Fold(packet.Sum(d, s)) == 0xffff
}

// csumOK6 is nf_ip6_checksum on a CHECKSUM_NONE packet: the payload from
// off with the pseudo-header, for any protocol.
func csumOK6(d packet.IPv6, off int, proto uint8) bool {
	s := packet.PseudoSum(d.Src(), d.Dst(), proto, len(d)-off)
	return packet.Fold(packet.Sum(d[off:], s)) == 0xffff
}

// icmp4IsError tells the ICMP types icmp_send never answers: the errors
// of its icmp_pointers table and every type it does not know.
func icmp4IsError(typ uint8) bool {
	switch typ {
	case 0, 8, 13, 14, 15, 16, 17, 18:
		return false
	}
	return true
}

// unreach4 is nf_send_unreach followed by icmp_send(ICMP_DEST_UNREACH).
func unreach4(e *Env, code uint8) []byte {
	p := e.Pkt
	h := packet.IPv4(p.Data)
	if len(h) < 20 {
		return nil
	}
	ihl := h.HeaderLen()
	if ihl < 20 || ihl > len(h) || h.FragOffset() != 0 {
		return nil
	}
	proto := h.Protocol()
	if !p.Local && rejectVerifyCsum(proto, h[ihl:]) && !csumOK4(h, ihl, proto) {
		return nil
	}
	return ICMPError4(e, 3, code, 0) // ICMP_DEST_UNREACH
}

// ICMPError4 is icmp_send: the ICMP error of type typ and code about
// e.Pkt that the host sends, with info as the header's last four bytes
// (the MTU of "fragmentation needed", the pointer of a parameter
// problem), or nil when the kernel sends none: about a non-first
// fragment, a link-level or IP broadcast or multicast, another ICMP error,
// or with no route back. The result starts at the IPv4 header.
func ICMPError4(e *Env, typ, code uint8, info uint32) []byte {
	p := e.Pkt
	h := packet.IPv4(p.Data)
	if len(h) < 20 {
		return nil
	}
	ihl := h.HeaderLen()
	if ihl < 20 || ihl > len(h) || h.FragOffset() != 0 {
		return nil
	}
	proto := h.Protocol()
	// No replies to link-level or IP broadcasts and multicasts.
	if !p.Local && p.PktType != packet.PacketHost {
		return nil
	}
	src, dst := h.Src(), h.Dst()
	if at := addrType(e, dst); at == 3 || at == 5 || dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return nil
	}
	// Never an error about an error.
	if proto == packet.ProtoICMP && (ihl >= len(h) || icmp4IsError(h[ihl])) {
		return nil
	}
	// The source: the original destination when it is ours; otherwise
	// what the route back selects (net.ipv4.icmp_errors_use_inbound_ifaddr
	// is off by default): the original source itself when local (OUTPUT),
	// else an address of the interface the reply leaves by.
	var from netip.Addr
	if e.Host == nil || addrType(e, dst) == 2 {
		from = dst
	}
	dev, ok := routeBack(e, from, src)
	if !ok {
		return nil
	}
	if !from.IsValid() {
		switch {
		case addrType(e, src) == 2:
			from = src
		default:
			if dev == "" {
				dev = p.InDev
			}
			if a, ok := e.Host.IfaceAddr(dev, nf.IPv4); ok {
				from = a
			} else {
				from = inaddrDummy
			}
		}
	}
	if !from.Is4() {
		from = inaddrDummy // no IPv4 address to answer from
	}
	room := icmp4MaxLen
	if mh, ok := e.Host.(MTUHost); ok {
		if m := mh.RouteMTU(nf.IPv4, src); m > 0 && m < room {
			room = m
		}
	}
	room -= 20 + 8
	if room <= 20 {
		return nil
	}
	n := min(len(h), room)
	r := make([]byte, 28+n)
	r[0] = 0x45
	// icmp_send: RT_TOS of the original with precedence "internetwork
	// control".
	r[1] = h.TOS()&0x1e | 0xc0
	binary.BigEndian.PutUint16(r[2:], uint16(len(r)))
	r[8] = rejectHopLimit
	r[9] = packet.ProtoICMP
	copy(r[12:16], from.AsSlice())
	copy(r[16:20], h[12:16])
	r[20], r[21] = typ, code
	binary.BigEndian.PutUint32(r[24:], info)
	copy(r[28:], h[:n])
	packet.ICMP(r[20:]).SetChecksum(^packet.Fold(packet.Sum(r[20:], 0)))
	packet.IPv4(r).UpdateChecksum()
	return r
}

// reset4 is nf_send_reset.
func reset4(e *Env) []byte {
	p := e.Pkt
	h := packet.IPv4(p.Data)
	if len(h) < 20 {
		return nil
	}
	ihl := h.HeaderLen()
	if ihl < 20 || h.FragOffset() != 0 || h.Protocol() != packet.ProtoTCP || ihl+20 > len(h) {
		return nil
	}
	oth := packet.TCP(h[ihl:])
	if oth.Flags()&packet.TCPRst != 0 {
		return nil
	}
	if !p.Local && !csumOK4(h, ihl, packet.ProtoTCP) {
		return nil
	}
	src, dst := h.Src(), h.Dst()
	if at := addrType(e, dst); at == 3 || at == 5 || dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return nil
	}
	// ip_route_me_harder: the reply is routed from the original
	// destination, local or not (a forwarded packet's reset is spoofed).
	if _, ok := routeBack(e, dst, src); !ok {
		return nil
	}
	r := make([]byte, 40)
	r[0] = 0x45
	binary.BigEndian.PutUint16(r[2:], 40)
	r[6] = 0x40 // DF; ID 0
	r[8] = rejectHopLimit
	r[9] = packet.ProtoTCP
	copy(r[12:16], h[16:20])
	copy(r[16:20], h[12:16])
	packet.IPv4(r).UpdateChecksum()
	plen := uint32(len(h)) - uint32(ihl) - uint32(oth.DataOff())
	resetTCP(r[20:], oth, plen)
	packet.TCP(r[20:]).SetChecksum(packet.TransportChecksum(dst, src, packet.ProtoTCP, r[20:]))
	return r
}

// resetTCP writes the RST answering oth (nf_reject_ip_tcphdr_put): it
// acknowledges what oth carried unless oth acknowledged something itself,
// in which case the RST takes that as its sequence number.
func resetTCP(th []byte, oth packet.TCP, plen uint32) {
	copy(th[0:2], oth[2:4])
	copy(th[2:4], oth[0:2])
	th[12] = 5 << 4
	f := oth.Flags()
	if f&packet.TCPAck != 0 {
		copy(th[4:8], oth[8:12])
		th[13] = packet.TCPRst
	} else {
		ack := oth.Seq() + plen
		if f&packet.TCPSyn != 0 {
			ack++
		}
		if f&packet.TCPFin != 0 {
			ack++
		}
		binary.BigEndian.PutUint32(th[8:], ack)
		th[13] = packet.TCPRst | packet.TCPAck
	}
}

// skipExthdr6 is ipv6_skip_exthdr from the end of the fixed header: the
// offset and number of the first header that is not an extension header,
// and the raw fragment offset field of a fragment header met on the way.
// At a non-first fragment it stops at the fragment header itself (proto
// 44). off is -1 when the chain is truncated or ends in "no next header".
func skipExthdr6(d []byte) (off int, proto uint8, frag uint16) {
	if len(d) < 40 {
		return -1, 0, 0
	}
	proto, off = d[6], 40
	for {
		switch proto {
		case 0, 43, 44, 51, 60:
		case 59:
			return -1, proto, frag
		default:
			return off, proto, frag
		}
		if off+2 > len(d) {
			return -1, proto, frag
		}
		var n int
		switch proto {
		case 44:
			if off+4 > len(d) {
				return -1, proto, frag
			}
			frag = binary.BigEndian.Uint16(d[off+2:])
			if frag&^7 != 0 {
				return off, proto, frag
			}
			n = 8
		case 51:
			n = (int(d[off+1]) + 2) << 2
		default:
			n = (int(d[off+1]) + 1) << 3
		}
		proto = d[off]
		off += n
	}
}

// unicast6 is ipv6_addr_type's IPV6_ADDR_UNICAST: neither unspecified,
// multicast nor IPv4-mapped.
func unicast6(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && !a.Is4In6()
}

// header6 writes the IPv6 header of a reply to the original h
// (nf_reject_ip6hdr_put): traffic class 0, flow label 0.
func header6(r []byte, from, to netip.Addr, proto uint8) {
	r[0] = 0x60
	binary.BigEndian.PutUint16(r[4:], uint16(len(r)-40))
	r[6] = proto
	r[7] = rejectHopLimit
	packet.IPv6(r).SetSrc(from)
	packet.IPv6(r).SetDst(to)
}

// unreach6 is nf_send_unreach6 followed by icmp6_send(ICMPV6_DEST_UNREACH).
func unreach6(e *Env, code uint8) []byte {
	p := e.Pkt
	h := packet.IPv6(p.Data)
	if len(h) < 40 {
		return nil
	}
	off, proto, frag := skipExthdr6(h)
	// reject6_csum_ok: no reply to a non-first fragment, to a chain that
	// cannot be walked, nor to a bad checksum.
	if !p.Local {
		if off < 0 || off >= len(h) || frag&^7 != 0 {
			return nil
		}
		if rejectVerifyCsum(proto, h[off:]) && !csumOK6(h, off, proto) {
			return nil
		}
	}
	return ICMPError6(e, 1, code, 0) // ICMPV6_DEST_UNREACH
}

// ICMPError6 is icmpv6_send: the ICMPv6 error of type typ and code about
// e.Pkt, with info as the header's last four bytes (the MTU of "packet
// too big", the pointer of a parameter problem), or nil when the kernel
// sends none (about a multicast, a link-level broadcast, an unspecified or
// multicast source, another ICMPv6 error, or with no route back). The
// result starts at the IPv6 header.
func ICMPError6(e *Env, typ, code uint8, info uint32) []byte {
	p := e.Pkt
	h := packet.IPv6(p.Data)
	if len(h) < 40 {
		return nil
	}
	off, proto, frag := skipExthdr6(h)
	src, dst := h.Src(), h.Dst()
	// Packet too big and parameter problems about unknown options are
	// sent even about multicast (RFC 4443 2.4 e.3); nothing else is.
	if (dst.IsMulticast() || (!p.Local && p.PktType != packet.PacketHost)) && typ != 2 && !(typ == 4 && code == 2) {
		return nil
	}
	// The source must identify a single node.
	if src.IsUnspecified() || src.IsMulticast() {
		return nil
	}
	// is_ineligible: never an error about an ICMPv6 error.
	if off >= 0 && proto == packet.ProtoICMPv6 {
		if off >= len(h) {
			if frag == 0 {
				return nil
			}
		} else if h[off]&0x80 == 0 {
			return nil
		}
	}
	var from netip.Addr
	if e.Host == nil || addrType(e, dst) == 2 {
		from = dst
	}
	dev, ok := routeBack(e, from, src)
	if !ok {
		return nil
	}
	if !from.IsValid() {
		if addrType(e, src) == 2 {
			from = src
		} else {
			// ipv6_dev_get_saddr on the interface the packet came in
			// by, else on the one the reply leaves by.
			if p.InDev != "" {
				from, ok = e.Host.IfaceAddr(p.InDev, nf.IPv6)
			}
			if !ok || !from.IsValid() {
				from, ok = e.Host.IfaceAddr(dev, nf.IPv6)
			}
			if !ok {
				return nil
			}
		}
	}
	if !from.Is6() || from.Is4In6() {
		return nil // no IPv6 address to answer from
	}
	n := min(len(h), icmp6Quote)
	r := make([]byte, 48+n)
	header6(r, from, src, packet.ProtoICMPv6)
	r[40], r[41] = typ, code
	binary.BigEndian.PutUint32(r[44:], info)
	copy(r[48:], h[:n])
	packet.ICMP(r[40:]).SetChecksum(packet.TransportChecksum(from, src, packet.ProtoICMPv6, r[40:]))
	return r
}

// reset6 is nf_send_reset6.
func reset6(e *Env) []byte {
	p := e.Pkt
	h := packet.IPv6(p.Data)
	if len(h) < 40 {
		return nil
	}
	src, dst := h.Src(), h.Dst()
	if !unicast6(src) || !unicast6(dst) {
		return nil
	}
	off, proto, _ := skipExthdr6(h)
	if off < 0 || off > len(h) || proto != packet.ProtoTCP || len(h)-off < 20 {
		return nil
	}
	oth := packet.TCP(h[off:])
	if oth.Flags()&packet.TCPRst != 0 {
		return nil
	}
	if !p.Local && !csumOK6(h, off, packet.ProtoTCP) {
		return nil
	}
	if _, ok := routeBack(e, dst, src); !ok {
		return nil
	}
	r := make([]byte, 60)
	header6(r, dst, src, packet.ProtoTCP)
	resetTCP(r[40:], oth, uint32(len(h)-off)-uint32(oth.DataOff()))
	packet.TCP(r[40:]).SetChecksum(packet.TransportChecksum(dst, src, packet.ProtoTCP, r[40:]))
	return r
}
