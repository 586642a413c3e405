package conntrack

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/nfgo/nfgo/packet"
)

// EventType is the kind of a conntrack event as conntrack -E shows it.
type EventType uint8

const (
	EventNew     EventType = iota // [NEW]: IPCT_NEW or IPCT_RELATED
	EventUpdate                   // [UPDATE]: any other change
	EventDestroy                  // [DESTROY]
)

// Event is one conntrack event (ctnetlink_conntrack_event).
type Event struct {
	Type EventType
	Bits uint32 // the IPCT_* bits delivered together
	Time int64  // clock (ns)
	Conn Snapshot
}

// Snapshot is what the views print of a connection at one moment.
type Snapshot struct {
	Orig, Reply Tuple
	Status      uint32
	Mark        uint32
	Zone        uint16
	ZoneDir     uint8
	Timeout     int64 // seconds left
	TCPState    uint8
	HasTCP      bool
	Acct        bool
	Counters    [4]uint64 // original packets, bytes, reply packets, bytes
	Timestamp   bool
	Start, Stop int64 // ns; Stop 0 while the connection lives
	Helper      string
	Labels      [2]uint64
	Children    int // expected connections alive that point to this one
}

// Snapshot takes a view of the connection at clock now.
func (e *Entry) Snapshot(now int64) Snapshot {
	s := Snapshot{Orig: e.tuple[0], Reply: e.tuple[1], Status: e.status, Mark: e.mark,
		Zone: e.zone, ZoneDir: e.zoneDir, Timeout: int64(e.Expires(now)), Helper: e.Helper(), Labels: e.Labels()}
	if e.t != nil {
		s.Children = int(e.t.refs[e.idx])
	}
	if e.tcp != nil {
		s.TCPState, s.HasTCP = e.tcp.State, true
	}
	if a := e.acct(); a != nil {
		s.Acct, s.Counters = true, *a
	}
	if ts := e.tstamp(); ts != nil {
		s.Timestamp, s.Start = true, *ts
	}
	return s
}

// deliver reports cached events (nf_ct_deliver_cached_events, or the
// destroy event), filtered by the connection's event mask.
func (t *Table) deliver(e *Entry, bits uint32, now int64) {
	if t.OnEvent == nil || bits&uint32(e.evmask) == 0 {
		return
	}
	ev := Event{Type: EventUpdate, Bits: bits, Time: now, Conn: e.Snapshot(now)}
	switch {
	case bits&EvDestroy != 0:
		ev.Type = EventDestroy
		ev.Conn.Stop = now
	case bits&(EvNew|EvRelated) != 0:
		ev.Type = EventNew
	}
	t.OnEvent(ev)
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoDCCP:
		return "dccp"
	case 47:
		return "gre"
	case packet.ProtoSCTP:
		return "sctp"
	case packet.ProtoUDPLite:
		return "udplite"
	case packet.ProtoICMPv6:
		return "icmpv6"
	}
	return "unknown"
}

// procProtoName is the name /proc prints: the tracker's, "unknown" for
// the protocols nfgo tracks generically (SCTP and DCCP have their own
// trackers in the kernel, not yet in nfgo).
func procProtoName(p uint8) string {
	switch p {
	case packet.ProtoICMP, packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoICMPv6, packet.ProtoGRE:
		return protoName(p)
	}
	return "unknown"
}

func pad8(b []byte, s string) []byte {
	b = append(b, s...)
	for i := len(s); i < 8; i++ {
		b = append(b, ' ')
	}
	return b
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// appendProcAddr prints %pI4 or %pI6 (IPv6 uncompressed, 4 digits a group).
func appendProcAddr(b []byte, a *[16]byte, v6 bool) []byte {
	if !v6 {
		return netip.AddrFrom4([4]byte(a[:4])).AppendTo(b)
	}
	const hex = "0123456789abcdef"
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[a[i]>>4], hex[a[i]&15], hex[a[i+1]>>4], hex[a[i+1]&15])
	}
	return b
}

func appendToolAddr(b []byte, a *[16]byte, v6 bool) []byte {
	if !v6 {
		return netip.AddrFrom4([4]byte(a[:4])).AppendTo(b)
	}
	return netip.AddrFrom16(*a).AppendTo(b)
}

func appendTuple(b []byte, t *Tuple, proc bool) []byte {
	return appendTuplePrefix(b, t, proc, "")
}

// appendTuplePrefix prints a tuple with each address label prefixed
// (the expectation views' "mask-src=... mask-dst=...").
func appendTuplePrefix(b []byte, t *Tuple, proc bool, pfx string) []byte {
	b = append(b, pfx...)
	b = append(b, "src="...)
	if proc {
		b = appendProcAddr(b, &t.Src, t.V6)
	} else {
		b = appendToolAddr(b, &t.Src, t.V6)
	}
	b = append(b, ' ')
	b = append(b, pfx...)
	b = append(b, "dst="...)
	if proc {
		b = appendProcAddr(b, &t.Dst, t.V6)
	} else {
		b = appendToolAddr(b, &t.Dst, t.V6)
	}
	b = append(b, ' ')
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		b = append(b, "sport="...)
		b = appendUint(b, uint64(t.SrcPort))
		b = append(b, " dport="...)
		b = appendUint(b, uint64(t.DstPort))
		b = append(b, ' ')
	case packet.ProtoGRE:
		b = append(b, "srckey=0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, " dstkey=0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
		b = append(b, ' ')
	case packet.ProtoICMP, packet.ProtoICMPv6:
		b = append(b, "type="...)
		b = appendUint(b, uint64(t.DstPort>>8))
		b = append(b, " code="...)
		b = appendUint(b, uint64(t.DstPort&0xff))
		b = append(b, " id="...)
		b = appendUint(b, uint64(t.SrcPort))
		b = append(b, ' ')
	}
	return b
}

func appendCounters(b []byte, s *Snapshot, d int) []byte {
	b = append(b, "packets="...)
	b = appendUint(b, s.Counters[d])
	b = append(b, " bytes="...)
	b = appendUint(b, s.Counters[d+1])
	return append(b, ' ')
}

// AppendProc appends the connection's /proc/net/nf_conntrack line
// (ct_seq_show) at clock now; use is the reference count printed (2: the
// table's and the reader's).
func (s *Snapshot) AppendProc(b []byte, now int64) []byte {
	l3, l3n := "ipv4", 2
	if s.Orig.V6 {
		l3, l3n = "ipv6", 10
	}
	b = pad8(b, l3)
	b = append(b, ' ')
	b = appendUint(b, uint64(l3n))
	b = append(b, ' ')
	b = pad8(b, procProtoName(s.Orig.Proto))
	b = append(b, ' ')
	b = appendUint(b, uint64(s.Orig.Proto))
	b = append(b, ' ')
	if s.Status&statusOffload == 0 {
		b = strconv.AppendInt(b, s.Timeout, 10)
		b = append(b, ' ')
	}
	if s.HasTCP {
		b = append(b, TCPStateName(s.TCPState)...)
		b = append(b, ' ')
	}
	b = appendTuple(b, &s.Orig, true)
	b = s.appendZone(b, ZoneDirOrig, "zone-orig=")
	if s.Acct {
		b = appendCounters(b, s, 0)
	}
	if s.Status&statusSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	b = appendTuple(b, &s.Reply, true)
	b = s.appendZone(b, ZoneDirReply, "zone-reply=")
	if s.Acct {
		b = appendCounters(b, s, 2)
	}
	switch {
	case s.Status&statusHWOffload != 0:
		b = append(b, "[HW_OFFLOAD] "...)
	case s.Status&statusOffload != 0:
		b = append(b, "[OFFLOAD] "...)
	case s.Status&statusAssured != 0:
		b = append(b, "[ASSURED] "...)
	}
	b = append(b, "mark="...)
	b = appendUint(b, uint64(s.Mark))
	b = append(b, ' ')
	b = s.appendZone(b, ZoneDirBoth, "zone=")
	if s.Timestamp {
		d := now - s.Start
		if d > 0 {
			d /= second
		} else {
			d = 0
		}
		b = append(b, "delta-time="...)
		b = appendUint(b, uint64(d))
		b = append(b, ' ')
	}
	// use: the table's reference, the reader's, one per expected
	// connection holding its master.
	b = append(b, "use="...)
	b = appendUint(b, uint64(2+s.Children))
	b = append(b, '\n')
	return b
}

// appendZone is ct_show_zone: the zone is printed where its direction is.
func (s *Snapshot) appendZone(b []byte, dir uint8, label string) []byte {
	zd := s.ZoneDir
	if zd == 0 {
		zd = ZoneDirBoth
	}
	if zd != dir {
		return b
	}
	b = append(b, label...)
	b = appendUint(b, uint64(s.Zone))
	return append(b, ' ')
}

// appendTool is libnetfilter_conntrack's default output
// (__snprintf_conntrack_default) for what ctnetlink sends: list is a dump
// (conntrack -L), otherwise an event with bits.
func (s *Snapshot) appendTool(b []byte, list bool, bits uint32, now int64) []byte {
	destroy := !list && bits&EvDestroy != 0
	b = pad8(b, protoName(s.Orig.Proto))
	b = append(b, ' ')
	b = appendUint(b, uint64(s.Orig.Proto))
	b = append(b, ' ')
	if !destroy || s.Timeout != 0 {
		b = strconv.AppendInt(b, s.Timeout, 10)
		b = append(b, ' ')
	}
	if s.HasTCP && (list || destroy || bits&EvProtoInfo != 0) {
		b = append(b, TCPStateName(s.TCPState)...)
		b = append(b, ' ')
	}
	zoneTuple := s.Zone != 0
	b = appendTuple(b, &s.Orig, false)
	if zoneTuple && s.ZoneDir == ZoneDirOrig {
		b = append(b, "zone-orig="...)
		b = appendUint(b, uint64(s.Zone))
		b = append(b, ' ')
	}
	counters := s.Acct && (list || destroy)
	if counters {
		b = appendCounters(b, s, 0)
	}
	if s.Status&statusSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	b = appendTuple(b, &s.Reply, false)
	if zoneTuple && s.ZoneDir == ZoneDirReply {
		b = append(b, "zone-reply="...)
		b = appendUint(b, uint64(s.Zone))
		b = append(b, ' ')
	}
	if counters {
		b = appendCounters(b, s, 2)
	}
	if s.Status&statusAssured != 0 {
		b = append(b, "[ASSURED] "...)
	}
	if list || s.Mark != 0 || bits&EvMark != 0 {
		b = append(b, "mark="...)
		b = appendUint(b, uint64(s.Mark))
		b = append(b, ' ')
	}
	if zoneTuple && (s.ZoneDir == ZoneDirBoth || s.ZoneDir == 0) {
		b = append(b, "zone="...)
		b = appendUint(b, uint64(s.Zone))
		b = append(b, ' ')
	}
	if s.Timestamp && (list || destroy) {
		stop := s.Stop
		if stop == 0 {
			stop = now
		}
		b = append(b, "delta-time="...)
		b = strconv.AppendInt(b, stop/second-s.Start/second, 10)
		b = append(b, ' ')
	}
	if s.Helper != "" && (list || !destroy) {
		b = append(b, "helper="...)
		b = append(b, s.Helper...)
		b = append(b, ' ')
	}
	if list {
		b = append(b, "use="...)
		b = appendUint(b, uint64(1+s.Children))
		b = append(b, ' ')
	}
	return b[:len(b)-1]
}

// AppendList appends the connection's conntrack -L line (no newline).
func (s *Snapshot) AppendList(b []byte, now int64) []byte { return s.appendTool(b, true, 0, now) }

// FormatEvent is the event's conntrack -E line (no newline).
func FormatEvent(ev Event) string { return string(AppendEvent(make([]byte, 0, 256), &ev)) }

// AppendEvent appends the event's conntrack -E line (no newline) to b.
func AppendEvent(b []byte, ev *Event) []byte {
	switch ev.Type {
	case EventNew:
		b = append(b, "    [NEW] "...)
	case EventUpdate:
		b = append(b, " [UPDATE] "...)
	default:
		b = append(b, "[DESTROY] "...)
	}
	return ev.Conn.appendTool(b, false, ev.Bits, ev.Time)
}

// WriteProc writes /proc/net/nf_conntrack at clock now. Reading it
// removes timed-out entries first, as the kernel's reader does.
func (t *Table) WriteProc(w io.Writer, now int64) error {
	t.GC(now)
	bw := bufio.NewWriter(w)
	var b []byte
	for _, e := range t.Entries() {
		s := e.Snapshot(now)
		b = s.AppendProc(b[:0], now)
		bw.Write(b)
	}
	return bw.Flush()
}

// WriteList writes conntrack -L at clock now. The kernel dumps in hash
// bucket order, which depends on a random seed; nfgo sorts by the
// original tuple: IPv4 before IPv6, then protocol number, source
// address, destination address, source port, destination port.
func (t *Table) WriteList(w io.Writer, now int64) error {
	t.GC(now)
	bw := bufio.NewWriter(w)
	var b []byte
	for _, e := range t.Entries() {
		s := e.Snapshot(now)
		b = s.AppendList(b[:0], now)
		b = append(b, '\n')
		bw.Write(b)
	}
	return bw.Flush()
}

// WriteStats writes conntrack -S: one line, for nfgo's single cpu. found,
// invalid, insert, drop, early_drop and error are counted; insert_failed,
// search_restart, clash_resolve and chaintoolong stay 0 (they come from
// races between cpus and from hash chain lengths nfgo does not have).
func (t *Table) WriteStats(w io.Writer) error {
	s := &t.Stats
	_, err := fmt.Fprintf(w, "cpu=%-4d\tfound=%d invalid=%d insert=%d insert_failed=%d drop=%d early_drop=%d error=%d search_restart=%d clash_resolve=%d chaintoolong=%d \n",
		0, s.Found, s.Invalid, s.Insert, s.InsertFailed, s.Drop, s.EarlyDrop, s.Error, s.SearchRestart, s.ClashResolve, s.ChainTooLong)
	return err
}

// WriteCount writes conntrack -C.
func (t *Table) WriteCount(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d\n", t.count)
	return err
}
