package sink

import (
	"net/netip"

	"github.com/nfgo/nfgo/logd"
)

// AppendPrintFlow appends PRINTFLOW's text for f (with the trailing
// newline), as ulogd 2.0.8 makes it from what NFCT received. The
// counters are always printed (0 without accounting).
func AppendPrintFlow(b []byte, f *logd.FlowEvent) []byte {
	switch f.Type {
	case "NEW":
		b = append(b, "[NEW] "...)
	case "UPDATE":
		b = append(b, "[UPDATE] "...)
	case "DESTROY":
		b = append(b, "[DESTROY] "...)
	}
	b = append(b, "ORIG: "...)
	b = flowTuple(b, f, f.OrigSrc, f.OrigDst, f.OrigSport, f.OrigDport, 0)
	b = append(b, ", REPLY: "...)
	b = flowTuple(b, f, f.ReplSrc, f.ReplDst, f.ReplSport, f.ReplDport, 1)
	return append(b, '\n')
}

func flowTuple(b []byte, f *logd.FlowEvent, src, dst netip.Addr, sport, dport uint16, dir int) []byte {
	if src.IsValid() {
		b = append(b, "SRC="...)
		b = appendAddr(b, src)
		b = append(b, ' ')
	}
	if dst.IsValid() {
		b = append(b, "DST="...)
		b = appendAddr(b, dst)
		b = append(b, ' ')
	}
	switch f.Proto {
	case 6, 17:
		if f.Proto == 6 {
			b = append(b, "PROTO=TCP SPT="...)
		} else {
			b = append(b, "PROTO=UDP SPT="...)
		}
		b = appendU(b, uint64(sport))
		b = append(b, " DPT="...)
		b = appendU(b, uint64(dport))
		b = append(b, ' ')
	case 1:
		// NFCT keeps the original direction's type and code for both;
		// PRINTFLOW labels the code TYPE and the type CODE.
		b = append(b, "PROTO=ICMP TYPE="...)
		b = appendU(b, uint64(f.OrigDport&0xff))
		b = append(b, " CODE="...)
		b = appendU(b, uint64(f.OrigDport>>8))
		b = append(b, ' ')
	case 50:
		b = append(b, "PROTO=ESP "...)
	case 51:
		b = append(b, "PROTO=AH "...)
	default:
		b = append(b, "PROTO="...)
		b = appendU(b, uint64(f.Proto))
		b = append(b, ' ')
	}
	b = append(b, "PKTS="...)
	b = appendU(b, f.Packets[dir])
	b = append(b, " BYTES="...)
	b = appendU(b, f.Bytes[dir])
	return append(b, ' ')
}

// appendAddr prints an address as IP2STR does (inet_ntop).
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return appendIPv4(b, v[:])
	}
	v := a.As16()
	return appendIPv6(b, v[:])
}
