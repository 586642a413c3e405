package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// connlimit: -m connlimit (libxt_connlimit revision 1, xt_connlimit.c).

const (
	ConnlimitInvert = 1 << 0 // set for --connlimit-upto: match when count <= Limit
	ConnlimitDaddr  = 1 << 1 // group by destination address
)

type connlimitMatch struct {
	Family  nf.Family
	Mask    netip.Addr
	MaskLen int
	Limit   uint32
	Flags   uint32
	which   string
	addrOpt string

	data *connlimitData // the rule's connection lists (nf_conncount_data)
}

func init() {
	Register(&Def{
		Name: "connlimit", Kind: MatchKind,
		Options: []Option{
			{Name: "connlimit-upto", Arg: NeedArg, Invert: true},
			{Name: "connlimit-above", Arg: NeedArg, Invert: true},
			{Name: "connlimit-mask", Arg: NeedArg},
			{Name: "connlimit-saddr", Arg: NoArg},
			{Name: "connlimit-daddr", Arg: NoArg},
		},
		New: func() Ext { return &connlimitMatch{MaskLen: -1} },
	})
}

func (m *connlimitMatch) Parse(u *Use) error {
	m.Family = u.Rule.Family
	switch n := u.Opt.Name; n {
	case "connlimit-upto", "connlimit-above":
		if m.which != "" {
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", n, m.which)
		}
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--%s\", or out of range (0-4294967295)", n)
		}
		m.which, m.Limit = n, uint32(v)
		if (n == "connlimit-upto") != u.Invert {
			m.Flags |= ConnlimitInvert
		}
	case "connlimit-mask":
		l, ok := m2ParsePlen(m.Family, u.Arg)
		if !ok {
			return Errorf("bad value for option \"--connlimit-mask\", neither a valid network mask nor valid CIDR (0-%d)", m2Bits(m.Family))
		}
		if l > m2Bits(m.Family) {
			l = m2Bits(m.Family)
		}
		m.MaskLen = l
	case "connlimit-saddr", "connlimit-daddr":
		if m.addrOpt != "" && m.addrOpt != n {
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", n, m.addrOpt)
		}
		m.addrOpt = n
		if n == "connlimit-daddr" {
			m.Flags |= ConnlimitDaddr
		} else {
			m.Flags &^= ConnlimitDaddr
		}
	}
	return nil
}

func (m *connlimitMatch) Final(r *RuleInfo) error {
	m.Family = r.Family
	if m.MaskLen < 0 {
		m.MaskLen = m2Bits(m.Family)
	}
	m.Mask = m2PrefixMask(m.Family, m.MaskLen)
	m.data = newConnlimitData()
	if m.which == "" {
		return Errorf("You must specify \"--connlimit-above\" or \"--connlimit-upto\".")
	}
	return nil
}

func (m *connlimitMatch) Save(b *Buf) {
	if m.Flags&ConnlimitInvert != 0 {
		b.S(" --connlimit-upto ")
	} else {
		b.S(" --connlimit-above ")
	}
	b.U(uint64(m.Limit)).S(" --connlimit-mask ").U(uint64(m.MaskLen))
	if m.Flags&ConnlimitDaddr != 0 {
		b.S(" --connlimit-daddr")
	} else {
		b.S(" --connlimit-saddr")
	}
}

func (m *connlimitMatch) Print(b *Buf, _ bool) {
	b.S(" #conn ")
	if m.Flags&ConnlimitDaddr != 0 {
		b.S("dst/")
	} else {
		b.S("src/")
	}
	b.U(uint64(m.MaskLen))
	if m.Flags&ConnlimitInvert != 0 {
		b.S(" <= ")
	} else {
		b.S(" > ")
	}
	b.U(uint64(m.Limit))
}
