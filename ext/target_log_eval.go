package ext

import (
	"strconv"
	"sync"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Evaluation of LOG: the line nf_log_syslog.c prints for an IPv4 or IPv6
// packet, byte for byte.

// LogNFLog is XT_LOG_NFLOG: unused by the kernel, accepted in the flags.
const LogNFLog = 0x10

// LogDefaultFlags are the flags nf_log uses when a logger has none of its
// own (NF_LOG_DEFAULT_MASK): TRACE lines and ULOG/NFLOG fallbacks.
const LogDefaultFlags uint8 = LogTCPSeq | LogTCPOpt | LogIPOpt | LogUID

// logLineMax is the longest line nf_log's buffer holds: S_SIZE (1019) less
// its terminating NUL, less the two bytes of the KERN_SOH level marker that
// printk strips. Longer lines are cut, not dropped.
const logLineMax = 1019 - 1 - 2

// logBufs holds line buffers, so that LOG keeps no state in the rule
// (rules may be evaluated by several goroutines) and allocates nothing
// but the string Sink.Log takes (the sink may keep it). A buffer on the
// stack would do, but the ICMP recursion makes the compiler move it to
// the heap.
var logBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Target logs the packet and lets it go on.
func (t *logTarget) Target(e *Env) Verdict {
	if e.Sink == nil || e.Pkt == nil {
		return VerdictContinue
	}
	bp := logBufs.Get().(*[]byte)
	b := append((*bp)[:0], t.Prefix...)
	b = AppendLogPacket(b, e, t.Flags)
	e.Sink.Log(t.Level, string(b))
	*bp = b
	logBufs.Put(bp)
	return VerdictContinue
}

// AppendLogPacket appends to dst what nf_log_syslog prints after the
// prefix, from "IN=" on, for e.Pkt at e.Hook, with the XT_LOG_* flags
// logFlags. dst should hold the line's beginning (the prefix): the
// kernel's limit on the length of a line applies to all of dst.
//
// Interfaces follow the hook as the kernel passes them to the logger: IN
// at PREROUTING, INPUT, FORWARD and (a forwarded packet's) POSTROUTING,
// OUT at FORWARD, OUTPUT and POSTROUTING. The link-layer header is printed only with an input
// interface. A packet on "lo" without a MAC header prints the loopback
// device's all-zero header, as the kernel's looped-back skbs carry it; a
// packet without one on any other interface is taken as coming from a
// device without link-layer header (tun, ppp) and prints "MAC= ".
func AppendLogPacket(dst []byte, e *Env, logFlags uint8) []byte {
	p := e.Pkt
	in, out := "", ""
	switch e.Hook {
	case nf.PreRouting, nf.LocalIn:
		in = p.InDev
	case nf.Forward:
		in, out = p.InDev, p.OutDev
	case nf.LocalOut:
		out = p.OutDev
	case nf.PostRouting:
		// ip_output and ip6_output pass skb->dev as the input device:
		// the arrival interface of a forwarded packet, none for a local one.
		in, out = p.InDev, p.OutDev
		if p.Local {
			in = ""
		}
	}
	dst = append(dst, "IN="...)
	dst = append(dst, in...)
	dst = append(dst, " OUT="...)
	dst = append(dst, out...)
	dst = append(dst, ' ')
	if p.PhysIn != "" && p.PhysIn != in {
		dst = append(dst, "PHYSIN="...)
		dst = append(dst, p.PhysIn...)
		dst = append(dst, ' ')
	}
	if p.PhysOut != "" && p.PhysOut != out {
		dst = append(dst, "PHYSOUT="...)
		dst = append(dst, p.PhysOut...)
		dst = append(dst, ' ')
	}
	if in != "" {
		dst = logMAC(dst, p, in, logFlags)
	}
	l := logPkt{p: p, data: p.Data, flags: logFlags}
	switch p.Family {
	case nf.IPv4:
		dst = l.ipv4(dst, 0)
	case nf.IPv6:
		dst = l.ipv6(dst, 0, true)
	}
	if len(dst) > logLineMax {
		dst = dst[:logLineMax]
	}
	return dst
}

// logMAC prints the link-layer header as dump_mac_header does.
func logMAC(dst []byte, p *packet.Packet, in string, flags uint8) []byte {
	mac := p.MAC
	loopback := in == "lo"
	if loopback && len(mac) == 0 {
		// The loopback device's header: zero addresses and the EtherType.
		var lo [14]byte
		lo[12], lo[13] = 0x08, 0x00
		if p.Family == nf.IPv6 {
			lo[12], lo[13] = 0x86, 0xdd
		}
		return logMACRaw(dst, lo[:])
	}
	if flags&LogMACDecode != 0 && !loopback && len(mac) > 0 {
		// An Ethernet device; a header too short prints nothing.
		if len(mac) < 14 {
			return dst
		}
		dst = append(dst, "MACSRC="...)
		dst = appendMAC(dst, mac[6:12])
		dst = append(dst, " MACDST="...)
		dst = appendMAC(dst, mac[0:6])
		dst = append(dst, " MACPROTO="...)
		dst = appendHex(dst, mac[12:14], false)
		return append(dst, ' ')
	}
	return logMACRaw(dst, mac)
}

func logMACRaw(dst, mac []byte) []byte {
	dst = append(dst, "MAC="...)
	dst = appendMAC(dst, mac)
	return append(dst, ' ')
}

// appendMAC prints bytes as %pM does: lowercase hex pairs joined by colons.
func appendMAC(dst, b []byte) []byte {
	for i, c := range b {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexLower[c>>4], hexLower[c&15])
	}
	return dst
}

const (
	hexLower = "0123456789abcdef"
	hexUpper = "0123456789ABCDEF"
)

// appendHex prints bytes as consecutive %02x or %02X.
func appendHex(dst, b []byte, upper bool) []byte {
	h := hexLower
	if upper {
		h = hexUpper
	}
	for _, c := range b {
		dst = append(dst, h[c>>4], h[c&15])
	}
	return dst
}

func appendHex2(dst []byte, c uint8, upper bool) []byte {
	h := hexLower
	if upper {
		h = hexUpper
	}
	return append(dst, h[c>>4], h[c&15])
}

func appendU(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

func appendIPv4(dst, a []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = appendU(dst, uint64(a[i]))
	}
	return dst
}

// appendIPv6 prints an address as %pI6: eight groups of four lowercase hex
// digits, nothing compressed.
func appendIPv6(dst, a []byte) []byte {
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = appendHex(dst, a[i:i+2], false)
	}
	return dst
}

// logPkt is one packet being printed. data plays the skb: headers are
// read at offsets into it and fail past its end, as skb_header_pointer.
type logPkt struct {
	p     *packet.Packet
	data  []byte
	flags uint8
}

// header returns n bytes at off, nil when the packet is shorter.
func (l *logPkt) header(off, n int) []byte {
	if off < 0 || n < 0 || off > len(l.data) || len(l.data)-off < n {
		return nil
	}
	return l.data[off : off+n]
}

// rest is skb->len - off in the kernel's unsigned arithmetic.
func (l *logPkt) rest(off int) uint64 { return uint64(uint32(len(l.data)) - uint32(off)) }

func (l *logPkt) incomplete(dst []byte, off int) []byte {
	dst = append(dst, "INCOMPLETE ["...)
	dst = appendU(dst, l.rest(off))
	return append(dst, " bytes] "...)
}

// ICMP types whose header the kernel wants whole before printing more
// (required_len in dump_ipv4_packet), indexed by type up to NR_ICMP_TYPES.
var icmpRequiredLen = [19]uint8{0: 4, 3: 28, 4: 28, 5: 28, 8: 4, 11: 28, 12: 28, 13: 20, 14: 20, 17: 12, 18: 12}

// ipv4 is dump_ipv4_packet for the header at off; off 0 is the packet
// itself, anything else the packet quoted in an ICMP error.
func (l *logPkt) ipv4(dst []byte, off int) []byte {
	ih := l.header(off, 20)
	if ih == nil {
		return append(dst, "TRUNCATED"...)
	}
	dst = append(dst, "SRC="...)
	dst = appendIPv4(dst, ih[12:16])
	dst = append(dst, " DST="...)
	dst = appendIPv4(dst, ih[16:20])
	dst = append(dst, " LEN="...)
	dst = appendU(dst, uint64(be16(ih[2:])))
	dst = append(dst, " TOS=0x"...)
	dst = appendHex2(dst, ih[1]&0x1e, true)
	dst = append(dst, " PREC=0x"...)
	dst = appendHex2(dst, ih[1]&0xe0, true)
	dst = append(dst, " TTL="...)
	dst = appendU(dst, uint64(ih[8]))
	dst = append(dst, " ID="...)
	dst = appendU(dst, uint64(be16(ih[4:])))
	dst = append(dst, ' ')
	fo := be16(ih[6:])
	if fo&0x8000 != 0 {
		dst = append(dst, "CE "...)
	}
	if fo&0x4000 != 0 {
		dst = append(dst, "DF "...)
	}
	if fo&0x2000 != 0 {
		dst = append(dst, "MF "...)
	}
	frag := fo&0x1fff != 0
	if frag {
		dst = append(dst, "FRAG:"...)
		dst = appendU(dst, uint64(fo&0x1fff))
		dst = append(dst, ' ')
	}
	ihl := int(ih[0]&0x0f) * 4
	if l.flags&LogIPOpt != 0 && ihl > 20 {
		op := l.header(off+20, ihl-20)
		if op == nil {
			return append(dst, "TRUNCATED"...)
		}
		dst = append(dst, "OPT ("...)
		dst = appendHex(dst, op, true)
		dst = append(dst, ") "...)
	}
	th := off + ihl
	switch proto := ih[9]; proto {
	case packet.ProtoTCP:
		var stop bool
		if dst, stop = l.tcp(dst, th, frag); stop {
			return dst
		}
	case packet.ProtoUDP, packet.ProtoUDPLite:
		var stop bool
		if dst, stop = l.udp(dst, proto, th, frag); stop {
			return dst
		}
	case packet.ProtoICMP:
		dst = l.icmp(dst, off, th, frag)
	case packet.ProtoAH:
		if frag {
			break
		}
		dst = append(dst, "PROTO=AH "...)
		ah := l.header(th, 12)
		if ah == nil {
			dst = l.incomplete(dst, th)
			break
		}
		dst = appendSPI(dst, ah[4:8])
		dst = append(dst, ' ')
	case packet.ProtoESP:
		dst = append(dst, "PROTO=ESP "...)
		if frag {
			break
		}
		eh := l.header(th, 8)
		if eh == nil {
			dst = l.incomplete(dst, th)
			break
		}
		dst = appendSPI(dst, eh[0:4])
		dst = append(dst, ' ')
	default:
		dst = append(dst, "PROTO="...)
		dst = appendU(dst, uint64(proto))
		dst = append(dst, ' ')
	}
	if off == 0 {
		dst = l.owner(dst)
	}
	return dst
}

func appendSPI(dst, spi []byte) []byte {
	dst = append(dst, "SPI=0x"...)
	return strconv.AppendUint(dst, uint64(be32(spi)), 16)
}

// owner prints UID/GID and the mark of the packet itself (not of a quoted
// one).
func (l *logPkt) owner(dst []byte) []byte {
	p := l.p
	if l.flags&LogUID != 0 && p.HasOwner {
		dst = append(dst, "UID="...)
		dst = appendU(dst, uint64(p.UID))
		dst = append(dst, " GID="...)
		dst = appendU(dst, uint64(p.GID))
		dst = append(dst, ' ')
	}
	if p.Mark != 0 {
		dst = append(dst, "MARK=0x"...)
		dst = strconv.AppendUint(dst, uint64(p.Mark), 16)
		dst = append(dst, ' ')
	}
	return dst
}

// icmp prints an ICMP header at th of the IPv4 packet at off.
func (l *logPkt) icmp(dst []byte, off, th int, frag bool) []byte {
	dst = append(dst, "PROTO=ICMP "...)
	if frag {
		return dst
	}
	ich := l.header(th, 8)
	if ich == nil {
		return l.incomplete(dst, th)
	}
	typ, code := ich[0], ich[1]
	dst = append(dst, "TYPE="...)
	dst = appendU(dst, uint64(typ))
	dst = append(dst, " CODE="...)
	dst = appendU(dst, uint64(code))
	dst = append(dst, ' ')
	if int(typ) < len(icmpRequiredLen) && icmpRequiredLen[typ] != 0 && l.rest(th) < uint64(icmpRequiredLen[typ]) {
		return l.incomplete(dst, th)
	}
	switch typ {
	case 0, 8: // echo reply, echo
		dst = append(dst, "ID="...)
		dst = appendU(dst, uint64(be16(ich[4:])))
		dst = append(dst, " SEQ="...)
		dst = appendU(dst, uint64(be16(ich[6:])))
		dst = append(dst, ' ')
	case 12: // parameter problem
		dst = append(dst, "PARAMETER="...)
		dst = appendU(dst, uint64(ich[4]))
		dst = append(dst, ' ')
	case 5, 3, 4, 11: // redirect, unreachable, source quench, time exceeded
		if typ == 5 {
			dst = append(dst, "GATEWAY="...)
			dst = appendIPv4(dst, ich[4:8])
			dst = append(dst, ' ')
		}
		if off == 0 { // the kernel recurses once
			dst = append(dst, '[')
			dst = l.ipv4(dst, th+8)
			dst = append(dst, "] "...)
		}
		if typ == 3 && code == 4 { // fragmentation needed
			dst = append(dst, "MTU="...)
			dst = appendU(dst, uint64(be16(ich[6:])))
			dst = append(dst, ' ')
		}
	}
	return dst
}

// tcp is nf_log_dump_tcp_header; stop reports that the kernel returns
// from the packet dump at once (nothing more, not even UID or MARK).
func (l *logPkt) tcp(dst []byte, off int, frag bool) ([]byte, bool) {
	dst = append(dst, "PROTO=TCP "...)
	if frag {
		return dst, false
	}
	th := l.header(off, 20)
	if th == nil {
		return l.incomplete(dst, off), true
	}
	dst = append(dst, "SPT="...)
	dst = appendU(dst, uint64(be16(th[0:])))
	dst = append(dst, " DPT="...)
	dst = appendU(dst, uint64(be16(th[2:])))
	dst = append(dst, ' ')
	if l.flags&LogTCPSeq != 0 {
		dst = append(dst, "SEQ="...)
		dst = appendU(dst, uint64(be32(th[4:])))
		dst = append(dst, " ACK="...)
		dst = appendU(dst, uint64(be32(th[8:])))
		dst = append(dst, ' ')
	}
	dst = append(dst, "WINDOW="...)
	dst = appendU(dst, uint64(be16(th[14:])))
	dst = append(dst, " RES=0x"...)
	// Since AccECN (Linux 6.18) the lowest reserved bit is the AE flag:
	// RES shows the other three, and AE prints before CWR.
	dst = appendHex2(dst, (th[12]&0x0e)<<2, false)
	dst = append(dst, ' ')
	if th[12]&0x01 != 0 {
		dst = append(dst, "AE "...)
	}
	for i, name := range [8]string{"CWR ", "ECE ", "URG ", "ACK ", "PSH ", "RST ", "SYN ", "FIN "} {
		if th[13]&(0x80>>i) != 0 {
			dst = append(dst, name...)
		}
	}
	dst = append(dst, "URGP="...)
	dst = appendU(dst, uint64(be16(th[18:])))
	dst = append(dst, ' ')
	if doff := int(th[12]>>4) * 4; l.flags&LogTCPOpt != 0 && doff > 20 {
		op := l.header(off+20, doff-20)
		if op == nil {
			return append(dst, "OPT (TRUNCATED)"...), true
		}
		dst = append(dst, "OPT ("...)
		dst = appendHex(dst, op, true)
		dst = append(dst, ") "...)
	}
	return dst, false
}

// udp is nf_log_dump_udp_header, for UDP and UDP-Lite.
func (l *logPkt) udp(dst []byte, proto uint8, off int, frag bool) ([]byte, bool) {
	if proto == packet.ProtoUDP {
		dst = append(dst, "PROTO=UDP "...)
	} else {
		dst = append(dst, "PROTO=UDPLITE "...)
	}
	if frag {
		return dst, false
	}
	uh := l.header(off, 8)
	if uh == nil {
		return l.incomplete(dst, off), true
	}
	dst = append(dst, "SPT="...)
	dst = appendU(dst, uint64(be16(uh[0:])))
	dst = append(dst, " DPT="...)
	dst = appendU(dst, uint64(be16(uh[2:])))
	dst = append(dst, " LEN="...)
	dst = appendU(dst, uint64(be16(uh[4:])))
	return append(dst, ' '), false
}

// ipv6 is dump_ipv6_packet for the header at off; recurse is true for the
// packet itself and false for one quoted in an ICMPv6 error.
func (l *logPkt) ipv6(dst []byte, off int, recurse bool) []byte {
	ih := l.header(off, 40)
	if ih == nil {
		return append(dst, "TRUNCATED"...)
	}
	dst = append(dst, "SRC="...)
	dst = appendIPv6(dst, ih[8:24])
	dst = append(dst, " DST="...)
	dst = appendIPv6(dst, ih[24:40])
	dst = append(dst, " LEN="...)
	dst = appendU(dst, uint64(be16(ih[4:]))+40)
	w := be32(ih)
	dst = append(dst, " TC="...)
	dst = appendU(dst, uint64(w&0x0ff00000>>20))
	dst = append(dst, " HOPLIMIT="...)
	dst = appendU(dst, uint64(ih[7]))
	dst = append(dst, " FLOWLBL="...)
	dst = appendU(dst, uint64(w&0x000fffff))
	dst = append(dst, ' ')

	ipopt := l.flags&LogIPOpt != 0
	frag := false
	ptr := off + 40
	cur := ih[6]
	for cur != 59 && logExtHdr(cur) {
		if len(dst) > logLineMax {
			// The kernel's buffer is full: it walks on but prints
			// nothing more. Stop rather than grow on a packet made of
			// thousands of empty headers.
			return dst
		}
		hp := l.header(ptr, 2)
		if hp == nil {
			return append(dst, "TRUNCATED"...)
		}
		if ipopt {
			dst = append(dst, "OPT ( "...)
		}
		var hdrlen int
		switch cur {
		case 44: // fragment
			dst = append(dst, "FRAG:"...)
			fh := l.header(ptr, 8)
			if fh == nil {
				return append(dst, "TRUNCATED "...)
			}
			fo := be16(fh[2:])
			dst = appendU(dst, uint64(fo&0xfff8))
			dst = append(dst, ' ')
			if fo&1 != 0 {
				dst = append(dst, "INCOMPLETE "...)
			}
			dst = append(dst, "ID:"...)
			dst = appendHex(dst, fh[4:8], false)
			dst = append(dst, ' ')
			if fo&0xfff8 != 0 {
				frag = true
			}
			hdrlen = 8
		case 60, 43, 0: // destination options, routing, hop-by-hop
			if frag {
				if ipopt {
					dst = append(dst, ')')
				}
				return dst
			}
			hdrlen = (int(hp[1]) + 1) << 3
		case 51: // AH
			if ipopt {
				dst = append(dst, "AH "...)
				if frag {
					return append(dst, ')')
				}
				ah := l.header(ptr, 12)
				if ah == nil {
					dst = append(dst, "INCOMPLETE ["...)
					dst = appendU(dst, l.rest(ptr))
					return append(dst, " bytes] )"...)
				}
				dst = appendSPI(dst, ah[4:8])
				dst = append(dst, ' ')
			}
			hdrlen = (int(hp[1]) + 2) << 2
		case 50: // ESP ends the walk: what follows is encrypted
			if ipopt {
				dst = append(dst, "ESP "...)
				if frag {
					return append(dst, ')')
				}
				eh := l.header(ptr, 8)
				if eh == nil {
					dst = append(dst, "INCOMPLETE ["...)
					dst = appendU(dst, l.rest(ptr))
					return append(dst, " bytes] )"...)
				}
				dst = appendSPI(dst, eh[0:4])
				dst = append(dst, " )"...)
			}
			return dst
		}
		if ipopt {
			dst = append(dst, ") "...)
		}
		cur = hp[0]
		ptr += hdrlen
	}

	switch cur {
	case packet.ProtoTCP:
		var stop bool
		if dst, stop = l.tcp(dst, ptr, frag); stop {
			return dst
		}
	case packet.ProtoUDP, packet.ProtoUDPLite:
		var stop bool
		if dst, stop = l.udp(dst, cur, ptr, frag); stop {
			return dst
		}
	case packet.ProtoICMPv6:
		dst = append(dst, "PROTO=ICMPv6 "...)
		if frag {
			break
		}
		ic := l.header(ptr, 8)
		if ic == nil {
			return l.incomplete(dst, ptr)
		}
		typ := ic[0]
		dst = append(dst, "TYPE="...)
		dst = appendU(dst, uint64(typ))
		dst = append(dst, " CODE="...)
		dst = appendU(dst, uint64(ic[1]))
		dst = append(dst, ' ')
		switch typ {
		case 128, 129: // echo request, reply
			dst = append(dst, "ID="...)
			dst = appendU(dst, uint64(be16(ic[4:])))
			dst = append(dst, " SEQ="...)
			dst = appendU(dst, uint64(be16(ic[6:])))
			dst = append(dst, ' ')
		case 4, 1, 2, 3: // parameter problem, unreachable, too big, time exceeded
			if typ == 4 {
				dst = append(dst, "POINTER="...)
				dst = appendHex(dst, ic[4:8], false)
				dst = append(dst, ' ')
			}
			if recurse {
				dst = append(dst, '[')
				dst = l.ipv6(dst, ptr+8, false)
				dst = append(dst, "] "...)
			}
			if typ == 2 {
				dst = append(dst, "MTU="...)
				dst = appendU(dst, uint64(be32(ic[4:])))
				dst = append(dst, ' ')
			}
		}
	default:
		dst = append(dst, "PROTO="...)
		dst = appendU(dst, uint64(cur))
		dst = append(dst, ' ')
	}
	if recurse {
		dst = l.owner(dst)
	}
	return dst
}

// logExtHdr is nf_ip6_ext_hdr: the headers dump_ipv6_packet walks
// (hop-by-hop, routing, fragment, ESP, AH, none, destination options).
func logExtHdr(nh uint8) bool {
	switch nh {
	case 0, 43, 44, 50, 51, 59, 60:
		return true
	}
	return false
}
