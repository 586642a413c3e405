package ext

import (
	"fmt"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// mac: -m mac --mac-source XX:XX:XX:XX:XX:XX (libxt_mac, xt_mac.c); the
// kernel allows it only in PREROUTING, INPUT and FORWARD.
type macMatch struct {
	Addr [6]byte
	Inv  bool
	Set  bool
}

func init() {
	Register(&Def{
		Name: "mac", Kind: MatchKind,
		Hooks:   nf.Hooks(nf.PreRouting, nf.LocalIn, nf.Forward),
		Options: []Option{{Name: "mac-source", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &macMatch{} },
	})
}

// m1ParseMAC parses six colon-separated hex bytes of one or two digits.
func m1ParseMAC(s string) ([6]byte, bool) {
	var a [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return a, false
	}
	for i, p := range parts {
		v, ok := ParseUintBase(p, 16, 0, 255)
		if !ok || len(p) == 0 || len(p) > 2 {
			return a, false
		}
		a[i] = byte(v)
	}
	return a, true
}

func (m *macMatch) Parse(u *Use) error {
	a, ok := m1ParseMAC(u.Arg)
	if !ok {
		return Errorf("invalid MAC address `%s' specified: expected six hex bytes XX:XX:XX:XX:XX:XX", u.Arg)
	}
	m.Addr, m.Inv, m.Set = a, u.Invert, true
	return nil
}

func (m *macMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--mac-source\" must be specified")
	}
	return nil
}

func (m *macMatch) str() string {
	a := m.Addr
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5])
}

func (m *macMatch) Save(b *Buf) { b.Opt(m.Inv, "mac-source", m.str()) }

func (m *macMatch) Print(b *Buf, _ bool) {
	b.S(" MAC ")
	if m.Inv {
		b.S("! ")
	}
	b.S(m.str())
}

// Match is xt_mac.c: the source address of the Ethernet header; a packet
// without one (locally generated) never matches, even inverted.
func (m *macMatch) Match(e *Env) bool {
	h := e.Pkt.MAC
	if len(h) < 14 {
		return false
	}
	return ([6]byte(h[6:12]) == m.Addr) != m.Inv
}
