package ext

import (
	"github.com/nfgo/nfgo/nf"
	"net/netip"
)

// rpfilter: -m rpfilter (libxt_rpfilter, ipt_rpfilter.c/ip6t_rpfilter.c):
// reverse path filter. Only in the raw and mangle PREROUTING chains.
type rpfilterMatch struct {
	Loose       bool // --loose: any route back will do, not just via the input device
	ValidMark   bool // --validmark: use the packet mark in the lookup
	AcceptLocal bool // --accept-local: accept packets from local addresses
	Invert      bool // --invert: match packets that fail the check
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		Register(&Def{
			Name: "rpfilter", Kind: MatchKind, Family: fam,
			Options: []Option{
				{Name: "loose", Arg: NoArg},
				{Name: "validmark", Arg: NoArg},
				{Name: "accept-local", Arg: NoArg},
				{Name: "invert", Arg: NoArg},
			},
			Tables: []string{"raw", "mangle"},
			Hooks:  nf.PreRouting.Mask(),
			New:    func() Ext { return &rpfilterMatch{} },
		})
	}
}

func (m *rpfilterMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "loose":
		m.Loose = true
	case "validmark":
		m.ValidMark = true
	case "accept-local":
		m.AcceptLocal = true
	case "invert":
		m.Invert = true
	}
	return nil
}

func (m *rpfilterMatch) Final(*RuleInfo) error { return nil }

func (m *rpfilterMatch) out(b *Buf, prefix string) {
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Loose, "loose"}, {m.ValidMark, "validmark"}, {m.AcceptLocal, "accept-local"}, {m.Invert, "invert"}} {
		if f.on {
			b.S(" ").S(prefix).S(f.name)
		}
	}
}

func (m *rpfilterMatch) Save(b *Buf) { m.out(b, "--") }

func (m *rpfilterMatch) Print(b *Buf, _ bool) {
	b.S(" rpfilter")
	m.out(b, "")
}

// Match is ipt_rpfilter.c / ip6t_rpfilter.c: the route back to the
// source must be a unicast route (or a local one with --accept-local)
// through the interface the packet came in on, or any with --loose.
func (m *rpfilterMatch) Match(e *Env) bool {
	p := e.Pkt
	if p.PktType == packetLoopback || p.InDev == "lo" {
		return !m.Invert
	}
	src, dst := p.Src(), p.Dst()
	if p.Family == nf.IPv4 {
		s, d := src.As4(), dst.As4()
		if s[0] == 0 && (d == [4]byte{255, 255, 255, 255} || d[0] == 224 && d[1] == 0 && d[2] == 0) {
			return !m.Invert
		}
	} else if src.IsUnspecified() {
		return !m.Invert
	}
	if e.Host == nil {
		return false
	}
	return m.reverse(e, src, dst) != m.Invert
}

func (m *rpfilterMatch) reverse(e *Env, src, dst netip.Addr) bool {
	p := e.Pkt
	// The lookup's source is the packet's destination when that is a
	// plain unicast address, else left open.
	from := dst
	if p.Family == nf.IPv4 {
		d := dst.As4()
		if d[0] >= 224 || d[0] == 0 {
			from = netip.IPv4Unspecified()
		}
	} else if uni, _, _ := ipv6AddrClass(dst); !uni || dst.IsLoopback() {
		from = netip.IPv6Unspecified()
	}
	var mark uint32
	if m.ValidMark {
		mark = p.Mark
	}
	dev, ok := e.Host.RouteOut(p.Family, from, src, mark, "")
	if !ok {
		return false
	}
	switch e.Host.AddrType(src, "") {
	case 1: // unicast
	case 2: // local
		if !m.AcceptLocal {
			return false
		}
		if p.Family == nf.IPv6 {
			return true
		}
	default:
		return false
	}
	if m.Loose || dev == p.InDev {
		return true
	}
	// A link-local source is looked up on the input interface itself.
	return p.Family == nf.IPv6 && src.IsLinkLocalUnicast()
}
