package ext

import (
	"math"
	"os"
	"strings"
)

// m3Strtoul behaves like C strtoul on a prefix of s: it skips leading
// white space, takes an optional '+' (a '-' is refused as xtables does),
// and reads digits in base (0 = auto: 0x hex, leading 0 octal, else
// decimal). It returns the value, the number of bytes consumed (0 when no
// digits were read) and false when the value overflows 64 bits or a
// leading '-' was found.
func m3Strtoul(s string, base int) (v uint64, n int, ok bool) {
	i := 0
	for i < len(s) && m3IsSpace(s[i]) {
		i++
	}
	if i < len(s) && s[i] == '-' {
		return 0, 0, false
	}
	if i < len(s) && s[i] == '+' {
		i++
	}
	if (base == 0 || base == 16) && i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && m3Digit(s[i+2]) < 16 {
		base = 16
		i += 2
	} else if base == 0 {
		if i < len(s) && s[i] == '0' {
			base = 8
		} else {
			base = 10
		}
	}
	start := i
	ok = true
	for i < len(s) {
		d := m3Digit(s[i])
		if d >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/uint64(base) {
			ok = false
		}
		v = v*uint64(base) + uint64(d)
		i++
	}
	if i == start {
		return 0, 0, true
	}
	return v, i, ok
}

func m3Digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

func m3IsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// m3Inv returns "!" when inv is set, else "".
func m3Inv(inv bool) string {
	if inv {
		return "!"
	}
	return ""
}

// m3LookupID finds a name in an /etc/passwd-style file (name:x:id:...)
// and returns its id; byID does the reverse lookup (first entry wins).
func m3LookupID(file, name string) (uint32, bool) {
	for _, f := range m3ReadDB(file) {
		if f[0] == name {
			if v, ok := ParseUintBase(f[2], 10, 0, 0xffffffff); ok {
				return uint32(v), true
			}
		}
	}
	return 0, false
}

func m3LookupName(file string, id uint32) string {
	for _, f := range m3ReadDB(file) {
		if v, ok := ParseUintBase(f[2], 10, 0, 0xffffffff); ok && uint32(v) == id {
			return f[0]
		}
	}
	return ""
}

func m3ReadDB(file string) [][]string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] != "" && !strings.HasPrefix(f[0], "#") {
			out = append(out, f)
		}
	}
	return out
}
