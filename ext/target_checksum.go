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

// Target is checksum_tg, which fills in the checksum of a
// CHECKSUM_PARTIAL packet (one whose transport checksum a NIC was to
// finish). nfgo's packets always carry complete checksums, as packets that
// arrived from a wire or a capture do (CHECKSUM_NONE or _COMPLETE in the
// kernel), so there is nothing to fill: the packet passes unchanged.
func (t *checksumTarget) Target(*Env) Verdict { return VerdictContinue }
