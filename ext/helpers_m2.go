package ext

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// Shared helpers of the connection and rate matches (group m2).

// m2Bits is the address length of a family.
func m2Bits(fam nf.Family) int {
	if fam == nf.IPv6 {
		return 128
	}
	return 32
}

// m2PrefixMask returns the mask of n leading one bits for the family.
func m2PrefixMask(fam nf.Family, n int) netip.Addr {
	var b [16]byte
	for i := 0; i < n && i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if fam == nf.IPv6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
}

// m2MaskLen returns the prefix length of a contiguous mask, or -1.
func m2MaskLen(m netip.Addr) int {
	bs := m.AsSlice()
	n := 0
	i := 0
	for ; i < len(bs)*8; i++ {
		if bs[i/8]&(0x80>>(i%8)) == 0 {
			break
		}
		n++
	}
	for ; i < len(bs)*8; i++ {
		if bs[i/8]&(0x80>>(i%8)) != 0 {
			return -1
		}
	}
	return n
}

// m2InetAton parses an IPv4 address in any form inet_aton accepts
// ("1.2.3.4", "1.2", "0x7f000001", "33"), as getaddrinfo does for numeric hosts.
func m2InetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || p[0] == '+' || p[0] == '-' || p[0] == ' ' {
			return netip.Addr{}, false
		}
		v, ok := parseCUint(p, 0)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var v uint64
	n := len(vals)
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		v |= vals[i] << (24 - 8*uint(i))
	}
	last := vals[n-1]
	if last >= 1<<(32-8*uint(n-1)) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// m2ParseNumericAddr parses a numeric address of the family as getaddrinfo
// with AI_NUMERICHOST does.
func m2ParseNumericAddr(fam nf.Family, s string) (netip.Addr, bool) {
	if fam == nf.IPv4 {
		return m2InetAton(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// m2ParseHost resolves one host (numeric or name) to one address of the
// family, as xtables' XTTYPE_HOST does.
func m2ParseHost(fam nf.Family, s string) (netip.Addr, error) {
	if a, ok := m2ParseNumericAddr(fam, s); ok {
		return a, nil
	}
	if s == "" {
		return netip.Addr{}, Errorf("empty host: expected an address or host name")
	}
	ips := nf.LookupHost(s)
	var found netip.Addr
	{
		for _, ip := range ips {
			a := ip.Unmap()
			if (fam == nf.IPv4) != a.Is4() {
				continue
			}
			if found.IsValid() && found != a {
				return netip.Addr{}, Errorf("%s resolves to more than one address", s)
			}
			found = a
		}
	}
	if !found.IsValid() {
		return netip.Addr{}, Errorf("host %q not found: expected an %s address or a host name", s, fam)
	}
	return found, nil
}

// m2ParsePlen parses a prefix length (0 to the family's width) or a mask in
// address form, as xtables' XTTYPE_PLEN does. A non-contiguous mask gives
// the invalid length 255, which callers treat like iptables 1.8.9 does.
func m2ParsePlen(fam nf.Family, s string) (int, bool) {
	bits := m2Bits(fam)
	if v, ok := ParseUint(s, 0, uint64(bits)); ok {
		return int(v), true
	}
	if m, ok := m2ParseNumericAddr(fam, s); ok {
		n := m2MaskLen(m)
		if n < 0 {
			return 255, true
		}
		return n, true
	}
	return 0, false
}

// m2HostMask is an address with its mask, as XTTYPE_HOSTMASK stores it:
// the address is not masked.
type m2HostMask struct {
	Addr, Mask netip.Addr
}

// m2ParseHostMask parses "host[/mask]" as xtables' XTTYPE_HOSTMASK does in
// iptables 1.8.9: a mask that is not a prefix length turns into a full mask.
func m2ParseHostMask(fam nf.Family, ext, opt, s string) (m2HostMask, error) {
	h, m, found := strings.Cut(s, "/")
	a, err := m2ParseHost(fam, h)
	if err != nil {
		return m2HostMask{}, err
	}
	bits := m2Bits(fam)
	if !found {
		return m2HostMask{a, m2PrefixMask(fam, bits)}, nil
	}
	n, ok := m2ParsePlen(fam, m)
	if !ok {
		return m2HostMask{}, Errorf("bad value for option \"--%s\", neither a valid network mask nor valid CIDR (0-%d)", opt, bits)
	}
	if n > bits {
		n = bits
	}
	return m2HostMask{a, m2PrefixMask(fam, n)}, nil
}

// m2MaskSuffix formats a mask as xtables_ipmask_to_numeric does: "" for a
// full mask, "/N" for a prefix, "/a.b.c.d" otherwise.
func m2MaskSuffix(m netip.Addr) string {
	n := m2MaskLen(m)
	switch {
	case n == m.BitLen():
		return ""
	case n < 0:
		return "/" + m.String()
	}
	return "/" + strconv.Itoa(n)
}

// String formats the address and mask numerically.
func (h m2HostMask) String() string {
	if !h.Addr.IsValid() {
		return ""
	}
	return h.Addr.String() + m2MaskSuffix(h.Mask)
}

// m2ParseUintRange parses "a[:b]" like xtables' XTTYPE_UINT*RC: a missing
// first bound is 0, a missing second one is max; one value gives lo == hi.
func m2ParseUintRange(s string, max uint64) (lo, hi uint64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return 0, 0, Errorf("too many components in %q (max: 2)", s)
	}
	vals := [2]uint64{0, max}
	for i, p := range parts {
		if p == "" {
			continue
		}
		v, ok := ParseUint(p, 0, max)
		if !ok {
			return 0, 0, Errorf("bad value %q, or out of range (0-%d)", p, max)
		}
		vals[i] = v
	}
	if len(parts) == 1 {
		return vals[0], vals[0], nil
	}
	return vals[0], vals[1], nil
}

// m2ParsePortRange parses "port[:port]" like xtables' XTTYPE_PORTRC:
// service names allowed, a missing first bound is 0 and a missing second
// one 65535; the order of the bounds is not checked (as in iptables 1.8.9).
func m2ParsePortRange(s string) (lo, hi uint16, err error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return 0, 0, Errorf("too many components in %q (max: 2)", s)
	}
	vals := [2]uint16{0, 0xffff}
	for i, p := range parts {
		if p == "" {
			continue
		}
		v, err := ParsePort(p, "")
		if err != nil {
			return 0, 0, err
		}
		vals[i] = v
	}
	if len(parts) == 1 {
		return vals[0], vals[0], nil
	}
	return vals[0], vals[1], nil
}

// m2PrefixMatch reports whether the first comma-separated word w is a
// case-insensitive prefix of keyword (strncasecmp(w, keyword, len(w)) == 0).
func m2PrefixMatch(w, keyword string) bool {
	return len(w) <= len(keyword) && strings.EqualFold(w, keyword[:len(w)])
}

// m2Int32 formats v as C's printf("%d") does for an unsigned value.
func m2Int32(v uint32) string { return strconv.Itoa(int(int32(v))) }
