package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// HMARK: -j HMARK (libxt_HMARK.c, xt_HMARK.c): set the packet mark from a
// hash of selected header fields, modulo --hmark-mod plus --hmark-offset.
type hmarkTarget struct {
	Family    nf.Family
	Flags     uint32 // 1<<XT_HMARK_* of the fields given
	SrcPrefix int    // prefix length of the source address mask
	DstPrefix int
	SPortMask uint16
	DPortMask uint16
	SPIMask   uint32
	SPort     uint16
	DPort     uint16
	SPI       uint32
	ProtoMask uint16
	Rnd       uint32
	Modulus   uint32
	Offset    uint32
	given     uint32 // iptables' xflags: 1<<hm* of the options seen
}

// XT_HMARK_* flag numbers; they double as the option ids of libxt_HMARK.
const (
	hmSAddrMask = iota
	hmDAddrMask
	hmSPI
	hmSPIMask
	hmSPort
	hmDPort
	hmSPortMask
	hmDPortMask
	hmProtoMask
	hmRnd
	hmModulus
	hmOffset
	hmCT
)

const hmPktMask = 1<<hmSAddrMask | 1<<hmDAddrMask | 1<<hmSPIMask | 1<<hmSPortMask | 1<<hmDPortMask |
	1<<hmProtoMask | 1<<hmSPort | 1<<hmDPort | 1<<hmSPI

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "HMARK", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "hmark-tuple", Arg: NeedArg},
				{Name: "hmark-src-prefix", Arg: NeedArg},
				{Name: "hmark-dst-prefix", Arg: NeedArg},
				{Name: "hmark-sport-mask", Arg: NeedArg},
				{Name: "hmark-dport-mask", Arg: NeedArg},
				{Name: "hmark-spi-mask", Arg: NeedArg},
				{Name: "hmark-sport", Arg: NeedArg},
				{Name: "hmark-dport", Arg: NeedArg},
				{Name: "hmark-spi", Arg: NeedArg},
				{Name: "hmark-proto-mask", Arg: NeedArg},
				{Name: "hmark-rnd", Arg: NeedArg},
				{Name: "hmark-mod", Arg: NeedArg},
				{Name: "hmark-offset", Arg: NeedArg},
			},
			New: func() Ext { return &hmarkTarget{Family: fam} },
		})
	}
}

func (t *hmarkTarget) full() int {
	if t.Family == nf.IPv6 {
		return 128
	}
	return 32
}

func (t *hmarkTarget) set(id int) { t.Flags |= 1 << id; t.given |= 1 << id }

// tupleItem takes one --hmark-tuple word; like iptables it accepts any
// prefix of a type name (strncasecmp), the first match in this order winning.
func (t *hmarkTarget) tupleItem(w string) bool {
	name := ""
	for _, n := range []string{"ct", "src", "dst", "sport", "dport", "proto", "spi"} {
		if len(w) <= len(n) && strings.EqualFold(w, n[:len(w)]) {
			name = n
			break
		}
	}
	switch name {
	case "ct":
		t.set(hmCT)
	case "src":
		t.SrcPrefix = t.full()
		t.set(hmSAddrMask)
	case "dst":
		t.DstPrefix = t.full()
		t.set(hmDAddrMask)
	case "sport":
		t.SPortMask = 0xffff
		t.set(hmSPortMask)
	case "dport":
		t.DPortMask = 0xffff
		t.set(hmDPortMask)
	case "proto":
		t.ProtoMask = 0xffff
		t.set(hmProtoMask)
	case "spi":
		t.SPIMask = 0xffffffff
		t.set(hmSPIMask)
	default:
		return false
	}
	return true
}

func (t *hmarkTarget) Parse(u *Use) error {
	name := u.Opt.Name
	u16 := func() (uint16, error) {
		v, err := t2ParseUintErr(name, u.Arg, 0, 0xffff)
		return uint16(v), err
	}
	u32 := func(min uint64) (uint32, error) {
		v, err := t2ParseUintErr(name, u.Arg, min, 0xffffffff)
		return uint32(v), err
	}
	// An option whose field --hmark-tuple already selected counts as
	// given twice, as in iptables.
	if id, ok := map[string]int{"hmark-src-prefix": hmSAddrMask, "hmark-dst-prefix": hmDAddrMask,
		"hmark-sport-mask": hmSPortMask, "hmark-dport-mask": hmDPortMask, "hmark-spi-mask": hmSPIMask,
		"hmark-proto-mask": hmProtoMask}[name]; ok && t.given&(1<<id) != 0 {
		return Errorf("option \"--%s\" can only be used once (--hmark-tuple already set it)", name)
	}
	var err error
	switch name {
	case "hmark-tuple":
		words := strings.Split(u.Arg, ",")
		for i, w := range words {
			if w == "" && i == len(words)-1 {
				return Errorf("\"--hmark-tuple\" requires a list of types with no spaces, e.g. src,dst,sport,dport,proto")
			}
			if w == "" || !t.tupleItem(w) {
				return Errorf("Bad type \"%s\": expected ct, src, dst, sport, dport, proto or spi", w)
			}
		}
		return nil
	case "hmark-src-prefix", "hmark-dst-prefix":
		n := 0
		if v, ok := ParseUint(u.Arg, 0, uint64(t.full())); ok {
			n = int(v)
		} else if m, ok := t2ParseAddr(t.Family, u.Arg); ok {
			n = t2MaskBits(m)
			if n < 0 {
				n = t.full()
			}
		} else {
			return Errorf("bad value for option \"--%s\", neither a valid network mask nor valid CIDR (0-%d)", name, t.full())
		}
		if name == "hmark-src-prefix" {
			t.SrcPrefix = n
			t.set(hmSAddrMask)
		} else {
			t.DstPrefix = n
			t.set(hmDAddrMask)
		}
		return nil
	case "hmark-sport-mask":
		t.SPortMask, err = u16()
		t.set(hmSPortMask)
	case "hmark-dport-mask":
		t.DPortMask, err = u16()
		t.set(hmDPortMask)
	case "hmark-spi-mask":
		t.SPIMask, err = u32(0)
		t.set(hmSPIMask)
	case "hmark-sport":
		t.SPort, err = u16()
		t.set(hmSPort)
	case "hmark-dport":
		t.DPort, err = u16()
		t.set(hmDPort)
	case "hmark-spi":
		t.SPI, err = u32(0)
		t.set(hmSPI)
	case "hmark-proto-mask":
		t.ProtoMask, err = u16()
		t.set(hmProtoMask)
	case "hmark-rnd":
		t.Rnd, err = u32(0)
		t.set(hmRnd)
	case "hmark-mod":
		t.Modulus, err = u32(1)
		t.set(hmModulus)
	case "hmark-offset":
		t.Offset, err = u32(0)
		t.set(hmOffset)
	}
	return err
}

func (t *hmarkTarget) Final(*RuleInfo) error {
	switch {
	case t.given&(1<<hmModulus) == 0:
		return Errorf("--hmark-mod is mandatory")
	case t.given&(1<<hmRnd) == 0:
		return Errorf("--hmark-rnd is mandatory")
	case t.given&(1<<hmSPIMask) != 0 && t.given&(1<<hmSPortMask|1<<hmDPortMask) != 0:
		return Errorf("you cannot use --hmark-spi-mask and --hmark-?port-mask at the same time")
	case t.given&(hmPktMask|1<<hmCT) == 0:
		return Errorf("you have to specify --hmark-tuple at least")
	}
	return nil
}

// Check mirrors hmark_tg_check: an SPI value and port values exclude each other.
func (t *hmarkTarget) Check(*CheckCtx) error {
	if t.Flags&(1<<hmSPI) != 0 && t.Flags&(1<<hmSPort|1<<hmDPort) != 0 {
		return Errorf("spi-set and port-set can't be combined")
	}
	return nil
}

func (t *hmarkTarget) has(id int) bool { return t.Flags&(1<<id) != 0 }

func t2HexW(v uint64, w int) string {
	s := Hex(v)[2:]
	for len(s) < w {
		s = "0" + s
	}
	return "0x" + s
}

func (t *hmarkTarget) Save(b *Buf) {
	if t.has(hmSAddrMask) {
		b.S(" --hmark-src-prefix ").S(Itoa(t.SrcPrefix))
	}
	if t.has(hmDAddrMask) {
		b.S(" --hmark-dst-prefix ").S(Itoa(t.DstPrefix))
	}
	if t.has(hmSPortMask) {
		b.S(" --hmark-sport-mask ").S(t2HexW(uint64(t.SPortMask), 4))
	}
	if t.has(hmDPortMask) {
		b.S(" --hmark-dport-mask ").S(t2HexW(uint64(t.DPortMask), 4))
	}
	if t.has(hmSPIMask) {
		b.S(" --hmark-spi-mask ").S(t2HexW(uint64(t.SPIMask), 8))
	}
	if t.has(hmSPort) {
		b.S(" --hmark-sport ").S(t2HexW(uint64(t.SPort), 4))
	}
	if t.has(hmDPort) {
		b.S(" --hmark-dport ").S(t2HexW(uint64(t.DPort), 4))
	}
	if t.has(hmSPI) {
		b.S(" --hmark-spi ").S(t2HexW(uint64(t.SPI), 8))
	}
	if t.has(hmProtoMask) {
		b.S(" --hmark-proto-mask ").S(t2HexW(uint64(t.ProtoMask), 2))
	}
	if t.has(hmRnd) {
		b.S(" --hmark-rnd ").S(t2HexW(uint64(t.Rnd), 8))
	}
	if t.has(hmModulus) {
		b.S(" --hmark-mod ").S(Itoa(t.Modulus))
	}
	if t.has(hmOffset) {
		b.S(" --hmark-offset ").S(Itoa(t.Offset))
	}
	if t.has(hmCT) {
		b.S(" --hmark-tuple ct")
	}
}

func (t *hmarkTarget) Print(b *Buf, _ bool) {
	b.S(" HMARK ")
	if t.has(hmModulus) {
		b.S("mod ").S(Itoa(t.Modulus)).S(" ")
	}
	if t.has(hmOffset) {
		b.S("+ ").S(Hex(t.Offset)).S(" ")
	}
	if t.has(hmCT) {
		b.S("ct, ")
	}
	if t.has(hmSAddrMask) {
		b.S("src-prefix ").S(t.prefixText(t.SrcPrefix)).S(" ")
	}
	if t.has(hmDAddrMask) {
		b.S("dst-prefix ").S(t.prefixText(t.DstPrefix)).S(" ")
	}
	if t.has(hmSPortMask) {
		b.S("sport-mask ").S(Hex(t.SPortMask)).S(" ")
	}
	if t.has(hmDPortMask) {
		b.S("dport-mask ").S(Hex(t.DPortMask)).S(" ")
	}
	if t.has(hmSPIMask) {
		b.S("spi-mask ").S(Hex(t.SPIMask)).S(" ")
	}
	if t.has(hmSPort) {
		b.S("sport ").S(Hex(t.SPort)).S(" ")
	}
	if t.has(hmDPort) {
		b.S("dport ").S(Hex(t.DPort)).S(" ")
	}
	if t.has(hmSPI) {
		b.S("spi ").S(Hex(t.SPI)).S(" ")
	}
	if t.has(hmProtoMask) {
		b.S("proto-mask ").S(Hex(t.ProtoMask)).S(" ")
	}
	if t.has(hmRnd) {
		b.S("rnd ").S(Hex(t.Rnd)).S(" ")
	}
}

// prefixText is the -L form of a prefix length: IPv6 prints nothing for
// /128 (xtables_ip6mask_to_numeric hides it).
func (t *hmarkTarget) prefixText(n int) string {
	if t.Family == nf.IPv6 && n == 128 {
		return ""
	}
	return Itoa(n)
}
