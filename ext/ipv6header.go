package ext

import (
	"github.com/nfgo/nfgo/packet"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// ipv6header: -m ipv6header --header LIST [--soft] (libip6t_ipv6header,
// ip6t_ipv6header.c): which extension headers a packet carries.
type ipv6headerMatch struct {
	Headers uint8 // MASK_* bits
	Inv     bool
	Soft    bool // match if any of the headers is present, not exactly these
	Set     bool
}

// m1IPv6Headers maps header protocols to their bit, in print order.
var m1IPv6Headers = []struct {
	Proto uint8
	Bit   uint8
	Name  string // name when the protocol database has none
}{
	{0, 128, "hop-by-hop"}, {60, 64, "dst"}, {43, 32, "route"}, {44, 16, "frag"},
	{51, 8, "auth"}, {50, 4, "esp"}, {59, 2, "none"}, {255, 1, "protocol"},
}

var m1IPv6HeaderNames = []struct {
	Name  string
	Proto uint8
}{
	{"hop-by-hop", 0}, {"protocol", 255}, {"hop", 0}, {"dst", 60}, {"route", 43}, {"frag", 44},
	{"auth", 51}, {"esp", 50}, {"none", 59}, {"prot", 255}, {"0", 0}, {"60", 60}, {"43", 43},
	{"44", 44}, {"51", 51}, {"50", 50}, {"59", 59}, {"255", 255},
}

func init() {
	Register(&Def{
		Name: "ipv6header", Kind: MatchKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "header", Arg: NeedArg, Invert: true},
			{Name: "soft", Arg: NoArg},
		},
		New: func() Ext { return &ipv6headerMatch{} },
	})
}

func m1HeaderProto(s string) (uint8, bool) {
	if !isAllDigits(s) && strings.ToLower(s) != "all" {
		if p, ok := nf.ParseProto(s); ok {
			return p, true
		}
	}
	for _, h := range m1IPv6HeaderNames {
		if h.Name == s {
			return h.Proto, true
		}
	}
	return 0, false
}

func isAllDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func (m *ipv6headerMatch) Parse(u *Use) error {
	if u.Opt.Name == "soft" {
		m.Soft = true
		return nil
	}
	var mask uint8
	for _, part := range strings.Split(u.Arg, ",") {
		if part == "" {
			continue
		}
		p, ok := m1HeaderProto(part)
		if !ok {
			return Errorf("unknown header `%s' specified: expected hop-by-hop, dst, route, frag, auth, esp, none or protocol", part)
		}
		found := false
		for _, h := range m1IPv6Headers {
			if h.Proto == p {
				mask |= h.Bit
				found = true
				break
			}
		}
		if !found {
			return Errorf("unknown header `%d' specified: %s is not an IPv6 extension header", p, part)
		}
	}
	if mask == 0 {
		return Errorf("cannot parse header names `%s'", u.Arg)
	}
	m.Headers, m.Inv, m.Set = mask, u.Invert, true
	return nil
}

func (m *ipv6headerMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--header\" must be specified")
	}
	return nil
}

func (m *ipv6headerMatch) names(b *Buf) {
	any := false
	for _, h := range m1IPv6Headers {
		if m.Headers&h.Bit == 0 {
			continue
		}
		if any {
			b.S(",")
		}
		any = true
		name := ""
		if h.Proto != 0 {
			name = nf.ProtoName(h.Proto)
		}
		if name == "" {
			name = h.Name
		}
		b.S(name)
	}
	if !any {
		b.S("NONE")
	}
}

func (m *ipv6headerMatch) Save(b *Buf) {
	b.Opt(m.Inv, "header").S(" ")
	m.names(b)
	if m.Soft {
		b.S(" --soft")
	}
}

func (m *ipv6headerMatch) Print(b *Buf, numeric bool) {
	b.S(" ipv6header")
	if m.Headers != 0 || m.Inv {
		b.S(" flags:")
		if m.Inv {
			b.S("!")
		}
		if numeric {
			const digits = "0123456789ABCDEF"
			b.S("0x").S(string([]byte{digits[m.Headers>>4], digits[m.Headers&15]}))
		} else {
			m.names(b)
		}
	}
	if m.Soft {
		b.S(" soft")
	}
}

// Match is ip6t_ipv6header.c: it walks the extension headers itself (past
// any fragment header, unlike ipv6_find_hdr) and compares the set found
// with the one asked for, exactly or (--soft) any of them.
func (m *ipv6headerMatch) Match(e *Env) bool {
	b := e.Pkt.Data
	if len(b) < 40 {
		return false
	}
	next, ptr := b[6], 40
	n := len(b) - ptr
	var seen uint8
walk:
	for {
		switch next {
		case 0, 43, 44, 50, 51, 59, 60: // nf_ip6_ext_hdr
		default:
			break walk
		}
		if next == 59 {
			seen |= packet.ExtNone
			break
		}
		if n < 2 {
			return false
		}
		if next == 50 {
			seen |= packet.ExtESP
			break
		}
		hp := hdrAt(e.Pkt, ptr, 2)
		if hp == nil {
			e.HotDrop = true
			return false
		}
		var hdrlen int
		switch next {
		case 44:
			hdrlen = 8
			seen |= packet.ExtFragment
		case 51:
			hdrlen = (int(hp[1]) + 2) * 4
			seen |= packet.ExtAuth
		default:
			hdrlen = (int(hp[1]) + 1) * 8
			seen |= extMask6(next)
		}
		next, n, ptr = hp[0], n-hdrlen, ptr+hdrlen
		if ptr > len(b) {
			break
		}
	}
	if next != 59 && next != 50 {
		seen |= packet.ExtProto
	}
	var inv uint8
	if m.Inv {
		inv = 0xff
	}
	if m.Soft {
		return (seen^m.Headers^inv)&m.Headers == 0
	}
	return (seen == m.Headers) != m.Inv
}

func extMask6(nh uint8) uint8 {
	switch nh {
	case 0:
		return packet.ExtHopByHop
	case 43:
		return packet.ExtRouting
	}
	return packet.ExtDstOpts
}
