// Package logd is nfgo's logging daemon core, ulogd's job: records of
// logged packets (NFLOG/ULOG, from nfgo's engine or the kernel's
// nfnetlink_log) and of connections (conntrack events and finished
// flows) flow from sources to sinks (text files, ulogd's LOGEMU format,
// JSON lines, pcap, SQLite, PostgreSQL) through bounded queues that count
// what they cannot keep.
package logd

import (
	"context"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/nf"
)

// Packet is one logged packet.
type Packet struct {
	Time   time.Time // when it was logged (NFULA_TIMESTAMP, or the packet's timestamp offline)
	Source string    // "kernel" (nfnetlink_log) or "nfgo" (the engine)
	Group  uint16    // NFLOG group (ULOG: netlink group)
	Prefix string    // --nflog-prefix / --ulog-prefix

	Family  nf.Family
	Hook    nf.Hook // hook the rule ran at
	HasHook bool

	InDev, OutDev     string // interface names ("" when none)
	InIndex, OutIndex int    // interface indexes (0 when unknown)
	PhysIn, PhysOut   string // bridge ports

	Mark     uint32
	UID, GID uint32
	HasUID   bool // the packet belongs to a local socket with this owner
	HasGID   bool

	// MAC is the link-layer header as the kernel logged it
	// (NFULA_HWHEADER: destination, source, EtherType for Ethernet), nil
	// when the packet had none (locally generated).
	MAC []byte
	// Data starts at the network header: as much of the packet as the
	// rule's copy range allowed.
	Data []byte
	// OrigLen is the packet's full length (NFULA_PAYLOAD may be cut).
	OrigLen int

	// Link-layer details nfnetlink_log reports (zero when absent).
	HWProtocol uint16 // EtherType of the frame (NFULA_PACKET_HDR hw_protocol)
	HWType     uint16 // ARPHRD_* type of the input device (NFULA_HWTYPE)
	HWAddr     []byte // link-layer source address (NFULA_HWADDR)
	// Sequence numbers of the NFLOG instance and across instances
	// (NFULA_SEQ, NFULA_SEQ_GLOBAL), when the reader asked for them.
	Seq, SeqGlobal       uint32
	HasSeq, HasSeqGlobal bool
}

// FlowEvent is a conntrack event (conntrack -E) or, for Type "DESTROY"
// with accounting, a finished flow's record.
type FlowEvent struct {
	Time   time.Time
	Source string // "kernel" (ctnetlink) or "nfgo"
	Type   string // "NEW", "UPDATE" or "DESTROY"

	Family nf.Family
	Proto  uint8
	// Original and reply tuples; for ICMP the ports hold the id (source)
	// and type<<8|code (destination), as ext.CtTuple does.
	OrigSrc, OrigDst     netip.Addr
	OrigSport, OrigDport uint16
	ReplSrc, ReplDst     netip.Addr
	ReplSport, ReplDport uint16

	State   string // TCP state name ("ESTABLISHED"), "" for other protocols
	Status  uint32 // IPS_* bits
	Mark    uint32
	Zone    uint16
	Timeout uint32 // seconds left, as the event shows
	ID      uint32 // ctnetlink's conntrack id (0 when unknown)

	// Accounting (zero unless nf_conntrack_acct is on): [0] original,
	// [1] reply direction.
	Packets, Bytes [2]uint64
	// Start and Stop of the flow (nf_conntrack_timestamp); zero when not
	// known.
	Start, Stop time.Time
}

// Sink receives records. Write calls come from one goroutine; a Sink need
// not be safe for concurrent use.
type Sink interface {
	Name() string
	WritePacket(p *Packet) error
	WriteFlow(f *FlowEvent) error
	// Flush makes everything written so far durable (files synced,
	// transactions committed).
	Flush() error
	// Reopen reopens files after log rotation (SIGHUP); stores may do
	// nothing.
	Reopen() error
	Close() error
}

// Record is one item on its way from a source to the sinks: exactly one
// of Packet and Flow is set.
type Record struct {
	Packet *Packet
	Flow   *FlowEvent
}

// Source produces records until its context is cancelled or it fails.
type Source interface {
	Name() string
	// Run sends records to out. It returns nil when ctx is done.
	Run(ctx context.Context, out chan<- Record) error
	// Stats reports what the source received and what it lost before
	// nfgo saw it (netlink ENOBUFS overruns, counted by the kernel's
	// drop counters where available).
	Stats() SourceStats
}

// SourceStats are a source's counters.
type SourceStats struct {
	Received uint64 // records delivered
	Overruns uint64 // ENOBUFS errors: the kernel dropped messages for us
	Errors   uint64 // malformed messages skipped
	// Lost is how many records the kernel dropped, counted exactly from
	// sequence numbers (NFLOG with sequence numbering: the gaps, and the
	// numbers missing before the first record) when LostKnown; an
	// overrun alone does not say how many messages it lost.
	Lost      uint64
	LostKnown bool
}
