package ext

import "strconv"

// Buf collects iptables-save and -L text.
type Buf struct{ B []byte }

// S appends raw text.
func (b *Buf) S(s string) *Buf { b.B = append(b.B, s...); return b }

// F appends formatted-free pieces joined as given.
func (b *Buf) Sf(parts ...string) *Buf {
	for _, p := range parts {
		b.B = append(b.B, p...)
	}
	return b
}

// U appends a decimal number.
func (b *Buf) U(v uint64) *Buf { b.B = strconv.AppendUint(b.B, v, 10); return b }

// X appends a number as 0x-prefixed lowercase hex.
func (b *Buf) X(v uint64) *Buf {
	b.B = append(b.B, "0x"...)
	b.B = strconv.AppendUint(b.B, v, 16)
	return b
}

// Not appends " !" when inv is set.
func (b *Buf) Not(inv bool) *Buf {
	if inv {
		b.B = append(b.B, " !"...)
	}
	return b
}

// Opt appends " [!] --name" followed by " value" for each value.
func (b *Buf) Opt(inv bool, name string, vals ...string) *Buf {
	b.Not(inv)
	b.B = append(b.B, " --"...)
	b.B = append(b.B, name...)
	for _, v := range vals {
		b.B = append(b.B, ' ')
		b.B = append(b.B, v...)
	}
	return b
}

// SaveString appends " value" the way iptables-save prints strings
// (xtables_save_string): bare when it is only [A-Za-z0-9_-], else in double
// quotes with a backslash before '"', '\\' and '\”.
func (b *Buf) SaveString(s string) *Buf {
	b.B = append(b.B, ' ')
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		c := s[i]
		safe = c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	if safe {
		b.B = append(b.B, s...)
		return b
	}
	b.B = append(b.B, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c == '\'' {
			b.B = append(b.B, '\\')
		}
		b.B = append(b.B, c)
	}
	b.B = append(b.B, '"')
	return b
}

// OptQ appends " [!] --name value" with iptables-save quoting of value.
func (b *Buf) OptQ(inv bool, name, val string) *Buf {
	b.Opt(inv, name)
	return b.SaveString(val)
}

func (b *Buf) String() string { return string(b.B) }

// Len reports the number of bytes collected.
func (b *Buf) Len() int { return len(b.B) }

// Reset empties the buffer, keeping its storage.
func (b *Buf) Reset() { b.B = b.B[:0] }
