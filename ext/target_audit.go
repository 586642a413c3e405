package ext

import "strings"

// AUDIT: -j AUDIT (libxt_AUDIT, xt_AUDIT.c).

// AUDIT types (XT_AUDIT_TYPE_*).
var auditTypes = []string{"accept", "drop", "reject"}

type auditTarget struct {
	Type uint8 // index into accept, drop, reject
	set  bool
}

func init() {
	Register(&Def{
		Name: "AUDIT", Kind: TargetKind,
		Options: []Option{{Name: "type", Arg: NeedArg}},
		New:     func() Ext { return &auditTarget{} },
	})
}

func (t *auditTarget) Parse(u *Use) error {
	for i, n := range auditTypes {
		if strings.EqualFold(u.Arg, n) {
			t.Type, t.set = uint8(i), true
			return nil
		}
	}
	return Errorf("Bad action type value \"%s\": expected accept, drop or reject", u.Arg)
}

func (t *auditTarget) Final(*RuleInfo) error {
	if !t.set {
		return Errorf("option \"--type\" must be specified")
	}
	return nil
}

func (t *auditTarget) Save(b *Buf) { b.Opt(false, "type", auditTypes[t.Type]) }

func (t *auditTarget) Print(b *Buf, _ bool) { b.S(" AUDIT ").S(auditTypes[t.Type]) }
