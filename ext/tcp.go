package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// tcp: -m tcp (libxt_tcp, xt_tcpudp.c).
type tcpMatch struct {
	Src, Dst        PortRange
	FlagMask, Flags uint8
	FlagsSet        bool
	InvFlags        bool
	Option          uint8
	InvOption       bool
	OptionSet       bool
}

var tcpFlagNames = []struct {
	name string
	bit  uint8
}{{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08}, {"ACK", 0x10}, {"URG", 0x20}, {"ALL", 0x3f}, {"NONE", 0}}

func init() {
	Register(&Def{
		Name: "tcp", Kind: MatchKind, Proto: nf.ProtoTCP,
		Options: []Option{
			{Name: "source-port", Arg: NeedArg, Invert: true},
			{Name: "sport", Arg: NeedArg, Invert: true},
			{Name: "destination-port", Arg: NeedArg, Invert: true},
			{Name: "dport", Arg: NeedArg, Invert: true},
			{Name: "syn", Arg: NoArg, Invert: true},
			{Name: "tcp-flags", Arg: NeedArg, Invert: true, Extra: 1},
			{Name: "tcp-option", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &tcpMatch{} },
	})
}

// ParseTCPFlags parses a comma-separated list of TCP flag names.
func ParseTCPFlags(s string) (uint8, error) {
	var v uint8
	for _, f := range strings.Split(s, ",") {
		found := false
		for _, n := range tcpFlagNames {
			if strings.EqualFold(f, n.name) {
				v |= n.bit
				found = true
				break
			}
		}
		if !found {
			return 0, Errorf("unknown TCP flag `%s': expected FIN, SYN, RST, PSH, ACK, URG, ALL or NONE", f)
		}
	}
	return v, nil
}

// TCPFlagsString formats flags as iptables does (print_tcpf).
func TCPFlagsString(f uint8) string {
	var parts []string
	for f != 0 {
		for _, n := range tcpFlagNames {
			if f&n.bit != 0 {
				parts = append(parts, n.name)
				f &^= n.bit
				break
			}
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, ",")
}

func (m *tcpMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "source-port", "sport":
		if m.Src.Set {
			return Errorf("only one `--source-port' allowed")
		}
		return m.Src.Parse(u, "tcp")
	case "destination-port", "dport":
		if m.Dst.Set {
			return Errorf("only one `--destination-port' allowed")
		}
		return m.Dst.Parse(u, "tcp")
	case "syn", "tcp-flags":
		if m.FlagsSet {
			return Errorf("only one of `--syn' or `--tcp-flags' allowed")
		}
		m.FlagsSet, m.InvFlags = true, u.Invert
		if u.Opt.Name == "syn" {
			m.FlagMask, m.Flags = 0x17, 0x02
			return nil
		}
		var err error
		if m.FlagMask, err = ParseTCPFlags(u.Arg); err != nil {
			return err
		}
		m.Flags, err = ParseTCPFlags(u.Args[0])
		return err
	case "tcp-option":
		v, ok := ParseUint(u.Arg, 1, 255)
		if !ok {
			return Errorf("bad TCP option `%s': expected a number 1-255", u.Arg)
		}
		m.Option, m.InvOption, m.OptionSet = uint8(v), u.Invert, true
	}
	return nil
}

func (m *tcpMatch) Final(r *RuleInfo) error { return RequireProto(r, nf.ProtoTCP, "TCP", "tcp") }

func (m *tcpMatch) Save(b *Buf) {
	m.Src.Save(b, "sport")
	m.Dst.Save(b, "dport")
	if m.OptionSet {
		b.Opt(m.InvOption, "tcp-option", Itoa(m.Option))
	}
	if m.FlagsSet && (m.FlagMask != 0 || m.InvFlags) {
		b.Opt(m.InvFlags, "tcp-flags", TCPFlagsString(m.FlagMask), TCPFlagsString(m.Flags))
	}
}

func (m *tcpMatch) Print(b *Buf, numeric bool) {
	b.S(" tcp")
	m.Src.Print(b, "spt", "tcp", numeric)
	m.Dst.Print(b, "dpt", "tcp", numeric)
	if m.OptionSet {
		b.S(" option=")
		if m.InvOption {
			b.S("!")
		}
		b.U(uint64(m.Option))
	}
	if m.FlagsSet && (m.FlagMask != 0 || m.InvFlags) {
		b.S(" flags:")
		if m.InvFlags {
			b.S("!")
		}
		if numeric {
			b.S(hex2(m.FlagMask)).S("/").S(hex2(m.Flags))
		} else {
			b.S(TCPFlagsString(m.FlagMask)).S("/").S(TCPFlagsString(m.Flags))
		}
	}
}

// hex2 formats a byte as printf("0x%02X").
func hex2(v uint8) string {
	const digits = "0123456789ABCDEF"
	return "0x" + string([]byte{digits[v>>4], digits[v&15]})
}
