package ext

// CHECKSUM: -j CHECKSUM (libxt_CHECKSUM, xt_CHECKSUM.c), table mangle.
type checksumTarget struct{ Fill bool }

func init() {
	Register(&Def{
		Name: "CHECKSUM", Kind: TargetKind, Tables: []string{"mangle"},
		Options: []Option{{Name: "checksum-fill"}},
		New:     func() Ext { return &checksumTarget{} },
	})
}

func (t *checksumTarget) Parse(*Use) error { t.Fill = true; return nil }

func (t *checksumTarget) Final(*RuleInfo) error {
	if !t.Fill {
		return Errorf("option \"--checksum-fill\" must be specified")
	}
	return nil
}

func (t *checksumTarget) Save(b *Buf) {
	if t.Fill {
		b.S(" --checksum-fill")
	}
}

func (t *checksumTarget) Print(b *Buf, _ bool) {
	b.S(" CHECKSUM")
	if t.Fill {
		b.S(" fill")
	}
}
