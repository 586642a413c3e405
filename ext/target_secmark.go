package ext

// SECMARK: -j SECMARK (libxt_SECMARK, xt_SECMARK.c) and CONNSECMARK
// (libxt_CONNSECMARK, xt_CONNSECMARK.c). nfgo has no security module, so
// the SELinux context is kept as text and not resolved.
type secmarkTarget struct {
	Context string // --selctx, at most 255 bytes
}

func init() {
	Register(&Def{
		Name: "SECMARK", Kind: TargetKind,
		Options: []Option{{Name: "selctx", Arg: NeedArg}},
		New:     func() Ext { return &secmarkTarget{} },
	})
	Register(&Def{
		Name: "CONNSECMARK", Kind: TargetKind,
		Options: []Option{{Name: "save"}, {Name: "restore"}},
		New:     func() Ext { return &connsecmarkTarget{} },
	})
}

func (t *secmarkTarget) Parse(u *Use) error {
	t.Context = t1Truncate(u.Arg, 256)
	return nil
}

func (t *secmarkTarget) Final(*RuleInfo) error {
	if t.Context == "" {
		return Errorf("option \"--selctx\" must be specified")
	}
	return nil
}

func (t *secmarkTarget) Save(b *Buf) { b.S(" --selctx ").S(t.Context) }

func (t *secmarkTarget) Print(b *Buf, _ bool) { b.S(" SECMARK selctx ").S(t.Context) }

// CONNSECMARK modes.
const (
	ConnsecmarkSave    = 1
	ConnsecmarkRestore = 2
)

type connsecmarkTarget struct {
	Mode uint8 // ConnsecmarkSave or ConnsecmarkRestore
}

func (t *connsecmarkTarget) Parse(u *Use) error {
	m := uint8(ConnsecmarkSave)
	if u.Opt.Name == "restore" {
		m = ConnsecmarkRestore
	}
	if t.Mode != 0 && t.Mode != m {
		return Errorf("options \"--save\" and \"--restore\" cannot be used together")
	}
	t.Mode = m
	return nil
}

func (t *connsecmarkTarget) Final(*RuleInfo) error {
	if t.Mode == 0 {
		return Errorf("parameter required: --save or --restore")
	}
	return nil
}

// Check is the kernel's checkentry: tables mangle and security only.
func (t *connsecmarkTarget) Check(c *CheckCtx) error {
	if c.Rule.Table != "mangle" && c.Rule.Table != "security" {
		return Errorf("only valid in the mangle or security table, not %s", c.Rule.Table)
	}
	return nil
}

func (t *connsecmarkTarget) name() string {
	if t.Mode == ConnsecmarkRestore {
		return "restore"
	}
	return "save"
}

func (t *connsecmarkTarget) Save(b *Buf) { b.S(" --").S(t.name()) }

func (t *connsecmarkTarget) Print(b *Buf, _ bool) { b.S(" CONNSECMARK ").S(t.name()) }
