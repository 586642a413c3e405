package sink

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// LOGEMU writes what ulogd 2.0.8's LOGEMU output plugin writes with the
// stacks of its example configuration: packets through NFLOG, BASE,
// IFINDEX, IP2STR and PRINTPKT, flows through NFCT, IP2STR and
// PRINTFLOW. Each line is
//
//	Mmm dd hh:mm:ss HOST PRINT
//
// with the time in seconds in the local time zone (ctime's month, day
// padded with a space, time), HOST the host name up to its first dot, and
// PRINT PRINTPKT's or PRINTFLOW's text ending in a newline.
//
// PRINTPKT is not the kernel LOG target's text: it prints the prefix
// followed by a space, IN= and OUT= always, the MAC header as NFLOG sent
// it (or "MAC= "), no TCP options or RES= field, the TCP flags in the
// order URG ACK PSH RST SYN FIN, URGP=0 unless URG is set, IPv6 lengths
// and fragments its own way, UID= and GID= for local sockets and MARK=0x…
// always. It also keeps ulogd's slips: ICMP's ID/SEQ, PARAMETER,
// GATEWAY (byte-swapped) and MTU fields are chosen by the ICMP code, not
// the type, and an IPv6 ESP packet prints PROTO=AH INCOMPLETE.
//
// PRINTFLOW's line is "[NEW] ORIG: SRC=… DST=… PROTO=TCP SPT=… DPT=…
// PKTS=… BYTES=… , REPLY: SRC=… …", with ICMP's TYPE and CODE swapped
// as ulogd has them.
type LOGEMU struct {
	fl       *file
	Hostname string         // the host name printed; the system's up to the first dot by default
	Location *time.Location // the time zone of the time stamps; time.Local by default
	buf      []byte
}

// NewLOGEMU opens (appending) or creates the file path.
func NewLOGEMU(path string, o Options) (*LOGEMU, error) {
	fl, err := openFile(path, o)
	if err != nil {
		return nil, err
	}
	return &LOGEMU{fl: fl, Hostname: shortHostname(), Location: time.Local, buf: make([]byte, 0, 1024)}, nil
}

// shortHostname is gethostname() cut at the first dot, as LOGEMU prints
// it.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	if i := strings.IndexByte(h, '.'); i >= 0 {
		h = h[:i]
	}
	return h
}

// Name is "logemu".
func (s *LOGEMU) Name() string { return "logemu" }

// WritePacket writes the packet's line.
func (s *LOGEMU) WritePacket(p *logd.Packet) error {
	s.buf = s.appendHead(s.buf[:0], p.Time)
	s.buf = AppendPrintPkt(s.buf, p)
	return s.fl.write(s.buf)
}

// WriteFlow writes the flow's line.
func (s *LOGEMU) WriteFlow(f *logd.FlowEvent) error {
	s.buf = s.appendHead(s.buf[:0], f.Time)
	s.buf = AppendPrintFlow(s.buf, f)
	return s.fl.write(s.buf)
}

// Flush writes out what is buffered and syncs the file.
func (s *LOGEMU) Flush() error { return s.fl.flush() }

// Reopen opens the path anew (after rotation: SIGHUP).
func (s *LOGEMU) Reopen() error { return s.fl.reopen() }

// Close flushes and closes the file.
func (s *LOGEMU) Close() error { return s.fl.close() }

func (s *LOGEMU) appendHead(b []byte, t time.Time) []byte {
	if t.IsZero() {
		// NFLOG without a time stamp: ulogd takes its own clock.
		t = time.Now()
	}
	loc := s.Location
	if loc == nil {
		loc = time.Local
	}
	// ctime() of the seconds: "Mmm dd hh:mm:ss", the day space-padded.
	b = time.Unix(t.Unix(), 0).In(loc).AppendFormat(b, "Jan _2 15:04:05")
	b = append(b, ' ')
	b = append(b, s.Hostname...)
	return append(b, ' ')
}

// Fields of ulogd's keys that PRINTPKT reads. A key BASE did not set
// reads as zero: ulogd clears the values after every packet.
const (
	ipRF      = 0x8000
	ipDF      = 0x4000
	ipMF      = 0x2000
	ipOffMask = 0x1fff
)

var be = binary.BigEndian

func appendU(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// AppendPrintPkt appends PRINTPKT's text for p (with the trailing
// newline), as ulogd 2.0.8 makes it from what NFLOG received.
func AppendPrintPkt(b []byte, p *logd.Packet) []byte {
	// nfnetlink_log always sends the rule's prefix, so PRINTPKT always
	// prints it and its space.
	b = append(b, p.Prefix...)
	b = append(b, ' ')
	in, out := p.InDev, p.OutDev
	if p.HasHook {
		// The kernel passes the devices the hook has; a record from nfgo's
		// engine may carry both.
		switch p.Hook {
		case nf.PreRouting, nf.LocalIn:
			out = ""
		case nf.LocalOut, nf.PostRouting:
			in = ""
		}
	}
	b = append(b, "IN="...)
	b = append(b, in...)
	b = append(b, " OUT="...)
	b = append(b, out...)
	b = append(b, ' ')
	b = appendLogemuMAC(b, p, in)
	switch p.Family {
	case nf.IPv4:
		b = printIPv4(b, p.Data)
	case nf.IPv6:
		b = printIPv6(b, p.Data)
	}
	if p.HasUID {
		b = append(b, "UID="...)
		b = appendU(b, uint64(p.UID))
		b = append(b, ' ')
	}
	if p.HasGID {
		b = append(b, "GID="...)
		b = appendU(b, uint64(p.GID))
		b = append(b, ' ')
	}
	b = append(b, "MARK=0x"...)
	b = strconv.AppendUint(b, uint64(p.Mark), 16)
	b = append(b, " \n"...)
	return b
}

// appendLogemuMAC prints raw.mac: NFULA_HWHEADER, which the kernel sends
// only for packets with an input device. Looped-back packets carry the
// loopback device's all-zero header; a record from nfgo's engine has no
// MAC for them, so it is made up here.
func appendLogemuMAC(b []byte, p *logd.Packet, in string) []byte {
	mac := p.MAC
	if in == "" {
		mac = nil
	}
	var lo [14]byte
	if mac == nil && in == "lo" && p.Source != "kernel" {
		lo[12] = 0x08
		if p.Family == nf.IPv6 {
			lo[12], lo[13] = 0x86, 0xdd
		}
		mac = lo[:]
	}
	if mac == nil {
		return append(b, "MAC= "...)
	}
	b = append(b, "MAC="...)
	for i, c := range mac {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
		if i == len(mac)-1 {
			b = append(b, ' ')
		} else {
			b = append(b, ':')
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// printIPv4 is BASE's IPv4 decoding and printpkt_ipv4.
func printIPv4(b []byte, d []byte) []byte {
	var ihl int
	valid := len(d) >= 20
	if valid {
		ihl = int(d[0]&15) * 4
		valid = len(d) > ihl
	}
	var totLen, id, frag uint16
	var tos, ttl, proto uint8
	if valid {
		b = append(b, "SRC="...)
		b = appendIPv4(b, d[12:16])
		b = append(b, " DST="...)
		b = appendIPv4(b, d[16:20])
		b = append(b, ' ')
		totLen, id, frag = be.Uint16(d[2:]), be.Uint16(d[4:]), be.Uint16(d[6:])
		tos, ttl, proto = d[1], d[8], d[9]
	}
	b = append(b, "LEN="...)
	b = appendU(b, uint64(totLen))
	b = append(b, " TOS="...)
	b = appendHex2(b, tos&0x1e)
	b = append(b, " PREC=0x"...)
	b = appendHex2(b, tos&0xe0)
	b = append(b, " TTL="...)
	b = appendU(b, uint64(ttl))
	b = append(b, " ID="...)
	b = appendU(b, uint64(id))
	b = append(b, ' ')
	if frag&ipRF != 0 {
		b = append(b, "CE "...)
	}
	if frag&ipDF != 0 {
		b = append(b, "DF "...)
	}
	if frag&ipMF != 0 {
		b = append(b, "MF "...)
	}
	if frag&ipOffMask != 0 {
		b = append(b, "FRAG:"...)
		b = appendU(b, uint64(frag&ipOffMask))
		b = append(b, ' ')
	}
	var l4 []byte
	if valid {
		// BASE decodes the transport header of every fragment alike.
		l4 = d[ihl:]
	}
	switch proto {
	case 6, 17, 132, 50, 51:
		b = printProto(b, proto, proto, l4)
	case 1:
		b = append(b, "PROTO=ICMP "...)
		if len(l4) < 8 {
			return append(b, "INCOMPLETE"...)
		}
		typ, code := l4[0], l4[1]
		b = append(b, "TYPE="...)
		b = appendU(b, uint64(typ))
		b = append(b, " CODE="...)
		b = appendU(b, uint64(code))
		b = append(b, ' ')
		// BASE sets echo id and sequence, gateway and MTU by the type;
		// printpkt picks what to print by the code.
		var echoID, echoSeq, mtu uint16
		var gw uint32
		switch typ {
		case 8, 0:
			echoID, echoSeq = be.Uint16(l4[4:]), be.Uint16(l4[6:])
		case 5, 12:
			gw = be.Uint32(l4[4:])
		case 3:
			if code == 4 {
				mtu = be.Uint16(l4[6:])
			}
		}
		switch code {
		case 8, 0:
			b = append(b, "ID="...)
			b = appendU(b, uint64(echoID))
			b = append(b, " SEQ="...)
			b = appendU(b, uint64(echoSeq))
			b = append(b, ' ')
		case 12:
			b = append(b, "PARAMETER="...)
			b = appendU(b, uint64(gw>>24))
			b = append(b, ' ')
		case 5:
			// inet_ntop of the host-order value on a little-endian
			// machine: the address reads backwards.
			b = append(b, "GATEWAY="...)
			b = appendIPv4(b, []byte{byte(gw), byte(gw >> 8), byte(gw >> 16), byte(gw >> 24)})
			b = append(b, ' ')
		case 3:
			if code == 4 { // never: the code is 3 here
				b = append(b, "MTU="...)
				b = appendU(b, uint64(mtu))
				b = append(b, ' ')
			}
		}
	default:
		b = append(b, "PROTO="...)
		b = appendU(b, uint64(proto))
		b = append(b, ' ')
	}
	return b
}

// printProto is printpkt_proto for TCP, UDP, SCTP, ESP and AH; ipProto
// is the ip.protocol key, which names ESP or AH.
func printProto(b []byte, proto, ipProto uint8, l4 []byte) []byte {
	switch proto {
	case 6:
		b = append(b, "PROTO=TCP "...)
		if len(l4) < 20 {
			return append(b, "INCOMPLETE"...)
		}
		b = append(b, "SPT="...)
		b = appendU(b, uint64(be.Uint16(l4[0:])))
		b = append(b, " DPT="...)
		b = appendU(b, uint64(be.Uint16(l4[2:])))
		b = append(b, " SEQ="...)
		b = appendU(b, uint64(be.Uint32(l4[4:])))
		b = append(b, " ACK="...)
		b = appendU(b, uint64(be.Uint32(l4[8:])))
		b = append(b, " WINDOW="...)
		b = appendU(b, uint64(be.Uint16(l4[14:])))
		b = append(b, ' ')
		fl := l4[13]
		var urgp uint16
		if fl&0x20 != 0 {
			b = append(b, "URG "...)
			urgp = be.Uint16(l4[18:])
		}
		if fl&0x10 != 0 {
			b = append(b, "ACK "...)
		}
		if fl&0x08 != 0 {
			b = append(b, "PSH "...)
		}
		if fl&0x04 != 0 {
			b = append(b, "RST "...)
		}
		if fl&0x02 != 0 {
			b = append(b, "SYN "...)
		}
		if fl&0x01 != 0 {
			b = append(b, "FIN "...)
		}
		b = append(b, "URGP="...)
		b = appendU(b, uint64(urgp))
		return append(b, ' ')
	case 17:
		b = append(b, "PROTO=UDP "...)
		if len(l4) < 8 {
			return append(b, "INCOMPLETE"...)
		}
		b = append(b, "SPT="...)
		b = appendU(b, uint64(be.Uint16(l4[0:])))
		b = append(b, " DPT="...)
		b = appendU(b, uint64(be.Uint16(l4[2:])))
		b = append(b, " LEN="...)
		b = appendU(b, uint64(be.Uint16(l4[4:])))
		return append(b, ' ')
	case 132:
		b = append(b, "PROTO=SCTP "...)
		if len(l4) < 12 {
			return append(b, "INCOMPLETE"...)
		}
		b = append(b, "SPT="...)
		b = appendU(b, uint64(be.Uint16(l4[0:])))
		b = append(b, " DPT="...)
		b = appendU(b, uint64(be.Uint16(l4[2:])))
		return append(b, ' ')
	default: // ESP, AH
		if ipProto == 50 {
			b = append(b, "PROTO=ESP "...)
		} else {
			b = append(b, "PROTO=AH "...)
		}
		// BASE never decodes the SPI.
		return append(b, "INCOMPLETE"...)
	}
}

// printIPv6 is BASE's IPv6 decoding and printpkt_ipv6.
func printIPv6(b []byte, d []byte) []byte {
	if len(d) < 40 {
		// Nothing decoded; the next header reads as 0.
		return append(b, "PROTO=0 "...)
	}
	b = append(b, "SRC="...)
	b = appendIPv6(b, d[8:24])
	b = append(b, " DST="...)
	b = appendIPv6(b, d[24:40])
	b = append(b, " LEN="...)
	b = appendU(b, uint64(be.Uint16(d[4:]))+40)
	flow := be.Uint32(d[0:])
	b = append(b, " TC="...)
	b = appendU(b, uint64((flow&0x0ff00000)>>20))
	b = append(b, " HOPLIMIT="...)
	b = appendU(b, uint64(d[7]))
	b = append(b, " FLOWLBL="...)
	b = appendU(b, uint64(flow&0x000fffff))
	b = append(b, ' ')

	cur := d[6]
	ptr := 40
	rest := len(d) - 40
	fragment, hasFrag := false, false
	var fragOff uint16
	var fragID uint32
	nexthdr, ipProto := uint8(0), uint8(0)
	decoded := false // reached the upper-layer header
walk:
	for cur != 59 && ip6ExtHdr(cur) {
		if rest < 2 {
			goto done
		}
		ext := d[ptr:]
		var hl int
		switch cur {
		case 44:
			hl = 8
			if rest < hl {
				goto done
			}
			hasFrag = true
			fragOff = be.Uint16(ext[2:]) & 0xfff8
			fragID = be.Uint32(ext[4:])
			if fragOff != 0 {
				fragment = true
			}
		case 60, 43, 0:
			if fragment {
				break walk
			}
			hl = (int(ext[1]) + 1) << 3
			if rest < hl {
				goto done
			}
		case 51:
			if fragment {
				break walk
			}
			hl = (int(ext[1]) + 2) << 2
			if rest < hl {
				goto done
			}
		case 50:
			if fragment {
				break walk
			}
			hl = (int(ext[1]) + 2) << 2
			if rest < hl {
				goto done
			}
			// ESP ends the walk before ip.protocol is set.
			break walk
		}
		rest -= hl
		cur = ext[0]
		ptr += hl
	}
	if cur == 50 || fragment {
		nexthdr = cur
	} else {
		nexthdr, ipProto, decoded = cur, cur, true
	}
done:
	if hasFrag {
		b = append(b, "FRAG: "...)
		b = appendU(b, uint64(fragOff))
		b = append(b, " ID: "...)
		b = appendHex8(b, fragID)
		b = append(b, ' ')
	}
	var l4 []byte
	if decoded {
		l4 = d[ptr : ptr+rest]
	}
	switch nexthdr {
	case 6, 17, 132, 50, 51:
		b = printProto(b, nexthdr, ipProto, l4)
	case 58:
		b = append(b, "PROTO=ICMPv6 "...)
		if len(l4) < 8 {
			return append(b, "INCOMPLETE"...)
		}
		typ := l4[0]
		b = append(b, "TYPE="...)
		b = appendU(b, uint64(typ))
		b = append(b, " CODE="...)
		b = appendU(b, uint64(l4[1]))
		b = append(b, ' ')
		if typ == 128 || typ == 129 {
			b = append(b, "ID="...)
			b = appendU(b, uint64(be.Uint16(l4[4:])))
			b = append(b, " SEQ="...)
			b = appendU(b, uint64(be.Uint16(l4[6:])))
			b = append(b, ' ')
		}
	default:
		b = append(b, "PROTO="...)
		b = appendU(b, uint64(nexthdr))
		b = append(b, ' ')
	}
	return b
}

func ip6ExtHdr(h uint8) bool {
	switch h {
	case 0, 43, 44, 50, 51, 60:
		return true
	}
	return false
}

func appendHex2(b []byte, c uint8) []byte {
	const up = "0123456789ABCDEF"
	return append(b, up[c>>4], up[c&15])
}

func appendHex8(b []byte, v uint32) []byte {
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hexDigits[v>>uint(i)&15])
	}
	return b
}

func appendIPv4(b, a []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			b = append(b, '.')
		}
		b = appendU(b, uint64(a[i]))
	}
	return b
}

// appendIPv6 is glibc's inet_ntop: RFC 5952 compression, and the
// embedded IPv4 form for mapped (::ffff:a.b.c.d) and compatible
// (::a.b.c.d) addresses.
func appendIPv6(b, a []byte) []byte {
	var w [8]uint16
	for i := range w {
		w[i] = be.Uint16(a[2*i:])
	}
	best, bestLen, cur, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if cur < 0 {
				cur, curLen = i, 1
			} else {
				curLen++
			}
			if curLen > bestLen {
				best, bestLen = cur, curLen
			}
		} else {
			cur = -1
		}
	}
	if bestLen < 2 {
		best = -1
	}
	for i := 0; i < 8; i++ {
		if best >= 0 && i >= best && i < best+bestLen {
			if i == best {
				b = append(b, ':')
			}
			continue
		}
		if i != 0 {
			b = append(b, ':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			return appendIPv4(b, a[12:16])
		}
		b = strconv.AppendUint(b, uint64(w[i]), 16)
	}
	if best >= 0 && best+bestLen == 8 {
		b = append(b, ':')
	}
	return b
}
