package ext

import (
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
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

// m3ParseHostMask reads "host[/mask]" as xtables' XTTYPE_HOSTMASK does: the
// address is kept as given (not masked); the mask is a prefix length or an
// address-form mask, and a non-contiguous address-form mask counts as a
// full mask. Host names must resolve to a single address.
func m3ParseHostMask(fam nf.Family, s string) (addr, mask netip.Addr, err error) {
	bits := 32
	if fam == nf.IPv6 {
		bits = 128
	}
	host, m, hasMask := strings.Cut(s, "/")
	addr, err = m3ParseHost(fam, host)
	if err != nil {
		return
	}
	plen := bits
	if hasMask {
		if v, ok := ParseUint(m, 0, uint64(bits)); ok {
			plen = int(v)
		} else if ma, e := netip.ParseAddr(m); e == nil && ma.BitLen() == bits && ma.Zone() == "" {
			if n, ok := m3MaskLen(ma); ok {
				plen = n
			}
		} else {
			return addr, mask, Errorf("bad mask \"%s\": neither a valid network mask nor valid CIDR (0-%d)", m, bits)
		}
	}
	return addr, m3PrefixMask(bits, plen), nil
}

func m3ParseHost(fam nf.Family, s string) (netip.Addr, error) {
	bits := 32
	if fam == nf.IPv6 {
		bits = 128
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		if a.BitLen() != bits {
			return netip.Addr{}, Errorf("host/network `%s' is not an %s address", s, fam)
		}
		return a, nil
	}
	if s == "" {
		return netip.Addr{}, Errorf("empty address: expected an address or host name")
	}
	ips := nf.LookupHost(s)
	var found netip.Addr
	for _, ip := range ips {
		a := ip.Unmap()
		if a.BitLen() != bits {
			continue
		}
		if found.IsValid() && found != a {
			return netip.Addr{}, Errorf("%s resolves to more than one address", s)
		}
		found = a
	}
	if !found.IsValid() {
		return netip.Addr{}, Errorf("host `%s' has no %s address", s, fam)
	}
	return found, nil
}

// m3MaskLen returns the prefix length of a contiguous mask.
func m3MaskLen(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n, done := 0, false
	for _, c := range b {
		for i := 7; i >= 0; i-- {
			if c&(1<<i) != 0 {
				if done {
					return 0, false
				}
				n++
			} else {
				done = true
			}
		}
	}
	return n, true
}

func m3PrefixMask(bits, n int) netip.Addr {
	var b [16]byte
	for i := 0; i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if bits == 32 {
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	}
	return netip.AddrFrom16(b)
}

// m3AddrMask formats an address and mask as xtables_ip[6]addr_to_numeric
// followed by xtables_ip[6]mask_to_numeric: "/N", nothing for a full mask,
// or the address-form mask when it is not contiguous (IPv4).
func m3AddrMask(a, m netip.Addr) string {
	s := a.String()
	n, ok := m3MaskLen(m)
	switch {
	case ok && n == m.BitLen():
		return s
	case ok:
		return s + "/" + strconv.Itoa(n)
	}
	return s + "/" + m.String()
}

// m3LmapEntry is one "id name" line of an iproute2 map file.
type m3LmapEntry struct {
	id   uint32
	name string
}

// m3Lmap reads an iproute2 id/name map (/etc/iproute2/group, rt_realms)
// as xtables_lmap_init does: ids 0-255 in decimal or 0x hex.
func m3Lmap(file string) []m3LmapEntry {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []m3LmapEntry
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimLeft(l, " \t\r\v\f")
		if l == "" || l[0] == '#' {
			continue
		}
		base := 10
		if strings.HasPrefix(l, "0x") {
			base = 16
		}
		v, n, ok := m3Strtoul(l, base)
		if n == 0 || !ok || v > 255 || n >= len(l) || !m3IsSpace(l[n]) {
			continue
		}
		f := strings.Fields(l[n:])
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		out = append(out, m3LmapEntry{uint32(v), f[0]})
	}
	return out
}

// m3ParseValMask reads "value[/mask]" or a name from the map file, as
// xtables_parse_val_mask does; the mask defaults to all ones.
func m3ParseValMask(s, opt, file string) (val, mask uint32, err error) {
	mask = 0xffffffff
	v, n, ok := m3Strtoul(s, 0)
	if n > 0 && ok && v <= 0xffffffff {
		rest := s[n:]
		if rest == "" {
			return uint32(v), mask, nil
		}
		if rest[0] == '/' {
			mv, mn, ok := m3Strtoul(rest[1:], 0)
			if mn == 0 || !ok || mv > 0xffffffff {
				return 0, 0, Errorf("bad integer value for option \"--%s\", or out of range: expected VALUE[/MASK]", opt)
			}
			if mn+1 != len(rest) {
				return 0, 0, Errorf("trailing garbage after value for option \"--%s\"", opt)
			}
			return uint32(v), uint32(mv), nil
		}
	}
	for _, e := range m3Lmap(file) {
		if e.name == s {
			return e.id, mask, nil
		}
	}
	return 0, 0, Errorf("could not map name %s to an integer value for option \"--%s\" (names come from %s)", s, opt, file)
}

// m3ValMask formats a value and mask as xtables_print_val_mask does:
// " 0xV/0xM", else the map name of V when file is set, else " 0xV".
func m3ValMask(b *Buf, val, mask uint32, file string) {
	if mask != 0xffffffff {
		b.S(" ").S(Hex(val)).S("/").S(Hex(mask))
		return
	}
	if file != "" {
		for _, e := range m3Lmap(file) {
			if e.id == val {
				b.S(" ").S(e.name)
				return
			}
		}
	}
	b.S(" ").S(Hex(val))
}
