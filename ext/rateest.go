package ext

import (
	"math"
	"strconv"
	"strings"
)

// rateest: -m rateest (libxt_rateest, xt_rateest.c). The kernel also needs
// the named estimators to exist (made by -j RATEEST rules); nfgo's
// per-rule check cannot see other rules, so that is not checked here.

// Flags of struct xt_rateest_match_info.
const (
	RateestInvert = 1 << 0
	RateestAbs    = 1 << 1
	RateestRel    = 1 << 2
	RateestDelta  = 1 << 3
	RateestBPS    = 1 << 4
	RateestPPS    = 1 << 5
)

// Modes.
const (
	RateestNone = 0
	RateestEQ   = 1
	RateestLT   = 2
	RateestGT   = 3
)

const rateestNameLen = 16

type rateestMatch struct {
	Name1, Name2 string
	Flags        uint16
	Mode         uint16
	BPS1, PPS1   uint32 // bytes/s, packets/s
	BPS2, PPS2   uint32
	seen         map[string]bool
}

func init() {
	rate := func(n string) Option { return Option{Name: n, Arg: OptionalArg} }
	flag := func(n string) Option { return Option{Name: n, Arg: NoArg, Invert: true} }
	Register(&Def{
		Name: "rateest", Kind: MatchKind,
		Options: []Option{
			{Name: "rateest1", Arg: NeedArg}, {Name: "rateest", Arg: NeedArg}, {Name: "rateest2", Arg: NeedArg},
			rate("rateest-bps1"), rate("rateest-pps1"), rate("rateest-bps2"), rate("rateest-pps2"),
			rate("rateest-bps"), rate("rateest-pps"),
			{Name: "rateest-delta", Arg: NoArg}, flag("rateest-lt"), flag("rateest-gt"), flag("rateest-eq"),
		},
		New: func() Ext { return &rateestMatch{seen: map[string]bool{}} },
	})
}

var rateestSuffixes = []struct {
	name  string
	scale float64
}{
	{"bit", 1}, {"Kibit", 1024}, {"kbit", 1000}, {"Mibit", 1024 * 1024}, {"mbit", 1e6},
	{"Gibit", 1024 * 1024 * 1024}, {"gbit", 1e9}, {"Tibit", 1024 * 1024 * 1024 * 1024}, {"tbit", 1e12},
	{"Bps", 8}, {"KiBps", 8 * 1024}, {"KBps", 8000}, {"MiBps", 8 * 1024 * 1024}, {"MBps", 8e6},
	{"GiBps", 8 * 1024 * 1024 * 1024}, {"GBps", 8e9}, {"TiBps", 8 * 1024 * 1024 * 1024 * 1024}, {"TBps", 8e12},
}

// m2Strtod parses the longest leading decimal number of s, like strtod.
func m2Strtod(s string) (float64, string, bool) {
	s = strings.TrimLeft(s, " \t\n")
	best := -1
	var val float64
	for i := len(s); i > 0; i-- {
		v, err := strconv.ParseFloat(s[:i], 64)
		if err == nil || (err != nil && strings.Contains(err.Error(), "range")) {
			if !strings.ContainsAny(s[:i], "_") {
				best, val = i, v
				break
			}
		}
	}
	if best < 0 {
		return 0, s, false
	}
	return val, s[best:], true
}

// rateestRate parses a rate into bytes per second.
func rateestRate(s string) (uint32, bool) {
	bps, rest, ok := m2Strtod(s)
	if !ok {
		return 0, false
	}
	conv := func(f float64) uint32 {
		if f <= 0 || math.IsNaN(f) {
			return 0
		}
		if f >= 4294967295 {
			return 0xffffffff
		}
		return uint32(f)
	}
	if rest == "" {
		return conv(bps / 8), true
	}
	for _, x := range rateestSuffixes {
		if strings.EqualFold(x.name, rest) {
			return conv(bps * x.scale / 8), true
		}
	}
	return 0, false
}

func (m *rateestMatch) Parse(u *Use) error {
	n := u.Opt.Name
	key := n
	switch n {
	case "rateest":
		key = "rateest1"
	case "rateest-bps":
		key = "rateest-bps2"
	case "rateest-pps":
		key = "rateest-pps2"
	case "rateest-lt", "rateest-gt", "rateest-eq":
		key = "mode"
	}
	if m.seen[key] {
		if key == "mode" {
			return Errorf("can't specify lt/gt/eq twice")
		}
		return Errorf("can't specify --%s twice", key)
	}
	m.seen[key] = true
	trunc := func(s string) string {
		if len(s) > rateestNameLen-1 {
			return s[:rateestNameLen-1]
		}
		return s
	}
	switch key {
	case "rateest1":
		m.Name1 = trunc(u.Arg)
	case "rateest2":
		m.Name2 = trunc(u.Arg)
		m.Flags |= RateestRel
	case "rateest-bps1", "rateest-bps2":
		m.Flags |= RateestBPS
		if !u.HasArg {
			break
		}
		v, ok := rateestRate(u.Arg)
		if !ok {
			return Errorf("could not parse rate `%s': expected a number with an optional unit (bit, kbit, mbit, Bps, KBps, ...)", u.Arg)
		}
		if key == "rateest-bps1" {
			m.BPS1 = v
		} else {
			m.BPS2 = v
		}
	case "rateest-pps1", "rateest-pps2":
		m.Flags |= RateestPPS
		if !u.HasArg {
			break
		}
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("could not parse pps `%s': expected a number 0-4294967295", u.Arg)
		}
		if key == "rateest-pps1" {
			m.PPS1 = uint32(v)
		} else {
			m.PPS2 = uint32(v)
		}
	case "rateest-delta":
		m.Flags |= RateestDelta
	case "mode":
		switch n {
		case "rateest-eq":
			m.Mode = RateestEQ
		case "rateest-lt":
			m.Mode = RateestLT
		default:
			m.Mode = RateestGT
		}
		if u.Invert {
			m.Flags |= RateestInvert
		}
	}
	return nil
}

func (m *rateestMatch) Final(*RuleInfo) error {
	if m.Flags&RateestRel == 0 {
		m.Flags |= RateestAbs
	}
	return nil
}

// Check applies xt_rateest's checkentry rules (but for the estimators' existence).
func (m *rateestMatch) Check(*CheckCtx) error {
	if m.Flags&(RateestBPS|RateestPPS) == 0 {
		return Errorf("one of --rateest-bps or --rateest-pps is required")
	}
	if m.Mode == RateestNone {
		return Errorf("one of --rateest-lt, --rateest-gt or --rateest-eq is required")
	}
	if m.Name1 == "" {
		return Errorf("--rateest NAME is required")
	}
	return nil
}

func rateestRateString(rate uint32, numeric bool) string {
	if numeric {
		return Itoa(rate)
	}
	tmp := float64(rate) * 8
	switch {
	case tmp >= 1000.0*1000000.0:
		return strconv.FormatFloat(tmp/1000000.0, 'f', 0, 64) + "Mbit"
	case tmp >= 1000.0*1000.0:
		return strconv.FormatFloat(tmp/1000.0, 'f', 0, 64) + "Kbit"
	}
	return strconv.FormatFloat(tmp, 'f', 0, 64) + "bit"
}

func (m *rateestMatch) mode(b *Buf, prefix string) {
	b.Not(m.Flags&RateestInvert != 0)
	switch m.Mode {
	case RateestEQ:
		b.S(" ").S(prefix).S("eq")
	case RateestLT:
		b.S(" ").S(prefix).S("lt")
	case RateestGT:
		b.S(" ").S(prefix).S("gt")
	}
}

func (m *rateestMatch) saveRate(b *Buf, name string, r1, r2 uint32, numeric bool) {
	if m.Flags&RateestDelta != 0 {
		b.S(" --rateest-").S(name).S("1 ").S(rateestRateString(r1, numeric))
		m.mode(b, "--rateest-")
		b.S(" --rateest-").S(name).S("2")
	} else {
		m.mode(b, "--rateest-")
		b.S(" --rateest-").S(name)
	}
	if m.Flags&(RateestAbs|RateestDelta) != 0 {
		b.S(" ").S(rateestRateString(r2, numeric))
	}
}

func (m *rateestMatch) Save(b *Buf) {
	if m.Flags&RateestDelta != 0 {
		b.S(" --rateest-delta")
	}
	rates := func() {
		if m.Flags&RateestBPS != 0 {
			m.saveRate(b, "bps", m.BPS1, m.BPS2, false)
		}
		if m.Flags&RateestPPS != 0 {
			m.saveRate(b, "pps", m.PPS1, m.PPS2, true)
		}
	}
	if m.Flags&RateestRel != 0 {
		b.S(" --rateest1 ").S(m.Name1)
		rates()
		b.S(" --rateest2 ").S(m.Name2)
	} else {
		b.S(" --rateest ").S(m.Name1)
		rates()
	}
}

func (m *rateestMatch) Print(b *Buf, numeric bool) {
	b.S(" rateest match ").S(m.Name1)
	if m.Flags&RateestDelta != 0 {
		b.S(" delta")
	}
	if m.Flags&RateestBPS != 0 {
		b.S(" bps")
		if m.Flags&RateestDelta != 0 {
			b.S(" ").S(rateestRateString(m.BPS1, numeric))
		}
		if m.Flags&RateestAbs != 0 {
			b.S(" ").S(rateestRateString(m.BPS2, numeric))
			m.mode(b, "")
		}
	}
	if m.Flags&RateestPPS != 0 {
		b.S(" pps")
		if m.Flags&RateestDelta != 0 {
			b.S(" ").U(uint64(m.PPS1))
		}
		if m.Flags&RateestAbs != 0 {
			m.mode(b, "")
			b.S(" ").U(uint64(m.PPS2))
		}
	}
	if m.Flags&RateestRel != 0 {
		m.mode(b, "")
		b.S(" ").S(m.Name2)
		if m.Flags&RateestBPS != 0 {
			b.S(" bps")
			if m.Flags&RateestDelta != 0 {
				b.S(" ").S(rateestRateString(m.BPS2, numeric))
			}
		}
		if m.Flags&RateestPPS != 0 {
			b.S(" pps")
			if m.Flags&RateestDelta != 0 {
				b.S(" ").U(uint64(m.PPS2))
			}
		}
	}
}
