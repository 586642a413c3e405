package ext

import "github.com/nfgo/nfgo/nf"

// osf: -m osf (libxt_osf, xt_osf.c; IPv4 TCP only): passive OS
// fingerprinting of TCP SYN packets.
type osfMatch struct {
	Genre    string // OS genre, at most 31 bytes
	Invert   bool
	Set      bool
	TTL      uint32 // --ttl 0 (check the TTL), 1 (also no check for local), 2 (no check)
	HasTTL   bool
	LogLevel uint32 // --log 0 (every match), 1 (first match), 2 (also unknown)
	HasLog   bool
}

func init() {
	Register(&Def{
		Name: "osf", Kind: MatchKind, Family: nf.IPv4,
		Options: []Option{
			{Name: "genre", Arg: NeedArg, Invert: true},
			{Name: "ttl", Arg: NeedArg},
			{Name: "log", Arg: NeedArg},
		},
		Proto: nf.ProtoTCP,
		Hooks: nf.Hooks(nf.LocalIn, nf.PreRouting, nf.Forward),
		New:   func() Ext { return &osfMatch{} },
	})
}

func (m *osfMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "genre":
		if len(u.Arg) > 31 {
			return Errorf("genre `%s' too long (at most 31 characters)", u.Arg)
		}
		m.Genre, m.Invert, m.Set = u.Arg, u.Invert, true
	default:
		v, ok := ParseUint(u.Arg, 0, 2)
		if !ok {
			return Errorf("bad value for option \"--%s\" `%s': expected 0, 1 or 2", u.Opt.Name, u.Arg)
		}
		if u.Opt.Name == "ttl" {
			m.TTL, m.HasTTL = uint32(v), true
		} else {
			m.LogLevel, m.HasLog = uint32(v), true
		}
	}
	return nil
}

func (m *osfMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--genre\" must be specified")
	}
	return nil
}

func (m *osfMatch) Save(b *Buf) {
	b.Opt(m.Invert, "genre", m.Genre)
	if m.HasTTL {
		b.Opt(false, "ttl", Itoa(m.TTL))
	}
	if m.HasLog {
		b.Opt(false, "log", Itoa(m.LogLevel))
	}
}

func (m *osfMatch) Print(b *Buf, _ bool) {
	b.S(" OS fingerprint match ")
	if m.Invert {
		b.S("! ")
	}
	b.S(m.Genre)
}
