package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// hbh: -m hbh --hbh-len/--hbh-opts and dst: -m dst --dst-len/--dst-opts
// (libip6t_hbh, libip6t_dst, ip6t_hbh.c): the IPv6 hop-by-hop and
// destination options headers.
type optsMatch struct {
	Name   string // "hbh" or "dst"
	Len    uint32
	LenSet bool
	InvLen bool
	Opts   []m1IPv6Opt // at most 16
	OptSet bool
}

// m1IPv6Opt is one --hbh-opts/--dst-opts entry: an option type and, when
// HasLen, its required length.
type m1IPv6Opt struct {
	Type   uint8
	Len    uint8
	HasLen bool
}

const m1OptsMax = 16 // IP6T_OPTS_OPTSNR

func init() {
	for _, n := range []string{"hbh", "dst"} {
		name := n
		Register(&Def{
			Name: name, Kind: MatchKind, Family: nf.IPv6,
			Options: []Option{
				{Name: name + "-len", Arg: NeedArg, Invert: true},
				{Name: name + "-opts", Arg: NeedArg},
			},
			New: func() Ext { return &optsMatch{Name: name} },
		})
	}
}

// m1ParseOptNum parses a number as strtoul base 0 would, keeping the low byte.
func m1ParseOptNum(s, what string) (uint8, error) {
	if s == "" {
		return 0, Errorf("no valid digits in %s `%s'", what, s)
	}
	v, ok := ParseUint(s, 0, ^uint64(0))
	if !ok {
		return 0, Errorf("error parsing %s `%s': expected a number", what, s)
	}
	return uint8(v), nil
}

func (m *optsMatch) Parse(u *Use) error {
	if strings.HasSuffix(u.Opt.Name, "-len") {
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value `%s' for option \"--%s\": expected a number 0-4294967295", u.Arg, u.Opt.Name)
		}
		m.Len, m.LenSet, m.InvLen = uint32(v), true, u.Invert
		return nil
	}
	parts := strings.Split(u.Arg, ",")
	if len(parts) > m1OptsMax {
		return Errorf("too many options specified (at most %d)", m1OptsMax)
	}
	var opts []m1IPv6Opt
	for i, p := range parts {
		ts, ls, hasLen := strings.Cut(p, ":")
		if hasLen && i == m1OptsMax-1 {
			return Errorf("too many options specified (at most %d)", m1OptsMax)
		}
		t, err := m1ParseOptNum(ts, "opt")
		if err != nil {
			return err
		}
		o := m1IPv6Opt{Type: t}
		if hasLen {
			if t == 0 {
				return Errorf("PAD0 has not got length: option type 0 takes no `:LEN'")
			}
			l, err := m1ParseOptNum(ls, "length")
			if err != nil {
				return err
			}
			o.Len, o.HasLen = l, l != 0xff
		}
		opts = append(opts, o)
	}
	m.Opts, m.OptSet = opts, true
	return nil
}

func (m *optsMatch) Final(*RuleInfo) error { return nil }

func (m *optsMatch) list(b *Buf) {
	for i, o := range m.Opts {
		if i == 0 {
			b.S(" ")
		} else {
			b.S(",")
		}
		b.U(uint64(o.Type))
		if o.HasLen {
			b.S(":").U(uint64(o.Len))
		}
	}
}

func (m *optsMatch) Save(b *Buf) {
	if m.LenSet {
		b.Opt(m.InvLen, m.Name+"-len", Itoa(m.Len))
	}
	if m.OptSet {
		b.S(" --").S(m.Name).S("-opts")
	}
	m.list(b)
}

func (m *optsMatch) Print(b *Buf, _ bool) {
	b.S(" ").S(m.Name)
	if m.LenSet {
		b.S(" length:")
		if m.InvLen {
			b.S("!")
		}
		b.U(uint64(m.Len))
	}
	if m.OptSet {
		b.S(" opts")
	}
	m.list(b)
}

// Match is ip6t_hbh.c's hbh_mt6 for the first hop-by-hop or destination
// options header: its length, then the listed options in order from the
// first (a shorter list than the header holds still matches).
func (m *optsMatch) Match(e *Env) bool {
	p := e.Pkt
	target := uint8(0)
	if m.Name == "dst" {
		target = 60
	}
	off := findExt6(e, target)
	if off < 0 {
		return false
	}
	oh := hdrAt(p, off, 2)
	if oh == nil {
		e.HotDrop = true
		return false
	}
	hdrlen := (int(oh[1]) + 1) * 8
	if len(p.Data)-off < hdrlen {
		e.HotDrop = true
		return false
	}
	ret := !m.LenSet || (uint32(hdrlen) == m.Len) != m.InvLen
	if !m.OptSet {
		return ret
	}
	ptr, left := off+2, hdrlen-2
	n := len(m.Opts)
	i := 0
	for ; i < n; i++ {
		if left < 1 {
			break
		}
		tp := hdrAt(p, ptr, 1)
		if tp == nil {
			break
		}
		if tp[0] != m.Opts[i].Type {
			return false
		}
		optlen := 1
		if tp[0] != 0 {
			if left < 2 {
				break
			}
			lp := hdrAt(p, ptr+1, 1)
			if lp == nil {
				break
			}
			if m.Opts[i].HasLen && m.Opts[i].Len != lp[0] {
				return false
			}
			optlen = int(lp[0]) + 2
		}
		if (optlen <= len(p.Data) && ptr > len(p.Data)-optlen || left < optlen) && i < n-1 {
			break
		}
		ptr += optlen
		left -= optlen
	}
	return i == n && ret
}
