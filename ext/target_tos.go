package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// TOS: -j TOS (libxt_TOS revision 1, xt_DSCP.c), IPv4 and IPv6, table
// mangle. The new TOS is (old &^ Mask) ^ Value.
type tosTarget struct {
	Value, Mask uint8
	op          string
}

// tosSymbols are the symbolic --set-tos values; they imply mask 0x3f.
var tosSymbols = []struct {
	name  string
	value uint8
}{
	{"Minimize-Delay", 0x10}, {"Maximize-Throughput", 0x08}, {"Maximize-Reliability", 0x04},
	{"Minimize-Cost", 0x02}, {"Normal-Service", 0x00},
}

func init() {
	Register(&Def{
		Name: "TOS", Kind: TargetKind, Tables: []string{"mangle"},
		Options: []Option{
			{Name: "set-tos", Arg: NeedArg},
			{Name: "and-tos", Arg: NeedArg},
			{Name: "or-tos", Arg: NeedArg},
			{Name: "xor-tos", Arg: NeedArg},
		},
		New: func() Ext { return &tosTarget{} },
	})
}

// t1ParseTOS parses "value[/mask]" (numbers 0-255) or a symbolic TOS name;
// symMask is the mask a name implies.
func t1ParseTOS(s string, symMask uint8) (val, mask uint8, err error) {
	v, rest, ok := t1PrefixUint(s, 0xff)
	if !ok {
		for _, sym := range tosSymbols {
			if strings.EqualFold(s, sym.name) {
				return sym.value, symMask, nil
			}
		}
		return 0, 0, Errorf("Symbolic name \"%s\" is unknown: expected VALUE[/MASK] (0-255) or Minimize-Delay, Maximize-Throughput, Maximize-Reliability, Minimize-Cost, Normal-Service", s)
	}
	mask = 0xff
	if strings.HasPrefix(rest, "/") {
		m, ok := ParseUint(rest[1:], 0, 0xff)
		if !ok {
			return 0, 0, Errorf("Illegal value: \"%s\": the mask must be a number 0-255", s)
		}
		return uint8(v), uint8(m), nil
	}
	if rest != "" {
		return 0, 0, Errorf("Illegal value: \"%s\": expected VALUE[/MASK]", s)
	}
	return uint8(v), mask, nil
}

// t1PrefixUint parses the leading number of s (C strtoul, base 0) and
// returns what follows it; ok is false when there is no number in [0, max].
func t1PrefixUint(s string, max uint64) (v uint64, rest string, ok bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	if i < len(s) && s[i] == '-' {
		return 0, s, false
	}
	start := i
	if i < len(s) && s[i] == '+' {
		i++
	}
	isDigit := func(c byte, base int) bool {
		switch {
		case c >= '0' && c <= '9':
			return int(c-'0') < base
		case base == 16 && c >= 'a' && c <= 'f', base == 16 && c >= 'A' && c <= 'F':
			return true
		}
		return false
	}
	base := 10
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && isDigit(s[i+2], 16) {
		base = 16
		i += 2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	j := i
	for j < len(s) && isDigit(s[j], base) {
		j++
	}
	if j == i || (j == start) {
		return 0, s, false
	}
	n, ok2 := ParseUintBase(s[i:j], base, 0, max)
	if !ok2 {
		return 0, s, false
	}
	return n, s[j:], true
}

func (t *tosTarget) Parse(u *Use) error {
	if err := t1Exclusive(&t.op, u.Opt.Name); err != nil {
		return err
	}
	if u.Opt.Name == "set-tos" {
		v, m, err := t1ParseTOS(u.Arg, 0x3f)
		t.Value, t.Mask = v, m
		return err
	}
	v, err := t1Uint(u, 0, 0xff)
	if err != nil {
		return err
	}
	switch u.Opt.Name {
	case "and-tos":
		t.Value, t.Mask = 0, ^uint8(v)
	case "or-tos":
		t.Value, t.Mask = uint8(v), uint8(v)
	default:
		t.Value, t.Mask = uint8(v), 0
	}
	return nil
}

func (t *tosTarget) Final(*RuleInfo) error {
	if t.op == "" {
		return Errorf("an action is required: --set-tos, --and-tos, --or-tos or --xor-tos")
	}
	return nil
}

func (t *tosTarget) Save(b *Buf) {
	b.Opt(false, "set-tos", t1Hex02(t.Value)+"/"+t1Hex02(t.Mask))
}

func (t *tosTarget) Print(b *Buf, numeric bool) {
	if !numeric && t.Mask == 0x3f {
		for _, sym := range tosSymbols {
			if sym.value == t.Value {
				// iptables prints " " + " TOS set" + name here.
				b.S("  TOS set").S(sym.name)
				return
			}
		}
	}
	switch {
	case numeric:
		b.S(" TOS set ").S(t1Hex02(t.Value)).S("/").S(t1Hex02(t.Mask))
	case t.Value == 0:
		b.S(" TOS and ").S(t1Hex02(^t.Mask))
	case t.Value == t.Mask:
		b.S(" TOS or ").S(t1Hex02(t.Value))
	case t.Mask == 0:
		b.S(" TOS xor ").S(t1Hex02(t.Value))
	default:
		b.S(" TOS set ").S(t1Hex02(t.Value)).S("/").S(t1Hex02(t.Mask))
	}
}

// TTL (IPv4) and HL (IPv6): -j TTL / -j HL (libipt_TTL, libip6t_HL,
// xt_HL.c), table mangle.

// TTL/HL modes.
const (
	TTLSet = iota
	TTLInc
	TTLDec
)

type ttlTarget struct {
	Mode  uint8 // TTLSet, TTLInc, TTLDec
	Value uint8
	hl    bool // the IPv6 HL variant
	op    string
}

func init() {
	Register(&Def{
		Name: "TTL", Kind: TargetKind, Family: nf.IPv4, Tables: []string{"mangle"},
		Options: []Option{{Name: "ttl-set", Arg: NeedArg}, {Name: "ttl-dec", Arg: NeedArg}, {Name: "ttl-inc", Arg: NeedArg}},
		New:     func() Ext { return &ttlTarget{} },
	})
	Register(&Def{
		Name: "HL", Kind: TargetKind, Family: nf.IPv6, Tables: []string{"mangle"},
		Options: []Option{{Name: "hl-set", Arg: NeedArg}, {Name: "hl-dec", Arg: NeedArg}, {Name: "hl-inc", Arg: NeedArg}},
		New:     func() Ext { return &ttlTarget{hl: true} },
	})
}

func (t *ttlTarget) prefix() string {
	if t.hl {
		return "hl"
	}
	return "ttl"
}

func (t *ttlTarget) Parse(u *Use) error {
	if err := t1Exclusive(&t.op, u.Opt.Name); err != nil {
		return err
	}
	min := uint64(1)
	switch strings.TrimPrefix(strings.TrimPrefix(u.Opt.Name, "ttl-"), "hl-") {
	case "set":
		t.Mode, min = TTLSet, 0
	case "inc":
		t.Mode = TTLInc
	default:
		t.Mode = TTLDec
	}
	v, err := t1Uint(u, min, 255)
	t.Value = uint8(v)
	return err
}

func (t *ttlTarget) Final(*RuleInfo) error {
	if t.op == "" {
		return Errorf("you must specify an action: --%[1]s-set, --%[1]s-inc or --%[1]s-dec", t.prefix())
	}
	return nil
}

var ttlModeNames = [3]string{"set", "inc", "dec"}

func (t *ttlTarget) Save(b *Buf) {
	b.Opt(false, t.prefix()+"-"+ttlModeNames[t.Mode%3], Itoa(t.Value))
}

func (t *ttlTarget) Print(b *Buf, _ bool) {
	if t.hl {
		b.S(" HL ")
	} else {
		b.S(" TTL ")
	}
	b.S([3]string{"set to", "increment by", "decrement by"}[t.Mode%3]).S(" ").U(uint64(t.Value))
}

// Target is tos_tg/tos_tg6: the TOS byte (IPv6: traffic class) becomes
// (old &^ Mask) ^ Value, the IPv4 checksum adjusted as the kernel does.
func (t *tosTarget) Target(e *Env) Verdict {
	p := e.Pkt
	if p.Family == nf.IPv6 {
		h := packet.IPv6(p.Data)
		if old := h.TrafficClass(); old&^t.Mask^t.Value != old {
			h.SetTrafficClass(old&^t.Mask ^ t.Value)
		}
		return VerdictContinue
	}
	h := packet.IPv4(p.Data)
	if old := h.TOS(); old&^t.Mask^t.Value != old {
		ipv4ChangeDSField(h, 0, old&^t.Mask^t.Value)
	}
	return VerdictContinue
}

// Target is ttl_tg/hl_tg6: set, or increment/decrement saturating at 255
// and 0; the IPv4 checksum is updated as csum_replace2 does.
func (t *ttlTarget) Target(e *Env) Verdict {
	p := e.Pkt
	old := int(p.TTL())
	n := old
	switch t.Mode {
	case TTLSet:
		n = int(t.Value)
	case TTLInc:
		n = min(old+int(t.Value), 255)
	case TTLDec:
		n = max(old-int(t.Value), 0)
	}
	if p.Family == nf.IPv6 {
		packet.IPv6(p.Data).SetHopLimit(uint8(n))
		return VerdictContinue
	}
	if n != old {
		h := packet.IPv4(p.Data)
		h.SetChecksum(packet.Update16(h.Checksum(), uint16(old)<<8, uint16(n)<<8))
		h.SetTTL(uint8(n))
	}
	return VerdictContinue
}
