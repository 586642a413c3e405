package ext

import (
	"strconv"
	"strings"
)

// LED: -j LED (libxt_LED, xt_LED.c).
type ledTarget struct {
	ID          string // trigger name without the "netfilter-" prefix, at most 16 bytes
	Delay       uint32 // milliseconds; 0xffffffff for "inf"
	AlwaysBlink bool
	idSet       bool
}

func init() {
	Register(&Def{
		Name: "LED", Kind: TargetKind,
		Options: []Option{
			{Name: "led-trigger-id", Arg: NeedArg},
			{Name: "led-delay", Arg: NeedArg},
			{Name: "led-always-blink"},
		},
		New: func() Ext { return &ledTarget{} },
	})
}

func (t *ledTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "led-trigger-id":
		if len(u.Arg) > 16 {
			return Errorf("Argument must have a maximum length of 16 characters")
		}
		t.ID, t.idSet = u.Arg, true
	case "led-delay":
		if len(u.Arg) >= 3 && strings.EqualFold(u.Arg[:3], "inf") {
			t.Delay = 0xffffffff
			return nil
		}
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("Delay value must be within range 0..4294967295 (or inf)")
		}
		t.Delay = uint32(v)
	case "led-always-blink":
		t.AlwaysBlink = true
	}
	return nil
}

func (t *ledTarget) Final(*RuleInfo) error {
	if !t.idSet {
		return Errorf("option \"--led-trigger-id\" must be specified")
	}
	return nil
}

// Check is the kernel's checkentry: the trigger name may not be empty.
func (t *ledTarget) Check(*CheckCtx) error {
	if t.ID == "" {
		return Errorf("the trigger id may not be empty")
	}
	return nil
}

func ledQuote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	sb.WriteByte('"')
	return sb.String()
}

func (t *ledTarget) Save(b *Buf) {
	b.S(" --led-trigger-id ").S(ledQuote(t.ID))
	// iptables prints the delay as a signed int.
	if d := int32(t.Delay); d > 0 {
		b.S(" --led-delay ").S(strconv.Itoa(int(d)))
	} else if d == -1 {
		b.S(" --led-delay inf")
	}
	if t.AlwaysBlink {
		b.S(" --led-always-blink")
	}
}

func (t *ledTarget) Print(b *Buf, _ bool) {
	b.S(" led-trigger-id:").S(ledQuote(t.ID))
	if d := int32(t.Delay); d == -1 {
		b.S(" led-delay:inf")
	} else {
		b.S(" led-delay:").S(strconv.Itoa(int(d))).S("ms")
	}
	if t.AlwaysBlink {
		b.S(" led-always-blink")
	}
}
