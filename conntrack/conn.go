package conntrack

import "github.com/nfgo/nfgo/ext"

// The ext.Conn view of an entry. Setters cache the event the kernel
// reports for the change.

// Tuple returns a direction's tuple.
func (e *Entry) Tuple(reply bool) ext.CtTuple {
	if reply {
		return e.tuple[1].Ext()
	}
	return e.tuple[0].Ext()
}

// Status returns the IPS_* bits.
func (e *Entry) Status() uint32 { return e.status }

// Mark returns the connection mark.
func (e *Entry) Mark() uint32 { return e.mark }

// SetMark sets the connection mark (IPCT_MARK when it changes).
func (e *Entry) SetMark(m uint32) {
	if m != e.mark {
		e.mark = m
		e.cache |= uint16(EvMark)
	}
}

// Labels returns the connection labels.
func (e *Entry) Labels() [2]uint64 {
	if e.labels == 0 || e.t == nil {
		return [2]uint64{}
	}
	return e.t.labels[e.labels-1]
}

// SetLabels sets the connection labels (IPCT_LABEL when they change).
// Label sets are interned: connections share a few distinct sets.
func (e *Entry) SetLabels(l [2]uint64) {
	if l == e.Labels() || e.t == nil {
		return
	}
	e.cache |= uint16(EvLabel)
	if l == ([2]uint64{}) {
		e.labels = 0
		return
	}
	for i, x := range e.t.labels {
		if x == l {
			e.labels = uint8(i + 1)
			return
		}
	}
	if len(e.t.labels) < 255 {
		e.t.labels = append(e.t.labels, l)
		e.labels = uint8(len(e.t.labels))
	}
}

// Zone returns the connection's zone.
func (e *Entry) Zone() uint16 { return e.zone }

// Helper returns the helper's name, "" for none.
func (e *Entry) Helper() string {
	if e.helper == 0 || e.t == nil {
		return ""
	}
	return e.t.helpers[e.helper]
}

// Expires returns the seconds left at clock now (nf_ct_expires / HZ).
func (e *Entry) Expires(now int64) uint32 {
	d := e.deadline - now
	if d <= 0 {
		return 0
	}
	return uint32(d / second)
}

// Counters returns a direction's packets and bytes.
func (e *Entry) Counters(reply bool) (uint64, uint64) {
	if e.t == nil {
		return 0, 0
	}
	a := e.acct()
	if a == nil {
		return 0, 0
	}
	if reply {
		return a[2], a[3]
	}
	return a[0], a[1]
}

// TCPState returns the TCP tracker's state.
func (e *Entry) TCPState() (uint8, bool) {
	if e.tcp == nil {
		return 0, false
	}
	return e.tcp.State, true
}

// OrigTuple and ReplyTuple return the tuples in conntrack's own form.
func (e *Entry) OrigTuple() Tuple  { return e.tuple[0] }
func (e *Entry) ReplyTuple() Tuple { return e.tuple[1] }

// Master returns the connection whose helper expected this one
// (ct->master), a nil interface when none did (ext.ConnMaster).
func (e *Entry) Master() ext.Conn {
	if e.master == 0 || e.t == nil {
		return nil
	}
	return e.t.entry(e.master - 1)
}

// MasterEntry is Master as an *Entry, nil for none.
func (e *Entry) MasterEntry() *Entry {
	if e.master == 0 || e.t == nil {
		return nil
	}
	return e.t.entry(e.master - 1)
}
