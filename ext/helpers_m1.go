package ext

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// m1ICMPName is one entry of iptables' ICMP type name tables (libxt_icmp.h):
// a name for a type and a code range. The tables serve both parsing and
// the non-numeric -L output.
type m1ICMPName struct {
	Name             string
	Type             uint8
	CodeMin, CodeMax uint8
}

var m1ICMPv4Names = []m1ICMPName{
	{"any", 0xFF, 0, 0xFF},
	{"echo-reply", 0, 0, 0xFF},
	{"pong", 0, 0, 0xFF},
	{"destination-unreachable", 3, 0, 0xFF},
	{"network-unreachable", 3, 0, 0},
	{"host-unreachable", 3, 1, 1},
	{"protocol-unreachable", 3, 2, 2},
	{"port-unreachable", 3, 3, 3},
	{"fragmentation-needed", 3, 4, 4},
	{"source-route-failed", 3, 5, 5},
	{"network-unknown", 3, 6, 6},
	{"host-unknown", 3, 7, 7},
	{"network-prohibited", 3, 9, 9},
	{"host-prohibited", 3, 10, 10},
	{"TOS-network-unreachable", 3, 11, 11},
	{"TOS-host-unreachable", 3, 12, 12},
	{"communication-prohibited", 3, 13, 13},
	{"host-precedence-violation", 3, 14, 14},
	{"precedence-cutoff", 3, 15, 15},
	{"source-quench", 4, 0, 0xFF},
	{"redirect", 5, 0, 0xFF},
	{"network-redirect", 5, 0, 0},
	{"host-redirect", 5, 1, 1},
	{"TOS-network-redirect", 5, 2, 2},
	{"TOS-host-redirect", 5, 3, 3},
	{"echo-request", 8, 0, 0xFF},
	{"ping", 8, 0, 0xFF},
	{"router-advertisement", 9, 0, 0xFF},
	{"router-solicitation", 10, 0, 0xFF},
	{"time-exceeded", 11, 0, 0xFF},
	{"ttl-exceeded", 11, 0, 0xFF},
	{"ttl-zero-during-transit", 11, 0, 0},
	{"ttl-zero-during-reassembly", 11, 1, 1},
	{"parameter-problem", 12, 0, 0xFF},
	{"ip-header-bad", 12, 0, 0},
	{"required-option-missing", 12, 1, 1},
	{"timestamp-request", 13, 0, 0xFF},
	{"timestamp-reply", 14, 0, 0xFF},
	{"address-mask-request", 17, 0, 0xFF},
	{"address-mask-reply", 18, 0, 0xFF},
}

var m1ICMPv6Names = []m1ICMPName{
	{"destination-unreachable", 1, 0, 0xFF},
	{"no-route", 1, 0, 0},
	{"communication-prohibited", 1, 1, 1},
	{"beyond-scope", 1, 2, 2},
	{"address-unreachable", 1, 3, 3},
	{"port-unreachable", 1, 4, 4},
	{"failed-policy", 1, 5, 5},
	{"reject-route", 1, 6, 6},
	{"packet-too-big", 2, 0, 0xFF},
	{"time-exceeded", 3, 0, 0xFF},
	{"ttl-exceeded", 3, 0, 0xFF},
	{"ttl-zero-during-transit", 3, 0, 0},
	{"ttl-zero-during-reassembly", 3, 1, 1},
	{"parameter-problem", 4, 0, 0xFF},
	{"bad-header", 4, 0, 0},
	{"unknown-header-type", 4, 1, 1},
	{"unknown-option", 4, 2, 2},
	{"echo-request", 128, 0, 0xFF},
	{"ping", 128, 0, 0xFF},
	{"echo-reply", 129, 0, 0xFF},
	{"pong", 129, 0, 0xFF},
	{"router-solicitation", 133, 0, 0xFF},
	{"router-advertisement", 134, 0, 0xFF},
	{"neighbour-solicitation", 135, 0, 0xFF},
	{"neighbor-solicitation", 135, 0, 0xFF},
	{"neighbour-advertisement", 136, 0, 0xFF},
	{"neighbor-advertisement", 136, 0, 0xFF},
	{"redirect", 137, 0, 0xFF},
}

// m1ParseICMPType parses an --icmp-type / --icmpv6-type value: a name (or
// an unambiguous case-insensitive prefix of one), "type" or "type/code",
// where type and code may be "a:b" ranges but the type range must be a
// single value. what is "ICMP" or "ICMPv6" for messages.
func m1ParseICMPType(names []m1ICMPName, what, s string) (typ, codeMin, codeMax uint8, err error) {
	match := -1
	if s != "" {
		for i := range names {
			if len(names[i].Name) >= len(s) && strings.EqualFold(names[i].Name[:len(s)], s) {
				if match >= 0 {
					return 0, 0, 0, Errorf("ambiguous %s type `%s': `%s' or `%s'?", what, s, names[match].Name, names[i].Name)
				}
				match = i
			}
		}
	}
	if match >= 0 {
		n := names[match]
		return n.Type, n.CodeMin, n.CodeMax, nil
	}
	ts, cs, hasCode := strings.Cut(s, "/")
	tlo, thi, ok := m1ParseByteRange(ts)
	if !ok {
		return 0, 0, 0, Errorf("unknown %s type `%s': expected a type name or a number 0-255 (type[/code])", what, s)
	}
	if tlo != thi {
		return 0, 0, 0, Errorf("%s type range not supported", what)
	}
	codeMin, codeMax = 0, 0xFF
	if hasCode {
		clo, chi, ok := m1ParseByteRange(cs)
		if !ok {
			return 0, 0, 0, Errorf("unknown %s code `%s': expected a code number 0-255", what, s)
		}
		codeMin, codeMax = clo, chi
	}
	return tlo, codeMin, codeMax, nil
}

// m1ParseByteRange parses "n" or "n:m" with numbers 0-255 (no order check,
// as iptables).
func m1ParseByteRange(s string) (lo, hi uint8, ok bool) {
	a, b, isRange := strings.Cut(s, ":")
	v, ok1 := ParseUint(a, 0, 255)
	if !ok1 {
		return 0, 0, false
	}
	w := v
	if isRange {
		if w, ok1 = ParseUint(b, 0, 255); !ok1 {
			return 0, 0, false
		}
	}
	return uint8(v), uint8(w), true
}

// m1PrintICMPType appends the -L form of an ICMP type/code match, after the
// match label (" icmp" or " ipv6-icmp") has been written.
func m1PrintICMPType(b *Buf, names []m1ICMPName, typ, codeMin, codeMax uint8, inv, numeric bool) {
	if !numeric {
		for _, n := range names {
			if n.Type == typ && n.CodeMin == codeMin && n.CodeMax == codeMax {
				b.S(" ")
				if inv {
					b.S("!")
				}
				b.S(n.Name)
				return
			}
		}
	}
	b.Not(inv)
	b.S("type ").U(uint64(typ))
	if codeMin == codeMax {
		b.S(" code ").U(uint64(codeMin))
	} else if codeMin != 0 || codeMax != 0xFF {
		b.S(" codes ").U(uint64(codeMin)).S("-").U(uint64(codeMax))
	}
}

// m1Range32 is an inclusive uint32 range with inversion, as the ah, esp,
// ipcomp, frag and rt matches hold their SPI / ID ranges.
type m1Range32 struct {
	Lo, Hi uint32
	Inv    bool
	Set    bool
}

// m1ParseRange32 parses "n", "a:b", ":b", "a:" or ":" with numbers in
// [0, max]; a missing bound is 0 or max. It refuses a > b.
func m1ParseRange32(s string, max uint64) (lo, hi uint32, err error) {
	a, b, isRange := strings.Cut(s, ":")
	if !isRange {
		v, ok := ParseUint(s, 0, max)
		if !ok {
			return 0, 0, Errorf("bad value `%s': expected a number 0-%d", s, max)
		}
		return uint32(v), uint32(v), nil
	}
	l, h := uint64(0), max
	var ok bool
	if a != "" {
		if l, ok = ParseUint(a, 0, max); !ok {
			return 0, 0, Errorf("bad value `%s' in range `%s': expected a number 0-%d", a, s, max)
		}
	}
	if b != "" {
		if h, ok = ParseUint(b, 0, max); !ok {
			return 0, 0, Errorf("bad value `%s' in range `%s': expected a number 0-%d", b, s, max)
		}
	}
	if l > h {
		return 0, 0, Errorf("range `%s' is invalid: start is greater than end", s)
	}
	return uint32(l), uint32(h), nil
}

// Parse fills the range from an option value, with numbers up to max.
func (r *m1Range32) Parse(u *Use, max uint64) error {
	lo, hi, err := m1ParseRange32(u.Arg, max)
	if err != nil {
		return err
	}
	*r = m1Range32{Lo: lo, Hi: hi, Inv: u.Invert, Set: true}
	return nil
}

// Full reports whether the range covers 0..max.
func (r *m1Range32) Full(max uint32) bool { return r.Lo == 0 && r.Hi == max }

// Save appends " [!] --name lo[:hi]" unless the range is the full one and
// not inverted.
func (r *m1Range32) Save(b *Buf, name string, max uint32) {
	if r.Full(max) && !r.Inv {
		return
	}
	b.Opt(r.Inv, name, r.String())
}

// String is "lo" or "lo:hi".
func (r *m1Range32) String() string {
	if r.Lo == r.Hi {
		return strconv.FormatUint(uint64(r.Lo), 10)
	}
	return strconv.FormatUint(uint64(r.Lo), 10) + ":" + strconv.FormatUint(uint64(r.Hi), 10)
}

// Match reports whether v lies in the range, honouring inversion.
func (r *m1Range32) Match(v uint32) bool { return (v >= r.Lo && v <= r.Hi) != r.Inv }

// m1PrintRange32 appends the -L form iptables' ah/esp/ipcomp/frag/rt
// print_*spi functions use: " label:N", " labels:A:B", with "!" after the
// colon when inverted; nothing for the full, non-inverted range.
func m1PrintRange32(b *Buf, label string, lo, hi, max uint32, inv bool) {
	invs := ""
	if inv {
		invs = "!"
	}
	if lo != 0 || hi != max || inv {
		if lo == hi {
			b.S(" ").S(label).S(":").S(invs).U(uint64(lo))
		} else {
			b.S(" ").S(label).S("s:").S(invs).U(uint64(lo)).S(":").U(uint64(hi))
		}
	}
}

// m1ParseIPv4Numeric parses a dotted IPv4 address as iptables'
// xtables_numeric_to_ipaddr does: up to four parts, each a C number 0-255
// (0x hex, leading-0 octal); missing trailing parts are 0 ("10" is 10.0.0.0).
func m1ParseIPv4Numeric(s string) (netip.Addr, bool) {
	if len(s) > 19 {
		s = s[:19]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var a [4]byte
	for i, p := range parts {
		v, ok := ParseUint(p, 0, 255)
		if !ok || p == "" {
			return netip.Addr{}, false
		}
		a[i] = byte(v)
	}
	return netip.AddrFrom4(a), true
}

// m1ParseIPv6Numeric parses an IPv6 address like inet_pton (no zone, no name).
func m1ParseIPv6Numeric(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// m1ParseAddr parses a numeric address of the family.
func m1ParseAddr(fam nf.Family, s string) (netip.Addr, bool) {
	if fam == nf.IPv6 {
		return m1ParseIPv6Numeric(s)
	}
	return m1ParseIPv4Numeric(s)
}

// m1MarkMask appends " 0xV" or " 0xV/0xM" as xtables_print_mark_mask.
func m1MarkMask(b *Buf, v, m uint32) {
	b.S(" ").X(uint64(v))
	if m != 0xffffffff {
		b.S("/").X(uint64(m))
	}
}

// m1ParseMarkMask parses "value[/mask]" for an option named opt, with the
// message iptables gives for XTTYPE_MARKMASK32.
func m1ParseMarkMask(s, opt string) (v, m uint32, err error) {
	v, m, _, err = ParseUint32Mask(s)
	if err != nil {
		return 0, 0, Errorf("bad integer value for option \"--%s\", or out of range (got `%s', expected VALUE[/MASK], each 0-0xffffffff)", opt, s)
	}
	return v, m, nil
}

// m1ParseUintRange parses an XTTYPE_UINT*RC value: "n", "a:b", ":b", "a:"
// or ":", bounds defaulting to 0 and max. Order is not checked.
func m1ParseUintRange(s string, max uint64) (lo, hi uint64, ok bool) {
	a, b, isRange := strings.Cut(s, ":")
	if !isRange {
		v, ok := ParseUint(s, 0, max)
		return v, v, ok
	}
	lo, hi = 0, max
	if a != "" {
		if lo, ok = ParseUint(a, 0, max); !ok {
			return 0, 0, false
		}
	}
	if b != "" {
		if hi, ok = ParseUint(b, 0, max); !ok {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// m1RangeString is "lo" when lo == hi, else "lo:hi".
func m1RangeString(lo, hi uint64) string {
	if lo == hi {
		return strconv.FormatUint(lo, 10)
	}
	return strconv.FormatUint(lo, 10) + ":" + strconv.FormatUint(hi, 10)
}

// m1ParseSPIRange parses an XTTYPE_UINT32RC value as iptables 1.8.9 does:
// "n", "a:b", ":b", "a:" or ":" (missing bounds 0 and 0xffffffff); the order
// of the bounds is not checked.
func m1ParseSPIRange(u *Use) (m1Range32, error) {
	lo, hi, ok := m1ParseUintRange(u.Arg, 0xffffffff)
	if !ok {
		return m1Range32{}, Errorf("bad value `%s' for option \"--%s\": expected N or MIN:MAX with numbers 0-4294967295", u.Arg, u.Opt.Name)
	}
	return m1Range32{Lo: uint32(lo), Hi: uint32(hi), Inv: u.Invert, Set: true}, nil
}

// m1GetPort resolves a port like getaddrinfo(NULL, s) as iptables'
// XTTYPE_PORTRC does: decimal digits (the value truncated to 16 bits) or a
// service name.
func m1GetPort(s string) (uint16, bool) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, false
		}
		return uint16(v), true
	}
	if p, ok := ServicePort(s, "tcp"); ok {
		return p, true
	}
	return ServicePort(s, "udp")
}

// m1ParsePortRC parses an XTTYPE_PORTRC value: "port", "lo:hi", ":hi",
// "lo:" or ":" (missing bounds 0 and 65535); the order is not checked.
func m1ParsePortRC(u *Use) (PortRange, error) {
	parts := strings.Split(u.Arg, ":")
	if len(parts) > 2 {
		return PortRange{}, Errorf("too many components for option \"--%s\" (max: 2)", u.Opt.Name)
	}
	r := PortRange{Lo: 0, Hi: 0xffff, Inv: u.Invert, Set: true}
	for i, p := range parts {
		if p == "" {
			continue
		}
		v, ok := m1GetPort(p)
		if !ok {
			return PortRange{}, Errorf("port \"%s\" does not resolve to anything: expected a port number or service name", p)
		}
		if i == 0 {
			r.Lo = v
		} else {
			r.Hi = v
		}
	}
	if len(parts) == 1 {
		r.Hi = r.Lo
	}
	return r, nil
}
