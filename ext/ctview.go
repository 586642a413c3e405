package ext

import "net/netip"

// What conntrack-aware extensions see of connection tracking. The
// conntrack package implements these interfaces; ext cannot import it
// (conntrack evaluates rules' extensions), so the contract lives here.

// CtTuple is one direction of a connection as the conntrack match, the
// views and NAT see it. For ICMP and ICMPv6 SrcPort is the echo
// identifier and DstPort holds type<<8|code, as the kernel's tuple does.
type CtTuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Conntrack status bits beyond the first four (IPS_*; CTStatusExpected,
// CTStatusSeenReply, CTStatusAssured and CTStatusConfirmed are in
// conntrack.go).
const (
	CTStatusSrcNAT       = 1 << 4
	CTStatusDstNAT       = 1 << 5
	CTStatusSeqAdjust    = 1 << 6
	CTStatusSrcNATDone   = 1 << 7
	CTStatusDstNATDone   = 1 << 8
	CTStatusDying        = 1 << 9
	CTStatusFixedTimeout = 1 << 10
	CTStatusTemplate     = 1 << 11
	CTStatusUntracked    = 1 << 12
	CTStatusHelper       = 1 << 13
	CTStatusOffload      = 1 << 14
)

// Conn is a tracked connection (Env.Conn holds one when conntrack found or
// created the packet's connection; nil for untracked and invalid packets).
// Setters record the change so that conntrack reports it as an event.
type Conn interface {
	// Tuple returns the original (reply false) or reply direction.
	Tuple(reply bool) CtTuple
	// Status returns the IPS_* bits.
	Status() uint32
	Mark() uint32
	SetMark(mark uint32)
	// Labels returns the 128 connection label bits (bit n of the label
	// set is bit n%64 of word n/64).
	Labels() [2]uint64
	SetLabels(labels [2]uint64)
	Zone() uint16
	// Helper is the name of the conntrack helper attached, "" for none.
	Helper() string
	// Expires returns the seconds left before the entry times out, as
	// --ctexpire and the views show them, at clock now (ns).
	Expires(now int64) uint32
	// Counters returns one direction's packets and bytes (zero unless
	// net.netfilter.nf_conntrack_acct is on).
	Counters(reply bool) (packets, bytes uint64)
	// TCPState returns the TCP tracker's state (TCP_CONNTRACK_*: 0 NONE,
	// 1 SYN_SENT, 2 SYN_RECV, 3 ESTABLISHED, 4 FIN_WAIT, 5 CLOSE_WAIT,
	// 6 LAST_ACK, 7 TIME_WAIT, 8 CLOSE, 9 SYN_SENT2), ok false for other
	// protocols.
	TCPState() (state uint8, ok bool)
}

// CtTemplate is what the raw table's CT and NOTRACK targets ask of
// conntrack for the packet (the kernel's template conntrack): set in
// Env.CtTemplate before conntrack runs at PREROUTING or OUTPUT.
type CtTemplate struct {
	NoTrack bool   // NOTRACK, CT --notrack: the packet is UNTRACKED
	Helper  string // CT --helper: attach this helper to a new connection
	Zone    uint16 // CT --zone
	// ZoneFromMark takes the zone from the packet's mark (CT --zone mark:
	// skb->mark & 0xffff when conntrack looks the packet up,
	// NF_CT_FLAG_MARK) instead of Zone.
	ZoneFromMark bool
	// ZoneDir restricts the zone to one direction (CT --zone-orig: 1,
	// --zone-reply: 2; 0 both).
	ZoneDir uint8
	// Timeout names a timeout policy (CT --timeout); "" for none.
	Timeout string
	// Events restricts the events reported for the connection
	// (CT --ctevents, IPCT_* bit mask); 0 for all.
	Events uint32
	// ExpEvents restricts expectation events (CT --expevents).
	ExpEvents uint32
}

// CtTable answers lookups in the conntrack table, for matches such as
// connlimit that keep their own lists of connections and need to know
// whether each is still alive.
type CtTable interface {
	// Lookup finds the connection a tuple belongs to (either direction)
	// in a zone.
	Lookup(t CtTuple, zone uint16) (Conn, bool)
}

// ConnMaster is implemented by a Conn that can be an expected connection
// (the kernel's ct->master): Master returns the connection whose helper
// expected this one, or a nil interface when none did. The helper and
// cluster matches read it; a Conn without the method has no master.
type ConnMaster interface {
	Master() Conn
}

// connMaster returns ct's master connection, nil when it has none.
func connMaster(ct Conn) Conn {
	if cm, ok := ct.(ConnMaster); ok {
		return cm.Master()
	}
	return nil
}
