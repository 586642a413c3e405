package pipeline

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// What the IPv4 input path does between the routing decision and INPUT
// or FORWARD: options processing (ip_rcv_options / ip_options_compile) and,
// for local delivery, reassembly (ip_local_deliver → ip_defrag).

// sysctler is implemented by routers that know the host's sysctls.
type sysctler interface {
	SysctlInt(key string, def int) int
}

func (e *Engine) sysctl(key string, def int) int {
	if s, ok := e.cfg.Router.(sysctler); ok {
		return s.SysctlInt(key, def)
	}
	return def
}

// IPv4 option types.
const (
	optEnd  = 0
	optNop  = 1
	optRR   = 7
	optTS   = 68
	optLSRR = 131
	optSSRR = 137
)

// inputOptions records this host in the Record Route and Timestamp
// options of a received IPv4 packet, as ip_options_compile does once the
// input route is known, and refuses source-routed packets unless
// accept_source_route allows them. specDst is the address recorded (the
// packet's destination when it is ours, else the interface's). It returns
// a reason when the packet must be dropped.
func (e *Engine) inputOptions(p *packet.Packet, specDst netip.Addr) string {
	e.rrSlot = -1
	h := packet.IPv4(p.Data)
	ihl := h.HeaderLen()
	if ihl <= 20 {
		return ""
	}
	opts := p.Data[20:ihl]
	changed := false
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == optEnd {
			break
		}
		if t == optNop {
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return "bad IPv4 options"
		}
		l := int(opts[i+1])
		o := opts[i : i+l]
		switch t {
		case optLSRR, optSSRR:
			all := e.sysctl("net.ipv4.conf.all.accept_source_route", 0)
			dev := e.sysctl("net.ipv4.conf."+p.InDev+".accept_source_route", 0)
			if all == 0 || dev == 0 {
				return "source-routed packet refused (accept_source_route=0)"
			}
		case optRR:
			if l < 3 || o[2] < 4 {
				return "bad IPv4 options"
			}
			if int(o[2]) <= l {
				if int(o[2])+3 > l {
					return "bad IPv4 options"
				}
				a := specDst.As4()
				copy(o[o[2]-1:], a[:])
				e.rrSlot = 20 + i + int(o[2]) - 1
				o[2] += 4
				changed = true
			}
		case optTS:
			if l < 4 || o[2] < 5 {
				return "bad IPv4 options"
			}
			if int(o[2]) <= l {
				ts := msSinceMidnight(p.Timestamp)
				flag := o[3] & 0x0f
				ptr := int(o[2]) - 1
				switch flag {
				case 0: // timestamps only
					if ptr+4 > l {
						return "bad IPv4 options"
					}
					binary.BigEndian.PutUint32(o[ptr:], ts)
					o[2] += 4
					changed = true
				case 1: // address and timestamp
					if ptr+8 > l {
						return "bad IPv4 options"
					}
					a := specDst.As4()
					copy(o[ptr:], a[:])
					binary.BigEndian.PutUint32(o[ptr+4:], ts)
					o[2] += 8
					changed = true
				case 3: // prespecified addresses: only when the next one is ours
					if ptr+8 > l {
						return "bad IPv4 options"
					}
					a := netip.AddrFrom4([4]byte(o[ptr : ptr+4]))
					if e.cfg.Router.AddrType(a, "") == 2 {
						binary.BigEndian.PutUint32(o[ptr+4:], ts)
						o[2] += 8
						changed = true
					}
				default:
					return "bad IPv4 options"
				}
			} else if o[3]>>4 < 15 {
				// No room: count the hop in the overflow nibble.
				o[3] += 0x10
				changed = true
			} else {
				return "bad IPv4 options"
			}
		}
		i += l
	}
	if changed {
		h.UpdateChecksum()
	}
	return ""
}

// msSinceMidnight is inet_current_timestamp: milliseconds since midnight
// UTC, the clock being the packet's timestamp.
func msSinceMidnight(ns int64) uint32 {
	d := time.Duration(ns) % (24 * time.Hour)
	if d < 0 {
		d += 24 * time.Hour
	}
	return uint32(d / time.Millisecond)
}

// fragKey identifies an IPv4 datagram being reassembled (ip4_frag_match).
type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

type fragQueue struct {
	first   int64 // timestamp of the first fragment seen (expiry)
	header  []byte
	data    []byte // payload assembled so far
	have    []bool // per 8-byte block: received
	total   int    // payload length once the last fragment is in, else -1
	allDF   bool
	maxLen  int           // largest fragment, header included
	meta    packet.Packet // metadata of the first-offset fragment
	hasHead bool
}

// ipfragTime is net.ipv4.ipfrag_time's default: 30 seconds.
const ipfragTime = 30 * int64(time.Second)

// reassemble adds a fragment of a locally delivered datagram. It returns
// the whole datagram once every fragment is in, or nil while fragments are
// missing; dropped tells why a queue was thrown away (overlap, too long).
func (e *Engine) reassemble(p *packet.Packet, queues *map[fragKey]*fragQueue) (whole *packet.Packet, dropped string) {
	h := packet.IPv4(p.Data)
	if *queues == nil {
		*queues = map[fragKey]*fragQueue{}
	}
	frags := *queues
	for k, q := range frags {
		if p.Timestamp-q.first > ipfragTime {
			delete(frags, k)
		}
	}
	k := fragKey{src: p.Src().As4(), dst: p.Dst().As4(), id: h.ID(), proto: h.Protocol()}
	q := frags[k]
	if q == nil {
		q = &fragQueue{first: p.Timestamp, total: -1, allDF: true}
		frags[k] = q
	}
	off := int(p.FragOff) * 8
	payload := h.Payload()
	end := off + len(payload)
	if end > 65535-20 {
		delete(frags, k)
		return nil, "oversized datagram"
	}
	if p.MoreFrags && len(payload)%8 != 0 {
		delete(frags, k)
		return nil, "fragment length not a multiple of 8"
	}
	if !p.MoreFrags {
		if q.total >= 0 && q.total != end || end < len(q.data) {
			delete(frags, k)
			return nil, "conflicting last fragment"
		}
		q.total = end
	} else if q.total >= 0 && end > q.total {
		delete(frags, k)
		return nil, "fragment beyond the end"
	}
	// Overlapping fragments throw the whole datagram away (RFC 5722's
	// rule, which Linux applies to IPv4 as well).
	for b := off / 8; b < (end+7)/8; b++ {
		if b < len(q.have) && q.have[b] {
			delete(frags, k)
			return nil, "overlapping fragments"
		}
	}
	if end > len(q.data) {
		q.data = append(q.data, make([]byte, end-len(q.data))...)
	}
	copy(q.data[off:], payload)
	for len(q.have) < (end+7)/8 {
		q.have = append(q.have, false)
	}
	for b := off / 8; b < (end+7)/8; b++ {
		q.have[b] = true
	}
	if !h.DontFragment() {
		q.allDF = false
	}
	if len(p.Data) > q.maxLen {
		q.maxLen = len(p.Data)
	}
	if off == 0 {
		q.header = append(q.header[:0], p.Data[:h.HeaderLen()]...)
		q.meta = *p
		q.hasHead = true
	}
	if q.total < 0 || !q.hasHead {
		return nil, ""
	}
	for _, ok := range q.have[:(q.total+7)/8] {
		if !ok {
			return nil, ""
		}
	}
	delete(frags, k)
	data := make([]byte, 0, len(q.header)+q.total)
	data = append(data, q.header...)
	data = append(data, q.data[:q.total]...)
	nh := packet.IPv4(data)
	nh.SetTotalLen(uint16(len(data)))
	if q.allDF {
		nh.SetFlagsFrag(0x4000)
	} else {
		nh.SetFlagsFrag(0)
	}
	nh.UpdateChecksum()
	w := q.meta
	w.Data = data
	w.InDev, w.InIndex, w.Timestamp, w.Mark = p.InDev, p.InIndex, p.Timestamp, p.Mark
	w.MAC = p.MAC
	w.FragMax = q.maxLen
	if err := w.Parse(); err != nil {
		return nil, "reassembled datagram does not parse"
	}
	return &w, ""
}

// forwardOptions puts the outgoing interface's address in the Record
// Route slot the input path filled, as ip_forward_options does after
// FORWARD.
func (e *Engine) forwardOptions(p *packet.Packet, outDev string) {
	if e.rrSlot < 0 || e.rrSlot+4 > len(p.Data) {
		return
	}
	a, ok := e.cfg.Router.IfaceAddr(outDev, nf.IPv4)
	if !ok {
		return
	}
	b := a.As4()
	copy(p.Data[e.rrSlot:], b[:])
	packet.IPv4(p.Data).UpdateChecksum()
	e.rrSlot = -1
}

// fragment splits an IPv4 datagram as ip_do_fragment does on output,
// into pieces of at most max bytes: every fragment but the last carries a
// multiple of 8 payload bytes and MF (the last keeps the datagram's own
// MF), the header and ID are the datagram's, DF stays as it was (a
// reassembled datagram's fragments all had it). The first fragment keeps
// all options, later ones only those with the copy bit, the rest becoming
// NOPs (ip_options_fragment; a datagram that is itself a later fragment
// has its options fixed already).
func fragment(p *packet.Packet, max int, emit func(frag []byte)) {
	h := packet.IPv4(p.Data)
	hlen := h.HeaderLen()
	payload := p.Data[hlen:]
	step := (max - hlen) &^ 7
	if step <= 0 {
		emit(p.Data)
		return
	}
	baseOff := h.FragOffset()
	later := p.Data[:hlen]
	if baseOff == 0 && hlen > 20 {
		later = append([]byte(nil), p.Data[:hlen]...)
		for i := 20; i < hlen; {
			t := later[i]
			if t == optEnd {
				break
			}
			if t == optNop {
				i++
				continue
			}
			if i+1 >= hlen || later[i+1] < 2 || i+int(later[i+1]) > hlen {
				break
			}
			l := int(later[i+1])
			if t&0x80 == 0 {
				for j := i; j < i+l; j++ {
					later[j] = optNop
				}
			}
			i += l
		}
	}
	mf := h.MoreFragments()
	df := h.FlagsFrag() & 0x4000
	buf := make([]byte, 0, hlen+step)
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		hdr := p.Data[:hlen]
		if off > 0 {
			hdr = later
		}
		buf = append(buf[:0], hdr...)
		buf = append(buf, payload[off:end]...)
		fh := packet.IPv4(buf)
		fh.SetTotalLen(uint16(len(buf)))
		ff := baseOff + uint16(off/8)
		if end < len(payload) || mf {
			ff |= 0x2000
		}
		fh.SetFlagsFrag(ff | df)
		fh.UpdateChecksum()
		emit(buf)
	}
}
