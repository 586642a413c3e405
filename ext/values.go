package ext

import (
	"fmt"
	"strconv"
	"strings"
)

type serviceEntry struct {
	port    uint16
	proto   string
	name    string
	aliases []string
}

// ServicePort resolves a service name for a protocol ("tcp", "udp", ...),
// like getservbyname.
func ServicePort(name, proto string) (uint16, bool) {
	for i := range servicesDB {
		e := &servicesDB[i]
		if proto != "" && e.proto != proto {
			continue
		}
		if e.name == name {
			return e.port, true
		}
		for _, a := range e.aliases {
			if a == name {
				return e.port, true
			}
		}
	}
	return 0, false
}

// ServiceName returns the service name of a port, like getservbyport, or "".
func ServiceName(port uint16, proto string) string {
	for i := range servicesDB {
		e := &servicesDB[i]
		if e.port == port && e.proto == proto {
			return e.name
		}
	}
	return ""
}

// ParseUint parses a number the way xtables_strtoui does (C strtoul with
// base 0: decimal, 0x hex, leading-0 octal) and checks it lies in [min, max].
func ParseUint(s string, min, max uint64) (uint64, bool) {
	v, ok := parseCUint(s, 0)
	if !ok || v < min || v > max {
		return 0, false
	}
	return v, true
}

// ParseUintBase is ParseUint with a fixed base (10 or 16; 0 for C's auto).
func ParseUintBase(s string, base int, min, max uint64) (uint64, bool) {
	v, ok := parseCUint(s, base)
	if !ok || v < min || v > max {
		return 0, false
	}
	return v, true
}

func parseCUint(s string, base int) (uint64, bool) {
	s = strings.TrimLeft(s, " \t\n")
	if s == "" || s[0] == '-' {
		return 0, false
	}
	if s[0] == '+' {
		s = s[1:]
	}
	if base == 0 {
		switch {
		case len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
			base, s = 16, s[2:]
		case len(s) > 1 && s[0] == '0':
			base, s = 8, s[1:]
		default:
			base = 10
		}
	} else if base == 16 && len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// ParseUint32Mask parses "value[/mask]" (as for --mark); mask defaults to all ones.
func ParseUint32Mask(s string) (val, mask uint32, hasMask bool, err error) {
	v, m, found := strings.Cut(s, "/")
	vv, ok := ParseUint(v, 0, 0xffffffff)
	if !ok {
		return 0, 0, false, fmt.Errorf("bad value %q", s)
	}
	mask = 0xffffffff
	if found {
		mm, ok := ParseUint(m, 0, 0xffffffff)
		if !ok {
			return 0, 0, false, fmt.Errorf("bad mask %q", s)
		}
		mask = uint32(mm)
	}
	return uint32(vv), mask, found, nil
}

// ParsePort parses a port number or a service name for proto.
func ParsePort(s, proto string) (uint16, error) {
	if v, ok := ParseUint(s, 0, 0xffff); ok {
		return uint16(v), nil
	}
	if p, ok := ServicePort(s, proto); ok {
		return p, nil
	}
	return 0, fmt.Errorf("invalid port/service `%s' specified: expected a service name or a port number 0-65535", s)
}

// ParsePortRange parses "port", "lo:hi", ":hi", "lo:" or ":" as the tcp/udp
// matches do; missing bounds are 0 and 65535.
func ParsePortRange(s, proto string) (lo, hi uint16, err error) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		p, err := ParsePort(s, proto)
		return p, p, err
	}
	lo, hi = 0, 0xffff
	if a != "" {
		if lo, err = ParsePort(a, proto); err != nil {
			return
		}
	}
	if b != "" {
		if hi, err = ParsePort(b, proto); err != nil {
			return
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("invalid portrange (min > max)")
	}
	return lo, hi, nil
}

// PortString formats a port for -L output: its service name unless numeric.
func PortString(p uint16, proto string, numeric bool) string {
	if !numeric {
		if n := ServiceName(p, proto); n != "" {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// Itoa is strconv.Itoa for unsigned values of any width.
func Itoa[T ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~int](v T) string {
	return strconv.FormatUint(uint64(v), 10)
}

// Hex formats v as 0x-prefixed lowercase hex.
func Hex[T ~uint8 | ~uint16 | ~uint32 | ~uint64](v T) string {
	return "0x" + strconv.FormatUint(uint64(v), 16)
}
