package ext

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// hashlimit: -m hashlimit (libxt_hashlimit revision 3, xt_hashlimit.c).

// Mode bits of struct hashlimit_cfg3.
const (
	HashlimitHashDIP   = 1 << 0
	HashlimitHashDPT   = 1 << 1
	HashlimitHashSIP   = 1 << 2
	HashlimitHashSPT   = 1 << 3
	HashlimitInvert    = 1 << 4
	HashlimitBytes     = 1 << 5
	HashlimitRateMatch = 1 << 6
)

const (
	// HashlimitScale is XT_HASHLIMIT_SCALE_v2: Avg is seconds per packet
	// times this (packet mode), or a byte cost (byte mode).
	HashlimitScale        = 1000000
	hashlimitByteShift    = 4
	hashlimitBurstMax     = 1000000
	hashlimitGCInterval   = 1000
	hashlimitByteExpire   = 15
	hashlimitByteExpBurst = 60
	hashlimitMaxSize      = 1048576
	m2KernelHZ            = 250 // CONFIG_HZ of the reference kernel
)

type hashlimitMatch struct {
	Family nf.Family
	Name   string
	// struct hashlimit_cfg3
	Mode        uint32
	Avg         uint64
	Burst       uint64
	Size, Max   uint32
	GCInterval  uint32 // milliseconds
	Expire      uint32 // milliseconds
	Interval    uint32 // seconds, rate-match only
	SrcMask     uint8
	DstMask     uint8
	mult        uint32 // seconds of the rate's unit (udata->mult)
	seen        map[string]bool
	masksSet    bool
	rateOpt     string
	burstGiven  bool
	expireGiven bool
}

func init() {
	arg := func(n string) Option { return Option{Name: n, Arg: NeedArg} }
	Register(&Def{
		Name: "hashlimit", Kind: MatchKind,
		Options: []Option{
			{Name: "hashlimit-upto", Arg: NeedArg, Invert: true},
			{Name: "hashlimit-above", Arg: NeedArg, Invert: true},
			{Name: "hashlimit", Arg: NeedArg, Invert: true},
			arg("hashlimit-srcmask"), arg("hashlimit-dstmask"), arg("hashlimit-burst"),
			arg("hashlimit-htable-size"), arg("hashlimit-htable-max"), arg("hashlimit-htable-gcinterval"),
			arg("hashlimit-htable-expire"), arg("hashlimit-mode"), arg("hashlimit-name"),
			{Name: "hashlimit-rate-match", Arg: NoArg}, arg("hashlimit-rate-interval"),
		},
		New: func() Ext {
			return &hashlimitMatch{Burst: 5, GCInterval: hashlimitGCInterval, seen: map[string]bool{}}
		},
	})
}

func hashlimitCostToBytes(cost uint64) uint64 {
	r := uint64(0xffffffff)
	if cost != 0 {
		r = 0xffffffff / cost
	}
	return (r - 1) << hashlimitByteShift
}

func hashlimitBytesToCost(b uint64) uint64 {
	r := uint32(b >> hashlimitByteShift)
	return 0xffffffff / (uint64(r) + 1)
}

func hashlimitFactor(c byte) uint64 {
	switch c {
	case 'm':
		return 1024 * 1024
	case 'k':
		return 1024
	}
	return 1
}

// m2Strtoull parses a leading unsigned number like strtoull with base 0 and
// returns the rest of the string; ok is false when no digits were read.
func m2Strtoull(s string) (v uint64, rest string, ok bool) {
	i := 0
	base := uint64(10)
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, i = 16, 2
	} else if len(s) > 0 && s[0] == '0' {
		base = 8
	}
	start := i
	for ; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			d = 99
		}
		if d >= base {
			break
		}
		hi, lo := bits.Mul64(v, base)
		if hi != 0 || lo+d < lo {
			return 0, "", false
		}
		v = lo + d
	}
	if i == start && base != 8 {
		return 0, "", false
	}
	return v, s[i:], true
}

func (m *hashlimitMatch) parseRate(opt, s string) error {
	// Byte rates: "NUMBER[k|m]b/s".
	if idx := strings.Index(s, "b/s"); idx > 0 {
		r := uint64(m2Atoll(s))
		if r != 0 {
			tmp := r * hashlimitFactor(s[idx-1])
			if tmp/hashlimitFactor(s[idx-1]) != r {
				return Errorf("Rate value too large \"%s\"", s)
			}
			cost := hashlimitBytesToCost(tmp)
			if cost == 0 {
				return Errorf("Rate too high \"%s\"", s)
			}
			m.mult = hashlimitByteExpire
			m.Avg = cost
			m.Mode |= HashlimitBytes
			return nil
		}
	}
	mult, num, ok := m2RateUnit(s)
	if !ok || m2Atoll(num) == 0 {
		return Errorf("Bad value for \"--%s\" option: \"%s\": expected NUMBER[/second|/minute|/hour|/day] or NUMBER[k|m]b/s", opt, s)
	}
	r := uint64(m2Atoll(num))
	m.mult = uint32(mult)
	m.Avg = HashlimitScale * mult / r
	if m.Avg == 0 {
		return Errorf("Rate too fast \"%s\"", s)
	}
	return nil
}

// defaultMasks sets the grouping masks to the family's full width once.
func (m *hashlimitMatch) defaultMasks() {
	if !m.masksSet {
		m.SrcMask = uint8(m2Bits(m.Family))
		m.DstMask = m.SrcMask
		m.masksSet = true
	}
}

func (m *hashlimitMatch) Parse(u *Use) error {
	m.Family = u.Rule.Family
	m.defaultMasks()
	name := u.Opt.Name
	switch name {
	case "hashlimit-upto", "hashlimit-above", "hashlimit":
		if m.rateOpt != "" {
			if m.rateOpt == name || (name != "hashlimit-above" && m.rateOpt != "hashlimit-above") {
				return Errorf("option \"--%s\" can only be used once", name)
			}
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", name, m.rateOpt)
		}
		m.rateOpt = name
		if (name == "hashlimit-above") != u.Invert {
			m.Mode |= HashlimitInvert
		}
		return m.parseRate(name, u.Arg)
	case "hashlimit-burst":
		v, rest, ok := m2Strtoull(u.Arg)
		if !ok || v < 1 || (rest == "" && v > hashlimitBurstMax) {
			return Errorf("bad value for option \"--hashlimit-burst\", or out of range (1-%d)", hashlimitBurstMax)
		}
		f := uint64(1)
		if rest != "" {
			f = hashlimitFactor(rest[0])
		}
		if hi, lo := bits.Mul64(v, f); hi != 0 {
			return Errorf("bad value for option \"--hashlimit-burst\", value \"%s\" too large", u.Arg)
		} else {
			v = lo
		}
		m.Burst, m.burstGiven = v, true
	case "hashlimit-mode":
		for _, tok := range strings.FieldsFunc(u.Arg, func(r rune) bool { return r == ',' || r == '|' }) {
			switch tok {
			case "dstip":
				m.Mode |= HashlimitHashDIP
			case "srcip":
				m.Mode |= HashlimitHashSIP
			case "srcport":
				m.Mode |= HashlimitHashSPT
			case "dstport":
				m.Mode |= HashlimitHashDPT
			default:
				return Errorf("Bad value for \"--hashlimit-mode\" option: \"%s\": expected a comma-separated list of srcip, srcport, dstip, dstport", u.Arg)
			}
		}
	case "hashlimit-srcmask", "hashlimit-dstmask":
		n, ok := m2ParsePlen(m.Family, u.Arg)
		if !ok {
			return Errorf("bad value for option \"--%s\", neither a valid network mask nor valid CIDR (0-%d)", name, m2Bits(m.Family))
		}
		if name == "hashlimit-srcmask" {
			m.SrcMask = uint8(n)
		} else {
			m.DstMask = uint8(n)
		}
	case "hashlimit-name":
		if u.Arg == "" {
			return Errorf("Argument must have a minimum length of 1 characters")
		}
		m.Name = u.Arg
	case "hashlimit-htable-size", "hashlimit-htable-max", "hashlimit-htable-gcinterval", "hashlimit-htable-expire":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--%s\", or out of range (0-4294967295)", name)
		}
		switch name {
		case "hashlimit-htable-size":
			m.Size = uint32(min(v, hashlimitMaxSize)) // the kernel truncates
		case "hashlimit-htable-max":
			m.Max = uint32(min(v, hashlimitMaxSize))
		case "hashlimit-htable-gcinterval":
			m.GCInterval = uint32(v)
		default:
			m.Expire, m.expireGiven = uint32(v), true
		}
	case "hashlimit-rate-match":
		m.Mode |= HashlimitRateMatch
		m.seen[name] = true
	case "hashlimit-rate-interval":
		v := m2Atoll(u.Arg)
		if v <= 0 || v > 0x7fffffff {
			return Errorf("Bad value for \"--hashlimit-rate-interval\" option: \"%s\": expected a positive number of seconds", u.Arg)
		}
		m.Interval = uint32(v)
	}
	return nil
}

func (m *hashlimitMatch) Final(r *RuleInfo) error {
	m.Family = r.Family
	m.defaultMasks()
	if m.rateOpt == "" {
		return Errorf("You have to specify --hashlimit")
	}
	if m.Name == "" {
		return Errorf("option \"--hashlimit-name\" must be specified")
	}
	if !m.expireGiven {
		m.Expire = m.mult * 1000
	}
	if m.Mode&HashlimitBytes != 0 {
		var burst uint64
		if m.burstGiven {
			unit := hashlimitCostToBytes(m.Avg)
			if unit == 0 {
				return Errorf("bad value for option \"--hashlimit\": the byte rate leaves no burst unit")
			}
			if m.Burst < unit {
				return Errorf("burst cannot be smaller than %db", unit)
			}
			burst = uint64(uint32(m.Burst / unit))
			if m.Burst%unit != 0 {
				burst++
			}
			if !m.expireGiven {
				m.Expire = hashlimitByteExpBurst * 1000
			}
		}
		m.Burst = burst
	} else if m.Burst > hashlimitBurstMax {
		return Errorf("bad value for option \"--hashlimit-burst\", or out of range (1-%d)", hashlimitBurstMax)
	}
	if m.Mode&HashlimitRateMatch != 0 {
		if m.Mode&HashlimitBytes == 0 {
			m.Avg /= uint64(m.mult)
		}
		if m.Interval == 0 {
			if m.Mode&HashlimitBytes != 0 {
				m.Interval = 1
			} else {
				m.Interval = m.mult
			}
		}
	}
	return nil
}

// hashlimitCredits is the kernel's user2credits for revision 3 (u64 arithmetic).
func hashlimitCredits(user uint64) uint64 {
	const maxCPJ = ^uint64(0) / (m2KernelHZ * 86400)
	cpj := uint64(1) << (63 - bits.LeadingZeros64(maxCPJ))
	if HashlimitScale >= m2KernelHZ*cpj {
		return user / (HashlimitScale / (m2KernelHZ * cpj))
	}
	return user * (m2KernelHZ * cpj / HashlimitScale)
}

// Check applies xt_hashlimit's checkentry rules.
func (m *hashlimitMatch) Check(c *CheckCtx) error {
	if m.Name == "." || m.Name == ".." || strings.Contains(m.Name, "/") {
		return Errorf("invalid hashlimit name %q: it may not be \".\", \"..\" or contain '/'", m.Name)
	}
	if m.GCInterval == 0 || m.Expire == 0 {
		return Errorf("--hashlimit-htable-gcinterval and --hashlimit-htable-expire must not be 0")
	}
	if b := m2Bits(c.Rule.Family); int(m.SrcMask) > b || int(m.DstMask) > b {
		return Errorf("--hashlimit-srcmask and --hashlimit-dstmask must be prefix lengths 0-%d", b)
	}
	switch {
	case m.Mode&HashlimitRateMatch != 0:
		if m.Avg == 0 || m.Avg > 0xffffffff {
			return Errorf("invalid rate for --hashlimit-rate-match")
		}
	case m.Mode&HashlimitBytes != 0:
		const cpjBytes = 1 << 24 // POW2_BELOW32(0xFFFFFFFF / HZ) for HZ 250
		if (m.Avg*m2KernelHZ*cpjBytes)>>32 == 0 {
			return Errorf("overflow, rate too high")
		}
	default:
		if m.Burst == 0 || hashlimitCredits(m.Avg*m.Burst) < hashlimitCredits(m.Avg) {
			return Errorf("overflow, try a lower rate or burst: %d/%d", m.Avg, m.Burst)
		}
	}
	return nil
}

var hashlimitRates = []struct {
	name string
	mult uint64
}{{"day", HashlimitScale * 86400}, {"hour", HashlimitScale * 3600}, {"min", HashlimitScale * 60}, {"sec", HashlimitScale}}

// hashlimitRate formats a packet rate; quantum is its unit in milliseconds.
func hashlimitRate(period uint64) (s string, quantum uint64) {
	if period == 0 {
		return "inf", 0
	}
	i := 1
	for ; i < len(hashlimitRates); i++ {
		if period > hashlimitRates[i].mult || hashlimitRates[i].mult/period < hashlimitRates[i].mult%period {
			break
		}
	}
	r := hashlimitRates[i-1]
	return strconv.FormatUint(r.mult/period, 10) + "/" + r.name, r.mult / HashlimitScale * 1000
}

var hashlimitUnits = []struct {
	name   string
	thresh uint64
}{{"m", 1024 * 1024}, {"k", 1024}, {"", 1}}

// hashlimitBytes formats a byte rate and burst; quantum as for hashlimitRate.
func hashlimitBytes(b *Buf, avg, burst uint64, prefix string) uint64 {
	r := hashlimitCostToBytes(avg)
	i := 0
	for ; i < len(hashlimitUnits)-1; i++ {
		if r >= hashlimitUnits[i].thresh && hashlimitBytesToCost(r&^(hashlimitUnits[i].thresh-1)) == avg {
			break
		}
	}
	b.S(" ").U(r / hashlimitUnits[i].thresh).S(hashlimitUnits[i].name).S("b/s")
	if burst == 0 {
		return hashlimitByteExpire * 1000
	}
	r *= burst
	b.S(" ").S(prefix)
	for i = 0; i < len(hashlimitUnits)-1; i++ {
		if r >= hashlimitUnits[i].thresh {
			break
		}
	}
	b.S("burst ").U(r / hashlimitUnits[i].thresh).S(hashlimitUnits[i].name).S("b")
	return hashlimitByteExpBurst * 1000
}

func (m *hashlimitMatch) modeString(sep string) string {
	var parts []string
	for _, x := range []struct {
		bit  uint32
		name string
	}{{HashlimitHashSIP, "srcip"}, {HashlimitHashSPT, "srcport"}, {HashlimitHashDIP, "dstip"}, {HashlimitHashDPT, "dstport"}} {
		if m.Mode&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, sep)
}

const hashlimitHashAll = HashlimitHashSIP | HashlimitHashSPT | HashlimitHashDIP | HashlimitHashDPT

func (m *hashlimitMatch) Save(b *Buf) {
	if m.Mode&HashlimitInvert != 0 {
		b.S(" --hashlimit-above")
	} else {
		b.S(" --hashlimit-upto")
	}
	var quantum uint64
	if m.Mode&HashlimitBytes != 0 {
		quantum = hashlimitBytes(b, m.Avg, m.Burst, "--hashlimit-")
	} else {
		var s string
		s, quantum = hashlimitRate(m.Avg)
		b.S(" ").S(s).S(" --hashlimit-burst ").U(m.Burst)
	}
	if m.Mode&hashlimitHashAll != 0 {
		b.S(" --hashlimit-mode ").S(m.modeString(","))
	}
	b.S(" --hashlimit-name ").S(m.Name)
	m.tail(b, "--hashlimit-", uint32(quantum))
}

func (m *hashlimitMatch) tail(b *Buf, prefix string, quantum uint32) {
	if m.Size != 0 {
		b.S(" ").S(prefix).S("htable-size ").U(uint64(m.Size))
	}
	if m.Max != 0 {
		b.S(" ").S(prefix).S("htable-max ").U(uint64(m.Max))
	}
	if m.GCInterval != hashlimitGCInterval {
		b.S(" ").S(prefix).S("htable-gcinterval ").U(uint64(m.GCInterval))
	}
	if m.Expire != quantum {
		b.S(" ").S(prefix).S("htable-expire ").U(uint64(m.Expire))
	}
	dmask := uint8(m2Bits(m.Family))
	if m.SrcMask != dmask {
		b.S(" ").S(prefix).S("srcmask ").U(uint64(m.SrcMask))
	}
	if m.DstMask != dmask {
		b.S(" ").S(prefix).S("dstmask ").U(uint64(m.DstMask))
	}
	if m.Mode&HashlimitRateMatch != 0 {
		b.S(" ").S(prefix).S("rate-match")
		if m.Interval != 1 {
			b.S(" ").S(prefix).S("rate-interval ").U(uint64(m.Interval))
		}
	}
}

func (m *hashlimitMatch) Print(b *Buf, _ bool) {
	if m.Mode&HashlimitInvert != 0 {
		b.S(" limit: above")
	} else {
		b.S(" limit: up to")
	}
	var quantum uint64
	if m.Mode&HashlimitBytes != 0 {
		quantum = hashlimitBytes(b, m.Avg, m.Burst, "")
	} else {
		period := m.Avg
		if m.Interval != 0 {
			period *= uint64(m.Interval)
		}
		var s string
		s, quantum = hashlimitRate(period)
		b.S(" ").S(s).S(" burst ").U(m.Burst)
	}
	if m.Mode&hashlimitHashAll != 0 {
		b.S(" mode ").S(m.modeString("-"))
	}
	m.tail(b, "", uint32(quantum))
}
