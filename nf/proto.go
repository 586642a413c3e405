package nf

import (
	"strconv"
	"strings"
)

// protoEntry is one line of the protocol database iptables consults through
// getprotobyname/getprotobynumber (Debian's netbase /etc/protocols).
type protoEntry struct {
	num     uint8
	name    string
	aliases []string
}

var protoDB = []protoEntry{
	{0, "ip", []string{"IP"}}, {0, "hopopt", []string{"HOPOPT"}}, {1, "icmp", []string{"ICMP"}},
	{2, "igmp", []string{"IGMP"}}, {3, "ggp", []string{"GGP"}}, {4, "ipencap", []string{"IP-ENCAP"}},
	{5, "st", []string{"ST"}}, {6, "tcp", []string{"TCP"}}, {8, "egp", []string{"EGP"}},
	{9, "igp", []string{"IGP"}}, {12, "pup", []string{"PUP"}}, {17, "udp", []string{"UDP"}},
	{20, "hmp", []string{"HMP"}}, {22, "xns-idp", []string{"XNS-IDP"}}, {27, "rdp", []string{"RDP"}},
	{29, "iso-tp4", []string{"ISO-TP4"}}, {33, "dccp", []string{"DCCP"}}, {36, "xtp", []string{"XTP"}},
	{37, "ddp", []string{"DDP"}}, {38, "idpr-cmtp", []string{"IDPR-CMTP"}}, {41, "ipv6", []string{"IPv6"}},
	{43, "ipv6-route", []string{"IPv6-Route"}}, {44, "ipv6-frag", []string{"IPv6-Frag"}},
	{45, "idrp", []string{"IDRP"}}, {46, "rsvp", []string{"RSVP"}}, {47, "gre", []string{"GRE"}},
	{50, "esp", []string{"IPSEC-ESP"}}, {51, "ah", []string{"IPSEC-AH"}}, {57, "skip", []string{"SKIP"}},
	{58, "ipv6-icmp", []string{"IPv6-ICMP"}}, {59, "ipv6-nonxt", []string{"IPv6-NoNxt"}},
	{60, "ipv6-opts", []string{"IPv6-Opts"}}, {73, "rspf", []string{"RSPF", "CPHB"}},
	{81, "vmtp", []string{"VMTP"}}, {88, "eigrp", []string{"EIGRP"}}, {89, "ospf", []string{"OSPFIGP"}},
	{93, "ax.25", []string{"AX.25"}}, {94, "ipip", []string{"IPIP"}}, {97, "etherip", []string{"ETHERIP"}},
	{98, "encap", []string{"ENCAP"}}, {103, "pim", []string{"PIM"}}, {108, "ipcomp", []string{"IPCOMP"}},
	{112, "vrrp", []string{"VRRP"}}, {115, "l2tp", []string{"L2TP"}}, {124, "isis", []string{"ISIS"}},
	{132, "sctp", []string{"SCTP"}}, {133, "fc", []string{"FC"}},
	{135, "mobility-header", []string{"Mobility-Header"}}, {136, "udplite", []string{"UDPLite"}},
	{137, "mpls-in-ip", []string{"MPLS-in-IP"}}, {138, "manet", nil}, {139, "hip", []string{"HIP"}},
	{140, "shim6", []string{"Shim6"}}, {141, "wesp", []string{"WESP"}}, {142, "rohc", []string{"ROHC"}},
	{143, "ethernet", []string{"Ethernet"}},
}

// iptables' own short list, consulted after the database (xtables_chain_protos).
var chainProtos = []struct {
	name string
	num  uint8
}{
	{"tcp", 6}, {"sctp", 132}, {"udp", 17}, {"udplite", 136}, {"icmp", 1},
	{"icmpv6", 58}, {"ipv6-icmp", 58}, {"esp", 50}, {"ah", 51}, {"ipv6-mh", 135}, {"mh", 135},
}

// ParseProto resolves a -p argument the way iptables does: a number, "all",
// a name from the protocol database, or iptables' built-in names.
// Names are compared case-insensitively like iptables does (it lowercases).
func ParseProto(s string) (uint8, bool) {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(n), true
	}
	ls := strings.ToLower(s)
	if ls == "all" {
		return 0, true
	}
	for _, e := range protoDB {
		if e.name == ls {
			return e.num, true
		}
		for _, a := range e.aliases {
			if a == ls || strings.ToLower(a) == ls {
				return e.num, true
			}
		}
	}
	for _, c := range chainProtos {
		if c.name == ls {
			return c.num, true
		}
	}
	return 0, false
}

// ProtoName returns the database name iptables-save prints for a protocol
// number, or "" when the number has none.
func ProtoName(n uint8) string {
	for _, e := range protoDB {
		if e.num == n {
			return e.name
		}
	}
	return ""
}

// ProtoString is ProtoName, falling back to the decimal number.
func ProtoString(n uint8) string {
	if s := ProtoName(n); s != "" {
		return s
	}
	return strconv.Itoa(int(n))
}
