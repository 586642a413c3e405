package ext

// cpu: -m cpu (libxt_cpu, xt_cpu.c).

type cpuMatch struct {
	CPU    uint32
	Invert bool
	set    bool
}

func init() {
	Register(&Def{
		Name: "cpu", Kind: MatchKind,
		Options: []Option{{Name: "cpu", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &cpuMatch{} },
	})
}

func (m *cpuMatch) Parse(u *Use) error {
	v, ok := ParseUint(u.Arg, 0, 0xffffffff)
	if !ok {
		return Errorf("bad value for option \"--cpu\", or out of range (0-4294967295)")
	}
	m.CPU, m.Invert, m.set = uint32(v), u.Invert, true
	return nil
}

func (m *cpuMatch) Final(*RuleInfo) error {
	if !m.set {
		return Errorf("option \"--cpu\" must be specified")
	}
	return nil
}

func (m *cpuMatch) Save(b *Buf) { b.Opt(m.Invert, "cpu", Itoa(m.CPU)) }

func (m *cpuMatch) Print(b *Buf, _ bool) {
	b.S(" cpu ")
	if m.Invert {
		b.S("! ")
	}
	b.U(uint64(m.CPU))
}
