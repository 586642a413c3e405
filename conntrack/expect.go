package conntrack

import (
	"errors"
	"io"
	"net/netip"
	"strconv"

	"github.com/nfgo/nfgo/conntrack/helper"
)

// Expectation flags (NF_CT_EXPECT_*).
const (
	ExpectPermanent uint8 = 1 << 0
	ExpectInactive  uint8 = 1 << 1
	ExpectUserspace uint8 = 1 << 2
)

// Expectation event bits (IPEXP_*), as CT --expevents gives them.
const (
	ExpEvNew     uint8 = 1 << 0
	ExpEvDestroy uint8 = 1 << 1
)

// Expectation is a connection a helper announced (struct
// nf_conntrack_expect): a new connection whose original tuple matches
// Tuple under the mask is RELATED to Master. The mask is all ones but
// for the source address (AnySrc) and the source port (AnySrcPort).
type Expectation struct {
	Tuple      Tuple
	AnySrc     bool
	AnySrcPort bool
	Class      uint8
	Flags      uint8
	Helper     string
	// What the helper matched in the payload, for NAT (FTP: command
	// type, offset and length of the address text).
	Type, MatchOff, MatchLen int

	master *Entry
	zone   uint16
	// NAT of the master (nf_nat_ftp): the expected connection follows
	// the master's mapping (natFollow), coming in direction natDir of
	// the master, to the port the command named (savedPort).
	natFollow bool
	natDir    uint8
	savedPort uint16
	deadline  int64
	dead      bool
}

// Master returns the connection whose helper announced the expectation.
func (x *Expectation) Master() *Entry { return x.master }

// Expires returns the seconds left at clock now.
func (x *Expectation) Expires(now int64) uint32 {
	d := x.deadline - now
	if d <= 0 {
		return 0
	}
	return uint32(d / second)
}

func (x *Expectation) expired(now int64) bool { return x.dead || x.deadline <= now }

// matches is nf_ct_tuple_mask_cmp of a connection's tuple against the
// expectation.
func (x *Expectation) matches(tu *Tuple) bool {
	e := &x.Tuple
	return tu.Proto == e.Proto && tu.V6 == e.V6 && tu.Dst == e.Dst && tu.DstPort == e.DstPort &&
		(x.AnySrc || tu.Src == e.Src) && (x.AnySrcPort || tu.SrcPort == e.SrcPort)
}

// sameAs is expect_matches: the same tuple and mask.
func (x *Expectation) sameAs(y *Expectation) bool {
	return x.Tuple == y.Tuple && x.AnySrc == y.AnySrc && x.AnySrcPort == y.AnySrcPort && x.zone == y.zone
}

// clashes is expect_clash: the parts both masks cover are equal.
func (x *Expectation) clashes(y *Expectation) bool {
	a, b := &x.Tuple, &y.Tuple
	if a.Proto != b.Proto || a.V6 != b.V6 || a.Dst != b.Dst || a.DstPort != b.DstPort || x.zone != y.zone {
		return false
	}
	if !x.AnySrc && !y.AnySrc && a.Src != b.Src {
		return false
	}
	if !x.AnySrcPort && !y.AnySrcPort && a.SrcPort != b.SrcPort {
		return false
	}
	return true
}

// Errors of ExpectRelated (nf_ct_expect_related's -EALREADY, -EBUSY,
// -EMFILE, -ESHUTDOWN).
var (
	ErrExpectExists = errors.New("expectation exists with another class or master")
	ErrExpectClash  = errors.New("expectation clashes with another one")
	ErrExpectFull   = errors.New("expectation table full")
	ErrNoHelper     = errors.New("connection has no helper")
)

// Expectations returns the live expectations, oldest first.
func (t *Table) Expectations() []*Expectation {
	out := make([]*Expectation, 0, len(t.exps))
	for _, x := range t.exps {
		if !x.expired(t.clock) {
			out = append(out, x)
		}
	}
	return out
}

// ExpectCount is the number of expectations (nf_conntrack_expect_count).
func (t *Table) ExpectCount() int { return len(t.exps) }

// unlinkExpect is nf_ct_unlink_expect: the expectation goes, with its
// DESTROY event.
func (t *Table) unlinkExpect(x *Expectation, now int64) {
	for i, y := range t.exps {
		if y == x {
			t.exps = append(t.exps[:i], t.exps[i+1:]...)
			break
		}
	}
	t.expEvent(x, ExpEvDestroy, now)
}

// expectGC removes the expectations that timed out by now.
func (t *Table) expectGC(now int64) {
	for i := 0; i < len(t.exps); {
		x := t.exps[i]
		if x.expired(now) {
			t.unlinkExpect(x, now)
			continue
		}
		i++
	}
}

// removeExpectations drops a dying master's expectations
// (nf_ct_remove_expectations).
func (t *Table) removeExpectations(e *Entry, now int64) {
	for i := 0; i < len(t.exps); {
		x := t.exps[i]
		if x.master == e {
			t.unlinkExpect(x, now)
			continue
		}
		i++
	}
}

// ExpectRelated registers what a helper of master announced
// (nf_ct_expect_init and nf_ct_expect_related): an expectation already
// there for the same tuple from the same master is replaced, one that
// clashes refuses the new one, and when the master has as many of the
// class as the helper's policy allows the oldest goes.
func (t *Table) ExpectRelated(master *Entry, h *helper.Expect, now int64) (*Expectation, error) {
	name := master.Helper()
	def := helper.Defs[name]
	if def == nil || master.t != t {
		return nil, ErrNoHelper
	}
	x := &Expectation{Class: 0, Helper: name, master: master, zone: master.zone,
		Type: h.Type, MatchOff: h.MatchOff, MatchLen: h.MatchLen}
	tu := &x.Tuple
	tu.Proto, tu.V6 = h.Proto, h.Dst.Is6() && !h.Dst.Is4In6()
	if h.Src.IsValid() {
		putAddr(&tu.Src, h.Src)
	} else {
		x.AnySrc = true
	}
	putAddr(&tu.Dst, h.Dst)
	tu.SrcPort, tu.DstPort = h.SrcPort, h.DstPort
	x.AnySrcPort = h.SrcPort == 0

	// __nf_ct_expect_check
	for i := 0; i < len(t.exps); {
		y := t.exps[i]
		if y.expired(now) {
			t.unlinkExpect(y, now)
			continue
		}
		if y.master == master && y.sameAs(x) {
			if y.Class != x.Class {
				return nil, ErrExpectExists
			}
			t.unlinkExpect(y, now)
			break
		} else if y.clashes(x) {
			return nil, ErrExpectClash
		}
		i++
	}
	if p := def.Policy; p.MaxExpected > 0 && t.expecting(master, x.Class) >= p.MaxExpected {
		t.evictOldest(master, x.Class, p.MaxExpected, now)
	}
	if max := t.Cfg.ExpectMax; max > 0 && len(t.exps) >= max {
		if t.Log != nil {
			t.Log(4, "nf_conntrack: expectation table full")
		}
		return nil, ErrExpectFull
	}
	x.deadline = now + def.Policy.Timeout*second
	t.exps = append(t.exps, x)
	t.expEvent(x, ExpEvNew, now)
	return x, nil
}

func (t *Table) expecting(master *Entry, class uint8) int {
	n := 0
	for _, y := range t.exps {
		if y.master == master && y.Class == class {
			n++
		}
	}
	return n
}

// evictOldest is evict_oldest_expect: expired ones of the master go,
// then its oldest of the class if it is still at the limit.
func (t *Table) evictOldest(master *Entry, class uint8, max int, now int64) {
	var oldest *Expectation
	for i := 0; i < len(t.exps); {
		y := t.exps[i]
		if y.master == master {
			if y.expired(now) {
				t.unlinkExpect(y, now)
				continue
			}
			if y.Class == class && oldest == nil {
				oldest = y
			}
		}
		i++
	}
	if oldest != nil && t.expecting(master, class) >= max {
		t.unlinkExpect(oldest, now)
	}
}

// findExpectation is nf_ct_find_expectation for a new connection's
// tuple: the matching expectation is taken (unless permanent) when its
// master is confirmed and alive.
func (t *Table) findExpectation(tu *Tuple, zone uint16, now int64) *Expectation {
	var x *Expectation
	for i := 0; i < len(t.exps); {
		y := t.exps[i]
		if y.expired(now) {
			t.unlinkExpect(y, now)
			continue
		}
		if y.Flags&ExpectInactive == 0 && y.zone == zone && y.matches(tu) {
			x = y
			break
		}
		i++
	}
	if x == nil || x.master.status&statusConfirmed == 0 || x.master.status&statusDying != 0 {
		return nil
	}
	if x.Flags&ExpectPermanent == 0 {
		t.unlinkExpect(x, now)
	}
	return x
}

func putAddr(dst *[16]byte, a netip.Addr) {
	*dst = [16]byte{}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		copy(dst[:4], b[:])
		return
	}
	*dst = a.As16()
}

// ExpEvent is an expectation event (conntrack -E expect).
type ExpEvent struct {
	Type EventType // EventNew or EventDestroy
	Time int64
	Exp  ExpSnapshot
}

// ExpSnapshot is what the views print of an expectation.
type ExpSnapshot struct {
	Tuple        Tuple
	AnySrc       bool
	AnySrcPort   bool
	Master       Tuple
	Timeout      int64
	Class, Flags uint8
	Zone         uint16
	Helper       string
}

// Snapshot takes a view of the expectation at clock now.
func (x *Expectation) Snapshot(now int64) ExpSnapshot {
	return ExpSnapshot{Tuple: x.Tuple, AnySrc: x.AnySrc, AnySrcPort: x.AnySrcPort, Master: x.master.tuple[0],
		Timeout: int64(x.Expires(now)), Class: x.Class, Flags: x.Flags, Zone: x.zone, Helper: x.Helper}
}

func (t *Table) expEvent(x *Expectation, ev uint8, now int64) {
	if t.OnExpEvent == nil || x.master.expmask&ev == 0 {
		return
	}
	typ := EventNew
	if ev == ExpEvDestroy {
		typ = EventDestroy
	}
	t.OnExpEvent(ExpEvent{Type: typ, Time: now, Exp: x.Snapshot(now)})
}

// AppendProc appends the expectation's /proc/net/nf_conntrack_expect
// line (exp_seq_show).
func (s *ExpSnapshot) AppendProc(b []byte) []byte {
	b = strconv.AppendInt(b, s.Timeout, 10)
	b = append(b, " l3proto = "...)
	l3 := 2
	if s.Tuple.V6 {
		l3 = 10
	}
	b = appendUint(b, uint64(l3))
	b = append(b, " proto="...)
	b = appendUint(b, uint64(s.Tuple.Proto))
	b = append(b, ' ')
	b = appendTuple(b, &s.Tuple, true)
	delim := ""
	if s.Flags&ExpectPermanent != 0 {
		b = append(b, "PERMANENT"...)
		delim = ","
	}
	if s.Flags&ExpectInactive != 0 {
		b = append(b, delim...)
		b = append(b, "INACTIVE"...)
		delim = ","
	}
	if s.Flags&ExpectUserspace != 0 {
		b = append(b, delim...)
		b = append(b, "USERSPACE"...)
	}
	if s.Helper != "" {
		if s.Flags != 0 {
			b = append(b, ' ')
		}
		b = append(b, s.Helper...)
	}
	return append(b, '\n')
}

// appendTool is libnetfilter_conntrack's default expectation output:
// the expected tuple, the mask (the destination always all ones), the
// master's original tuple, zone, flags, class and helper.
func (s *ExpSnapshot) appendTool(b []byte) []byte {
	b = strconv.AppendInt(b, s.Timeout, 10)
	b = append(b, " proto="...)
	b = appendUint(b, uint64(s.Tuple.Proto))
	b = append(b, ' ')
	b = appendTuple(b, &s.Tuple, false)
	var m Tuple
	m.V6, m.Proto = s.Tuple.V6, s.Tuple.Proto
	n := 4
	if m.V6 {
		n = 16
	}
	for i := 0; i < n; i++ {
		m.Dst[i] = 0xff
		if !s.AnySrc {
			m.Src[i] = 0xff
		}
	}
	m.DstPort = 0xffff
	if !s.AnySrcPort {
		m.SrcPort = 0xffff
	}
	b = appendTuplePrefix(b, &m, false, "mask-")
	b = appendTuplePrefix(b, &s.Master, false, "master-")
	if s.Zone != 0 {
		b = append(b, "zone="...)
		b = appendUint(b, uint64(s.Zone))
		b = append(b, ' ')
	}
	if s.Flags != 0 {
		sep := ""
		for _, f := range [...]struct {
			bit  uint8
			name string
		}{{ExpectPermanent, "PERMANENT"}, {ExpectInactive, "INACTIVE"}, {ExpectUserspace, "USERSPACE"}} {
			if s.Flags&f.bit != 0 {
				b = append(b, sep...)
				b = append(b, f.name...)
				sep = ","
			}
		}
		b = append(b, ' ')
	}
	b = append(b, "class="...)
	b = appendUint(b, uint64(s.Class))
	b = append(b, ' ')
	if s.Helper != "" {
		b = append(b, "helper="...)
		b = append(b, s.Helper...)
		b = append(b, ' ')
	}
	return b[:len(b)-1]
}

// AppendList appends the expectation's conntrack -L expect line.
func (s *ExpSnapshot) AppendList(b []byte) []byte { return s.appendTool(b) }

// FormatExpEvent is the event's conntrack -E expect line.
func FormatExpEvent(ev ExpEvent) string {
	b := make([]byte, 0, 256)
	if ev.Type == EventDestroy {
		b = append(b, "[DESTROY] "...)
	} else {
		b = append(b, "    [NEW] "...)
	}
	return string(ev.Exp.appendTool(b))
}

// WriteExpectProc writes /proc/net/nf_conntrack_expect at clock now.
func (t *Table) WriteExpectProc(w io.Writer, now int64) error {
	t.expectGC(now)
	var b []byte
	for _, x := range t.exps {
		s := x.Snapshot(now)
		b = s.AppendProc(b)
	}
	_, err := w.Write(b)
	return err
}

// WriteExpectList writes conntrack -L expect at clock now.
func (t *Table) WriteExpectList(w io.Writer, now int64) error {
	t.expectGC(now)
	var b []byte
	for _, x := range t.exps {
		s := x.Snapshot(now)
		b = s.AppendList(b)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}
