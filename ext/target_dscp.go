package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// DSCP: -j DSCP (libxt_DSCP, xt_DSCP.c), IPv4 and IPv6, table mangle.
type dscpTarget struct {
	DSCP uint8 // 0-0x3f
	op   string
}

// t1DSCPClasses are the --set-dscp-class names in iptables' lookup order.
var t1DSCPClasses = []struct {
	name string
	dscp uint8
}{
	{"CS0", 0x00}, {"CS1", 0x08}, {"CS2", 0x10}, {"CS3", 0x18}, {"CS4", 0x20}, {"CS5", 0x28},
	{"CS6", 0x30}, {"CS7", 0x38}, {"BE", 0x00}, {"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
	{"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16}, {"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e},
	{"AF41", 0x22}, {"AF42", 0x24}, {"AF43", 0x26}, {"EF", 0x2e},
}

func init() {
	Register(&Def{
		Name: "DSCP", Kind: TargetKind, Tables: []string{"mangle"},
		Options: []Option{{Name: "set-dscp", Arg: NeedArg}, {Name: "set-dscp-class", Arg: NeedArg}},
		New:     func() Ext { return &dscpTarget{} },
	})
}

// t1DSCPClass looks a DSCP class up as iptables does: the value must start
// with the class name, ignoring case.
func t1DSCPClass(s string) (uint8, error) {
	for _, c := range t1DSCPClasses {
		if len(s) >= len(c.name) && strings.EqualFold(s[:len(c.name)], c.name) {
			return c.dscp, nil
		}
	}
	return 0, Errorf("Invalid DSCP value `%s': expected a class CS0-CS7, BE, AF11-AF43 or EF", s)
}

func (t *dscpTarget) Parse(u *Use) error {
	if err := t1Exclusive(&t.op, u.Opt.Name); err != nil {
		return err
	}
	if u.Opt.Name == "set-dscp-class" {
		v, err := t1DSCPClass(u.Arg)
		t.DSCP = v
		return err
	}
	v, err := t1Uint(u, 0, 0x3f)
	t.DSCP = uint8(v)
	return err
}

func (t *dscpTarget) Final(*RuleInfo) error {
	if t.op == "" {
		return Errorf("parameter --set-dscp (or --set-dscp-class) is required")
	}
	return nil
}

func (t *dscpTarget) Save(b *Buf) { b.Opt(false, "set-dscp", t1Hex02(t.DSCP)) }

func (t *dscpTarget) Print(b *Buf, _ bool) { b.S(" DSCP set ").S(t1Hex02(t.DSCP)) }

// Target is dscp_tg/dscp_tg6: the DSCP bits change, the ECN bits stay.
func (t *dscpTarget) Target(e *Env) Verdict {
	p := e.Pkt
	if p.Family == nf.IPv6 {
		h := packet.IPv6(p.Data)
		if h.TrafficClass()>>2 != t.DSCP {
			h.SetTrafficClass(h.TrafficClass()&3 | t.DSCP<<2)
		}
		return VerdictContinue
	}
	h := packet.IPv4(p.Data)
	if h.TOS()>>2 != t.DSCP {
		ipv4ChangeDSField(h, 3, t.DSCP<<2)
	}
	return VerdictContinue
}

// ipv4ChangeDSField is the kernel's ipv4_change_dsfield: the TOS byte
// becomes tos&mask | value and the header checksum is adjusted with its
// own arithmetic, reproduced exactly (it can differ from RFC 1624's in
// which of 0x0000 and 0xffff it produces).
func ipv4ChangeDSField(h packet.IPv4, mask, value uint8) {
	check := uint32(h.Checksum())
	ds := h.TOS()&mask | value
	check += uint32(h.TOS())
	if (check+1)>>16 != 0 {
		check = (check + 1) & 0xffff
	}
	check -= uint32(ds)
	check += check >> 16
	h.SetChecksum(uint16(check))
	h.SetTOS(ds)
}
