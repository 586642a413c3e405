package ext

import "github.com/nfgo/nfgo/nf"

// devgroup: -m devgroup (libxt_devgroup, xt_devgroup.c): the device group
// of the input and output interfaces. Group names come from
// /etc/iproute2/group.
type devgroupMatch struct {
	Src, SrcMask   uint32
	Dst, DstMask   uint32
	HasSrc, HasDst bool
	InvSrc, InvDst bool
}

const devgroupFile = "/etc/iproute2/group"

func init() {
	Register(&Def{
		Name: "devgroup", Kind: MatchKind,
		Options: []Option{
			{Name: "src-group", Arg: NeedArg, Invert: true},
			{Name: "dst-group", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &devgroupMatch{} },
	})
}

func (m *devgroupMatch) Parse(u *Use) error {
	v, mask, err := m3ParseValMask(u.Arg, u.Opt.Name, devgroupFile)
	if err != nil {
		return err
	}
	if u.Opt.Name == "src-group" {
		m.Src, m.SrcMask, m.HasSrc, m.InvSrc = v, mask, true, u.Invert
	} else {
		m.Dst, m.DstMask, m.HasDst, m.InvDst = v, mask, true, u.Invert
	}
	return nil
}

func (m *devgroupMatch) Final(*RuleInfo) error {
	if !m.HasSrc && !m.HasDst {
		return Errorf("devgroup match: You must specify either '--src-group' or '--dst-group'")
	}
	return nil
}

// Check applies xt_devgroup's checkentry: the input device is known only
// in PREROUTING, INPUT and FORWARD, the output device only in FORWARD,
// OUTPUT and POSTROUTING.
func (m *devgroupMatch) Check(c *CheckCtx) error {
	if m.HasSrc && c.Hooks&^nf.Hooks(nf.PreRouting, nf.LocalIn, nf.Forward) != 0 {
		return Errorf("--src-group is only valid in PREROUTING, INPUT and FORWARD")
	}
	if m.HasDst && c.Hooks&^nf.Hooks(nf.Forward, nf.LocalOut, nf.PostRouting) != 0 {
		return Errorf("--dst-group is only valid in FORWARD, OUTPUT and POSTROUTING")
	}
	return nil
}

func (m *devgroupMatch) out(b *Buf, pfx string, numeric bool) {
	file := devgroupFile
	if numeric {
		file = ""
	}
	if m.HasSrc {
		b.Not(m.InvSrc).S(" ").S(pfx).S("src-group")
		m3ValMask(b, m.Src, m.SrcMask, file)
	}
	if m.HasDst {
		b.Not(m.InvDst).S(" ").S(pfx).S("dst-group")
		m3ValMask(b, m.Dst, m.DstMask, file)
	}
}

func (m *devgroupMatch) Save(b *Buf) { m.out(b, "--", false) }

func (m *devgroupMatch) Print(b *Buf, numeric bool) { m.out(b, "", numeric) }
