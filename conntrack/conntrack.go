// Package conntrack is connection tracking: the table of connections keyed
// by their original and reply tuples, and the classification of each
// packet as NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED.
package conntrack

import (
	"net/netip"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Tuple identifies one direction of a connection.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // ICMP echo: the identifier in both
	Proto            uint8
	ICMPType         uint8 // ICMP/ICMPv6 echo type of this direction, 0 otherwise
}

// Reverse returns the tuple of the other direction (without NAT).
func (t Tuple) Reverse() Tuple {
	r := Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
	switch {
	case t.Proto == packet.ProtoICMP && t.ICMPType == 8:
		r.ICMPType = 0
	case t.Proto == packet.ProtoICMPv6 && t.ICMPType == 128:
		r.ICMPType = 129
	}
	return r
}

// Conn is one tracked connection.
type Conn struct {
	Orig, Reply Tuple
	Confirmed   bool
	SeenReply   bool
	mark        uint32
}

// Dir is a packet's direction within its connection.
type Dir uint8

const (
	Original Dir = iota
	ReplyDir
)

// Table is the conntrack table of one network namespace.
type Table struct {
	m map[Tuple]*Conn
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: map[Tuple]*Conn{}} }

// Len returns the number of confirmed connections.
func (t *Table) Len() int { return len(t.m) / 2 }

// tupleOf extracts the tuple of a packet; ok is false for packets the
// trackers do not follow (they are tracked by the generic tracker by
// addresses and protocol only).
func tupleOf(p *packet.Packet) Tuple {
	tu := Tuple{Src: p.Src(), Dst: p.Dst(), Proto: p.Proto}
	if sp, dp, ok := p.Ports(); ok {
		tu.SrcPort, tu.DstPort = sp, dp
	} else if (p.Proto == packet.ProtoICMP || p.Proto == packet.ProtoICMPv6) && len(p.L4()) >= 8 {
		ic := packet.ICMP(p.L4())
		switch ic.Type() {
		case 8, 0, 128, 129, 13, 14, 15, 16, 17, 18:
			tu.ICMPType = ic.Type()
			tu.SrcPort, tu.DstPort = ic.ID(), ic.ID()
		}
	}
	return tu
}

// packetState is what In leaves in ext.Env.Conn for the rest of the path.
type packetState struct {
	conn *Conn
	dir  Dir
	new  bool // created by this packet, not yet confirmed
}

// Tracker implements the pipeline's connection tracking over a Table.
type Tracker struct {
	T     *Table
	state packetState
}

// In classifies the packet.
func (tr *Tracker) In(env *ext.Env, hook nf.Hook) bool {
	p := env.Pkt
	if env.CtState == ext.CtStateUntracked {
		return true
	}
	if p.Fragment && p.FragOff != 0 {
		// Non-first fragments are reassembled by the kernel before
		// conntrack; offline they cannot be classified.
		env.CtState = ext.CtStateInvalid
		return true
	}
	tu := tupleOf(p)
	tr.state = packetState{}
	if c, ok := tr.T.m[tu]; ok {
		tr.state.conn = c
		if c.Orig == tu {
			tr.state.dir = Original
			if c.SeenReply {
				env.CtState = ext.CtStateEstablished
			} else {
				env.CtState = ext.CtStateNew
			}
		} else {
			tr.state.dir = ReplyDir
			c.SeenReply = true
			env.CtState = ext.CtStateEstablished
		}
	} else {
		c := &Conn{Orig: tu, Reply: tu.Reverse()}
		tr.state = packetState{conn: c, dir: Original, new: true}
		env.CtState = ext.CtStateNew
	}
	env.Conn = tr.state.conn
	return true
}

// Confirm inserts a new connection into the table.
func (tr *Tracker) Confirm(env *ext.Env) {
	if !tr.state.new || tr.state.conn == nil || env.Conn != ext.Conn(tr.state.conn) {
		return
	}
	c := tr.state.conn
	c.Confirmed = true
	tr.T.m[c.Orig] = c
	tr.T.m[c.Reply] = c
	tr.state.new = false
}

// IsNew reports whether the packet created its connection.
func (tr *Tracker) IsNew(env *ext.Env) bool {
	return tr.state.new && env.Conn == ext.Conn(tr.state.conn)
}

func (t Tuple) ext() ext.CtTuple {
	return ext.CtTuple{Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort, Proto: t.Proto}
}

// The ext.Conn view of a connection.

func (c *Conn) Tuple(reply bool) ext.CtTuple {
	if reply {
		return c.Reply.ext()
	}
	return c.Orig.ext()
}

func (c *Conn) Status() uint32 {
	var s uint32
	if c.SeenReply {
		s |= ext.CTStatusSeenReply
	}
	if c.Confirmed {
		s |= ext.CTStatusConfirmed
	}
	return s
}

func (c *Conn) Mark() uint32                   { return c.mark }
func (c *Conn) SetMark(m uint32)               { c.mark = m }
func (c *Conn) Labels() [2]uint64              { return [2]uint64{} }
func (c *Conn) SetLabels([2]uint64)            {}
func (c *Conn) Zone() uint16                   { return 0 }
func (c *Conn) Helper() string                 { return "" }
func (c *Conn) Expires(int64) uint32           { return 0 }
func (c *Conn) Counters(bool) (uint64, uint64) { return 0, 0 }
func (c *Conn) TCPState() (uint8, bool)        { return 0, false }
