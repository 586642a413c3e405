package ext

import "github.com/nfgo/nfgo/nf"

// ttl: -m ttl --ttl-eq/--ttl-lt/--ttl-gt N (libipt_ttl, ipt_ttl.c) and
// hl: -m hl --hl-eq/--hl-lt/--hl-gt N (libip6t_hl, ip6t_hl.c).
type ttlMatch struct {
	V6    bool
	Mode  uint8 // m1TTLEq, m1TTLNe, m1TTLLt, m1TTLGt (kernel mode values)
	Value uint8
	Set   bool
	opt   string
}

const (
	m1TTLEq = iota
	m1TTLNe
	m1TTLLt
	m1TTLGt
)

func init() {
	Register(&Def{
		Name: "ttl", Kind: MatchKind, Family: nf.IPv4,
		Options: []Option{
			{Name: "ttl-lt", Arg: NeedArg}, {Name: "ttl-gt", Arg: NeedArg},
			{Name: "ttl-eq", Arg: NeedArg, Invert: true}, {Name: "ttl", Arg: NeedArg},
		},
		New: func() Ext { return &ttlMatch{} },
	})
	Register(&Def{
		Name: "hl", Kind: MatchKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "hl-lt", Arg: NeedArg}, {Name: "hl-gt", Arg: NeedArg},
			{Name: "hl-eq", Arg: NeedArg, Invert: true}, {Name: "hl", Arg: NeedArg},
		},
		New: func() Ext { return &ttlMatch{V6: true} },
	})
}

func (m *ttlMatch) Parse(u *Use) error {
	if m.Set {
		return Errorf("option \"--%s\" cannot be used together with \"--%s\"", u.Opt.Name, m.opt)
	}
	v, ok := ParseUint(u.Arg, 0, 255)
	if !ok {
		return Errorf("bad value `%s' for option \"--%s\": expected a number 0-255", u.Arg, u.Opt.Name)
	}
	switch u.Opt.Name {
	case "ttl-lt", "hl-lt":
		m.Mode = m1TTLLt
	case "ttl-gt", "hl-gt":
		m.Mode = m1TTLGt
	default:
		m.Mode = m1TTLEq
		if u.Invert {
			m.Mode = m1TTLNe
		}
	}
	m.Value, m.Set, m.opt = uint8(v), true, u.Opt.Name
	return nil
}

func (m *ttlMatch) Final(*RuleInfo) error {
	if !m.Set {
		if m.V6 {
			return Errorf("HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'")
		}
		return Errorf("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt'")
	}
	return nil
}

func (m *ttlMatch) Save(b *Buf) {
	p := "ttl"
	if m.V6 {
		p = "hl"
	}
	switch m.Mode {
	case m1TTLEq:
		b.Opt(false, p+"-eq")
	case m1TTLNe:
		b.Opt(true, p+"-eq")
	case m1TTLLt:
		b.Opt(false, p+"-lt")
	case m1TTLGt:
		b.Opt(false, p+"-gt")
	}
	b.S(" ").U(uint64(m.Value))
}

func (m *ttlMatch) Print(b *Buf, _ bool) {
	if m.V6 {
		b.S(" HL match HL ")
	} else {
		b.S(" TTL match TTL ")
	}
	b.S([...]string{"==", "!=", "<", ">"}[m.Mode]).S(" ").U(uint64(m.Value))
}

// Match compares the IPv4 TTL or IPv6 hop limit (ipt_ttl.c, ip6t_hl.c).
func (m *ttlMatch) Match(e *Env) bool {
	t := e.Pkt.TTL()
	switch m.Mode {
	case m1TTLEq:
		return t == m.Value
	case m1TTLNe:
		return t != m.Value
	case m1TTLLt:
		return t < m.Value
	case m1TTLGt:
		return t > m.Value
	}
	return false
}
