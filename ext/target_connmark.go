package ext

// CONNMARK: -j CONNMARK (libxt_CONNMARK revision 2, xt_connmark.c).

// CONNMARK modes (XT_CONNMARK_*).
const (
	ConnmarkSet = iota
	ConnmarkSave
	ConnmarkRestore
)

type connmarkTarget struct {
	Mode           uint8 // ConnmarkSet, ConnmarkSave or ConnmarkRestore
	CtMark, CtMask uint32
	NfMask         uint32
	ShiftRight     bool  // shift direction: false left, true right
	ShiftBits      uint8 // 0-32 (the kernel refuses 32)

	op      string // the operation option given
	maskOpt string // --mask, or --ctmask/--nfmask
}

func init() {
	Register(&Def{
		Name: "CONNMARK", Kind: TargetKind,
		Options: []Option{
			{Name: "set-xmark", Arg: NeedArg},
			{Name: "set-mark", Arg: NeedArg},
			{Name: "and-mark", Arg: NeedArg},
			{Name: "or-mark", Arg: NeedArg},
			{Name: "xor-mark", Arg: NeedArg},
			{Name: "save-mark"},
			{Name: "restore-mark"},
			{Name: "left-shift-mark", Arg: NeedArg},
			{Name: "right-shift-mark", Arg: NeedArg},
			{Name: "ctmask", Arg: NeedArg},
			{Name: "nfmask", Arg: NeedArg},
			{Name: "mask", Arg: NeedArg},
		},
		New: func() Ext { return &connmarkTarget{CtMask: 0xffffffff, NfMask: 0xffffffff} },
	})
}

func (t *connmarkTarget) Parse(u *Use) error {
	name := u.Opt.Name
	switch name {
	case "save-mark", "restore-mark":
		if err := t1Exclusive(&t.op, name); err != nil {
			return err
		}
		t.Mode = ConnmarkSave
		if name == "restore-mark" {
			t.Mode = ConnmarkRestore
		}
	case "left-shift-mark", "right-shift-mark":
		v, err := t1Uint(u, 0, 32)
		if err != nil {
			return err
		}
		t.ShiftRight, t.ShiftBits = name == "right-shift-mark", uint8(v)
	case "ctmask", "nfmask", "mask":
		g := name
		if g != "mask" {
			g = "ctmask"
		}
		if t.maskOpt != "" && t.maskOpt != g {
			other := "--mask"
			if g == "mask" {
				other = "--ctmask/--nfmask"
			}
			return Errorf("option \"--%s\" cannot be used together with %q", name, other)
		}
		t.maskOpt = g
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--%s\", or out of range (0-4294967295)", name)
		}
		switch name {
		case "ctmask":
			t.CtMask = uint32(v)
		case "nfmask":
			t.NfMask = uint32(v)
		default:
			t.CtMask, t.NfMask = uint32(v), uint32(v)
		}
	default:
		if err := t1Exclusive(&t.op, name); err != nil {
			return err
		}
		m, k, err := t1MarkOp(u)
		if err != nil {
			return err
		}
		t.Mode, t.CtMark, t.CtMask = ConnmarkSet, m, k
	}
	return nil
}

func (t *connmarkTarget) Final(*RuleInfo) error {
	if t.op == "" {
		return Errorf("no operation specified: expected --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark, --save-mark or --restore-mark")
	}
	return nil
}

// Check is the kernel's checkentry for revision 2.
func (t *connmarkTarget) Check(*CheckCtx) error {
	if t.ShiftBits >= 32 {
		return Errorf("shift of %d bits is out of range: the kernel accepts 0-31", t.ShiftBits)
	}
	return nil
}

func (t *connmarkTarget) shiftName() string {
	if t.ShiftRight {
		return "right-shift-mark"
	}
	return "left-shift-mark"
}

func (t *connmarkTarget) Save(b *Buf) {
	switch t.Mode {
	case ConnmarkSet:
		b.Opt(false, "set-xmark", t1Hex(t.CtMark)+"/"+t1Hex(t.CtMask))
	case ConnmarkSave:
		b.Opt(false, "save-mark").Opt(false, "nfmask", t1Hex(t.NfMask)).Opt(false, "ctmask", t1Hex(t.CtMask))
	case ConnmarkRestore:
		b.Opt(false, "restore-mark").Opt(false, "nfmask", t1Hex(t.NfMask)).Opt(false, "ctmask", t1Hex(t.CtMask))
	}
	if t.ShiftBits != 0 {
		b.Opt(false, t.shiftName(), Itoa(t.ShiftBits))
	}
}

func (t *connmarkTarget) Print(b *Buf, _ bool) {
	switch t.Mode {
	case ConnmarkSet:
		t1MarkPrint(b, "CONNMARK", t.CtMark, t.CtMask)
	case ConnmarkSave:
		switch {
		case t.NfMask == 0xffffffff && t.CtMask == 0xffffffff:
			b.S(" CONNMARK save")
		case t.NfMask == t.CtMask:
			b.S(" CONNMARK save mask ").S(t1Hex(t.NfMask))
		default:
			b.S(" CONNMARK save nfmask ").S(t1Hex(t.NfMask)).S(" ctmask ~").S(t1Hex(t.CtMask))
		}
	case ConnmarkRestore:
		switch {
		case t.NfMask == 0xffffffff && t.CtMask == 0xffffffff:
			b.S(" CONNMARK restore")
		case t.NfMask == t.CtMask:
			b.S(" CONNMARK restore mask ").S(t1Hex(t.CtMask))
		default:
			b.S(" CONNMARK restore ctmask ").S(t1Hex(t.CtMask)).S(" nfmask ~").S(t1Hex(t.NfMask))
		}
	}
	if t.ShiftBits != 0 {
		b.S(" ").S(t.shiftName()).S(" ").U(uint64(t.ShiftBits))
	}
}

// Target is connmark_tg_shift (revision 1 is revision 2 without a
// shift). Without a connection it does nothing. The connection's mark is
// written only when it changes, which is when the kernel reports
// IPCT_MARK: Conn.SetMark is called only then.
func (t *connmarkTarget) Target(e *Env) Verdict {
	ct := e.Conn
	if ct == nil {
		return VerdictContinue
	}
	shift := func(v uint32) uint32 {
		if t.ShiftRight {
			return v >> t.ShiftBits
		}
		return v << t.ShiftBits
	}
	switch t.Mode {
	case ConnmarkSet:
		old := ct.Mark()
		// The shift applies to the whole new mark here, unlike save and
		// restore where it applies to the masked part only.
		if n := shift((old &^ t.CtMask) ^ t.CtMark); n != old {
			ct.SetMark(n)
		}
	case ConnmarkSave:
		old := ct.Mark()
		if n := (old &^ t.CtMask) ^ shift(e.Pkt.Mark&t.NfMask); n != old {
			ct.SetMark(n)
		}
	case ConnmarkRestore:
		e.Pkt.Mark = (e.Pkt.Mark &^ t.NfMask) ^ shift(ct.Mark()&t.CtMask)
	}
	return VerdictContinue
}
