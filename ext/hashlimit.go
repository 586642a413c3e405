package ext

import (
	"math/bits"
	"strconv"
	"strings"
	"sync"

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
	tbl         *hashlimitTable // the shared table, bound at Check or the first packet
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
func hashlimitCredits(user uint64) uint64 { return hashlimitUser2Credits(user, 3) }

// Credits per jiffy of xt_hashlimit for HZ=250: revision 1 keeps
// xt_limit's u32 value (POW2_BELOW32(0xFFFFFFFF/(HZ*86400))), later
// revisions the u64 one (POW2_BELOW64(2^64-1/(HZ*86400))); byte mode
// uses POW2_BELOW32(0xFFFFFFFF/HZ).
const (
	hashlimitCPJv1    = 1 << 7
	hashlimitCPJ      = 1 << 39
	hashlimitCPJBytes = 1 << 24
	hashlimitScaleV1  = 10000 // XT_HASHLIMIT_SCALE of revision 1
)

// hashlimitUser2Credits is user2credits: an average in seconds times the
// revision's scale, as credits.
func hashlimitUser2Credits(user uint64, rev int) uint64 {
	scale, cpj := uint64(HashlimitScale), uint64(hashlimitCPJ)
	if rev == 1 {
		scale, cpj = hashlimitScaleV1, hashlimitCPJv1
	}
	if scale >= m2KernelHZ*cpj {
		return user / (scale / (m2KernelHZ * cpj))
	}
	return user * (m2KernelHZ * cpj / scale)
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
	t := hashlimitLookup(m, c.Rule.Family)
	if (t.cfg.Mode&HashlimitRateMatch != 0) != (m.Mode&HashlimitRateMatch != 0) {
		return Errorf("hashlimit table %q is in use with%s --hashlimit-rate-match", m.Name, map[bool]string{true: "", false: "out"}[t.cfg.Mode&HashlimitRateMatch != 0])
	}
	m.tbl = t
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

// Evaluation (xt_hashlimit.c, revision 3).
//
// Tables are shared by every rule with the same --hashlimit-name in the same
// family, as the kernel shares them per network namespace; the table keeps
// the configuration of the rule that created it (grouping mode, masks,
// rate and burst of new entries, expiry, size), while each rule applies its
// own direction (upto/above), byte or packet cost. Here one registry serves
// the whole process and keeps tables for its lifetime, where the kernel
// frees a table with its last rule.

// hashlimitDefaultSize is the kernel's default bucket count on a machine
// with more than 1 GiB of memory; the entry limit defaults to 8 times the
// bucket count.
const hashlimitDefaultSize = 8192

type hashlimitKey struct {
	src, dst     [16]byte
	sport, dport uint16
}

// hashlimitEnt is struct dsthash_ent's rate state.
type hashlimitEnt struct {
	expires uint64
	prev    uint64
	// token bucket
	credit, creditCap, cost uint64
	// --hashlimit-rate-match
	interval    uint32
	prevWindow  bool
	currentRate uint64
	rate        uint64
	burst       int64
}

// hashlimitCfg is the table's copy of struct hashlimit_cfg3.
type hashlimitCfg struct {
	Mode                         uint32
	Avg, Burst                   uint64
	Size, Max                    uint32
	GCInterval, Expire, Interval uint32
	SrcMask, DstMask             uint8
}

type hashlimitTable struct {
	mu      sync.Mutex
	family  nf.Family
	cfg     hashlimitCfg
	ents    map[hashlimitKey]*hashlimitEnt
	started bool   // the clock has been seen
	nextGC  uint64 // jiffies of the next garbage collection run
}

type hashlimitRegKey struct {
	name string
	fam  nf.Family
}

var hashlimitReg struct {
	sync.Mutex
	m map[hashlimitRegKey]*hashlimitTable
}

// hashlimitLookup returns the table of m's name and family, creating it with
// m's configuration (htable_find_get, htable_create).
func hashlimitLookup(m *hashlimitMatch, fam nf.Family) *hashlimitTable {
	hashlimitReg.Lock()
	defer hashlimitReg.Unlock()
	k := hashlimitRegKey{m.Name, fam}
	if t := hashlimitReg.m[k]; t != nil {
		return t
	}
	if hashlimitReg.m == nil {
		hashlimitReg.m = map[hashlimitRegKey]*hashlimitTable{}
	}
	t := &hashlimitTable{family: fam, ents: map[hashlimitKey]*hashlimitEnt{}, cfg: hashlimitCfg{
		Mode: m.Mode, Avg: m.Avg, Burst: m.Burst, Size: min(m.Size, hashlimitMaxSize), Max: min(m.Max, hashlimitMaxSize),
		GCInterval: m.GCInterval, Expire: m.Expire, Interval: m.Interval, SrcMask: m.SrcMask, DstMask: m.DstMask,
	}}
	if t.cfg.Size == 0 {
		t.cfg.Size = hashlimitDefaultSize
	}
	if t.cfg.Max == 0 {
		t.cfg.Max = 8 * t.cfg.Size
	} else if t.cfg.Max < t.cfg.Size {
		t.cfg.Max = t.cfg.Size
	}
	hashlimitReg.m[k] = t
	return t
}

// msecsToJiffies is msecs_to_jiffies for HZ=250: rounded up, and "forever"
// for values that are negative as an int.
func msecsToJiffies(ms uint32) uint64 {
	if int32(ms) < 0 {
		return 1<<62 - 2 // MAX_JIFFY_OFFSET
	}
	const msPerJiffy = 1000 / m2KernelHZ
	return uint64((ms + msPerJiffy - 1) / msPerJiffy)
}

// jiffyAfterEq is time_after_eq(a, b).
func jiffyAfterEq(a, b uint64) bool { return int64(a-b) >= 0 }

// gc runs the garbage collections due by now. The kernel's collector runs
// every gc-interval from the table's creation (taken here as its first
// packet) and frees entries whose expiry has come; entries only get younger
// between packets, so one sweep at the latest due run does what all the
// runs since the previous packet would have done.
func (t *hashlimitTable) gc(now uint64) {
	iv := msecsToJiffies(t.cfg.GCInterval)
	if !t.started {
		t.started, t.nextGC = true, now+iv
		return
	}
	if int64(now-t.nextGC) < 0 {
		return
	}
	last := t.nextGC + (now-t.nextGC)/iv*iv
	t.nextGC = last + iv
	for k, ent := range t.ents {
		if jiffyAfterEq(last, ent.expires) {
			delete(t.ents, k)
		}
	}
}

func hashlimitMaskAddr(a []byte, plen uint8) (out [16]byte) {
	n := copy(out[:], a)
	for i := 0; i < n; i++ {
		bitsHere := int(plen) - 8*i
		switch {
		case bitsHere <= 0:
			out[i] = 0
		case bitsHere < 8:
			out[i] &= 0xff << (8 - bitsHere)
		}
	}
	return out
}

// key is hashlimit_init_dst; ok is false when the ports cannot be read
// (the kernel drops the packet).
func (t *hashlimitTable) key(p []byte) (k hashlimitKey, ok bool) {
	mode := t.cfg.Mode
	var proto uint8
	var off int
	if t.family == nf.IPv6 {
		if len(p) < 40 {
			return k, false
		}
		if mode&HashlimitHashDIP != 0 {
			k.dst = hashlimitMaskAddr(p[24:40], t.cfg.DstMask)
		}
		if mode&HashlimitHashSIP != 0 {
			k.src = hashlimitMaskAddr(p[8:24], t.cfg.SrcMask)
		}
		if mode&(HashlimitHashDPT|HashlimitHashSPT) == 0 {
			return k, true
		}
		if proto, off = ipv6SkipExthdr(p, p[6], 40); off < 0 {
			return k, false
		}
	} else {
		if len(p) < 20 {
			return k, false
		}
		if mode&HashlimitHashDIP != 0 {
			k.dst = hashlimitMaskAddr(p[16:20], t.cfg.DstMask)
		}
		if mode&HashlimitHashSIP != 0 {
			k.src = hashlimitMaskAddr(p[12:16], t.cfg.SrcMask)
		}
		if mode&(HashlimitHashDPT|HashlimitHashSPT) == 0 {
			return k, true
		}
		// The transport offset is the header length even for a later
		// fragment, whose payload is then read as ports.
		proto, off = p[9], int(p[0]&15)*4
	}
	var sport, dport uint16
	switch proto {
	case 6, 17, 33, 50, 132, 136: // TCP, UDP, DCCP, ESP (SPI), SCTP, UDP-Lite
	case 51: // AH: the SPI
		off += 4
	default:
		off = -1
	}
	if off >= 0 {
		if off+4 > len(p) {
			return k, false
		}
		sport, dport = uint16(p[off])<<8|uint16(p[off+1]), uint16(p[off+2])<<8|uint16(p[off+3])
	}
	if mode&HashlimitHashSPT != 0 {
		k.sport = sport
	}
	if mode&HashlimitHashDPT != 0 {
		k.dport = dport
	}
	return k, true
}

// ipv6SkipExthdr is ipv6_skip_exthdr: it skips hop-by-hop, routing,
// destination options, AH and a first fragment's header, and stops at a
// later fragment's header (returning the fragment header's number). The
// offset is -1 for "no next header" or a truncated header.
func ipv6SkipExthdr(p []byte, next uint8, off int) (uint8, int) {
	for {
		switch next {
		case 0, 43, 44, 51, 60:
		case 59:
			return next, -1
		default:
			return next, off
		}
		if off+2 > len(p) {
			return next, -1
		}
		var hlen int
		switch next {
		case 44:
			if off+4 > len(p) {
				return next, -1
			}
			if (uint16(p[off+2])<<8|uint16(p[off+3]))&^7 != 0 {
				return next, off
			}
			hlen = 8
		case 51:
			hlen = (int(p[off+1]) + 2) << 2
		default:
			hlen = (int(p[off+1]) + 1) << 3
		}
		next, off = p[off], off+hlen
	}
}

// init is rateinfo_init with the table's configuration.
func (t *hashlimitTable) init(d *hashlimitEnt, now uint64) {
	c := &t.cfg
	d.prev = now
	switch {
	case c.Mode&HashlimitRateMatch != 0:
		d.prevWindow, d.currentRate = false, 0
		if c.Mode&HashlimitBytes != 0 {
			d.rate = hashlimitCostToRate(uint32(c.Avg))
			if c.Burst != 0 {
				d.burst = int64(c.Burst * d.rate)
			} else {
				d.burst = int64(d.rate)
			}
		} else {
			d.rate = 0
			if c.Avg != 0 {
				d.rate = HashlimitScale / c.Avg
			}
			d.burst = int64(c.Burst + d.rate)
		}
		d.interval = c.Interval
	case c.Mode&HashlimitBytes != 0:
		d.credit = hashlimitCPJBytes * m2KernelHZ
		d.cost = uint64(hashlimitUser2CreditsByte(uint32(c.Avg)))
		d.creditCap = c.Burst
	default:
		d.credit = hashlimitUser2Credits(c.Avg*c.Burst, 3)
		d.cost = hashlimitUser2Credits(c.Avg, 3)
		d.creditCap = d.credit
	}
}

// hashlimitCostToRate is user2rate_bytes: bytes per second of a byte cost.
func hashlimitCostToRate(user uint32) uint64 {
	r := uint64(0xffffffff)
	if user != 0 {
		r = uint64(0xffffffff / user)
	}
	return (r - 1) << hashlimitByteShift
}

// hashlimitUser2CreditsByte is user2credits_byte.
func hashlimitUser2CreditsByte(user uint32) uint32 {
	return uint32(uint64(user) * (m2KernelHZ * hashlimitCPJBytes) >> 32)
}

// recalc is rateinfo_recalc with the table's mode.
func (t *hashlimitTable) recalc(d *hashlimitEnt, now uint64) {
	delta := now - d.prev
	if delta == 0 {
		return
	}
	mode := t.cfg.Mode
	if mode&HashlimitRateMatch != 0 {
		interval := uint64(d.interval * m2KernelHZ) // a u32 product in the kernel
		if delta < interval {
			return
		}
		d.prev = now
		d.prevWindow = d.currentRate*interval > delta*d.rate
		d.currentRate = 0
		return
	}
	d.prev = now
	var limit uint64
	if mode&HashlimitBytes != 0 {
		old := d.credit
		d.credit += hashlimitCPJBytes * delta
		limit = hashlimitCPJBytes * m2KernelHZ
		if old >= d.credit { // overflow
			d.credit = limit
			return
		}
	} else {
		d.credit += delta * hashlimitCPJ
		limit = d.creditCap
	}
	if d.credit > limit {
		d.credit = limit
	}
}

// byteCost is hashlimit_byte_cost: 16-byte chunks times the cost, and a
// refill of the bucket from the burst allowance when it runs short.
func (d *hashlimitEnt) byteCost(n int) uint32 {
	tmp := uint64(uint32(n)>>hashlimitByteShift+1) * d.cost
	if tmp > hashlimitCPJBytes*m2KernelHZ {
		tmp = hashlimitCPJBytes * m2KernelHZ
	}
	if d.credit < tmp && d.creditCap != 0 {
		d.creditCap--
		d.credit = hashlimitCPJBytes * m2KernelHZ
	}
	return uint32(tmp)
}

// Match is hashlimit_mt_common.
func (m *hashlimitMatch) Match(e *Env) bool {
	t := m.tbl
	if t == nil {
		t = hashlimitLookup(m, e.Family)
		m.tbl = t
	}
	now := Jiffies(e.Pkt.Timestamp)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(now)
	k, ok := t.key(e.Pkt.Data)
	if !ok {
		e.HotDrop = true
		return false
	}
	d := t.ents[k]
	if d == nil {
		if uint32(len(t.ents)) >= t.cfg.Max {
			e.HotDrop = true // the kernel cannot allocate an entry
			return false
		}
		d = &hashlimitEnt{}
		t.ents[k] = d
		d.expires = now + msecsToJiffies(t.cfg.Expire)
		t.init(d, now)
	} else {
		d.expires = now + msecsToJiffies(t.cfg.Expire)
		t.recalc(d, now)
	}
	under := m.Mode&HashlimitInvert == 0
	if m.Mode&HashlimitRateMatch != 0 {
		cost := uint64(1)
		if m.Mode&HashlimitBytes != 0 {
			cost = uint64(len(e.Pkt.Data))
		}
		d.currentRate += cost
		if !d.prevWindow && d.currentRate <= uint64(d.burst) {
			return under
		}
		return !under
	}
	var cost uint64
	if m.Mode&HashlimitBytes != 0 {
		cost = uint64(d.byteCost(len(e.Pkt.Data)))
	} else {
		cost = d.cost
	}
	if d.credit >= cost {
		d.credit -= cost
		return under
	}
	return !under
}
