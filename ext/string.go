package ext

import (
	"strings"
	"sync"
)

// string: -m string (libxt_string, xt_string.c).
type stringMatch struct {
	Algo       string // text search algorithm: "bm" or "kmp"
	AlgoSet    bool
	From, To   uint16 // search window offsets; To defaults to 65535
	Pattern    []byte // bytes to find (at most 128)
	PatSet     bool
	Hex        bool // given with --hex-string
	Invert     bool
	IgnoreCase bool
	ts         stringSearch
}

// stringSearch is the prepared text search (textsearch_prepare): the
// pattern as the algorithm stores it and its shift tables.
type stringSearch struct {
	once  sync.Once
	pat   []byte   // upper-cased for --icase
	bad   [256]int // bm: bad character shifts
	good  []int    // bm: good suffix shifts
	kmpTb []int    // kmp: prefix table
}

// stringMaxPattern is XT_STRING_MAX_PATTERN_SIZE.
const stringMaxPattern = 128

func init() {
	Register(&Def{
		Name: "string", Kind: MatchKind,
		Options: []Option{
			{Name: "from", Arg: NeedArg},
			{Name: "to", Arg: NeedArg},
			{Name: "algo", Arg: NeedArg},
			{Name: "string", Arg: NeedArg, Invert: true},
			{Name: "hex-string", Arg: NeedArg, Invert: true},
			{Name: "icase", Arg: NoArg},
		},
		New: func() Ext { return &stringMatch{To: 0xffff} },
	})
}

func (m *stringMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "from", "to":
		v, ok := ParseUint(u.Arg, 0, 0xffff)
		if !ok {
			return Errorf("bad value for option \"--%s\" `%s': expected a number 0-65535", u.Opt.Name, u.Arg)
		}
		if u.Opt.Name == "from" {
			m.From = uint16(v)
		} else {
			m.To = uint16(v)
		}
	case "algo":
		if len(u.Arg) > 15 {
			return Errorf("algorithm name `%s' too long (at most 15 characters; known: bm, kmp)", u.Arg)
		}
		m.Algo, m.AlgoSet = u.Arg, true
	case "string", "hex-string":
		if m.PatSet {
			if m.Hex == (u.Opt.Name == "hex-string") {
				return Errorf("option \"--%s\" can only be used once", u.Opt.Name)
			}
			return Errorf("option \"--string\" cannot be used together with \"--hex-string\"")
		}
		var err error
		if u.Opt.Name == "string" {
			if len(u.Arg) > stringMaxPattern {
				return Errorf("STRING too long \"%s\" (%d bytes, at most %d)", u.Arg, len(u.Arg), stringMaxPattern)
			}
			m.Pattern = []byte(u.Arg)
		} else {
			m.Pattern, err = parseHexString(u.Arg)
			if err != nil {
				return err
			}
			m.Hex = true
		}
		m.PatSet, m.Invert = true, u.Invert
	case "icase":
		m.IgnoreCase = true
	}
	return nil
}

func isXDigit(c byte) bool { return m3Digit(c) < 16 }

// parseHexString decodes a --hex-string value: plain characters, "\x"
// escapes for a literal x, and |..| blocks of hex byte pairs (a blank may
// follow each pair). It reproduces iptables' reading of odd inputs.
func parseHexString(s string) ([]byte, error) {
	if s == "" {
		return nil, Errorf("STRING must contain at least one char")
	}
	var out []byte
	inHex, literal := false, false
	i, n := 0, len(s)
	for i < n {
		if len(out) >= stringMaxPattern {
			return nil, Errorf("STRING too long \"%s\" (at most %d bytes)", s, stringMaxPattern)
		}
		switch {
		case s[i] == '\\' && !inHex:
			literal = true
		case s[i] == '\\':
			return nil, Errorf("Cannot include literals in hex data")
		case s[i] == '|':
			if inHex {
				inHex = false
			} else {
				inHex = true
				for i+1 < n && s[i+1] == ' ' {
					i++
				}
			}
			if i+1 >= n {
				return out, nil
			}
			i++
		}
		switch {
		case literal:
			if i+1 >= n {
				return nil, Errorf("Bad literal placement at end of string")
			}
			out = append(out, s[i+1])
			i += 2
			literal = false
		case inHex:
			if i+1 >= n {
				return nil, Errorf("Odd number of hex digits")
			}
			if i+2 >= n {
				return nil, Errorf("Invalid hex block: it must end with '|'")
			}
			for _, c := range []byte{s[i], s[i+1]} {
				if !isXDigit(c) {
					return nil, Errorf("Invalid hex char '%c'", c)
				}
			}
			out = append(out, byte(m3Digit(s[i])<<4|m3Digit(s[i+1])))
			if s[i+2] == ' ' {
				i += 3
			} else {
				i += 2
			}
		default:
			out = append(out, s[i])
			i++
		}
	}
	return out, nil
}

func (m *stringMatch) Final(*RuleInfo) error {
	if !m.AlgoSet {
		return Errorf("option \"--algo\" must be specified")
	}
	if !m.PatSet {
		return Errorf("STRING match: You must specify `--string' or `--hex-string'")
	}
	m.ts.once.Do(m.prepare)
	return nil
}

// Check applies xt_string's checkentry: a known algorithm, a non-empty
// pattern and from <= to.
func (m *stringMatch) Check(*CheckCtx) error {
	if m.From > m.To {
		return Errorf("--from %d is beyond --to %d", m.From, m.To)
	}
	if len(m.Pattern) == 0 {
		return Errorf("the pattern is empty")
	}
	if m.Algo != "bm" && m.Algo != "kmp" {
		return Errorf("unknown algorithm `%s': expected bm or kmp", m.Algo)
	}
	return nil
}

// stringIsHex tells whether iptables prints the pattern as hex: when it
// holds a non-printable byte or ends in a backslash.
func stringIsHex(p []byte) bool {
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return true
		}
	}
	return len(p) > 0 && p[len(p)-1] == '\\'
}

func (m *stringMatch) pattern(b *Buf) {
	if stringIsHex(m.Pattern) {
		b.S(" \"|")
		const digits = "0123456789abcdef"
		for _, c := range m.Pattern {
			b.B = append(b.B, digits[c>>4], digits[c&15])
		}
		b.S("|\"")
		return
	}
	var sb strings.Builder
	for _, c := range m.Pattern {
		if c == '"' || c == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
	b.S(" \"").S(sb.String()).S("\"")
}

func (m *stringMatch) Save(b *Buf) {
	if stringIsHex(m.Pattern) {
		b.Opt(m.Invert, "hex-string")
	} else {
		b.Opt(m.Invert, "string")
	}
	m.pattern(b)
	b.Opt(false, "algo", m.Algo)
	if m.From != 0 {
		b.Opt(false, "from", Itoa(m.From))
	}
	if m.To != 0xffff {
		b.Opt(false, "to", Itoa(m.To))
	}
	if m.IgnoreCase {
		b.S(" --icase")
	}
}

func (m *stringMatch) Print(b *Buf, _ bool) {
	b.S(" STRING match ").S(m3Inv(m.Invert))
	m.pattern(b)
	b.S(" ALGO name ").S(m.Algo)
	if m.From != 0 {
		b.S(" FROM ").U(uint64(m.From))
	}
	if m.To != 0xffff {
		b.S(" TO ").U(uint64(m.To))
	}
	if m.IgnoreCase {
		b.S(" ICASE")
	}
}

// kernelToUpper and kernelToLower are the kernel's ctype conversions, which
// treat bytes as Latin-1: 0xe0-0xfe (but 0xf7) and 0xdf are lower case.
func kernelToUpper(c byte) byte {
	if c >= 'a' && c <= 'z' || c >= 0xdf && c != 0xf7 {
		return c - 32
	}
	return c
}

func kernelToLower(c byte) byte {
	if c >= 'A' && c <= 'Z' || c >= 0xc0 && c <= 0xde && c != 0xd7 {
		return c + 32
	}
	return c
}

// prepare builds the search tables the way lib/ts_bm.c and lib/ts_kmp.c
// do, so that the search finds (and, for bm, skips) exactly what the
// kernel's does.
func (m *stringMatch) prepare() {
	ts := &m.ts
	n := len(m.Pattern)
	ts.pat = make([]byte, n)
	for i, c := range m.Pattern {
		if m.IgnoreCase {
			c = kernelToUpper(c)
		}
		ts.pat[i] = c
	}
	if n == 0 {
		return
	}
	p := ts.pat
	if m.Algo == "kmp" {
		ts.kmpTb = make([]int, n)
		k := 0
		for q := 1; q < n; q++ {
			for k > 0 && p[k] != p[q] {
				k = ts.kmpTb[k-1]
			}
			if p[k] == p[q] {
				k++
			}
			ts.kmpTb[q] = k
		}
		return
	}
	for i := range ts.bad {
		ts.bad[i] = n
	}
	for i := 0; i < n-1; i++ {
		ts.bad[p[i]] = n - 1 - i
		if m.IgnoreCase {
			ts.bad[kernelToLower(p[i])] = n - 1 - i
		}
	}
	ts.good = make([]int, n)
	ts.good[0] = 1
	for i := 1; i < n; i++ {
		ts.good[i] = n
	}
	for i, g := n-1, 1; i > 0; g, i = g+1, i-1 {
		for j := i - 1; j >= 1-g; j-- {
			if bmSubpattern(p, i, j, g) {
				ts.good[g] = n - j - g
				break
			}
		}
	}
}

// bmSubpattern tells whether the g bytes ending at i+g-1 recur ending at
// j+g-1 (possibly running off the pattern's start) with a different byte
// before them.
func bmSubpattern(p []byte, i, j, g int) bool {
	x, y := i+g-1, j+g-1
	for {
		eq := p[x] == p[y]
		x, y = x-1, y-1
		if !eq {
			return false
		}
		if y < 0 {
			return true
		}
		g--
		if g == 0 {
			return p[i-1] != p[j-1]
		}
	}
}

// bmFind returns the offset in text of the first occurrence the kernel's
// Boyer-Moore finds, or -1.
func (ts *stringSearch) bmFind(text []byte, icase bool) int {
	n := len(ts.pat)
	for shift := n - 1; shift < len(text); {
		i := 0
		for ; i < n; i++ {
			t := text[shift-i]
			if icase {
				t = kernelToUpper(t)
			}
			if t != ts.pat[n-1-i] {
				break
			}
		}
		if i == n {
			return shift - (n - 1)
		}
		shift = max(shift-i+ts.bad[text[shift-i]], shift+ts.good[i])
	}
	return -1
}

// kmpFind returns the offset in text of the first occurrence, or -1.
func (ts *stringSearch) kmpFind(text []byte, icase bool) int {
	n, q := len(ts.pat), 0
	for i, t := range text {
		if icase {
			t = kernelToUpper(t)
		}
		for q > 0 && ts.pat[q] != t {
			q = ts.kmpTb[q-1]
		}
		if ts.pat[q] == t {
			q++
		}
		if q == n {
			return i + 1 - n
		}
	}
	return -1
}

// Match is string_mt over skb_find_text: the search starts at From bytes
// past the network header and reads on to the end of the packet (the
// kernel hands the search the whole linear block, not clipped at To); a
// hit counts only when it ends at or before To. A packet is searched as
// one block: the kernel would miss a pattern spanning two page fragments
// of a non-linear skb, which a flat packet does not have.
func (m *stringMatch) Match(e *Env) bool {
	m.ts.once.Do(m.prepare)
	d := e.Pkt.Data
	from, to := int(m.From), int(m.To)
	found := false
	if n := len(m.ts.pat); n > 0 && from < to && from < len(d) {
		var r int
		if m.Algo == "kmp" {
			r = m.ts.kmpFind(d[from:], m.IgnoreCase)
		} else {
			r = m.ts.bmFind(d[from:], m.IgnoreCase)
		}
		found = r >= 0 && r+n <= to-from
	}
	return found != m.Invert
}
