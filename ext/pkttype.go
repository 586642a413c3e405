package ext

import "strings"

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
