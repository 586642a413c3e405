package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Verdict is what a target returns, as the kernel's NF_* verdicts and
// xtables' XT_CONTINUE and XT_RETURN.
type Verdict uint8

const (
	VerdictContinue Verdict = iota // go on with the next rule (MARK, LOG, ...)
	VerdictAccept
	VerdictDrop
	VerdictStolen // the packet was consumed (TEE clones, SYNPROXY)
	VerdictQueue  // NFQUEUE; QueueNum and Bypass in Env say where
	VerdictReturn // back to the calling chain
)

func (v Verdict) String() string {
	switch v {
	case VerdictContinue:
		return "CONTINUE"
	case VerdictAccept:
		return "ACCEPT"
	case VerdictDrop:
		return "DROP"
	case VerdictStolen:
		return "STOLEN"
	case VerdictQueue:
		return "QUEUE"
	case VerdictReturn:
		return "RETURN"
	}
	return "?"
}

// Matcher is implemented by matches that can be evaluated.
type Matcher interface {
	// Match reports whether the packet matches. It may set Env.HotDrop to
	// drop the packet at once (a malformed header), as xt_action_param's
	// hotdrop.
	Match(e *Env) bool
}

// Targeter is implemented by targets that can be evaluated.
type Targeter interface {
	Target(e *Env) Verdict
}

// Partial is implemented by extensions that can evaluate only some of
// their options; a rule using the others is reported and never matches.
type Partial interface {
	CanEval() (ok bool, what string)
}

// Host answers what evaluation needs to know about the host: address types
// (addrtype), interfaces, and route lookups (rpfilter).
type Host interface {
	// AddrType returns the RTN_* type of addr as seen from the interface
	// dev ("" for any): 1 unicast, 2 local, 3 broadcast, 5 multicast,
	// 6 blackhole, 7 unreachable, 8 prohibit, 0 unspec.
	AddrType(addr netip.Addr, dev string) uint8
	// IfaceAddr returns the first address of the family on dev (for REJECT
	// and the like when the packet has none to answer from).
	IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool)
	// RouteOut returns the output interface a packet to dst would take,
	// given its source, mark and input interface, false when unreachable.
	RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, inDev string) (string, bool)
}

// Sink receives what evaluation produces besides verdicts.
type Sink interface {
	// Log receives one kernel log line (LOG, TRACE) with its syslog level
	// (0-7), text without the trailing newline.
	Log(level uint8, line string)
	// Send takes a packet the target generated (REJECT's reply, TEE's
	// clone) to be sent through the local output path. The packet is the
	// sink's to keep.
	Send(p *packet.Packet)
	// NFLog receives a packet for an NFLOG/ULOG group.
	NFLog(group uint16, prefix string, p *packet.Packet)
}

// Env is the per-packet evaluation context, xt_action_param's counterpart.
// The pipeline fills it; matches and targets read it and may change Pkt.
type Env struct {
	Pkt     *packet.Packet
	Family  nf.Family
	Hook    nf.Hook
	Table   string
	Chain   string // chain being evaluated (for TRACE and messages)
	RuleNum int    // 1-based rule number in Chain
	Host    Host
	Sink    Sink

	HotDrop bool // set by a match to drop the packet

	// Set by NFQUEUE with VerdictQueue.
	QueueNum uint16
	Bypass   bool

	// Conn is the packet's conntrack entry (a Conn), nil when untracked,
	// invalid, or when conntrack has not seen it.
	Conn Conn
	// CtState is the packet's conntrack state bits (ext.CtState*), 0 when
	// conntrack did not classify it.
	CtState uint8
	// CtReply is set when the packet travels in its connection's reply
	// direction.
	CtReply bool
	// CtTemplate is what a CT or NOTRACK target in the raw table asked
	// for; nil when none did.
	CtTemplate *CtTemplate
	// CtTable is the conntrack table, nil without conntrack.
	CtTable CtTable
	// NAT sets up address translation for the packet's connection (the
	// NAT targets call it); nil without NAT.
	NAT NATSetup
}

// Conntrack state bits as the state and conntrack matches test them
// (XT_STATE_BIT: INVALID 1, NEW/ESTABLISHED/RELATED from ctinfo, UNTRACKED).
const (
	CtStateInvalid     uint8 = 1 << 0
	CtStateEstablished uint8 = 1 << 1
	CtStateRelated     uint8 = 1 << 2
	CtStateNew         uint8 = 1 << 3
	CtStateUntracked   uint8 = 1 << 4
)
