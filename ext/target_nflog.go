package ext

// NFLOG: -j NFLOG (libxt_NFLOG, xt_NFLOG.c). iptables-nft turns it into a
// native nftables "log" expression: group, prefix (up to 127 bytes), snaplen
// (--nflog-size) and queue threshold survive; the obsolete --nflog-range is
// accepted but not kept, so it is neither saved nor listed.
type nflogTarget struct {
	Group     uint16
	Prefix    string
	Size      uint32 // bytes to copy, when HasSize
	HasSize   bool
	Range     uint32 // --nflog-range: accepted, without effect
	Threshold uint16

	sizeOpt string // --nflog-size or --nflog-range, which exclude each other
}

func init() {
	Register(&Def{
		Name: "NFLOG", Kind: TargetKind,
		Options: []Option{
			{Name: "nflog-group", Arg: NeedArg},
			{Name: "nflog-prefix", Arg: NeedArg},
			{Name: "nflog-range", Arg: NeedArg},
			{Name: "nflog-size", Arg: NeedArg},
			{Name: "nflog-threshold", Arg: NeedArg},
		},
		New: func() Ext { return &nflogTarget{} },
	})
}

func (t *nflogTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "nflog-group", "nflog-threshold":
		v, err := t1Uint(u, 0, 0xffff)
		if err != nil {
			return err
		}
		if u.Opt.Name == "nflog-group" {
			t.Group = uint16(v)
		} else {
			t.Threshold = uint16(v)
		}
	case "nflog-prefix":
		if u.Arg == "" {
			return Errorf("Argument must have a minimum length of 1 characters")
		}
		if err := t1NoNewline(u.Arg, "nflog-prefix"); err != nil {
			return err
		}
		t.Prefix = t1Truncate(u.Arg, 128)
	case "nflog-range", "nflog-size":
		if err := t1Exclusive(&t.sizeOpt, u.Opt.Name); err != nil {
			return err
		}
		v, err := t1Uint(u, 0, 0xffffffff)
		if err != nil {
			return err
		}
		if u.Opt.Name == "nflog-size" {
			t.Size, t.HasSize = uint32(v), true
		} else {
			t.Range = uint32(v)
		}
	}
	return nil
}

func (t *nflogTarget) Final(*RuleInfo) error { return nil }

func (t *nflogTarget) out(b *Buf, dash string) {
	if t.Prefix != "" {
		b.S(" " + dash + "nflog-prefix").SaveString(t.Prefix)
	}
	if t.Group != 0 {
		b.S(" " + dash + "nflog-group ").U(uint64(t.Group))
	}
	if t.HasSize {
		b.S(" " + dash + "nflog-size ").U(uint64(t.Size))
	}
	if t.Threshold != 0 {
		b.S(" " + dash + "nflog-threshold ").U(uint64(t.Threshold))
	}
}

func (t *nflogTarget) Save(b *Buf) { t.out(b, "--") }

func (t *nflogTarget) Print(b *Buf, _ bool) { t.out(b, "") }

// Target is nflog_tg: the packet goes to the NFLOG group's listeners and
// traversal continues.
func (t *nflogTarget) Target(e *Env) Verdict {
	if e.Sink != nil {
		e.Sink.NFLog(t.Group, t.Prefix, e.Pkt)
	}
	return VerdictContinue
}
