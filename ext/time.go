package ext

import (
	"fmt"
	"strings"
	"time"
)

// time: -m time (libxt_time, xt_time.c).
type timeMatch struct {
	DateStart, DateStop uint32 // seconds since the epoch (UTC); stop defaults to 2^31-1
	DaytimeStart        uint32 // seconds into the day, 0..86399
	DaytimeStop         uint32
	MonthDays           uint32 // bit n set: day n of the month matches (bit 0 is never a day)
	WeekDays            uint8  // bit n set: weekday n (1 = Monday .. 7 = Sunday) matches
	KernelTZ            bool   // --kerneltz (or --localtz): use the kernel's timezone, not UTC
	Contiguous          bool
	seenTZ              string
}

const (
	timeAllMonthDays = 0xfffffffe
	timeAllWeekDays  = 0xfe
	timeMaxDaytime   = 24*60*60 - 1
	timeDefaultStop  = 1<<31 - 1
)

var timeWeekDays = []string{"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func init() {
	Register(&Def{
		Name: "time", Kind: MatchKind,
		Options: []Option{
			{Name: "datestart", Arg: NeedArg},
			{Name: "datestop", Arg: NeedArg},
			{Name: "timestart", Arg: NeedArg},
			{Name: "timestop", Arg: NeedArg},
			{Name: "contiguous", Arg: NoArg},
			{Name: "weekdays", Arg: NeedArg, Invert: true},
			{Name: "monthdays", Arg: NeedArg, Invert: true},
			{Name: "localtz", Arg: NoArg},
			{Name: "utc", Arg: NoArg},
			{Name: "kerneltz", Arg: NoArg},
		},
		New: func() Ext {
			return &timeMatch{MonthDays: timeAllMonthDays, WeekDays: timeAllWeekDays,
				DaytimeStop: timeMaxDaytime, DateStop: timeDefaultStop}
		},
	})
}

// timeFields reads "n<sep>n<sep>..." number fields in base 10 the way the
// C strtoul loop of libxt_time does: each field ends at one of the
// separators given for it, or at the end of the string.
func timeField(s string) (uint64, string) {
	v, n, ok := m3Strtoul(s, 10)
	if !ok {
		v = 1 << 40 // out of every range
	}
	return v, s[n:]
}

func parseTimeDate(s string) (uint32, error) {
	bad := Errorf("Invalid date \"%s\" specified. Should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]]", s)
	f := [6]uint64{0, 1, 1, 0, 0, 0}
	seps := []byte{'-', '-', 'T', ':', ':', 0}
	max := []uint64{2038, 12, 31, 23, 59, 59}
	rest := s
	for i := 0; i < 6; i++ {
		f[i], rest = timeField(rest)
		if (i == 0 && f[i] < 1970) || f[i] > max[i] {
			return 0, bad
		}
		if rest == "" {
			break
		}
		if rest[0] != seps[i] || seps[i] == 0 {
			return 0, bad
		}
		rest = rest[1:]
	}
	t := time.Date(int(f[0]), time.Month(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), 0, time.UTC).Unix()
	if t < 0 {
		return 0, Errorf("date \"%s\" lies before 1970-01-01", s)
	}
	return uint32(t), nil
}

func parseTimeDaytime(s string) (uint32, error) {
	bad := Errorf("invalid time \"%s\" specified, should be hh:mm[:ss] format and within the boundaries", s)
	h, rest := timeField(s)
	if rest == "" || rest[0] != ':' || h > 23 {
		return 0, bad
	}
	m, rest := timeField(rest[1:])
	if m > 59 || (rest != "" && rest[0] != ':') {
		return 0, bad
	}
	var sec uint64
	if rest != "" {
		sec, rest = timeField(rest[1:])
		if rest != "" || sec > 59 {
			return 0, bad
		}
	}
	return uint32(h*3600 + m*60 + sec), nil
}

// timeSegments splits a comma list as iptables does, keeping at most
// width bytes of each element.
func timeSegments(s string, width int) []string {
	var out []string
	for s != "" {
		seg, rest, found := strings.Cut(s, ",")
		if len(seg) > width {
			seg = seg[:width]
		}
		out = append(out, seg)
		if !found {
			break
		}
		s = rest
	}
	return out
}

func parseMonthDays(s string) (uint32, error) {
	var r uint32
	for _, d := range timeSegments(s, 2) {
		v, n, _ := m3Strtoul(d, 0)
		if n != len(d) || v > 31 {
			return 0, Errorf("%s is not a valid day for --monthdays (expected 1-31)", d)
		}
		r |= 1 << v
	}
	return r, nil
}

func parseWeekDays(s string) (uint8, error) {
	var r uint8
	for _, d := range timeSegments(s, 3) {
		if v, n, _ := m3Strtoul(d, 0); n == len(d) {
			if v == 0 {
				return 0, Errorf("No, the week does NOT begin with Sunday: weekdays are 1 (Mon) to 7 (Sun)")
			}
			if v > 7 {
				return 0, Errorf("%s is not a valid day specifier (expected 1-7 or Mon..Sun)", d)
			}
			r |= 1 << v
			continue
		}
		valid := false
		for i := 1; i < len(timeWeekDays); i++ {
			if len(d) >= 2 && d[:2] == timeWeekDays[i][:2] {
				r |= 1 << i
				valid = true
			}
		}
		if !valid {
			return 0, Errorf("%s is not a valid day specifier (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or 1-7)", d)
		}
	}
	return r, nil
}

func (m *timeMatch) Parse(u *Use) error {
	var err error
	switch n := u.Opt.Name; n {
	case "datestart":
		m.DateStart, err = parseTimeDate(u.Arg)
	case "datestop":
		m.DateStop, err = parseTimeDate(u.Arg)
	case "timestart":
		m.DaytimeStart, err = parseTimeDaytime(u.Arg)
	case "timestop":
		m.DaytimeStop, err = parseTimeDaytime(u.Arg)
	case "contiguous":
		m.Contiguous = true
	case "localtz", "utc", "kerneltz":
		if m.seenTZ != "" && (n == "utc") != (m.seenTZ == "utc") {
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", n, m.seenTZ)
		}
		m.seenTZ = n
		if n != "utc" {
			m.KernelTZ = true
		}
	case "monthdays":
		m.MonthDays, err = parseMonthDays(u.Arg)
		if u.Invert {
			m.MonthDays ^= timeAllMonthDays
		}
	case "weekdays":
		m.WeekDays, err = parseWeekDays(u.Arg)
		if u.Invert {
			m.WeekDays ^= timeAllWeekDays
		}
	}
	return err
}

func (m *timeMatch) Final(*RuleInfo) error {
	if m.Contiguous && m.DaytimeStart < m.DaytimeStop {
		return Errorf("--contiguous only makes sense when stoptime is smaller than starttime")
	}
	return nil
}

func timeHMS(v uint32) string {
	return fmt.Sprintf("%02d:%02d:%02d", v/3600, v/60%60, v%60)
}

func timeDate(v uint32, sep string) string {
	t := time.Unix(int64(v), 0).UTC()
	return fmt.Sprintf("%04d-%02d-%02d%s%02d:%02d:%02d", t.Year(), int(t.Month()), t.Day(), sep, t.Hour(), t.Minute(), t.Second())
}

func timeMonthDays(b *Buf, mask uint32, human bool) {
	b.S(" ")
	first := true
	for i := 1; i <= 31; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if !first {
			b.S(",")
		}
		first = false
		b.U(uint64(i))
		if human {
			switch i % 10 {
			case 1:
				b.S("st")
			case 2:
				b.S("nd")
			case 3:
				b.S("rd")
			default:
				b.S("th")
			}
		}
	}
}

func timeWeekDayList(b *Buf, mask uint8) {
	var d []string
	for i := 1; i <= 7; i++ {
		if mask&(1<<i) != 0 {
			d = append(d, timeWeekDays[i])
		}
	}
	b.S(" ").S(strings.Join(d, ","))
}

func (m *timeMatch) daytimeSet() bool {
	return m.DaytimeStart != 0 || m.DaytimeStop != timeMaxDaytime
}

// Save prints as iptables 1.8.9 does on 64-bit: --datestop is always
// printed unless it is 0, as iptables compares it with LONG_MAX.
func (m *timeMatch) Save(b *Buf) {
	if m.daytimeSet() {
		b.Opt(false, "timestart", timeHMS(m.DaytimeStart))
		b.Opt(false, "timestop", timeHMS(m.DaytimeStop))
	}
	if m.MonthDays != timeAllMonthDays {
		b.S(" --monthdays")
		timeMonthDays(b, m.MonthDays, false)
	}
	if m.WeekDays != timeAllWeekDays {
		b.S(" --weekdays")
		timeWeekDayList(b, m.WeekDays)
	}
	if m.DateStart != 0 {
		b.Opt(false, "datestart", timeDate(m.DateStart, "T"))
	}
	if m.DateStop != 0 {
		b.Opt(false, "datestop", timeDate(m.DateStop, "T"))
	}
	if m.KernelTZ {
		b.S(" --kerneltz")
	}
	if m.Contiguous {
		b.S(" --contiguous")
	}
}

func (m *timeMatch) Print(b *Buf, _ bool) {
	b.S(" TIME")
	if m.daytimeSet() {
		b.S(" from ").S(timeHMS(m.DaytimeStart)).S(" to ").S(timeHMS(m.DaytimeStop))
	}
	if m.WeekDays != timeAllWeekDays {
		b.S(" on")
		timeWeekDayList(b, m.WeekDays)
	}
	if m.MonthDays != timeAllMonthDays {
		b.S(" on")
		timeMonthDays(b, m.MonthDays, true)
	}
	if m.DateStart != 0 {
		b.S(" starting from ").S(timeDate(m.DateStart, " "))
	}
	if m.DateStop != timeDefaultStop {
		b.S(" until date")
		if m.DateStop != 0 {
			b.S(" ").S(timeDate(m.DateStop, " "))
		}
	}
	if !m.KernelTZ {
		b.S(" UTC")
	}
	if m.Contiguous {
		b.S(" contiguous")
	}
}

// TimeKernelMinutesWest is the kernel's sys_tz.tz_minuteswest, which
// --kerneltz applies. The kernel's value is whatever userspace last set with
// settimeofday; it is 0 (UTC) unless the system keeps its RTC in local time,
// so 0 is the default here.
var TimeKernelMinutesWest int64

// timeDaysSinceEpoch holds the first day of each year 1970..2039 counted
// from 1970-01-01, as xt_time.c's table (which ends with 2039).
var timeDaysSinceEpoch = func() (t [70]uint32) {
	d := uint32(0)
	for y := 1970; y < 2040; y++ {
		t[y-1970] = d
		d += 365
		if timeIsLeap(uint32(y)) {
			d++
		}
	}
	return
}()

var (
	timeDaysSinceYear     = [12]uint32{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}
	timeDaysSinceLeapYear = [12]uint32{0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335}
)

func timeIsLeap(y uint32) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// timeMonthDay is localtime_3's day of the month. Past 2039 the kernel's
// table runs out and the day counts on from 2039's December (u8).
func timeMonthDay(dse uint32) uint8 {
	i := len(timeDaysSinceEpoch) - 1
	for i > 0 && timeDaysSinceEpoch[i] > dse {
		i--
	}
	w := dse - timeDaysSinceEpoch[i]
	tbl := &timeDaysSinceYear
	if timeIsLeap(uint32(1970 + i)) {
		tbl = &timeDaysSinceLeapYear
	}
	j := len(tbl) - 1
	for j > 0 && tbl[j] > w {
		j--
	}
	return uint8(w - tbl[j] + 1)
}

// Match is time_mt with the packet timestamp as the wall clock (the kernel
// reads the clock when the packet is processed). Daytime ranges with
// start > stop wrap past midnight; with --contiguous the part after
// midnight counts as the previous day for the day checks.
func (m *timeMatch) Match(e *Env) bool {
	ts := e.Pkt.Timestamp
	stamp := ts / 1e9
	if ts < 0 && ts%1e9 != 0 {
		stamp-- // ktime_get_real_seconds floors
	}
	if m.KernelTZ {
		stamp -= 60 * TimeKernelMinutesWest
	}
	if stamp < int64(m.DateStart) || stamp > int64(m.DateStop) {
		return false
	}
	const day = 86400
	packetTime := uint32(uint64(stamp) % day)
	if m.DaytimeStart < m.DaytimeStop {
		if packetTime < m.DaytimeStart || packetTime > m.DaytimeStop {
			return false
		}
	} else {
		if packetTime < m.DaytimeStart && packetTime > m.DaytimeStop {
			return false
		}
		if m.Contiguous && packetTime <= m.DaytimeStop {
			stamp -= day
		}
	}
	dse := uint32(uint64(stamp) / day)
	weekday := (4+dse-1)%7 + 1
	if uint32(m.WeekDays)&(1<<weekday) == 0 {
		return false
	}
	if m.MonthDays != timeAllMonthDays {
		// A shift by 32 or more is undefined in C; x86 uses the low 5 bits.
		if m.MonthDays&(1<<(timeMonthDay(dse)&31)) == 0 {
			return false
		}
	}
	return true
}
