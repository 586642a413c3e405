// Package helper holds the conntrack helpers, the protocol parsers that
// read a control connection's payload and tell conntrack which related
// connection to expect (nf_conntrack_ftp.c, nf_conntrack_tftp.c). They know
// nothing of the table: conntrack calls them for packets of connections
// they are attached to and registers the expectations they return.
package helper

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// Expect describes the connection a helper expects (nf_ct_expect_init):
// from Src (any port when SrcPort is 0) to Dst:DstPort over Proto.
type Expect struct {
	Family  nf.Family
	Src     netip.Addr
	Dst     netip.Addr
	SrcPort uint16 // 0: any source port
	DstPort uint16
	Proto   uint8
	// For NAT: what the helper matched in the payload, so the address and
	// port text can be rewritten (FTP: type, offset and length in the
	// TCP payload).
	Type     int
	MatchOff int
	MatchLen int
}

// Verdict is a helper's decision for the packet.
type Verdict uint8

const (
	Accept Verdict = iota
	Drop           // the kernel drops the packet (partial command, no room for an expectation)
)

// Policy is a helper's expectation policy (struct nf_conntrack_expect_policy).
type Policy struct {
	MaxExpected int
	Timeout     int64 // seconds
}

// Def declares a helper: its name (as CT --helper and the helper match use
// it), the protocol and default port it is assigned to when
// net.netfilter.nf_conntrack_helper is on, and its expectation policy.
type Def struct {
	Name   string
	Proto  uint8
	Port   uint16
	Policy Policy
	// New returns the per-connection state.
	New func() State
}

// State is a helper's per-connection state (the ct's help data).
type State interface {
	// Help processes a packet of the connection: dir 0 original, 1 reply;
	// established is whether the packet is ESTABLISHED (or
	// ESTABLISHED_REPLY) as opposed to NEW or RELATED; payload is the
	// transport payload and seq the TCP sequence number (0 for UDP);
	// tuples are the connection's original and reply tuples. It returns
	// an expectation to register (nil for none), the verdict, and a
	// reason when the packet is dropped.
	Help(c *Call) (exp *Expect, v Verdict, why string)
}

// Call is one packet handed to a helper.
type Call struct {
	Dir         int
	Established bool
	Family      nf.Family
	Proto       uint8
	Payload     []byte
	Seq         uint32
	// The connection's tuples: [0] original, [1] reply.
	Src, Dst         [2]netip.Addr
	SrcPort, DstPort [2]uint16
	// Loose is the FTP helper's "loose" module parameter (default off).
	Loose bool
}

// Defs lists the helpers nfgo has, by name.
var Defs = map[string]*Def{
	"ftp":  {Name: "ftp", Proto: nf.ProtoTCP, Port: 21, Policy: Policy{MaxExpected: 1, Timeout: 5 * 60}, New: func() State { return &FTP{} }},
	"tftp": {Name: "tftp", Proto: nf.ProtoUDP, Port: 69, Policy: Policy{MaxExpected: 1, Timeout: 5 * 60}, New: func() State { return &TFTP{} }},
}

// ByPort returns the helper the kernel assigns automatically to a new
// connection to this protocol and port when nf_conntrack_helper is on.
func ByPort(proto uint8, port uint16) *Def {
	for _, d := range Defs {
		if d.Proto == proto && d.Port == port {
			return d
		}
	}
	return nil
}
