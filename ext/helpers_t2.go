package ext

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// Helpers shared by the t2 group's targets (NAT family, CT, TEE, TPROXY, ...).

// t2ParseAddr parses a numeric address of the family the way inet_pton
// does: no zones, no brackets, IPv4 in dotted quad form only.
func t2ParseAddr(fam nf.Family, s string) (netip.Addr, bool) {
	if s == "" || strings.ContainsAny(s, "%[]/ ") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	if fam == nf.IPv4 {
		if !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	}
	if a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// t2AddrString formats an address as inet_ntop does (glibc): IPv6 with an
// embedded dotted quad for ::a.b.c.d (first six words zero, seventh not)
// and ::ffff:a.b.c.d.
func t2AddrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	// longest run of zero words (length >= 2), first one on ties
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if curBase < 0 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			if curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
		} else {
			curBase, curLen = -1, 0
		}
	}
	if bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			sb.WriteString(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).String())
			break
		}
		sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}

// t2MaskBits returns the prefix length of a contiguous mask, or -1.
func t2MaskBits(m netip.Addr) int {
	b := m.AsSlice()
	n := 0
	i := 0
	for ; i < len(b) && b[i] == 0xff; i++ {
		n += 8
	}
	if i < len(b) {
		x := b[i]
		for x&0x80 != 0 {
			n++
			x <<= 1
		}
		if x != 0 {
			return -1
		}
		for i++; i < len(b); i++ {
			if b[i] != 0 {
				return -1
			}
		}
	}
	return n
}

// t2PrefixMask builds the mask of a prefix length for the family.
func t2PrefixMask(fam nf.Family, bits int) netip.Addr {
	n := 4
	if fam == nf.IPv6 {
		n = 16
	}
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		switch {
		case bits >= 8:
			b[i] = 0xff
			bits -= 8
		case bits > 0:
			b[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// t2And, t2Or and t2Not combine addresses of the same family bytewise.
func t2And(a, m netip.Addr) netip.Addr {
	x, y := a.AsSlice(), m.AsSlice()
	for i := range x {
		x[i] &= y[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}

func t2Not(a netip.Addr) netip.Addr {
	x := a.AsSlice()
	for i := range x {
		x[i] = ^x[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}

func t2Or(a, m netip.Addr) netip.Addr {
	x, y := a.AsSlice(), m.AsSlice()
	for i := range x {
		x[i] |= y[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}

func t2Xor(a, m netip.Addr) netip.Addr {
	x, y := a.AsSlice(), m.AsSlice()
	for i := range x {
		x[i] ^= y[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}

// t2ParseHostMask parses "addr[/len|/mask]" as XTTYPE_HOSTMASK does
// (xtopt_parse_hostmask). A mask in address form that is not contiguous
// ends up as a full-length mask, which is what iptables 1.8.9 does.
// It returns the address, its mask and the prefix length (255 for a
// non-contiguous mask, as iptables stores it in a uint8).
func t2ParseHostMask(fam nf.Family, opt, s string) (addr, mask netip.Addr, plen int, err error) {
	full := 32
	if fam == nf.IPv6 {
		full = 128
	}
	host, m, hasMask := strings.Cut(s, "/")
	a, ok := t2ParseAddr(fam, host)
	if !ok {
		return addr, mask, 0, Errorf("bad address %q for --%s: expected a numeric %s address", host, opt, fam)
	}
	bits := full
	if hasMask {
		if v, ok := ParseUint(m, 0, uint64(full)); ok {
			bits = int(v)
		} else if ma, ok := t2ParseAddr(fam, m); ok {
			bits = t2MaskBits(ma)
			if bits < 0 {
				bits = 255
			}
		} else {
			return addr, mask, 0, Errorf("bad value for option \"--%s\", neither a valid network mask nor valid CIDR (0-%d)", opt, full)
		}
	}
	if bits > full {
		return a, t2PrefixMask(fam, full), bits, nil
	}
	return a, t2PrefixMask(fam, bits), bits, nil
}

// t2ParseUintErr parses a number in [min,max] with a uniform message.
func t2ParseUintErr(opt, s string, min, max uint64) (uint64, error) {
	v, ok := ParseUint(s, min, max)
	if !ok {
		return 0, Errorf("invalid value %q for --%s: expected a number %d-%d", s, opt, min, max)
	}
	return v, nil
}

// t2Hex8 formats v as 0x%08x.
func t2Hex8(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return "0x" + s
}

// t2Strtou parses the leading unsigned number of s like C strtoumax with
// base 0 and returns the rest; ok is false when no digits were read or the
// value overflows.
func t2Strtou(s string) (v uint64, rest string, ok bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	if i < len(s) && (s[i] == '-') {
		return 0, s, false
	}
	if i < len(s) && s[i] == '+' {
		i++
	}
	base := uint64(10)
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && isHexDigit(s[i+2]) {
		base, i = 16, i+2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	start := i
	for i < len(s) {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			d = 99
		}
		if d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			return 0, s, false
		}
		v = v*base + d
		i++
	}
	if i == start {
		return 0, s, false
	}
	return v, s[i:], true
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// NAT range flags (linux/netfilter/nf_nat.h).
const (
	t2NATMapIPs         = 0x01
	t2NATProtoSpecified = 0x02
	t2NATRandom         = 0x04
	t2NATPersistent     = 0x08
	t2NATRandomFully    = 0x10
	t2NATProtoOffset    = 0x20
)

// t2NATRange is struct nf_nat_range2: the addresses and ports a NAT target
// maps to. BasePort is the start of a shifted port map (DNAT only keeps it;
// the older structures SNAT, MASQUERADE and REDIRECT use have no room).
type t2NATRange struct {
	Flags            uint32
	MinAddr, MaxAddr netip.Addr
	MinPort, MaxPort uint16
	BasePort         uint16
}

// t2NATPortOK reports whether the rule's protocol allows a port
// specification (tcp, udp, sctp, dccp or, as in iptables, protocol 1).
func t2NATPortOK(r *RuleInfo) bool {
	switch r.Proto {
	case nf.ProtoTCP, nf.ProtoUDP, nf.ProtoSCTP, nf.ProtoDCCP, nf.ProtoICMP:
		return true
	}
	return false
}

// parsePorts parses "port[-port[/base]]" as libxt_NAT's parse_ports.
func (r *t2NATRange) parsePorts(arg string, portOK bool) error {
	if !portOK {
		return Errorf("Need TCP, UDP, SCTP or DCCP with port specification")
	}
	r.Flags |= t2NATProtoSpecified
	port, rest, ok := t2Strtou(arg)
	if !ok || port > 0xffff {
		p, found := ServicePort(arg, "")
		if !found {
			return Errorf("Port `%s' not valid", arg)
		}
		port, rest = uint64(p), ""
	}
	switch {
	case rest == "":
		r.MinPort, r.MaxPort = uint16(port), uint16(port)
		return nil
	case rest[0] == '-':
		arg = rest[1:]
	case rest[0] == ':':
		return Errorf("Invalid port:port syntax - use dash")
	default:
		return Errorf("Garbage after port value: `%s'", rest)
	}
	maxPort, rest, ok := t2Strtou(arg)
	if !ok || maxPort > 0xffff {
		return Errorf("Port `%s' not valid", arg)
	}
	if maxPort < port {
		return Errorf("Port range `%s' funky", arg)
	}
	r.MinPort, r.MaxPort = uint16(port), uint16(maxPort)
	switch {
	case rest == "":
		return nil
	case rest[0] == '/':
		arg = rest[1:]
	default:
		return Errorf("Garbage after port range: `%s'", rest)
	}
	base, _, ok := t2Strtou(arg)
	if !ok || base < 1 || base > 0xffff {
		p, found := ServicePort(arg, "")
		if !found {
			return Errorf("Port `%s' not valid", arg)
		}
		base = uint64(p)
	}
	r.Flags |= t2NATProtoOffset
	r.BasePort = uint16(base)
	return nil
}

// parseTo parses "[addr[-addr]][:port[-port[/base]]]", IPv6 addresses in
// brackets when ports follow, as libxt_NAT's parse_to.
func (r *t2NATRange) parseTo(orig string, portOK bool, fam nf.Family) error {
	var addrs string
	colon := -1
	if lb := strings.IndexByte(orig, '['); lb < 0 {
		colon = strings.IndexByte(orig, ':')
		if colon >= 0 && strings.IndexByte(orig[colon+1:], ':') >= 0 {
			colon = -1
		}
		addrs = orig
		if colon >= 0 {
			addrs = orig[:colon]
		}
	} else {
		rb := strings.IndexByte(orig[lb+1:], ']')
		if rb < 0 || fam == nf.IPv4 {
			return Errorf("Invalid address format")
		}
		rb += lb + 1
		addrs = orig[lb+1 : rb]
		if c := strings.IndexByte(orig[rb+1:], ':'); c >= 0 {
			colon = rb + 1 + c
		}
	}
	if colon >= 0 {
		if err := r.parsePorts(orig[colon+1:], portOK); err != nil {
			return err
		}
		if colon == 0 || colon == 2 {
			return nil
		}
	}
	r.Flags |= t2NATMapIPs
	lo, hi, isRange := strings.Cut(addrs, "-")
	a, ok := t2ParseAddr(fam, lo)
	if !ok {
		return Errorf("Bad IP address \"%s\"", lo)
	}
	r.MinAddr, r.MaxAddr = a, a
	if isRange {
		b, ok := t2ParseAddr(fam, hi)
		if !ok {
			return Errorf("Bad IP address \"%s\"", hi)
		}
		r.MaxAddr = b
	}
	return nil
}

// text is sprint_range: the address range (bracketed for IPv6 with ports)
// and the port range; keepBase says whether the base port is stored.
func (r *t2NATRange) text(fam nf.Family, keepBase bool) string {
	var sb strings.Builder
	brackets := fam == nf.IPv6 && r.Flags&t2NATProtoSpecified != 0
	if r.Flags&t2NATMapIPs != 0 {
		if brackets {
			sb.WriteByte('[')
		}
		sb.WriteString(t2AddrString(r.MinAddr))
		if r.MaxAddr != r.MinAddr {
			sb.WriteByte('-')
			sb.WriteString(t2AddrString(r.MaxAddr))
		}
		if brackets {
			sb.WriteByte(']')
		}
	}
	if r.Flags&t2NATProtoSpecified != 0 {
		sb.WriteByte(':')
		sb.WriteString(Itoa(r.MinPort))
		if r.MaxPort != r.MinPort {
			sb.WriteByte('-')
			sb.WriteString(Itoa(r.MaxPort))
		}
		if r.Flags&t2NATProtoOffset != 0 {
			sb.WriteByte('/')
			if keepBase {
				sb.WriteString(Itoa(r.BasePort))
			} else {
				sb.WriteByte('0')
			}
		}
	}
	return sb.String()
}

// out prints the range and flags as __NAT_print: rangeOpt before the range,
// flagPfx ("--" or "") before the flags; skipColon drops a leading ':'.
func (r *t2NATRange) out(b *Buf, fam nf.Family, keepBase bool, rangeOpt, flagPfx string, skipColon bool) {
	if s := r.text(fam, keepBase); s != "" {
		if skipColon && s[0] == ':' {
			s = s[1:]
		}
		b.S(" ").S(rangeOpt).S(s)
	}
	if r.Flags&t2NATRandom != 0 {
		b.S(" ").S(flagPfx).S("random")
	}
	if r.Flags&t2NATRandomFully != 0 {
		b.S(" ").S(flagPfx).S("random-fully")
	}
	if r.Flags&t2NATPersistent != 0 {
		b.S(" ").S(flagPfx).S("persistent")
	}
}

// t2NATFlag maps the flag options of the NAT targets to range flags.
func (r *t2NATRange) flagOpt(name string) bool {
	switch name {
	case "random":
		r.Flags |= t2NATRandom
	case "random-fully":
		r.Flags |= t2NATRandomFully
	case "persistent":
		r.Flags |= t2NATPersistent
	default:
		return false
	}
	return true
}

// t2ParseServicePort parses a port as iptables' XTTYPE_PORT does (through
// getaddrinfo): a decimal number, kept modulo 65536 as the C code stores
// it in 16 bits, or a service name.
func t2ParseServicePort(s string) (uint16, bool) {
	d := strings.TrimLeft(s, " \t\n")
	d = strings.TrimPrefix(d, "+")
	if d != "" {
		allDigits := true
		for i := 0; i < len(d); i++ {
			if d[i] < '0' || d[i] > '9' {
				allDigits = false
				break
			}
		}
		if allDigits {
			v, err := strconv.ParseUint(d, 10, 64)
			if err != nil {
				v = 0xffff // strtoul saturates
			}
			return uint16(v), true
		}
	}
	return ServicePort(s, "")
}
