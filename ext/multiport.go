package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// multiport: -m multiport --sports/--dports/--ports (libxt_multiport
// revision 1, xt_multiport.c). Up to 15 entries; a range takes two.
type multiportMatch struct {
	Dir   uint8 // m1MultiSource, m1MultiDest or m1MultiEither
	Ports []m1PortSpan
	Inv   bool
	proto uint8
	optNm string
}

// m1PortSpan is one multiport entry: a single port (Lo == Hi, !Range) or a range.
type m1PortSpan struct {
	Lo, Hi uint16
	Range  bool
}

const (
	m1MultiSource = 1 + iota
	m1MultiDest
	m1MultiEither
	m1MultiMax = 15 // XT_MULTI_PORTS
)

func init() {
	Register(&Def{
		Name: "multiport", Kind: MatchKind,
		Options: []Option{
			{Name: "source-ports", Arg: NeedArg, Invert: true},
			{Name: "sports", Arg: NeedArg, Invert: true},
			{Name: "destination-ports", Arg: NeedArg, Invert: true},
			{Name: "dports", Arg: NeedArg, Invert: true},
			{Name: "ports", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &multiportMatch{} },
	})
}

// m1MultiProtoName is the protocol name multiport uses for service names,
// or "" when the protocol has no ports.
func m1MultiProtoName(p uint8) string {
	switch p {
	case nf.ProtoTCP:
		return "tcp"
	case nf.ProtoUDP:
		return "udp"
	case nf.ProtoUDPLite:
		return "udplite"
	case nf.ProtoSCTP:
		return "sctp"
	case nf.ProtoDCCP:
		return "dccp"
	}
	return ""
}

func (m *multiportMatch) Parse(u *Use) error {
	long := map[string]string{"sports": "source-ports", "dports": "destination-ports"}
	name := u.Opt.Name
	if l, ok := long[name]; ok {
		name = l
	}
	if m.Dir != 0 {
		if name == m.optNm {
			return Errorf("option \"--%s\" can only be used once", name)
		}
		return Errorf("option \"--%s\" cannot be used together with \"--%s\"", name, m.optNm)
	}
	r := u.Rule
	if r.InvProto {
		return Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
	}
	pname := m1MultiProtoName(r.Proto)
	if pname == "" {
		if r.Proto == 0 {
			return Errorf("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
		}
		return Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
	}
	var spans []m1PortSpan
	n := 0
	for _, part := range strings.Split(u.Arg, ",") {
		if n >= m1MultiMax {
			return Errorf("too many ports specified (at most %d, a range counting as 2)", m1MultiMax)
		}
		a, b, isRange := strings.Cut(part, ":")
		if isRange && n == m1MultiMax-1 {
			return Errorf("too many ports specified (at most %d, a range counting as 2)", m1MultiMax)
		}
		lo, err := ParsePort(a, pname)
		if err != nil {
			return err
		}
		sp := m1PortSpan{Lo: lo, Hi: lo}
		n++
		if isRange {
			hi, err := ParsePort(b, pname)
			if err != nil {
				return err
			}
			if lo >= hi {
				return Errorf("invalid portrange specified `%s': the first port must be lower than the second", part)
			}
			sp.Hi, sp.Range = hi, true
			n++
		}
		spans = append(spans, sp)
	}
	switch name {
	case "source-ports":
		m.Dir = m1MultiSource
	case "destination-ports":
		m.Dir = m1MultiDest
	default:
		m.Dir = m1MultiEither
	}
	m.Ports, m.Inv, m.proto, m.optNm = spans, u.Invert, r.Proto, name
	return nil
}

func (m *multiportMatch) Final(*RuleInfo) error {
	if m.Dir == 0 {
		return Errorf("multiport expects an option: --sports, --dports or --ports")
	}
	return nil
}

func (m *multiportMatch) list(b *Buf, numeric bool) {
	pn := m1MultiProtoName(m.proto)
	for i, p := range m.Ports {
		if i > 0 {
			b.S(",")
		}
		b.S(PortString(p.Lo, pn, numeric))
		if p.Range {
			b.S(":").S(PortString(p.Hi, pn, numeric))
		}
	}
}

func (m *multiportMatch) Save(b *Buf) {
	b.Not(m.Inv)
	switch m.Dir {
	case m1MultiSource:
		b.S(" --sports ")
	case m1MultiDest:
		b.S(" --dports ")
	default:
		b.S(" --ports ")
	}
	m.list(b, true)
}

func (m *multiportMatch) Print(b *Buf, numeric bool) {
	b.S(" multiport ")
	switch m.Dir {
	case m1MultiSource:
		b.S("sports ")
	case m1MultiDest:
		b.S("dports ")
	default:
		b.S("ports ")
	}
	if m.Inv {
		b.S(" !")
	}
	m.list(b, numeric)
}

// Match is xt_multiport.c's multiport_mt with ports_match_v1: the first
// entry that contains the port decides.
func (m *multiportMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	ports := hdrAt(p, thoff(p), 4)
	if ports == nil {
		e.HotDrop = true
		return false
	}
	src, dst := be16(ports), be16(ports[2:])
	for i := range m.Ports {
		s := &m.Ports[i]
		switch m.Dir {
		case m1MultiSource:
			if src >= s.Lo && src <= s.Hi {
				return !m.Inv
			}
		case m1MultiDest:
			if dst >= s.Lo && dst <= s.Hi {
				return !m.Inv
			}
		case m1MultiEither:
			if (src >= s.Lo && src <= s.Hi) || (dst >= s.Lo && dst <= s.Hi) {
				return !m.Inv
			}
		}
	}
	return m.Inv
}
