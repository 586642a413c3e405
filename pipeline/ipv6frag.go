package pipeline

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// IPv6 defragmentation for conntrack (nf_defrag_ipv6 at PREROUTING and
// OUTPUT, priority -400: nf_ct_frag6_gather) and the refragmentation of
// a reassembled datagram on output (ip6_fragment with frag_max_size).
// Without conntrack the kernel reassembles IPv6 only after INPUT, in the
// protocol handler, so the hooks see the fragments as they are.

// frag6Key identifies an IPv6 datagram being reassembled
// (frag_v6_compare_key). The defrag user (PREROUTING or OUTPUT, plus the
// zone, always the default one before the raw table) selects the map.
type frag6Key struct {
	src, dst [16]byte
	id       uint32
	iif      int // only for link-local and multicast destinations
}

// frag6Run is a run of fragments the kernel keeps as one node of its
// tree: fragments appended in order to the last one received at the
// end join its run.
type frag6Run struct{ off, end int }

type frag6Queue struct {
	first    int64 // when the queue was made: it expires ip6frag_time later
	runs     []frag6Run
	tailEnd  int    // end of fragments_tail, the last fragment put at the end
	hasTail  bool   // a fragment was queued
	data     []byte // fragmentable part, by offset
	pieces   []frag6Run
	len      int // q.len: the end of the datagram as far as known
	lastIn   bool
	firstIn  bool
	meat     int
	maxSize  int   // largest payload length received
	ecn      uint8 // IPFRAG_ECN_* bits seen
	unfrag   []byte
	nhoff    int           // offset of the next-header byte pointing at the fragment header
	head     []byte        // the first fragment as received, for the expiry error
	meta     packet.Packet // metadata of the first fragment
	complete bool
}

// ip6fragTime is the default of net.netfilter.nf_conntrack_frag6_timeout
// (IPV6_FRAG_TIMEOUT): 60 seconds.
const ip6fragTime = 60 * int64(time.Second)

// ip_frag_ecn_table: the ECN codepoint of the reassembled datagram from
// the codepoints its fragments had, 0xff for a mix that must be dropped.
var fragECN = func() (t [16]uint8) {
	const notECT, ect1, ect0, ce = 1, 2, 4, 8
	t[ce|ect0], t[ce|ect1], t[ce|ect0|ect1] = 3, 3, 3
	for m := 2; m < 16; m++ {
		if m&notECT != 0 {
			t[m] = 0xff
		}
	}
	return t
}()

// findFragHdr walks the extension headers before the fragment header as
// find_prev_fhdr does. It returns the offset of the fragment header and
// of the next-header byte naming it, or ok false when the packet has no
// fragment header reachable through extension headers.
func findFragHdr(d []byte) (fhoff, nhoff int, ok bool) {
	next := d[6]
	nhoff = 6
	off := 40
	for next != 44 {
		var l int
		switch next {
		case 0, 43, 60:
			if off+8 > len(d) {
				return 0, 0, false
			}
			l = (int(d[off+1]) + 1) * 8
		case 51:
			if off+8 > len(d) {
				return 0, 0, false
			}
			l = (int(d[off+1]) + 2) * 4
		default:
			return 0, 0, false
		}
		nhoff = off
		next = d[off]
		off += l
	}
	if off > len(d) {
		return 0, 0, false
	}
	return off, nhoff, true
}

// thdrTruncated is ipv6frag_thdr_truncated: a first fragment must hold
// every header up to the transport header's fixed part (RFC 8200 4.5).
func thdrTruncated(d []byte, fhoff int) bool {
	if fhoff+8 > len(d) {
		return false
	}
	if binary.BigEndian.Uint16(d[fhoff+2:])&^7 != 0 {
		return false
	}
	next, off := d[fhoff], fhoff+8
	for {
		switch next {
		case 0, 43, 60, 51:
			if off+2 > len(d) {
				return false // ipv6_skip_exthdr fails: not judged truncated
			}
			l := (int(d[off+1]) + 1) * 8
			if next == 51 {
				l = (int(d[off+1]) + 2) * 4
			}
			next, off = d[off], off+l
			continue
		case 44:
			if off+8 > len(d) {
				return false
			}
			if binary.BigEndian.Uint16(d[off+2:])&^7 != 0 {
				return false
			}
			next, off = d[off], off+8
			continue
		case 59:
			return false // ipv6_skip_exthdr stops on "no next header"
		case packet.ProtoTCP:
			off += 20
		case packet.ProtoUDP:
			off += 8
		case packet.ProtoICMPv6:
			off += 8
		default:
			off++
		}
		return off > len(d)
	}
}

// defrag6 is nf_ct_frag6_gather for a packet with a fragment header.
// It returns the packet to go on with: p itself when the kernel lets
// the fragment through as it is, the reassembled datagram, or nil when
// the fragment is held (held true) or dropped (why set).
func (e *Engine) defrag6(p *packet.Packet, queues *map[frag6Key]*frag6Queue) (out *packet.Packet, held bool, why string) {
	d := p.Data
	if len(d) < 40 || binary.BigEndian.Uint16(d[4:]) == 0 {
		return p, false, "" // jumbogram: no fragment header allowed
	}
	fhoff, nhoff, ok := findFragHdr(d)
	if !ok || fhoff+8 > len(d) {
		return p, false, ""
	}
	if thdrTruncated(d, fhoff) {
		// The kernel leaves an incomplete first fragment alone; the
		// protocol handler drops it later.
		return p, false, ""
	}
	if *queues == nil {
		*queues = map[frag6Key]*frag6Queue{}
	}
	frags := *queues
	for k, q := range frags {
		if p.Timestamp-q.first > ip6fragTime {
			delete(frags, k)
			e.fragTimeout6(q)
		}
	}
	k := frag6Key{src: p.Src().As16(), dst: p.Dst().As16(), id: binary.BigEndian.Uint32(d[fhoff+4:])}
	if dst := p.Dst(); dst.IsMulticast() || dst.IsLinkLocalUnicast() {
		k.iif = p.InIndex
	}
	q := frags[k]
	if q == nil {
		q = &frag6Queue{first: p.Timestamp}
		frags[k] = q
	}
	payloadLen := int(binary.BigEndian.Uint16(d[4:]))
	fo := binary.BigEndian.Uint16(d[fhoff+2:])
	mf := fo&1 != 0
	off := int(fo &^ 7)
	end := off + payloadLen - (fhoff + 8 - 40)
	if end > 65535 {
		return nil, false, "fragment beyond the maximum payload length"
	}
	if !mf {
		if end < q.len || q.lastIn && end != q.len {
			return nil, false, "conflicting last fragment"
		}
		q.lastIn = true
		q.len = end
	} else {
		if end&7 != 0 {
			// The queue is thrown away and the fragment let through:
			// the protocol handler answers it with a parameter problem.
			delete(frags, k)
			return p, false, ""
		}
		if end > q.len {
			if q.lastIn {
				return nil, false, "fragment beyond the last one"
			}
			q.len = end
		}
	}
	if end == off {
		return nil, false, "empty fragment"
	}
	// inet_frag_queue_insert: RFC 5722 overlaps drop the whole queue,
	// a fragment inside a run already received is a duplicate.
	switch {
	case !q.hasTail:
		q.runs = append(q.runs, frag6Run{off, end})
		q.tailEnd, q.hasTail = end, true
	case q.tailEnd < end:
		if off < q.tailEnd {
			delete(frags, k)
			return nil, false, "overlapping fragments"
		}
		if off == q.tailEnd {
			for i := range q.runs {
				if q.runs[i].end == q.tailEnd {
					q.runs[i].end = end
					break
				}
			}
		} else {
			q.runs = append(q.runs, frag6Run{off, end})
		}
		q.tailEnd = end
	default:
		for _, r := range q.runs {
			if end <= r.off || off >= r.end {
				continue
			}
			if off >= r.off && end <= r.end {
				return nil, true, "duplicate fragment"
			}
			delete(frags, k)
			return nil, false, "overlapping fragments"
		}
		q.runs = append(q.runs, frag6Run{off, end})
	}
	if end > len(q.data) {
		q.data = append(q.data, make([]byte, end-len(q.data))...)
	}
	copy(q.data[off:end], d[fhoff+8:])
	q.pieces = append(q.pieces, frag6Run{off, end})
	q.meat += end - off
	q.ecn |= 1 << (packet.IPv6(d).TrafficClass() & 3)
	if payloadLen > q.maxSize {
		q.maxSize = payloadLen
	}
	if off == 0 {
		q.nhoff = nhoff
		q.unfrag = append(q.unfrag[:0], d[:fhoff]...)
		q.head = append(q.head[:0], d...)
		q.meta = *p
		q.firstIn = true
	}
	if !q.firstIn || !q.lastIn || q.meat != q.len {
		return nil, true, ""
	}
	delete(frags, k)
	ecn := fragECN[q.ecn]
	if ecn == 0xff {
		return nil, false, "fragments with mixed ECN codepoints"
	}
	plen := len(q.unfrag) - 40 + q.len
	if plen > 65535 {
		return nil, false, "reassembled datagram too long"
	}
	data := make([]byte, 0, len(q.unfrag)+q.len)
	data = append(data, q.unfrag...)
	data[q.nhoff] = q.head[len(q.unfrag)]
	data = append(data, q.data[:q.len]...)
	binary.BigEndian.PutUint16(data[4:], uint16(plen))
	data[1] |= ecn << 4 // ipv6_change_dsfield(hdr, 0xff, ecn)
	w := q.meta
	w.Data = data
	w.InDev, w.InIndex, w.Timestamp = p.InDev, p.InIndex, p.Timestamp
	w.MAC = p.MAC
	w.FragMax = 40 + q.maxSize
	if err := w.Parse(); err != nil {
		return nil, false, "reassembled datagram does not parse"
	}
	// The output keeps the received fragments' geometry (ip6_fragment's
	// fast path over the frag_list, which reassembly builds without
	// merging fragments).
	sortRuns(q.pieces)
	e.frag6Sizes = e.frag6Sizes[:0]
	for _, r := range q.pieces {
		e.frag6Sizes = append(e.frag6Sizes, r.end-r.off)
	}
	e.frag6Pkt = &w
	return &w, false, ""
}

func sortRuns(r []frag6Run) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].off < r[j-1].off; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// fragTimeout6 is ip6frag_expire_frag_queue: when the first fragment was
// in, the host answers with "fragment reassembly time exceeded" about it.
// The queue is found expired when the next fragment arrives, so the
// error comes then rather than at the 60 s mark.
func (e *Engine) fragTimeout6(q *frag6Queue) {
	if !q.firstIn || len(q.head) == 0 {
		return
	}
	h := q.meta
	h.Data = append([]byte(nil), q.head...)
	if h.Parse() != nil {
		return
	}
	e.sendICMPError(&h, icmpFragTime, 0)
}

// unfragmentable is ip6_find_1stfragopt: the length of the headers every
// fragment repeats (hop-by-hop, routing, and destination options before
// a routing header) and the offset of the next-header byte that is to
// name the fragment header.
func unfragmentable(d []byte) (hlen, nhoff int) {
	off, nhoff := 40, 6
	next := d[6]
	foundRH := false
	for off+8 <= len(d) {
		switch next {
		case 0:
		case 43:
			foundRH = true
		case 60:
			if foundRH {
				return off, nhoff
			}
		default:
			return off, nhoff
		}
		nhoff = off
		next = d[off]
		off += (int(d[off+1]) + 1) * 8
	}
	return min(off, len(d)), nhoff
}

// refragment6 splits a datagram reassembled for conntrack as ip6_fragment
// does: along the received fragments' boundaries (sizes, in order) when
// they fit the frag_max_size-derived MTU, else in pieces of that MTU
// (at least 1280 bytes). id is the new fragment identification; the
// kernel draws a random one.
func refragment6(p *packet.Packet, sizes []int, id uint32, emit func(frag []byte)) {
	d := p.Data
	hlen, nhoff := unfragmentable(d)
	next := d[nhoff]
	payload := d[hlen:]
	mtu := p.FragMax
	fast := true
	sum := 0
	for i, s := range sizes {
		sum += s
		if s > mtu-hlen-8 || s&7 != 0 && i < len(sizes)-1 {
			fast = false
		}
	}
	if sum != len(payload) {
		fast = false
	}
	if !fast {
		mtu = max(mtu, 1280)
		step := (mtu - hlen - 8) &^ 7
		if step <= 0 {
			emit(d)
			return
		}
		sizes = nil
		for left := len(payload); left > 0; left -= step {
			sizes = append(sizes, min(step, left))
		}
	}
	buf := make([]byte, 0, hlen+8+mtu)
	off := 0
	for i, s := range sizes {
		buf = append(buf[:0], d[:hlen]...)
		buf[nhoff] = 44
		fo := uint16(off)
		if i < len(sizes)-1 {
			fo |= 1
		}
		buf = append(buf, next, 0, byte(fo>>8), byte(fo), byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
		buf = append(buf, payload[off:off+s]...)
		binary.BigEndian.PutUint16(buf[4:], uint16(len(buf)-40))
		off += s
		emit(buf)
	}
}

// gather6 runs nf_defrag_ipv6 for a packet at PREROUTING (user 0) or
// OUTPUT (user 1). ok false: the fragment was held or dropped, r says so.
func (e *Engine) gather6(p *packet.Packet, user int, hook string) (q *packet.Packet, r Result, ok bool) {
	whole, held, why := e.defrag6(p, &e.ctFrags6[user])
	if held {
		if why == "" {
			why = "waiting for the other fragments (conntrack defragments at " + hook + ")"
		} else {
			why += " ignored"
		}
		return nil, Result{Fate: Held, By: why}, false
	}
	if why != "" {
		return nil, Result{Fate: Dropped, By: "reassembly: " + why}, false
	}
	if whole != p && e.st.tracer != nil {
		e.st.event(Event{Kind: EvRoute, Text: "reassembled for conntrack: " + strconv.Itoa(len(whole.Data)) + " bytes"})
	}
	return whole, Result{}, true
}
