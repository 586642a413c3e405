package ext

import (
	"math"
	"strconv"
	"strings"
)

// RATEEST: -j RATEEST --rateest-name NAME --rateest-interval T
// --rateest-ewmalog T (libxt_RATEEST.c, xt_RATEEST.c): a named rate
// estimator. The times are stored quantised the way the kernel takes them:
// Interval as a power-of-two exponent (-2..3, 250ms << (Interval+2) / 4
// units) and EWMALog as the averaging constant's logarithm.
type rateestTarget struct {
	Name     string
	Interval int8
	EWMALog  uint8

	intervalUS, ewmaUS  uint32 // the times as given, in microseconds
	hasInterval, hasEWM bool
	hasName             bool
}

func init() {
	Register(&Def{
		Name: "RATEEST", Kind: TargetKind,
		Options: []Option{
			{Name: "rateest-name", Arg: NeedArg},
			{Name: "rateest-interval", Arg: NeedArg},
			{Name: "rateest-ewmalog", Arg: NeedArg},
		},
		New: func() Ext { return &rateestTarget{} },
	})
}

// t2ParseTime parses a time as tc does: a decimal number with an optional
// unit s/sec/secs, ms/msec/msecs or us/usec/usecs (default microseconds).
func t2ParseTime(s string) (uint32, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	t, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || t < 0 {
		return 0, false
	}
	switch strings.ToLower(s[i:]) {
	case "":
	case "s", "sec", "secs":
		t *= 1e6
	case "ms", "msec", "msecs":
		t *= 1e3
	case "us", "usec", "usecs":
	default:
		return 0, false
	}
	if t > math.MaxUint32 {
		return 0, false
	}
	return uint32(t), true
}

func (t *rateestTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "rateest-name":
		if len(u.Arg) > 15 {
			return Errorf("option \"--rateest-name\" is too long: at most 15 characters")
		}
		t.Name, t.hasName = u.Arg, true
	case "rateest-interval":
		v, ok := t2ParseTime(u.Arg)
		if !ok {
			return Errorf("bad interval value \"%s\": expected a time such as 250ms, 1s or 500us", u.Arg)
		}
		t.intervalUS, t.hasInterval = v, true
	case "rateest-ewmalog":
		v, ok := t2ParseTime(u.Arg)
		if !ok {
			return Errorf("bad ewmalog value \"%s\": expected a time such as 250ms, 1s or 500us", u.Arg)
		}
		t.ewmaUS, t.hasEWM = v, true
	}
	return nil
}

func (t *rateestTarget) Final(*RuleInfo) error {
	switch {
	case !t.hasName:
		return Errorf("option \"--rateest-name\" must be specified")
	case !t.hasInterval:
		return Errorf("option \"--rateest-interval\" must be specified")
	case !t.hasEWM:
		return Errorf("option \"--rateest-ewmalog\" must be specified")
	}
	i := 0
	for ; i <= 5; i++ {
		if uint64(t.intervalUS) <= uint64(1<<i)*250000 {
			break
		}
	}
	if i > 5 {
		return Errorf("interval value is too large: at most 8s")
	}
	t.Interval = int8(i - 2)
	e := 1
	for ; e < 32; e++ {
		w := 1.0 - 1.0/float64(uint64(1)<<e)
		if float64(t.intervalUS)/(-math.Log(w)) > float64(t.ewmaUS) {
			break
		}
	}
	e--
	if e == 0 || e >= 31 {
		return Errorf("ewmalog value is out of range")
	}
	t.EWMALog = uint8(e)
	return nil
}

func t2RateestTime(us uint64) string {
	switch {
	case us >= 1000000:
		return strconv.FormatFloat(float64(us)/1e6, 'f', 1, 64) + "s"
	case us >= 1000:
		return strconv.FormatFloat(float64(us)/1e3, 'f', 1, 64) + "ms"
	}
	return strconv.FormatUint(us, 10) + "us"
}

func (t *rateestTarget) out(b *Buf, pfx string) {
	interval := uint64(1000000<<(t.Interval+2)) / 4
	ewma := uint32(interval) * (1 << t.EWMALog)
	b.S(" ").S(pfx).S("name ").S(t.Name)
	b.S(" ").S(pfx).S("interval ").S(t2RateestTime(interval))
	b.S(" ").S(pfx).S("ewmalog ").S(t2RateestTime(uint64(ewma)))
}

func (t *rateestTarget) Save(b *Buf) { t.out(b, "--rateest-") }

func (t *rateestTarget) Print(b *Buf, _ bool) { t.out(b, "") }
