package ext

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// connlabel: -m connlabel (libxt_connlabel, xt_connlabel.c). Labels are
// bit numbers 0-127; names come from /etc/xtables/connlabel.conf (lines
// "BIT NAME", '#' comments) when that file exists, as libnetfilter_conntrack
// reads it.

const (
	ConnlabelInvert = 1 << 0
	ConnlabelSet    = 1 << 1
	connlabelMaxBit = 127
)

// ConnlabelConf is the label name file.
var ConnlabelConf = "/etc/xtables/connlabel.conf"

type connlabelMatch struct {
	Bit     uint16
	Options uint16
	set     bool
}

func init() {
	Register(&Def{
		Name: "connlabel", Kind: MatchKind,
		Options: []Option{{Name: "label", Arg: NeedArg, Invert: true}, {Name: "set", Arg: NoArg}},
		New:     func() Ext { return &connlabelMatch{} },
	})
}

// m2ConnlabelMap reads the label file: bit -> name. ok is false when the
// file cannot be read.
func m2ConnlabelMap() (map[int]string, bool) {
	f, err := os.Open(ConnlabelConf)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		i := 0
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
		if i == 0 {
			continue
		}
		bit, err := strconv.Atoi(l[:i])
		name := strings.TrimSpace(l[i:])
		if err != nil || name == "" || bit > connlabelMaxBit {
			continue
		}
		if _, dup := out[bit]; !dup {
			out[bit] = name
		}
	}
	return out, true
}

func (m *connlabelMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "label":
		if u.Arg == "" {
			return Errorf("Argument must have a minimum length of 1 characters")
		}
		bit := -1
		if v, rest, ok := m2Strtoull(u.Arg); ok && rest == "" {
			bit = int(int32(uint32(v))) // iptables keeps the value in an int
		}
		if bit < 0 {
			if names, ok := m2ConnlabelMap(); ok {
				for b, n := range names {
					if n == u.Arg && (bit < 0 || b < bit) {
						bit = b
					}
				}
			}
		}
		if bit < 0 || bit > 0xffff {
			return Errorf("label '%s' not found or invalid value: expected a bit number 0-%d or a name from %s", u.Arg, connlabelMaxBit, ConnlabelConf)
		}
		m.Bit, m.set = uint16(bit), true
		if u.Invert {
			m.Options |= ConnlabelInvert
		}
	case "set":
		m.Options |= ConnlabelSet
	}
	return nil
}

func (m *connlabelMatch) Final(*RuleInfo) error {
	if !m.set {
		return Errorf("option \"--label\" must be specified")
	}
	return nil
}

// Check applies the kernel's limit on label bits.
func (m *connlabelMatch) Check(*CheckCtx) error {
	if m.Bit > connlabelMaxBit {
		return Errorf("label bit %d out of range: the kernel supports bits 0-%d", m.Bit, connlabelMaxBit)
	}
	return nil
}

func (m *connlabelMatch) name() string {
	names, _ := m2ConnlabelMap()
	return names[int(m.Bit)]
}

func (m *connlabelMatch) Save(b *Buf) {
	b.Not(m.Options&ConnlabelInvert != 0)
	if n := m.name(); n != "" {
		b.S(" --label \"").S(n).S("\"")
	} else {
		b.S(" --label \"").U(uint64(m.Bit)).S("\"")
	}
	if m.Options&ConnlabelSet != 0 {
		b.S(" --set")
	}
}

func (m *connlabelMatch) Print(b *Buf, numeric bool) {
	b.S(" connlabel")
	b.Not(m.Options&ConnlabelInvert != 0)
	if n := m.name(); !numeric && n != "" {
		b.S(" '").S(n).S("'")
	} else {
		b.S(" ").U(uint64(m.Bit))
	}
	if m.Options&ConnlabelSet != 0 {
		b.S(" set")
	}
}

// Match is connlabel_mt. Without a connection it returns the inversion
// flag ("if (ct == NULL) return invert;"), so "! --label X" matches
// INVALID and UNTRACKED packets. --set sets the bit when it is clear
// (the kernel then reports IPCT_LABEL: Conn.SetLabels is called only on
// a change) and matches as if it had been set.
//
// The kernel also returns the inversion flag for a connection without a
// labels extension, which one created before the first connlabel rule
// was loaded lacks; Conn cannot tell that apart from "no label set".
func (m *connlabelMatch) Match(e *Env) bool {
	inv := m.Options&ConnlabelInvert != 0
	ct := e.Conn
	if ct == nil || m.Bit > connlabelMaxBit {
		return inv
	}
	l := ct.Labels()
	w, bit := m.Bit/64, uint64(1)<<(m.Bit%64)
	if l[w]&bit != 0 {
		return !inv
	}
	if m.Options&ConnlabelSet != 0 {
		l[w] |= bit
		ct.SetLabels(l)
		return !inv
	}
	return inv
}
