package ext

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// srh: -m srh (libip6t_srh revision 1, ip6t_srh.c): the IPv6 segment
// routing header.
type srhMatch struct {
	Flags     uint16 // IP6T_SRH_* bits of the tests that are on
	InvFlags  uint16 // the same bits for inverted tests
	NextHdr   uint8
	HdrLen    uint8 // shared by --srh-hdr-len-eq/-gt/-lt
	SegsLeft  uint8 // shared by --srh-segs-left-*
	LastEntry uint8 // shared by --srh-last-entry-*
	Tag       uint16
	PSID      netip.Prefix // previous segment ID with its prefix length
	NSID      netip.Prefix // next segment ID
	LSID      netip.Prefix // last segment ID
}

// m1SRHOpts lists the options in flag bit order (IP6T_SRH_NEXTHDR = 1 ...).
var m1SRHOpts = []struct{ opt, label string }{
	{"srh-next-hdr", "next-hdr"}, {"srh-hdr-len-eq", "hdr-len-eq"}, {"srh-hdr-len-gt", "hdr-len-gt"},
	{"srh-hdr-len-lt", "hdr-len-lt"}, {"srh-segs-left-eq", "segs-left-eq"}, {"srh-segs-left-gt", "segs-left-gt"},
	{"srh-segs-left-lt", "segs-left-lt"}, {"srh-last-entry-eq", "last-entry-eq"},
	{"srh-last-entry-gt", "last-entry-gt"}, {"srh-last-entry-lt", "last-entry-lt"}, {"srh-tag", "tag"},
	{"srh-psid", "psid"}, {"srh-nsid", "nsid"}, {"srh-lsid", "lsid"},
}

func init() {
	var opts []Option
	for _, o := range m1SRHOpts {
		opts = append(opts, Option{Name: o.opt, Arg: NeedArg, Invert: true})
	}
	Register(&Def{
		Name: "srh", Kind: MatchKind, Family: nf.IPv6,
		Options: opts,
		New:     func() Ext { return &srhMatch{} },
	})
}

// m1ParseHostMask parses "addr[/len]" (XTTYPE_HOSTMASK, IPv6): the address
// is kept as given, not masked; the length defaults to 128.
func m1ParseHostMask(s string) (netip.Prefix, error) {
	a, l, hasLen := strings.Cut(s, "/")
	addr, ok := m1ParseIPv6Numeric(a)
	if !ok {
		return netip.Prefix{}, Errorf("bad address `%s': expected a numeric IPv6 address[/prefix length]", a)
	}
	bits := 128
	if hasLen {
		n, err := strconv.Atoi(l)
		if err != nil || !isAllDigits(l) || n > 128 {
			return netip.Prefix{}, Errorf("bad prefix length `%s': expected 0-128", l)
		}
		bits = n
	}
	return netip.PrefixFrom(addr, bits), nil
}

func (m *srhMatch) Parse(u *Use) error {
	bit := -1
	for i, o := range m1SRHOpts {
		if o.opt == u.Opt.Name {
			bit = i
		}
	}
	var err error
	switch {
	case bit >= 11:
		var p netip.Prefix
		if p, err = m1ParseHostMask(u.Arg); err != nil {
			return err
		}
		switch bit {
		case 11:
			m.PSID = p
		case 12:
			m.NSID = p
		default:
			m.LSID = p
		}
	case bit == 10:
		v, ok := ParseUint(u.Arg, 0, 0xffff)
		if !ok {
			return Errorf("bad value `%s' for option \"--srh-tag\": expected a number 0-65535", u.Arg)
		}
		m.Tag = uint16(v)
	default:
		v, ok := ParseUint(u.Arg, 0, 255)
		if !ok {
			return Errorf("bad value `%s' for option \"--%s\": expected a number 0-255", u.Arg, u.Opt.Name)
		}
		switch {
		case bit == 0:
			m.NextHdr = uint8(v)
		case bit <= 3:
			m.HdrLen = uint8(v)
		case bit <= 6:
			m.SegsLeft = uint8(v)
		default:
			m.LastEntry = uint8(v)
		}
	}
	m.Flags |= 1 << bit
	if u.Invert {
		m.InvFlags |= 1 << bit
	}
	return nil
}

func (m *srhMatch) Final(*RuleInfo) error { return nil }

func (m *srhMatch) value(bit int) string {
	switch {
	case bit == 0:
		return Itoa(m.NextHdr)
	case bit <= 3:
		return Itoa(m.HdrLen)
	case bit <= 6:
		return Itoa(m.SegsLeft)
	case bit <= 9:
		return Itoa(m.LastEntry)
	case bit == 10:
		return Itoa(m.Tag)
	}
	p := [...]netip.Prefix{m.PSID, m.NSID, m.LSID}[bit-11]
	return p.Addr().String() + "/" + strconv.Itoa(p.Bits())
}

func (m *srhMatch) Save(b *Buf) {
	for i, o := range m1SRHOpts {
		if m.Flags&(1<<i) != 0 {
			b.Opt(m.InvFlags&(1<<i) != 0, o.opt, m.value(i))
		}
	}
}

func (m *srhMatch) Print(b *Buf, _ bool) {
	b.S(" srh")
	for i, o := range m1SRHOpts {
		if m.Flags&(1<<i) == 0 {
			continue
		}
		inv := ""
		if m.InvFlags&(1<<i) != 0 {
			inv = "!"
		}
		if i >= 11 {
			b.S(" ").S(o.label).S(" ").S(inv).S(" ").S(m.value(i))
		} else {
			b.S(" ").S(o.label).S(":").S(inv).S(m.value(i))
		}
	}
}
