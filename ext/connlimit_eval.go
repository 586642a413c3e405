package ext

import (
	"sync"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Evaluation of -m connlimit: xt_connlimit.c over nf_conncount.c. Each
// rule keeps, per masked address and zone, a list of the tuples of the
// connections it counted. A stored tuple counts while conntrack still
// holds its connection (CtTable.Lookup) and, for TCP, the connection is
// not in TIME_WAIT or CLOSE (already_closed). Dead tuples are dropped
// lazily when the list is walked, at most once per jiffy unless more than
// CONNCOUNT_GC_MAX_COLLECT tuples were added since the last walk.
//
// Not modelled: the kernel's background worker that frees empty lists
// (an empty list here is dropped at once, which counts the same) and the
// two-jiffy grace for a tuple another CPU added (one CPU here: a tuple
// conntrack cannot find is dropped at once, as find_or_evict does for
// its own CPU's tuples).

const connlimitGCMaxCollect = 64 // CONNCOUNT_GC_MAX_COLLECT

type connlimitKey struct {
	addr [16]byte
	zone uint16
}

type connlimitTuple struct {
	t       CtTuple
	zone    uint16
	jiffies uint32
}

// connlimitList is nf_conncount_list.
type connlimitList struct {
	conns       []connlimitTuple
	lastGC      uint32 // jiffies of the last walk
	lastGCCount int    // list length after it
}

type connlimitData struct {
	mu    sync.Mutex
	lists map[connlimitKey]*connlimitList
}

func newConnlimitData() *connlimitData {
	return &connlimitData{lists: map[connlimitKey]*connlimitList{}}
}

// Match is connlimit_mt: the number of connections of the packet's
// address group, this packet's included, compared with the limit. When
// nothing can be counted (no tuple can be taken from the packet) the
// kernel drops the packet (hotdrop).
func (m *connlimitMatch) Match(e *Env) bool {
	n := m.count(e)
	if n == 0 {
		// "kmalloc failed or tuple couldn't be found, drop it entirely"
		e.HotDrop = true
		return false
	}
	return (n > int(m.Limit)) != (m.Flags&ConnlimitInvert != 0)
}

// count returns the number of connections in the packet's group after
// counting the packet's own.
func (m *connlimitMatch) count(e *Env) int {
	d := m.data
	if d == nil {
		return 0
	}
	var key connlimitKey
	switch {
	case e.Conn != nil:
		key.zone = e.Conn.Zone()
	case e.CtTemplate != nil && !e.CtTemplate.NoTrack:
		// In raw after CT the kernel's nf_ct_get returns the template.
		key.zone = e.CtTemplate.Zone
	}
	a := e.Pkt.Src()
	if m.Flags&ConnlimitDaddr != 0 {
		a = e.Pkt.Dst()
	}
	if m.Family == nf.IPv6 {
		x, k := a.As16(), m.Mask.As16()
		for i := range x {
			key.addr[i] = x[i] & k[i]
		}
	} else {
		x, k := a.Unmap().As4(), m.Mask.Unmap().As4()
		for i := range x {
			key.addr[i] = x[i] & k[i]
		}
	}
	d.mu.Lock()
	n := d.count(e, key)
	d.mu.Unlock()
	return n
}

// count is count_tree for a packet.
func (d *connlimitData) count(e *Env, key connlimitKey) int {
	now := uint32(Jiffies(e.Pkt.Timestamp))
	l := d.lists[key]
	if l == nil {
		// insert_tree: a new list holding this packet's connection.
		t, zone, _, ok := connlimitPacketTuple(e)
		if !ok {
			return 0
		}
		d.lists[key] = &connlimitList{conns: []connlimitTuple{{t, zone, now}}, lastGC: now}
		return 1
	}
	skipped, ok := l.add(e, now)
	if !ok {
		return 0
	}
	if skipped {
		// -EEXIST: the list is not walked on adding, but is collected.
		l.gc(e.CtTable, now)
	}
	n := len(l.conns)
	if n == 0 {
		delete(d.lists, key)
	}
	return n
}

// connlimitPacketTuple is get_ct_or_tuple_from_skb: the packet's
// connection's original tuple and zone, or, without a connection, the
// tuple taken from the packet and the connection conntrack holds for it
// (nil if none). ok is false when the packet yields no tuple.
func connlimitPacketTuple(e *Env) (t CtTuple, zone uint16, ct Conn, ok bool) {
	if e.Conn != nil {
		return e.Conn.Tuple(false), e.Conn.Zone(), e.Conn, true
	}
	if t, ok = ctPacketTuple(e.Pkt); !ok {
		return t, 0, nil, false
	}
	if e.CtTemplate != nil && !e.CtTemplate.NoTrack {
		zone = e.CtTemplate.Zone
	}
	if e.CtTable != nil {
		if c, found := e.CtTable.Lookup(t, zone); found {
			ct = c
		}
	}
	return t, zone, ct, true
}

// ctPacketTuple is nf_ct_get_tuplepr's original-direction tuple of a
// packet: addresses, protocol, and the ports (the ICMP identifier and
// type<<8|code). Protocols conntrack has no tracker for get zero ports.
func ctPacketTuple(p *packet.Packet) (CtTuple, bool) {
	t := CtTuple{Src: p.Src(), Dst: p.Dst(), Proto: p.Proto}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		sp, dp, ok := p.Ports()
		if !ok {
			return t, false
		}
		t.SrcPort, t.DstPort = sp, dp
	case packet.ProtoICMP, packet.ProtoICMPv6:
		// icmp_pkt_to_tuple reads the 8-byte header whatever the type.
		b := p.L4()
		if len(b) < 8 {
			return t, false
		}
		t.SrcPort = uint16(b[4])<<8 | uint16(b[5])
		t.DstPort = uint16(b[0])<<8 | uint16(b[1])
	}
	return t, true
}

// connlimitClosed is already_closed: a TCP connection in TIME_WAIT or
// CLOSE no longer counts.
func connlimitClosed(c Conn) bool {
	s, ok := c.TCPState()
	return ok && c.Tuple(false).Proto == nf.ProtoTCP && (s == 7 || s == 8)
}

func (l *connlimitList) remove(i int) {
	copy(l.conns[i:], l.conns[i+1:])
	l.conns = l.conns[:len(l.conns)-1]
}

func ctLookup(tbl CtTable, t CtTuple, zone uint16) (Conn, bool) {
	if tbl == nil {
		return nil, false
	}
	return tbl.Lookup(t, zone)
}

// add is __nf_conncount_add. skipped reports -EEXIST (the packet's
// connection is confirmed and assured, so it is already counted); ok is
// false when the packet yields no tuple.
func (l *connlimitList) add(e *Env, now uint32) (skipped, ok bool) {
	t, zone, ct, ok := connlimitPacketTuple(e)
	if !ok {
		return false, false
	}
	walk := true
	if ct != nil && ct.Status()&CTStatusConfirmed != 0 {
		// "Only skip the tracking if it is fully assured. This guarantees
		// that setup packets or retransmissions are properly counted and
		// deduplicated."
		if ct.Status()&CTStatusAssured != 0 {
			return true, true
		}
	} else if now == l.lastGC && len(l.conns)-l.lastGCCount < connlimitGCMaxCollect {
		// Walked in this jiffy already: add without looking for a
		// duplicate or dead entries.
		walk = false
	}
	if walk {
		collect := 0
		for i := 0; i < len(l.conns); {
			if collect > connlimitGCMaxCollect {
				break
			}
			c := &l.conns[i]
			found, alive := ctLookup(e.CtTable, c.t, c.zone)
			if !alive {
				l.remove(i)
				collect++
				continue
			}
			if c.t == t && found.Zone() == zone {
				// "We should not see tuples twice unless someone hooks
				// this into a table without "-p tcp --syn"."
				return false, true
			}
			if connlimitClosed(found) {
				l.remove(i)
				collect++
				continue
			}
			i++
		}
		l.lastGC, l.lastGCCount = now, len(l.conns)
	}
	l.conns = append(l.conns, connlimitTuple{t, zone, now})
	return false, true
}

// gc is __nf_conncount_gc_list.
func (l *connlimitList) gc(tbl CtTable, now uint32) {
	if now == l.lastGC {
		return
	}
	collected := 0
	for i := 0; i < len(l.conns); {
		c := &l.conns[i]
		found, alive := ctLookup(tbl, c.t, c.zone)
		if !alive {
			l.remove(i)
			collected++
			continue
		}
		if connlimitClosed(found) {
			l.remove(i)
			collected++
			continue
		}
		i++
		if collected > connlimitGCMaxCollect {
			break
		}
	}
	l.lastGC, l.lastGCCount = now, len(l.conns)
}
