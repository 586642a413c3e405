package ext

import (
	"math"
	"strconv"
	"strings"
	"sync"
)

// statistic: -m statistic (libxt_statistic, xt_statistic.c).

const (
	StatisticModeRandom = 0
	StatisticModeNth    = 1
	StatisticInvert     = 1
)

type statisticMatch struct {
	Mode  uint16
	Flags uint16
	// Random mode: match when a random 31-bit number is below Probability.
	Probability uint32
	// Nth mode: Every is n-1; Packet the initial counter; Count = Every - Packet.
	Every, Packet, Count uint32
	modeSet              bool
	probSet              bool
	everySet, packetSet  bool
	st                   statisticState
}

// statisticState is the rule's nth counter (xt_statistic_priv), set to
// Count when the rule is installed.
type statisticState struct {
	mu      sync.Mutex
	started bool
	count   uint32
}

func init() {
	Register(&Def{
		Name: "statistic", Kind: MatchKind,
		Options: []Option{
			{Name: "mode", Arg: NeedArg},
			{Name: "probability", Arg: NeedArg, Invert: true},
			{Name: "every", Arg: NeedArg, Invert: true},
			{Name: "packet", Arg: NeedArg},
		},
		New: func() Ext { return &statisticMatch{} },
	})
}

func (m *statisticMatch) Parse(u *Use) error {
	if u.Invert {
		m.Flags |= StatisticInvert
	}
	switch u.Opt.Name {
	case "mode":
		switch u.Arg {
		case "random":
			m.Mode = StatisticModeRandom
		case "nth":
			m.Mode = StatisticModeNth
		default:
			return Errorf("Bad mode \"%s\": expected random or nth", u.Arg)
		}
		m.modeSet = true
	case "probability":
		if m.everySet || m.packetSet {
			return Errorf("option \"--probability\" cannot be used together with \"--every\" or \"--packet\"")
		}
		s := strings.TrimLeft(u.Arg, " \t\n")
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || s == "" || v < 0 || v > 1 || math.IsNaN(v) {
			return Errorf("bad value for option \"--probability\": expected a number 0-1")
		}
		m.Probability = uint32(math.Round(0x80000000 * v))
		m.probSet = true
	case "every":
		if m.probSet {
			return Errorf("option \"--every\" cannot be used together with \"--probability\"")
		}
		v, ok := ParseUint(u.Arg, 1, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--every\", or out of range (1-4294967295)")
		}
		m.Every, m.everySet = uint32(v-1), true
	case "packet":
		if m.probSet {
			return Errorf("option \"--packet\" cannot be used together with \"--probability\"")
		}
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--packet\", or out of range (0-4294967295)")
		}
		m.Packet, m.packetSet = uint32(v), true
	}
	return nil
}

func (m *statisticMatch) Final(*RuleInfo) error {
	if !m.modeSet {
		return Errorf("option \"--mode\" must be specified")
	}
	if m.everySet && !m.packetSet {
		return Errorf("option \"--every\" also requires \"--packet\"")
	}
	if m.packetSet && !m.everySet {
		return Errorf("option \"--packet\" also requires \"--every\"")
	}
	if m.Mode == StatisticModeRandom && !m.probSet {
		return Errorf("--probability must be specified when using random mode")
	}
	if m.Mode == StatisticModeNth && !m.everySet {
		return Errorf("--every and --packet must be specified when using nth mode")
	}
	if m.Packet > m.Every {
		return Errorf("the --packet p must be 0 <= p <= n-1")
	}
	m.Count = m.Every - m.Packet
	return nil
}

func (m *statisticMatch) dump(b *Buf, prefix string) {
	inv := ""
	if m.Flags&StatisticInvert != 0 {
		inv = " !"
	}
	switch m.Mode {
	case StatisticModeRandom:
		b.S(" ").S(prefix).S("mode random").S(inv).S(" ").S(prefix).S("probability ")
		b.S(strconv.FormatFloat(float64(m.Probability)/0x80000000, 'f', 11, 64))
	case StatisticModeNth:
		b.S(" ").S(prefix).S("mode nth").S(inv).S(" ").S(prefix).S("every ").U(uint64(m.Every) + 1)
		if m.Packet != 0 || prefix != "" {
			b.S(" ").S(prefix).S("packet ").U(uint64(m.Packet))
		}
	}
}

func (m *statisticMatch) Save(b *Buf) { m.dump(b, "--") }

func (m *statisticMatch) Print(b *Buf, _ bool) {
	b.S(" statistic")
	m.dump(b, "")
}

// CanEval: random mode draws from the kernel's random generator, whose
// outcomes no reimplementation can reproduce; only the probabilities 0
// (never) and 1 (always) give the kernel's result.
func (m *statisticMatch) CanEval() (bool, string) {
	if m.Mode == StatisticModeRandom && m.Probability != 0 && m.Probability < 0x80000000 {
		return false, "--mode random with a probability other than 0 or 1"
	}
	return true, ""
}

// Match is statistic_mt: nth mode counts every packet the rule sees from
// Count, wrapping after Every, and matches at each wrap to 0.
func (m *statisticMatch) Match(e *Env) bool {
	ret := m.Flags&StatisticInvert != 0
	switch m.Mode {
	case StatisticModeRandom:
		// get_random_u32() & 0x7FFFFFFF is always below 2^31 and never
		// below 0: the outcome is fixed for these probabilities.
		if m.Probability >= 0x80000000 {
			ret = !ret
		}
	case StatisticModeNth:
		s := &m.st
		s.mu.Lock()
		if !s.started {
			s.started, s.count = true, m.Count
		}
		if s.count == m.Every {
			s.count = 0
		} else {
			s.count++
		}
		if s.count == 0 {
			ret = !ret
		}
		s.mu.Unlock()
	}
	return ret
}
