package ext

import (
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// CLASSIFY: -j CLASSIFY (libxt_CLASSIFY, xt_CLASSIFY.c). The kernel allows
// it at OUTPUT, FORWARD and POSTROUTING.
type classifyTarget struct {
	Priority uint32 // tc class handle MAJOR<<16 | MINOR
	set      bool
}

func init() {
	Register(&Def{
		Name: "CLASSIFY", Kind: TargetKind,
		Hooks:   nf.Hooks(nf.LocalOut, nf.Forward, nf.PostRouting),
		Options: []Option{{Name: "set-class", Arg: NeedArg}},
		New:     func() Ext { return &classifyTarget{} },
	})
}

// t1ScanHex reads one C scanf "%x" conversion from s: optional blanks, an
// optional sign, an optional 0x, hex digits. It returns the value (32 bits,
// wrapped as C does) and the rest.
func t1ScanHex(s string) (uint32, string, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHexDigit(s[2]) {
		s = s[2:]
	}
	i := 0
	for i < len(s) && isHexDigit(s[i]) {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	v, err := strconv.ParseUint(s[:i], 16, 64)
	if err != nil {
		v = ^uint64(0)
	}
	if neg {
		v = -v
	}
	return uint32(v), s[i:], true
}

func (t *classifyTarget) Parse(u *Use) error {
	maj, rest, ok1 := t1ScanHex(u.Arg)
	var min uint32
	ok2 := false
	if ok1 && strings.HasPrefix(rest, ":") {
		min, _, ok2 = t1ScanHex(rest[1:])
	}
	if !ok2 {
		return Errorf("Bad class value \"%s\": expected MAJOR:MINOR in hex", u.Arg)
	}
	t.Priority = maj<<16 | min&0xffff
	t.set = true
	return nil
}

func (t *classifyTarget) Final(*RuleInfo) error {
	if !t.set {
		return Errorf("option \"--set-class\" must be specified")
	}
	return nil
}

func t1Hex4(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

func (t *classifyTarget) Save(b *Buf) {
	b.Opt(false, "set-class", t1Hex4(t.Priority>>16)+":"+t1Hex4(t.Priority&0xffff))
}

func (t *classifyTarget) Print(b *Buf, _ bool) {
	b.S(" CLASSIFY set ").S(strconv.FormatUint(uint64(t.Priority>>16), 16)).S(":").S(strconv.FormatUint(uint64(t.Priority&0xffff), 16))
}

// Target is classify_tg: the class handle goes to skb->priority.
func (t *classifyTarget) Target(e *Env) Verdict {
	e.Pkt.Priority = t.Priority
	return VerdictContinue
}
