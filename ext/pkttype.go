package ext

import (
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"strings"
)

// pkttype: -m pkttype --pkt-type TYPE (libxt_pkttype, xt_pkttype.c).
type pkttypeMatch struct {
	PktType uint8 // PACKET_HOST 0, PACKET_BROADCAST 1, PACKET_MULTICAST 2, PACKET_OTHERHOST 3
	Inv     bool
	Set     bool
}

var m1PktTypes = []struct {
	Name string
	Type uint8
}{
	{"unicast", 0}, {"broadcast", 1}, {"multicast", 2}, {"otherhost", 3},
	{"bcast", 1}, {"mcast", 2}, {"host", 0},
}

func init() {
	Register(&Def{
		Name: "pkttype", Kind: MatchKind,
		Options: []Option{{Name: "pkt-type", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &pkttypeMatch{} },
	})
}

func (m *pkttypeMatch) Parse(u *Use) error {
	for _, t := range m1PktTypes {
		if strings.EqualFold(t.Name, u.Arg) {
			m.PktType, m.Inv, m.Set = t.Type, u.Invert, true
			return nil
		}
	}
	return Errorf("bad packet type '%s': expected unicast, broadcast, multicast or otherhost", u.Arg)
}

func (m *pkttypeMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--pkt-type\" must be specified")
	}
	return nil
}

func (m *pkttypeMatch) name() string {
	for _, t := range m1PktTypes {
		if t.Type == m.PktType {
			return t.Name
		}
	}
	return Itoa(m.PktType)
}

func (m *pkttypeMatch) Save(b *Buf) { b.Opt(m.Inv, "pkt-type", m.name()) }

func (m *pkttypeMatch) Print(b *Buf, _ bool) {
	b.S(" PKTTYPE ")
	if m.Inv {
		b.S("!")
	}
	b.S("= ").S(m.name())
}

// packetLoopback is PACKET_LOOPBACK, skb->pkt_type of looped-back packets.
const packetLoopback = 5

// Match is xt_pkttype.c: a looped-back packet counts as multicast when
// its IPv4 destination is multicast or it is IPv6, else as broadcast.
func (m *pkttypeMatch) Match(e *Env) bool {
	p := e.Pkt
	t := p.PktType
	if t == packetLoopback {
		switch {
		case p.Family == nf.IPv4 && len(p.Data) >= 20 && p.Data[16]&0xf0 == 0xe0:
			t = packet.PacketMulticast
		case p.Family == nf.IPv6:
			t = packet.PacketMulticast
		default:
			t = packet.PacketBroadcast
		}
	}
	return (t == m.PktType) != m.Inv
}
