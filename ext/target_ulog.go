package ext

import "github.com/nfgo/nfgo/nf"

// ULOG: -j ULOG (libipt_ULOG), the old IPv4 netlink logging target. Kernel
// 6.18 has no ULOG module any more; nfgo parses and prints it as iptables
// 1.8.9 does.
type ulogTarget struct {
	NLGroup    uint8  // netlink group 1-32
	Prefix     string // at most 31 bytes
	CopyRange  uint64 // bytes of each packet; 0 for all
	QThreshold uint64 // 1-50
}

func init() {
	Register(&Def{
		Name: "ULOG", Kind: TargetKind, Family: nf.IPv4,
		Options: []Option{
			{Name: "ulog-nlgroup", Arg: NeedArg},
			{Name: "ulog-prefix", Arg: NeedArg},
			{Name: "ulog-cprange", Arg: NeedArg},
			{Name: "ulog-qthreshold", Arg: NeedArg},
		},
		New: func() Ext { return &ulogTarget{NLGroup: 1, QThreshold: 1} },
	})
}

func (t *ulogTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "ulog-nlgroup":
		v, err := t1Uint(u, 1, 32)
		t.NLGroup = uint8(v)
		return err
	case "ulog-prefix":
		if u.Arg == "" {
			return Errorf("Argument must have a minimum length of 1 characters")
		}
		if err := t1NoNewline(u.Arg, "ulog-prefix"); err != nil {
			return err
		}
		t.Prefix = t1Truncate(u.Arg, 32)
	case "ulog-cprange":
		v, err := t1Uint(u, 0, ^uint64(0))
		t.CopyRange = v
		return err
	case "ulog-qthreshold":
		v, err := t1Uint(u, 1, 50)
		t.QThreshold = v
		return err
	}
	return nil
}

func (t *ulogTarget) Final(*RuleInfo) error { return nil }

func (t *ulogTarget) Save(b *Buf) {
	if t.Prefix != "" {
		b.OptQ(false, "ulog-prefix", t.Prefix)
	}
	if t.NLGroup != 1 {
		b.Opt(false, "ulog-nlgroup", Itoa(t.NLGroup))
	}
	if t.CopyRange != 0 {
		b.Opt(false, "ulog-cprange", Itoa(uint32(t.CopyRange)))
	}
	if t.QThreshold != 1 {
		b.Opt(false, "ulog-qthreshold", Itoa(uint32(t.QThreshold)))
	}
}

func (t *ulogTarget) Print(b *Buf, _ bool) {
	b.S(" ULOG copy_range ").U(uint64(uint32(t.CopyRange))).S(" nlgroup ").U(uint64(t.NLGroup))
	if t.Prefix != "" {
		b.S(" prefix \"").S(t.Prefix).S("\"")
	}
	b.S(" queue_threshold ").U(uint64(uint32(t.QThreshold)))
}

// Target hands the packet to the sink for the rule's netlink group and
// lets it go on, as ULOG did; copy range and queue threshold are the
// listener's business.
func (t *ulogTarget) Target(e *Env) Verdict {
	if e.Sink != nil {
		e.Sink.NFLog(uint16(t.NLGroup), t.Prefix, e.Pkt)
	}
	return VerdictContinue
}
