package ext

// MARK: -j MARK (libxt_MARK revision 2, xt_mark.c). Every option becomes
// "clear the bits of Mask, then XOR Mark", which is how the kernel stores it
// and how iptables-save prints it (--set-xmark MARK/MASK).
type markTarget struct {
	Mark, Mask uint32
	op         string // the operation option given
}

func init() {
	Register(&Def{
		Name: "MARK", Kind: TargetKind,
		Options: []Option{
			{Name: "set-xmark", Arg: NeedArg},
			{Name: "set-mark", Arg: NeedArg},
			{Name: "and-mark", Arg: NeedArg},
			{Name: "or-mark", Arg: NeedArg},
			{Name: "xor-mark", Arg: NeedArg},
		},
		New: func() Ext { return &markTarget{} },
	})
}

// t1MarkOp parses one of the --{set-x,set,and,or,xor}-mark options into
// (mark, mask) as MARK and CONNMARK store them.
func t1MarkOp(u *Use) (mark, mask uint32, err error) {
	switch u.Opt.Name {
	case "set-xmark", "set-mark":
		v, m, err := t1MarkMask(u)
		if err != nil {
			return 0, 0, err
		}
		if u.Opt.Name == "set-mark" {
			m |= v
		}
		return v, m, nil
	}
	v, ok := ParseUint(u.Arg, 0, 0xffffffff)
	if !ok {
		return 0, 0, Errorf("bad integer value for option \"--%s\", or out of range: expected a number 0-0xffffffff", u.Opt.Name)
	}
	switch u.Opt.Name {
	case "and-mark":
		return 0, ^uint32(v), nil
	case "or-mark":
		return uint32(v), uint32(v), nil
	}
	return uint32(v), 0, nil // xor-mark
}

// t1MarkPrint appends the -L form of a mark operation: " WHAT and 0x..." etc.
func t1MarkPrint(b *Buf, what string, mark, mask uint32) {
	switch {
	case mark == 0:
		b.S(" ").S(what).S(" and ").S(t1Hex(^mask))
	case mark == mask:
		b.S(" ").S(what).S(" or ").S(t1Hex(mark))
	case mask == 0:
		b.S(" ").S(what).S(" xor ").S(t1Hex(mark))
	case mask == 0xffffffff:
		b.S(" ").S(what).S(" set ").S(t1Hex(mark))
	default:
		b.S(" ").S(what).S(" xset ").S(t1Hex(mark)).S("/").S(t1Hex(mask))
	}
}

func (t *markTarget) Parse(u *Use) error {
	if err := t1Exclusive(&t.op, u.Opt.Name); err != nil {
		return err
	}
	var err error
	t.Mark, t.Mask, err = t1MarkOp(u)
	return err
}

func (t *markTarget) Final(*RuleInfo) error {
	if t.op == "" {
		return Errorf("one of the --set-xmark, --{and,or,xor,set}-mark options is required")
	}
	return nil
}

func (t *markTarget) Save(b *Buf) {
	b.Opt(false, "set-xmark", t1Hex(t.Mark)+"/"+t1Hex(t.Mask))
}

func (t *markTarget) Print(b *Buf, _ bool) { t1MarkPrint(b, "MARK", t.Mark, t.Mask) }

// Target is mark_tg: clear the bits of Mask, then XOR Mark.
func (t *markTarget) Target(e *Env) Verdict {
	e.Pkt.Mark = e.Pkt.Mark&^t.Mask ^ t.Mark
	return VerdictContinue
}
