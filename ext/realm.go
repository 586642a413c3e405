package ext

import "github.com/nfgo/nfgo/nf"

// realm: -m realm (libipt_realm, xt_realm.c; IPv4 only): the routing realm
// of the packet's route. Realm names come from /etc/iproute2/rt_realms.
type realmMatch struct {
	ID, Mask uint32
	Invert   bool
	Set      bool
}

const realmFile = "/etc/iproute2/rt_realms"

func init() {
	Register(&Def{
		Name: "realm", Kind: MatchKind, Family: nf.IPv4,
		Options: []Option{{Name: "realm", Arg: NeedArg, Invert: true}},
		Hooks:   nf.Hooks(nf.PostRouting, nf.Forward, nf.LocalOut, nf.LocalIn),
		New:     func() Ext { return &realmMatch{} },
	})
}

func (m *realmMatch) Parse(u *Use) error {
	v, mask, err := m3ParseValMask(u.Arg, "realm", realmFile)
	if err != nil {
		return err
	}
	m.ID, m.Mask, m.Invert, m.Set = v, mask, u.Invert, true
	return nil
}

func (m *realmMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--realm\" must be specified")
	}
	return nil
}

func (m *realmMatch) Save(b *Buf) {
	b.Not(m.Invert).S(" --realm")
	m3ValMask(b, m.ID, m.Mask, realmFile)
}

func (m *realmMatch) Print(b *Buf, numeric bool) {
	b.Not(m.Invert).S(" realm")
	file := realmFile
	if numeric {
		file = ""
	}
	m3ValMask(b, m.ID, m.Mask, file)
}
