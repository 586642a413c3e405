package ext

import "github.com/nfgo/nfgo/nf"

// udp: -m udp (libxt_udp, xt_tcpudp.c).
type udpMatch struct{ Src, Dst PortRange }

func init() {
	Register(&Def{
		Name: "udp", Kind: MatchKind, Proto: nf.ProtoUDP,
		Options: []Option{
			{Name: "source-port", Arg: NeedArg, Invert: true},
			{Name: "sport", Arg: NeedArg, Invert: true},
			{Name: "destination-port", Arg: NeedArg, Invert: true},
			{Name: "dport", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &udpMatch{} },
	})
}

func (m *udpMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "source-port", "sport":
		if m.Src.Set {
			return Errorf("only one `--source-port' allowed")
		}
		return m.Src.Parse(u, "udp")
	default:
		if m.Dst.Set {
			return Errorf("only one `--destination-port' allowed")
		}
		return m.Dst.Parse(u, "udp")
	}
}

func (m *udpMatch) Final(r *RuleInfo) error { return RequireProto(r, nf.ProtoUDP, "UDP", "udp") }

func (m *udpMatch) Save(b *Buf) {
	m.Src.Save(b, "sport")
	m.Dst.Save(b, "dport")
}

func (m *udpMatch) Print(b *Buf, numeric bool) {
	b.S(" udp")
	m.Src.Print(b, "spt", "udp", numeric)
	m.Dst.Print(b, "dpt", "udp", numeric)
}
