package ext

import "strings"

// u32: -m u32 --u32 TESTS (libxt_u32, xt_u32.c).
//
//	tests    := location "=" value | tests "&&" location "=" value
//	value    := range | value "," range
//	range    := number | number ":" number
//	location := number | location operator number
//	operator := "&" | "<<" | ">>" | "@"
type u32Match struct {
	Tests  []U32Test
	Invert bool
	Set    bool
}

// U32Op is the operator before a location element.
type U32Op uint8

const (
	U32And     U32Op = iota // &
	U32LeftSh               // <<
	U32RightSh              // >>
	U32At                   // @
)

// U32Loc is one element of a location: the operator applied with the
// number (the first element has none).
type U32Loc struct {
	Op     U32Op
	Number uint32
}

// U32Range is an inclusive value range.
type U32Range struct{ Min, Max uint32 }

// U32Test is one "location=values" test.
type U32Test struct {
	Location []U32Loc
	Values   []U32Range
}

// u32MaxSize is XT_U32_MAXSIZE: iptables allows at most this many tests,
// location elements per test and ranges per test.
const u32MaxSize = 10

func init() {
	Register(&Def{
		Name: "u32", Kind: MatchKind,
		Options: []Option{{Name: "u32", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &u32Match{} },
	})
}

func (m *u32Match) Parse(u *Use) error {
	tests, err := parseU32(u.Arg)
	if err != nil {
		return err
	}
	m.Tests, m.Invert, m.Set = tests, u.Invert, true
	return nil
}

func u32Number(s string, pos int) (uint32, int, error) {
	v, n, ok := m3Strtoul(s[pos:], 0)
	if n == 0 || !ok || v > 0xffffffff {
		return 0, 0, Errorf("at char %d: not a number or out of range (expected 0-0xffffffff)", pos)
	}
	return uint32(v), pos + n, nil
}

func parseU32(s string) ([]U32Test, error) {
	var tests []U32Test
	var cur U32Test
	inValues := false
	i := 0
	var err error
	for {
		for i < len(s) && m3IsSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			if !inValues {
				return nil, Errorf("abrupt end of input after location specifier")
			}
			if len(cur.Values) == 0 {
				return nil, Errorf("test ended with no value specified")
			}
			tests = append(tests, cur)
			if len(tests) > u32MaxSize {
				return nil, Errorf("at char %d: too many \"&&\"s (at most %d tests)", i, u32MaxSize)
			}
			return tests, nil
		}
		if !inValues {
			if s[i] == '=' {
				if len(cur.Location) == 0 {
					return nil, Errorf("at char %d: location spec missing", i)
				}
				i++
				inValues = true
				continue
			}
			var op U32Op
			if len(cur.Location) != 0 {
				switch s[i] {
				case '&':
					op = U32And
				case '<', '>':
					c := s[i]
					i++
					if i >= len(s) || s[i] != c {
						return nil, Errorf("at char %d: a second '%c' was expected", i, c)
					}
					op = U32LeftSh
					if c == '>' {
						op = U32RightSh
					}
				case '@':
					op = U32At
				default:
					return nil, Errorf("at char %d: operator expected (&, <<, >> or @)", i)
				}
				i++
			}
			var v uint32
			if v, i, err = u32Number(s, i); err != nil {
				return nil, err
			}
			cur.Location = append(cur.Location, U32Loc{op, v})
			if len(cur.Location) > u32MaxSize {
				return nil, Errorf("at char %d: too many operators (at most %d numbers in a location)", i, u32MaxSize)
			}
			continue
		}
		if s[i] == '&' {
			i++
			if i >= len(s) || s[i] != '&' {
				return nil, Errorf("at char %d: a second '&' was expected", i)
			}
			if len(cur.Values) == 0 {
				return nil, Errorf("at char %d: value spec missing", i)
			}
			tests = append(tests, cur)
			if len(tests) > u32MaxSize {
				return nil, Errorf("at char %d: too many \"&&\"s (at most %d tests)", i, u32MaxSize)
			}
			cur = U32Test{}
			i++
			inValues = false
			continue
		}
		if len(cur.Values) > 0 {
			if s[i] != ',' {
				return nil, Errorf("at char %d: expected \",\" or \"&&\"", i)
			}
			i++
		}
		var r U32Range
		if r.Min, i, err = u32Number(s, i); err != nil {
			return nil, err
		}
		for i < len(s) && m3IsSpace(s[i]) {
			i++
		}
		r.Max = r.Min
		if i < len(s) && s[i] == ':' {
			if r.Max, i, err = u32Number(s, i+1); err != nil {
				return nil, err
			}
		}
		cur.Values = append(cur.Values, r)
		if len(cur.Values) > u32MaxSize {
			return nil, Errorf("at char %d: too many \",\"s (at most %d ranges)", i, u32MaxSize)
		}
	}
}

func (m *u32Match) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--u32\" must be specified")
	}
	return nil
}

// Check applies xt_u32's checkentry: shifts must be below 32.
func (m *u32Match) Check(*CheckCtx) error {
	for _, t := range m.Tests {
		for _, l := range t.Location[1:] {
			if (l.Op == U32LeftSh || l.Op == U32RightSh) && l.Number >= 32 {
				return Errorf("shift by %d: shifts must be below 32", l.Number)
			}
		}
	}
	return nil
}

func (m *u32Match) dump(b *Buf) {
	var sb strings.Builder
	sb.WriteString(" \"")
	for i, t := range m.Tests {
		if i > 0 {
			sb.WriteString("&&")
		}
		for j, l := range t.Location {
			if j > 0 {
				sb.WriteString([]string{"&", "<<", ">>", "@"}[l.Op])
			}
			sb.WriteString(Hex(l.Number))
		}
		sb.WriteByte('=')
		for j, r := range t.Values {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(Hex(r.Min))
			if r.Min != r.Max {
				sb.WriteString(":" + Hex(r.Max))
			}
		}
	}
	sb.WriteByte('"')
	b.S(sb.String())
}

func (m *u32Match) Save(b *Buf) {
	b.Opt(m.Invert, "u32")
	m.dump(b)
}

func (m *u32Match) Print(b *Buf, _ bool) {
	b.S(" u32").Not(m.Invert)
	m.dump(b)
}

// Match runs the tests as xt_u32.c's u32_match_it: every test reads a
// big-endian word from the packet (offsets from the network header, the
// packet being skb->len bytes long), applies the operators in order, and
// must land in one of its ranges. "@" moves the base forward by the value
// read so far and reads the word at the next number from there; any read
// past the end fails the whole match. An inverted match inverts the result.
func (m *u32Match) Match(e *Env) bool {
	return u32Eval(m.Tests, e.Pkt.Data) != m.Invert
}

func u32Word(b []byte, off uint32) uint32 {
	return uint32(b[off])<<24 | uint32(b[off+1])<<16 | uint32(b[off+2])<<8 | uint32(b[off+3])
}

func u32Eval(tests []U32Test, data []byte) bool {
	if uint64(len(data)) > 0xffffffff {
		return false
	}
	n := uint32(len(data))
	for i := range tests {
		t := &tests[i]
		if len(t.Location) == 0 {
			return false
		}
		pos := t.Location[0].Number
		if n < 4 || pos > n-4 {
			return false
		}
		val := u32Word(data, pos)
		var at uint32
		for _, l := range t.Location[1:] {
			switch l.Op {
			case U32And:
				val &= l.Number
			case U32LeftSh:
				val <<= l.Number & 31 // checkentry keeps shifts below 32
			case U32RightSh:
				val >>= l.Number & 31
			case U32At:
				if at+val < at {
					return false
				}
				at += val
				pos = l.Number
				if at+4 < at || n < at+4 || pos > n-at-4 {
					return false
				}
				val = u32Word(data, at+pos)
			}
		}
		ok := false
		for _, r := range t.Values {
			if r.Min <= val && val <= r.Max {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
