package ext

import "strings"

// set: -m set --match-set NAME DIRS (libxt_set revision 4, xt_set.c).
//
// The kernel refuses sets that do not exist. nfgo has no ipset model yet,
// so any set name is accepted here; evaluation will need one.
type setMatch struct {
	Name    string // ipset name, at most 31 bytes
	Dirs    []bool // per dimension: true = src, false = dst (1..6 entries)
	Invert  bool
	Given   bool
	NoMatch bool // --return-nomatch

	SkipCounterUpdate    bool // ! --update-counters
	SkipSubcounterUpdate bool // ! --update-subcounters
	Packets, Bytes       SetCounterMatch
}

// SetCounterOp is how a set element's counter is compared.
type SetCounterOp uint8

const (
	SetCounterNone SetCounterOp = iota
	SetCounterEq
	SetCounterNe
	SetCounterLt
	SetCounterGt
)

// SetCounterMatch compares one counter of the matched set element.
type SetCounterMatch struct {
	Op    SetCounterOp
	Value uint64
}

const (
	setMaxNameLen = 32 // IPSET_MAXNAMELEN, with the terminating NUL
	setDimMax     = 6  // IPSET_DIM_MAX
)

func init() {
	opt := func(name string, arg ArgKind) Option {
		return Option{Name: name, Arg: arg, Invert: true, Multi: true}
	}
	ms := opt("match-set", NeedArg)
	ms.Extra = 1
	old := opt("set", NeedArg)
	old.Extra = 1
	Register(&Def{
		Name: "set", Kind: MatchKind,
		Options: []Option{
			ms, old,
			opt("return-nomatch", NoArg),
			opt("update-counters", NoArg),
			opt("packets-eq", NeedArg),
			opt("packets-lt", NeedArg),
			opt("packets-gt", NeedArg),
			opt("bytes-eq", NeedArg),
			opt("bytes-lt", NeedArg),
			opt("bytes-gt", NeedArg),
			opt("update-subcounters", NoArg),
		},
		New: func() Ext { return &setMatch{} },
	})
}

func parseSetDirs(s string) ([]bool, error) {
	parts := strings.Split(s, ",")
	if len(parts) > setDimMax {
		return nil, Errorf("Can't be more src/dst options than %d.", setDimMax)
	}
	dirs := make([]bool, len(parts))
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "src"):
			dirs[i] = true
		case strings.HasPrefix(p, "dst"):
		default:
			return nil, Errorf("You must specify (the comma separated list of) 'src' or 'dst', not `%s'.", p)
		}
	}
	return dirs, nil
}

func (m *setMatch) counter(c *SetCounterMatch, u *Use) error {
	kind, op, _ := strings.Cut(u.Opt.Name, "-")
	if c.Op != SetCounterNone {
		return Errorf("only one of the --%s-[eq|lt|gt] is allowed", kind)
	}
	if u.Invert && op != "eq" {
		return Errorf("--%s option cannot be inverted", u.Opt.Name)
	}
	v, ok := ParseUint(u.Arg, 0, ^uint64(0))
	if !ok {
		return Errorf("Cannot parse %s as a counter value", u.Arg)
	}
	c.Value = v
	switch {
	case op == "lt":
		c.Op = SetCounterLt
	case op == "gt":
		c.Op = SetCounterGt
	case u.Invert:
		c.Op = SetCounterNe
	default:
		c.Op = SetCounterEq
	}
	return nil
}

func (m *setMatch) Parse(u *Use) error {
	switch n := u.Opt.Name; n {
	case "match-set", "set":
		if m.Given {
			return Errorf("--match-set can be specified only once")
		}
		if a := u.Args[0]; a == "" || a[0] == '-' || a[0] == '!' {
			return Errorf("--match-set requires two args: a set name and a comma list of src/dst")
		}
		if len(u.Arg) > setMaxNameLen-1 {
			return Errorf("setname `%s' too long, max %d characters.", u.Arg, setMaxNameLen-1)
		}
		dirs, err := parseSetDirs(u.Args[0])
		if err != nil {
			return err
		}
		m.Name, m.Dirs, m.Given = u.Arg, dirs, true
		if u.Invert {
			m.Invert = true
		}
	case "return-nomatch":
		if u.Invert {
			return Errorf("--return-nomatch flag cannot be inverted")
		}
		m.NoMatch = true
	case "update-counters":
		if u.Invert {
			m.SkipCounterUpdate = true
		}
	case "update-subcounters":
		if u.Invert {
			m.SkipSubcounterUpdate = true
		}
	case "packets-eq", "packets-lt", "packets-gt":
		return m.counter(&m.Packets, u)
	default:
		return m.counter(&m.Bytes, u)
	}
	return nil
}

func (m *setMatch) Final(*RuleInfo) error {
	if !m.Given {
		return Errorf("You must specify `--match-set' with proper arguments")
	}
	return nil
}

func (m *setMatch) out(b *Buf, sep string) {
	b.Not(m.Invert).S(" ").S(sep).S("match-set ").S(m.Name)
	for i, d := range m.Dirs {
		if i == 0 {
			b.S(" ")
		} else {
			b.S(",")
		}
		if d {
			b.S("src")
		} else {
			b.S("dst")
		}
	}
	if m.NoMatch {
		b.S(" ").S(sep).S("return-nomatch")
	}
	if m.SkipCounterUpdate {
		b.S(" ! ").S(sep).S("update-counters")
	}
	if m.SkipSubcounterUpdate {
		b.S(" ! ").S(sep).S("update-subcounters")
	}
	for _, c := range []struct {
		name string
		c    SetCounterMatch
	}{{"packets", m.Packets}, {"bytes", m.Bytes}} {
		switch c.c.Op {
		case SetCounterEq:
			b.S(" ").S(sep).S(c.name).S("-eq ").U(c.c.Value)
		case SetCounterNe:
			b.S(" ! ").S(sep).S(c.name).S("-eq ").U(c.c.Value)
		case SetCounterLt:
			b.S(" ").S(sep).S(c.name).S("-lt ").U(c.c.Value)
		case SetCounterGt:
			b.S(" ").S(sep).S(c.name).S("-gt ").U(c.c.Value)
		}
	}
}

func (m *setMatch) Save(b *Buf) { m.out(b, "--") }

func (m *setMatch) Print(b *Buf, _ bool) { m.out(b, "") }
