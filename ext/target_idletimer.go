package ext

import "strings"

// IDLETIMER: -j IDLETIMER (libxt_IDLETIMER revision 1, xt_IDLETIMER.c).
type idletimerTarget struct {
	Timeout  uint32 // seconds
	Label    string // at most 27 bytes
	Alarm    bool   // timer type alarm instead of a plain timer
	hasTime  bool
	hasLabel bool
}

func init() {
	Register(&Def{
		Name: "IDLETIMER", Kind: TargetKind,
		Options: []Option{
			{Name: "timeout", Arg: NeedArg},
			{Name: "label", Arg: NeedArg},
			{Name: "alarm"},
		},
		New: func() Ext { return &idletimerTarget{} },
	})
}

func (t *idletimerTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "timeout":
		v, err := t1Uint(u, 0, 0xffffffff)
		if err != nil {
			return err
		}
		t.Timeout, t.hasTime = uint32(v), true
	case "label":
		t.Label, t.hasLabel = t1Truncate(u.Arg, 28), true
	case "alarm":
		t.Alarm = true
	}
	return nil
}

func (t *idletimerTarget) Final(*RuleInfo) error {
	if !t.hasTime {
		return Errorf("option \"--timeout\" must be specified")
	}
	if !t.hasLabel {
		return Errorf("option \"--label\" must be specified")
	}
	return nil
}

// Check is the kernel's checkentry: the timeout and the label, which names
// a sysfs file.
func (t *idletimerTarget) Check(*CheckCtx) error {
	if t.Timeout == 0 || t.Timeout >= 2147483647/1000 {
		return Errorf("timeout %d out of range: the kernel accepts 1-2147482 seconds", t.Timeout)
	}
	switch {
	case t.Label == "", t.Label == ".", t.Label == "..", strings.Contains(t.Label, "/"),
		t.Label == "power", t.Label == "subsystem", t.Label == "uevent":
		return Errorf("label %q cannot name a sysfs file: it may not be empty, \".\", \"..\", power, subsystem or uevent, nor contain '/'", t.Label)
	}
	return nil
}

func (t *idletimerTarget) Save(b *Buf) {
	b.S(" --timeout ").U(uint64(t.Timeout)).S(" --label ").S(t.Label)
	if t.Alarm {
		b.S(" --alarm")
	}
}

func (t *idletimerTarget) Print(b *Buf, _ bool) {
	b.S(" timeout:").U(uint64(t.Timeout)).S(" label:").S(t.Label)
	if t.Alarm {
		b.S(" alarm")
	}
}
