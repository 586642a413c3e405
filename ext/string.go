package ext

import "strings"

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
