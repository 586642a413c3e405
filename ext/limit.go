package ext

import (
	"strconv"
	"strings"
	"sync"
)

// limit: -m limit (libxt_limit, xt_limit.c). iptables-nft 1.8.9 turns the
// match into an nftables limit expression (rate per unit, burst) and back,
// so the stored average is the one that round trip yields, and a burst of
// 0 comes back as the kernel's default 5.

// LimitScale is XT_LIMIT_SCALE: Avg is seconds per packet times this.
const LimitScale = 10000

const limitDefaultBurst = 5

type limitMatch struct {
	Avg   uint32 // kernel form: LimitScale * seconds / packets
	Burst uint32
	// The nftables form the rule is stored in: Rate packets per Unit seconds.
	Rate, Unit uint64
	burst0     bool // --limit-burst 0, which xt_limit refuses
	st         limitState
}

func init() {
	Register(&Def{
		Name: "limit", Kind: MatchKind,
		Options: []Option{{Name: "limit", Arg: NeedArg}, {Name: "limit-burst", Arg: NeedArg}},
		New: func() Ext {
			m := &limitMatch{Burst: limitDefaultBurst}
			m.Avg, _ = m2ParseRateScale("3/hour", LimitScale)
			m.roundTrip()
			return m
		},
	})
}

// m2RateUnit returns the seconds of a rate suffix ("/sec", "/m", ...), or 0.
func m2RateUnit(rate string) (mult uint64, num string, ok bool) {
	num, unit, found := strings.Cut(rate, "/")
	if !found {
		return 1, num, true
	}
	if unit == "" {
		return 0, "", false
	}
	switch {
	case m2PrefixMatch(unit, "second"):
		return 1, num, true
	case m2PrefixMatch(unit, "minute"):
		return 60, num, true
	case m2PrefixMatch(unit, "hour"):
		return 3600, num, true
	case m2PrefixMatch(unit, "day"):
		return 86400, num, true
	}
	return 0, "", false
}

// m2Atoll is C's atoll: leading blanks, a sign, then digits; stops at the
// first other character.
func m2Atoll(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + int64(s[i]-'0')
	}
	if neg {
		return -v
	}
	return v
}

// m2ParseRateScale parses "N[/unit]" into scale*seconds/N; ok is false for a
// bad rate, and err is set when the rate is too fast.
func m2ParseRateScale(rate string, scale uint64) (uint32, error) {
	mult, num, ok := m2RateUnit(rate)
	if !ok {
		return 0, Errorf("bad rate \"%s\": expected NUMBER[/second|/minute|/hour|/day]", rate)
	}
	r := uint32(m2Atoll(num))
	if r == 0 {
		return 0, Errorf("bad rate \"%s\": expected NUMBER[/second|/minute|/hour|/day]", rate)
	}
	v := uint32(scale * mult / uint64(r))
	if v == 0 {
		return 0, Errorf("Rate too fast \"%s\"", rate)
	}
	return v, nil
}

var limitUnits = []struct {
	name string
	mult uint64
}{{"day", LimitScale * 86400}, {"hour", LimitScale * 3600}, {"min", LimitScale * 60}, {"sec", LimitScale}}

// limitUnitIndex picks the unit iptables prints a period in.
func limitUnitIndex(period uint64) int {
	i := 1
	for ; i < len(limitUnits); i++ {
		if period > limitUnits[i].mult || limitUnits[i].mult/period < limitUnits[i].mult%period {
			break
		}
	}
	return i - 1
}

// roundTrip converts Avg to nftables' rate/unit and back, as iptables-nft
// stores and reads the rule.
func (m *limitMatch) roundTrip() {
	if m.Avg == 0 {
		return
	}
	u := limitUnits[limitUnitIndex(uint64(m.Avg))]
	m.Rate = u.mult / uint64(m.Avg)
	m.Unit = u.mult / LimitScale
	m.Avg = uint32(LimitScale * m.Unit / m.Rate)
}

func (m *limitMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "limit":
		v, err := m2ParseRateScale(u.Arg, LimitScale)
		if err != nil {
			return err
		}
		m.Avg = v
		m.roundTrip()
	case "limit-burst":
		v, ok := ParseUint(u.Arg, 0, 10000)
		if !ok {
			return Errorf("bad value for option \"--limit-burst\", or out of range (0-10000)")
		}
		m.Burst = uint32(v)
	}
	return nil
}

func (m *limitMatch) Final(*RuleInfo) error {
	if m.Burst == 0 {
		m.burst0 = true
		m.Burst = limitDefaultBurst // nftables' limit stores burst 0 as its default
	}
	return nil
}

// Check applies limit_mt_check when the rules go through xt_limit
// (LegacyXtables): a zero burst, or an avg*burst whose u32 product
// overflows (e.g. 1/day with the default burst 5), is refused with ERANGE.
// nft_limit_init's own overflow checks cannot fail for a rate and burst
// iptables accepts.
func (m *limitMatch) Check(*CheckCtx) error {
	if !LegacyXtables {
		return nil
	}
	if m.burst0 || limitUser2Credits(m.Avg*m.Burst) < limitUser2Credits(m.Avg) {
		burst := m.Burst
		if m.burst0 {
			burst = 0
		}
		return Errorf("Overflow, try lower: %d/%d", m.Avg, burst)
	}
	return nil
}

func m2LimitRate(period uint64) string {
	if period == 0 {
		return "inf"
	}
	u := limitUnits[limitUnitIndex(period)]
	return strconv.FormatUint(u.mult/period, 10) + "/" + u.name
}

func (m *limitMatch) Save(b *Buf) {
	b.S(" --limit ").S(m2LimitRate(uint64(m.Avg)))
	if m.Burst != limitDefaultBurst {
		b.S(" --limit-burst ").U(uint64(m.Burst))
	}
}

func (m *limitMatch) Print(b *Buf, _ bool) {
	b.S(" limit: avg ").S(m2LimitRate(uint64(m.Avg))).S(" burst ").U(uint64(m.Burst))
}

// Evaluation. Debian's default iptables is iptables-nft, which does not
// load xt_limit for -m limit: add_nft_limit() in iptables' nft.c emits the
// native nftables limit expression (type packets, flags 0, Rate per Unit
// seconds as computed by roundTrip, the rule's burst), and the kernel runs
// nft_limit.c. LegacyXtables selects xt_limit.c's arithmetic instead, for
// rulesets loaded with iptables-legacy. The two differ observably: for
// example xt_limit's u32 avg*burst overflows for --limit 1/day (burst 5)
// so that nothing ever matches, while nft_limit lets the first 5 packets
// through.

// LegacyXtables makes -m limit evaluate as xt_limit does (iptables-legacy)
// rather than as the nftables limit expression iptables-nft installs. A
// rule reads it once, at its first packet, and keeps that behaviour.
var LegacyXtables bool

// nft_limit (pkts type): a token bucket counted in nanoseconds. One packet
// costs nsecs/rate tokens, the bucket holds cost*burst and starts full.
//
// The kernel sets the bucket's time to the rule load time; here it is the
// first packet's time. The two give the same results: whatever time has
// passed since loading, the first packet finds tokens_max + elapsed,
// clamped to tokens_max, exactly what a fresh bucket holds.

func (s *limitState) nftInit(m *limitMatch, now uint64) {
	nsecs := m.Unit * 1e9
	rate := m.Rate
	if rate == 0 {
		rate = 1 // not reachable from a parsed rule: the kernel refuses rate 0
	}
	burst := uint64(m.Burst)
	if burst == 0 {
		burst = limitDefaultBurst // NFT_LIMIT_PKT_BURST_DEFAULT
	}
	s.cost = nsecs / rate
	s.tokensMax = s.cost * burst
	s.tokens = s.tokensMax
	s.last = now
}

// nftEval is nft_limit_eval in u64 arithmetic: a clock that went
// backwards wraps the sum, which the clamp then fills up, as in the
// kernel.
func (s *limitState) nftEval(now uint64) bool {
	tokens := s.tokens + now - s.last
	if tokens > s.tokensMax {
		tokens = s.tokensMax
	}
	s.last = now
	if delta := int64(tokens - s.cost); delta >= 0 {
		s.tokens = uint64(delta)
		return true // iptables-nft never sets NFT_LIMIT_F_INV
	}
	s.tokens = tokens
	return false
}

// Legacy evaluation (xt_limit.c): a token bucket counted in jiffies. The
// clock is the packet timestamp; the kernel this mirrors runs with HZ=250
// (CONFIG_HZ_250, Debian's configuration), so one jiffy is 4 ms.

// KernelHZ is CONFIG_HZ of the kernel whose clock evaluation reproduces.
const KernelHZ = m2KernelHZ

// Jiffies converts a packet timestamp (ns since the epoch) to jiffies.
// The kernel's jiffies start at an arbitrary boot offset; only differences
// matter to the matches that use them.
func Jiffies(ns int64) uint64 { return uint64(ns) / (1e9 / KernelHZ) }

// limitCPJ is CREDITS_PER_JIFFY: the largest power of two with
// CPJ*HZ*86400 below 2^32 (128 for HZ=250).
const limitCPJ = 128

// limitUser2Credits is xt_limit's user2credits in u32 arithmetic.
func limitUser2Credits(user uint32) uint32 {
	if user > 0xFFFFFFFF/(KernelHZ*limitCPJ) {
		return (user / LimitScale) * KernelHZ * limitCPJ
	}
	return user * KernelHZ * limitCPJ / LimitScale
}

// limitState holds either bucket. For xt_limit: struct xt_limit_priv plus
// the credit_cap and cost the kernel stores in the rule; it starts full at
// the first packet, which the cap makes equivalent to starting full at
// load time unless the idle time's credits wrap the u32 sum. For
// nft_limit: struct nft_limit and the tokens_max and cost of the
// expression.
type limitState struct {
	mu      sync.Mutex
	started bool
	legacy  bool

	prev      uint64
	credit    uint32
	creditCap uint32
	xtCost    uint32

	last, tokens, tokensMax, cost uint64
}

func (m *limitMatch) Match(e *Env) bool {
	s := &m.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.legacy = LegacyXtables
		if s.legacy {
			s.xtInit(m, Jiffies(e.Pkt.Timestamp))
		} else {
			s.nftInit(m, uint64(e.Pkt.Timestamp))
		}
	}
	if !s.legacy {
		return s.nftEval(uint64(e.Pkt.Timestamp))
	}
	return s.xtEval(Jiffies(e.Pkt.Timestamp))
}

// xtInit is limit_mt_check's setup of a full bucket.
func (s *limitState) xtInit(m *limitMatch, now uint64) {
	s.prev = now
	s.credit = limitUser2Credits(m.Avg * m.Burst)
	s.creditCap = s.credit
	s.xtCost = limitUser2Credits(m.Avg)
}

// xtEval is limit_mt.
func (s *limitState) xtEval(now uint64) bool {
	// The increase is an unsigned long product added to a u32: a long
	// idle period wraps, as in the kernel.
	credit := s.credit + uint32((now-s.prev)*limitCPJ)
	s.prev = now
	if credit > s.creditCap {
		credit = s.creditCap
	}
	if credit >= s.xtCost {
		s.credit = credit - s.xtCost
		return true
	}
	s.credit = credit
	return false
}
