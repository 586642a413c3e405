package ext

import (
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// recent: -m recent (libxt_recent revision 1, xt_recent.c).

// Flags of check_set.
const (
	RecentCheck  = 1 << 0
	RecentSet    = 1 << 1
	RecentUpdate = 1 << 2
	RecentRemove = 1 << 3
	RecentTTL    = 1 << 4
	RecentReap   = 1 << 5
)

const (
	recentNameLen   = 200
	recentMaxStamps = 65536
	recentAnyOp     = RecentCheck | RecentSet | RecentUpdate | RecentRemove
)

type recentMatch struct {
	Family   nf.Family
	Seconds  uint32
	HitCount uint32
	CheckSet uint8
	Invert   bool
	Name     string
	Dest     bool // --rdest: the destination address is recorded/checked
	Mask     netip.Addr
}

func init() {
	op := func(n string) Option { return Option{Name: n, Arg: NoArg, Invert: true} }
	flag := func(n string) Option { return Option{Name: n, Arg: NoArg} }
	Register(&Def{
		Name: "recent", Kind: MatchKind,
		Options: []Option{
			op("set"), op("rcheck"), op("update"), op("remove"),
			{Name: "seconds", Arg: NeedArg}, flag("reap"), {Name: "hitcount", Arg: NeedArg}, flag("rttl"),
			{Name: "name", Arg: NeedArg}, flag("rsource"), flag("rdest"), {Name: "mask", Arg: NeedArg},
		},
		New: func() Ext { return &recentMatch{Name: "DEFAULT"} },
	})
}

var recentOpNames = map[uint8]string{RecentSet: "set", RecentCheck: "rcheck", RecentUpdate: "update", RecentRemove: "remove"}

func (m *recentMatch) Parse(u *Use) error {
	m.Family = u.Rule.Family
	var bit uint8
	switch u.Opt.Name {
	case "set":
		bit = RecentSet
	case "rcheck":
		bit = RecentCheck
	case "update":
		bit = RecentUpdate
	case "remove":
		bit = RecentRemove
	case "seconds":
		v, ok := ParseUint(u.Arg, 1, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--seconds\", or out of range (1-4294967295)")
		}
		m.Seconds = uint32(v)
	case "hitcount":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--hitcount\", or out of range (0-4294967295)")
		}
		m.HitCount = uint32(v)
	case "reap":
		m.CheckSet |= RecentReap
	case "rttl":
		if m.CheckSet&(RecentSet|RecentRemove) != 0 {
			return Errorf("option \"--rttl\" cannot be used together with \"--%s\"", recentOpNames[m.CheckSet&(RecentSet|RecentRemove)])
		}
		m.CheckSet |= RecentTTL
	case "name":
		n := u.Arg
		if len(n) > recentNameLen-1 {
			n = n[:recentNameLen-1]
		}
		m.Name = n
	case "rsource":
		m.Dest = false
	case "rdest":
		m.Dest = true
	case "mask":
		a, err := m2ParseHost(m.Family, u.Arg)
		if err != nil {
			return err
		}
		m.Mask = a
	}
	if bit != 0 {
		if op := m.CheckSet & recentAnyOp; op != 0 {
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", u.Opt.Name, recentOpNames[op])
		}
		if m.CheckSet&RecentTTL != 0 && bit&(RecentSet|RecentRemove) != 0 {
			return Errorf("option \"--%s\" cannot be used together with \"--rttl\"", u.Opt.Name)
		}
		m.CheckSet |= bit
		if u.Invert {
			m.Invert = true
		}
	}
	return nil
}

func (m *recentMatch) Final(r *RuleInfo) error {
	m.Family = r.Family
	if !m.Mask.IsValid() {
		m.Mask = m2PrefixMask(m.Family, m2Bits(m.Family))
	}
	if m.CheckSet&RecentReap != 0 && m.Seconds == 0 {
		return Errorf("option \"--reap\" also requires \"--seconds\"")
	}
	if m.CheckSet&recentAnyOp == 0 {
		return Errorf("you must specify one of `--set', `--rcheck' `--update' or `--remove'")
	}
	return nil
}

// Check applies xt_recent's checkentry rules.
func (m *recentMatch) Check(*CheckCtx) error {
	if m.CheckSet&(RecentSet|RecentRemove) != 0 && (m.Seconds != 0 || m.HitCount != 0 || m.CheckSet&(RecentTTL|RecentReap) != 0) {
		return Errorf("--set and --remove take no --seconds, --hitcount, --rttl or --reap")
	}
	if m.HitCount >= recentMaxStamps {
		return Errorf("hitcount (%d) is larger than allowed maximum (%d)", m.HitCount, recentMaxStamps-1)
	}
	if m.Name == "" || m.Name == "." || m.Name == ".." || strings.Contains(m.Name, "/") {
		return Errorf("invalid recent list name %q: it may not be empty, \".\", \"..\" or contain '/'", m.Name)
	}
	return nil
}

func (m *recentMatch) Save(b *Buf) {
	b.Not(m.Invert)
	for _, x := range []struct {
		bit  uint8
		name string
	}{{RecentSet, " --set"}, {RecentCheck, " --rcheck"}, {RecentUpdate, " --update"}, {RecentRemove, " --remove"}} {
		if m.CheckSet&x.bit != 0 {
			b.S(x.name)
		}
	}
	if m.Seconds != 0 {
		b.S(" --seconds ").S(m2Int32(m.Seconds))
	}
	if m.CheckSet&RecentReap != 0 {
		b.S(" --reap")
	}
	if m.HitCount != 0 {
		b.S(" --hitcount ").S(m2Int32(m.HitCount))
	}
	if m.CheckSet&RecentTTL != 0 {
		b.S(" --rttl")
	}
	b.S(" --name ").S(m.Name)
	b.S(" --mask ").S(m.Mask.String())
	if m.Dest {
		b.S(" --rdest")
	} else {
		b.S(" --rsource")
	}
}

func (m *recentMatch) Print(b *Buf, _ bool) {
	b.Not(m.Invert)
	b.S(" recent:")
	for _, x := range []struct {
		bit  uint8
		name string
	}{{RecentSet, " SET"}, {RecentCheck, " CHECK"}, {RecentUpdate, " UPDATE"}, {RecentRemove, " REMOVE"}} {
		if m.CheckSet&x.bit != 0 {
			b.S(x.name)
		}
	}
	if m.Seconds != 0 {
		b.S(" seconds: ").S(m2Int32(m.Seconds))
	}
	if m.CheckSet&RecentReap != 0 {
		b.S(" reap")
	}
	if m.HitCount != 0 {
		b.S(" hit_count: ").S(m2Int32(m.HitCount))
	}
	if m.CheckSet&RecentTTL != 0 {
		b.S(" TTL-Match")
	}
	b.S(" name: ").S(m.Name)
	if m.Dest {
		b.S(" side: dest")
	} else {
		b.S(" side: source")
	}
	b.S(" mask: ").S(m.Mask.String())
}
