// Package conntrack is connection tracking: the table of connections keyed
// by their original and reply tuples, the protocol trackers, the events
// and the views (/proc/net/nf_conntrack, conntrack -L, -E, -S, -C).
package conntrack

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"unsafe"

	"github.com/nfgo/nfgo/conntrack/helper"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
)

// Tuple is one direction of a connection. Addresses are 16 bytes; an IPv4
// address fills the first 4 (V6 false). For ICMP and ICMPv6 SrcPort is the
// identifier and DstPort is type<<8|code, as in ext.CtTuple.
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	V6               bool
}

// SrcAddr returns the source address.
func (t *Tuple) SrcAddr() netip.Addr { return t.addr(&t.Src) }

// DstAddr returns the destination address.
func (t *Tuple) DstAddr() netip.Addr { return t.addr(&t.Dst) }

func (t *Tuple) addr(a *[16]byte) netip.Addr {
	if t.V6 {
		return netip.AddrFrom16(*a)
	}
	return netip.AddrFrom4([4]byte(a[:4]))
}

// Ext converts to the form extensions see.
func (t *Tuple) Ext() ext.CtTuple {
	return ext.CtTuple{Src: t.SrcAddr(), Dst: t.DstAddr(), SrcPort: t.SrcPort, DstPort: t.DstPort, Proto: t.Proto}
}

// TupleFromExt converts an extension's tuple.
func TupleFromExt(c ext.CtTuple) Tuple {
	t := Tuple{SrcPort: c.SrcPort, DstPort: c.DstPort, Proto: c.Proto}
	if c.Src.Is4() || c.Src.Is4In6() {
		a, b := c.Src.Unmap().As4(), c.Dst.Unmap().As4()
		copy(t.Src[:], a[:])
		copy(t.Dst[:], b[:])
	} else {
		t.V6 = true
		t.Src, t.Dst = c.Src.As16(), c.Dst.As16()
	}
	return t
}

// Family returns the tuple's address family.
func (t *Tuple) Family() nf.Family {
	if t.V6 {
		return nf.IPv6
	}
	return nf.IPv4
}

func (t *Tuple) hash(zone uint16, seed uint64) uint64 {
	h := seed ^ uint64(zone)<<40 ^ uint64(t.Proto)<<32 ^ uint64(t.SrcPort)<<16 ^ uint64(t.DstPort)
	if t.V6 {
		h ^= 1 << 48
	}
	h = mix(mix(h) ^ binary.LittleEndian.Uint64(t.Src[0:]))
	h = mix(h ^ binary.LittleEndian.Uint64(t.Dst[0:]))
	if t.V6 {
		h = mix(h ^ binary.LittleEndian.Uint64(t.Src[8:]))
		h = mix(h ^ binary.LittleEndian.Uint64(t.Dst[8:]))
	}
	return h
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Conntrack status bits used here (IPS_*).
const (
	statusExpected  = ext.CTStatusExpected
	statusSeenReply = ext.CTStatusSeenReply
	statusAssured   = ext.CTStatusAssured
	statusConfirmed = ext.CTStatusConfirmed
	statusDying     = ext.CTStatusDying
	statusOffload   = ext.CTStatusOffload
	statusHelper    = ext.CTStatusHelper
	statusHWOffload = 1 << 15
	statusNATClash  = 1 << 17
)

// Zone directions (NF_CT_ZONE_DIR_*): a zone applies to the original
// direction, the reply direction or both (the default).
const (
	ZoneDirOrig  uint8 = 1
	ZoneDirReply uint8 = 2
	ZoneDirBoth  uint8 = 3
)

// Entry is one connection (struct nf_conn). It implements ext.Conn. The
// layout is kept small: addresses as bytes, the TCP state out of line,
// counters and timestamps in side arrays only when their sysctls are on.
type Entry struct {
	tuple    [2]Tuple // original, reply
	next     [2]int32 // hash chains: node (index<<1|dir)+1 of the next node, 0 ends
	older    int32    // age list (confirmation order), index+1
	newer    int32
	idx      int32
	status   uint32
	mark     uint32
	deadline int64 // ns: the clock at which the entry times out
	aux      int64 // UDP: end of the first two seconds (stream_ts)
	tcp      *TCPState
	t        *Table
	zone     uint16
	zoneDir  uint8
	helper   uint8  // index in Table.helpers, 0 none
	cache    uint16 // IPCT_* events not yet delivered
	evmask   uint16 // CT --ctevents; 0xffff for all
	labels   uint8  // index+1 in Table.labels, 0 none
	expmask  uint8  // CT --expevents (ExpEv* bits); 0xff for all
	master   int32  // index+1 of the connection that expected this one, 0 none
}

// Event bits (IPCT_*).
const (
	EvNew       uint32 = 1 << 0
	EvRelated   uint32 = 1 << 1
	EvDestroy   uint32 = 1 << 2
	EvReply     uint32 = 1 << 3
	EvAssured   uint32 = 1 << 4
	EvProtoInfo uint32 = 1 << 5
	EvHelper    uint32 = 1 << 6
	EvMark      uint32 = 1 << 7
	EvSeqAdj    uint32 = 1 << 8
	EvSecMark   uint32 = 1 << 9
	EvLabel     uint32 = 1 << 10
	EvSynProxy  uint32 = 1 << 11
)

const chunkBits = 10
const chunkSize = 1 << chunkBits

type chunk struct {
	e      [chunkSize]Entry
	acct   *[chunkSize][4]uint64 // orig packets, orig bytes, reply packets, reply bytes
	tstamp *[chunkSize]int64     // start
}

// Stats are the per-namespace statistics conntrack -S prints (nfgo runs
// on one "cpu").
type Stats struct {
	Found, Invalid, Insert, InsertFailed, Drop, EarlyDrop, Error uint32
	SearchRestart, ClashResolve, ChainTooLong                    uint32
}

// Table is the conntrack table of one network namespace.
type Table struct {
	Cfg Config
	// OnEvent receives the events (conntrack -E) when Cfg.Events is on.
	OnEvent func(ev Event)
	// Log receives kernel log lines the table prints (level, text after
	// the timestamp): "nf_conntrack: nf_conntrack: table full, dropping packet"
	// (the module prefix and the message's own; Linux 6.18 adds " in netns
	// N" after "full", a namespace number a snapshot does not have).
	Log   func(level uint8, line string)
	Stats Stats

	chunks  []*chunk
	free    []int32
	buckets []int32 // node+1
	mask    uint64
	seed    uint64
	count   int   // confirmed entries
	oldest  int32 // age list, index+1
	newest  int32
	helpers []string
	labels  [][2]uint64
	lastGC  int64
	clock   int64 // the last packet's timestamp

	// OnExpEvent receives the expectation events (conntrack -E expect).
	OnExpEvent func(ev ExpEvent)
	exps       []*Expectation         // oldest first
	helpState  map[int32]helper.State // per-connection helper state, by entry index
	// refs counts the expected connections that point to a master; a
	// destroyed master stays allocated until the last of them goes, as
	// the kernel's reference from ct->master keeps it.
	refs map[int32]int32
	// bysource lists the connections with a source mapping by their
	// original source (nf_nat_bysource); seqadj holds the sequence
	// adjustment of connections whose payload NAT resized.
	bysource map[bySrcKey][]int32
	seqadj   map[int32]*nat.SeqAdjust
	masq     map[int32]string // MASQUERADE's out interface (nat->masq_index)
}

// NewTable returns an empty table with the kernel's default settings.
func NewTable() *Table { return New(DefaultConfig()) }

// New returns an empty table.
func New(cfg Config) *Table {
	t := &Table{Cfg: cfg, seed: 0x9e3779b97f4a7c15, helpers: []string{""}}
	t.buckets = make([]int32, 1024)
	t.mask = 1023
	return t
}

// Count returns the number of connections (conntrack -C).
func (t *Table) Count() int { return t.count }

func (t *Table) entry(i int32) *Entry { return &t.chunks[i>>chunkBits].e[i&(chunkSize-1)] }

func (t *Table) alloc() *Entry {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(len(t.chunks)) << chunkBits
		c := &chunk{}
		t.chunks = append(t.chunks, c)
		for j := chunkSize - 1; j > 0; j-- {
			t.free = append(t.free, i+int32(j))
		}
	}
	c := t.chunks[i>>chunkBits]
	if t.Cfg.Acct && c.acct == nil {
		c.acct = new([chunkSize][4]uint64)
	}
	if t.Cfg.Timestamp && c.tstamp == nil {
		c.tstamp = new([chunkSize]int64)
	}
	e := &c.e[i&(chunkSize-1)]
	*e = Entry{idx: i, t: t, evmask: 0xffff, expmask: 0xff}
	if c.acct != nil {
		c.acct[i&(chunkSize-1)] = [4]uint64{}
	}
	if c.tstamp != nil {
		c.tstamp[i&(chunkSize-1)] = 0
	}
	return e
}

func (t *Table) release(e *Entry) {
	if e.status&(statusSrcNATDone|statusSeqAdjust) != 0 {
		t.natCleanup(e)
	}
	if e.master != 0 {
		m := t.entry(e.master - 1)
		e.master = 0
		t.unref(m)
	}
	if e.helper != 0 && t.helpState != nil {
		delete(t.helpState, e.idx)
	}
	if t.refs[e.idx] > 0 {
		// Expected connections still point here; the last one
		// releases it.
		return
	}
	e.t = nil
	e.tcp = nil
	t.free = append(t.free, e.idx)
}

func (t *Table) ref(m *Entry) {
	if t.refs == nil {
		t.refs = make(map[int32]int32)
	}
	t.refs[m.idx]++
}

func (t *Table) unref(m *Entry) {
	n := t.refs[m.idx] - 1
	if n > 0 {
		t.refs[m.idx] = n
		return
	}
	delete(t.refs, m.idx)
	if m.status&statusDying != 0 {
		t.release(m)
	}
}

func (e *Entry) acct() *[4]uint64 {
	c := e.t.chunks[e.idx>>chunkBits]
	if c.acct == nil || !e.t.Cfg.Acct {
		return nil
	}
	return &c.acct[e.idx&(chunkSize-1)]
}

func (e *Entry) tstamp() *int64 {
	c := e.t.chunks[e.idx>>chunkBits]
	if c.tstamp == nil || !e.t.Cfg.Timestamp {
		return nil
	}
	return &c.tstamp[e.idx&(chunkSize-1)]
}

// zoneID is nf_ct_zone_id: the zone of a direction.
func zoneID(zone uint16, zdir uint8, dir int) uint16 {
	if zdir&(1<<dir) != 0 {
		return zone
	}
	return 0
}

func (t *Table) bucket(tu *Tuple, zone uint16) *int32 {
	return &t.buckets[tu.hash(zone, t.seed)&t.mask]
}

// find looks a tuple up in a zone (with its direction), returning the
// entry and the direction of the matching tuple.
func (t *Table) find(tu *Tuple, zone uint16, zdir uint8) (*Entry, int) {
	for pass := 0; pass < 2; pass++ {
		z := zoneID(zone, zdir, pass)
		if pass == 1 && z == zoneID(zone, zdir, 0) {
			break
		}
		for n := *t.bucket(tu, z); n != 0; {
			i, dir := (n-1)>>1, int((n-1)&1)
			e := t.entry(i)
			if e.tuple[dir] == *tu && zoneID(e.zone, e.zoneDir, dir) == zoneID(zone, zdir, dir) {
				return e, dir
			}
			n = e.next[dir]
		}
	}
	return nil, 0
}

// insert links a confirmed entry into the hash and the age list.
func (t *Table) insert(e *Entry) {
	if t.count >= len(t.buckets) {
		t.grow()
	}
	for dir := 0; dir < 2; dir++ {
		b := t.bucket(&e.tuple[dir], zoneID(e.zone, e.zoneDir, dir))
		e.next[dir] = *b
		*b = e.idx<<1 | int32(dir) + 1
	}
	e.older, e.newer = t.newest, 0
	if t.newest != 0 {
		t.entry(t.newest - 1).newer = e.idx + 1
	} else {
		t.oldest = e.idx + 1
	}
	t.newest = e.idx + 1
	t.count++
}

func (t *Table) grow() {
	n := len(t.buckets) * 2
	t.buckets = make([]int32, n)
	t.mask = uint64(n - 1)
	for i := t.oldest; i != 0; {
		e := t.entry(i - 1)
		for dir := 0; dir < 2; dir++ {
			b := t.bucket(&e.tuple[dir], zoneID(e.zone, e.zoneDir, dir))
			e.next[dir] = *b
			*b = e.idx<<1 | int32(dir) + 1
		}
		i = e.newer
	}
}

// unlink removes a confirmed entry from the hash and the age list.
func (t *Table) unlink(e *Entry) {
	for dir := 0; dir < 2; dir++ {
		p := t.bucket(&e.tuple[dir], zoneID(e.zone, e.zoneDir, dir))
		node := e.idx<<1 | int32(dir) + 1
		for *p != 0 {
			if *p == node {
				*p = e.next[dir]
				break
			}
			p = &t.entry((*p - 1) >> 1).next[(*p-1)&1]
		}
	}
	if e.older != 0 {
		t.entry(e.older - 1).newer = e.newer
	} else {
		t.oldest = e.newer
	}
	if e.newer != 0 {
		t.entry(e.newer - 1).older = e.older
	} else {
		t.newest = e.older
	}
	t.count--
}

// destroy removes a confirmed entry, reporting DESTROY at clock now.
func (t *Table) destroy(e *Entry, now int64) {
	t.unlink(e)
	e.status |= statusDying
	e.cache = 0
	if e.helper != 0 && len(t.exps) > 0 {
		t.removeExpectations(e, now)
	}
	t.deliver(e, EvDestroy, now)
	t.release(e)
}

func (e *Entry) expired(now int64) bool { return e.deadline <= now }

// Lookup finds a connection by a tuple of either direction in a zone
// (ext.CtTable). An expired connection found is removed.
func (t *Table) Lookup(ct ext.CtTuple, zone uint16) (ext.Conn, bool) {
	tu := TupleFromExt(ct)
	e, _ := t.find(&tu, zone, ZoneDirBoth)
	if e == nil {
		return nil, false
	}
	if e.expired(t.clock) {
		t.destroy(e, t.clock)
		return nil, false
	}
	return e, true
}

// Remove deletes a connection (conntrack -D), with its DESTROY event.
func (t *Table) Remove(c ext.Conn, now int64) bool {
	e, ok := c.(*Entry)
	if !ok || e.t != t || e.status&statusConfirmed == 0 || e.status&statusDying != 0 {
		return false
	}
	t.destroy(e, now)
	return true
}

// GC removes every connection that timed out by clock now, oldest
// first, each with its DESTROY event. The tracker runs it as the clock
// advances; the kernel's gc worker does it every few seconds.
func (t *Table) GC(now int64) {
	t.lastGC = now
	if len(t.exps) > 0 {
		t.expectGC(now)
	}
	for i := t.oldest; i != 0; {
		e := t.entry(i - 1)
		i = e.newer
		if e.expired(now) {
			t.destroy(e, now)
		}
	}
}

// earlyDrop evicts the oldest connection that is not ASSURED (nor
// offloaded). The kernel scans a few hash buckets near the new entry's,
// which nfgo cannot reproduce; evicting the oldest candidate gives the
// same observable outcome when one exists.
func (t *Table) earlyDrop(now int64) bool {
	for i := t.oldest; i != 0; {
		e := t.entry(i - 1)
		if e.status&(statusAssured|statusOffload) == 0 {
			t.destroy(e, now)
			t.Stats.EarlyDrop++
			return true
		}
		i = e.newer
	}
	return false
}

// Entries returns the confirmed connections in the order WriteList uses.
func (t *Table) Entries() []*Entry {
	out := make([]*Entry, 0, t.count)
	for i := t.oldest; i != 0; {
		e := t.entry(i - 1)
		out = append(out, e)
		i = e.newer
	}
	sort.SliceStable(out, func(a, b int) bool { return lessEntry(out[a], out[b]) })
	return out
}

func lessTuple(a, b *Tuple) bool {
	if a.V6 != b.V6 {
		return !a.V6
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if a.Src != b.Src {
		return string(a.Src[:]) < string(b.Src[:])
	}
	if a.Dst != b.Dst {
		return string(a.Dst[:]) < string(b.Dst[:])
	}
	if a.SrcPort != b.SrcPort {
		return a.SrcPort < b.SrcPort
	}
	return a.DstPort < b.DstPort
}

func lessEntry(a, b *Entry) bool {
	if a.tuple[0] != b.tuple[0] {
		return lessTuple(&a.tuple[0], &b.tuple[0])
	}
	return a.zone < b.zone
}

const entrySize = int(unsafe.Sizeof(Entry{}))
