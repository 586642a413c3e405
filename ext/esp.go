package ext

import "github.com/nfgo/nfgo/nf"

// esp: -m esp --espspi SPI[:SPI] (libxt_esp, xt_esp.c); needs -p esp.
type espMatch struct {
	SPI m1Range32
}

func init() {
	Register(&Def{
		Name: "esp", Kind: MatchKind, Proto: nf.ProtoESP,
		Options: []Option{{Name: "espspi", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &espMatch{SPI: m1Range32{Hi: 0xffffffff}} },
	})
}

func (m *espMatch) Parse(u *Use) error {
	r, err := m1ParseSPIRange(u)
	if err != nil {
		return err
	}
	m.SPI = r
	return nil
}

func (m *espMatch) Final(*RuleInfo) error { return nil }

func (m *espMatch) Save(b *Buf) {
	// iptables 1.8.9 drops a "!" on the full range.
	if !m.SPI.Full(0xffffffff) {
		b.Opt(m.SPI.Inv, "espspi", m.SPI.String())
	}
}

func (m *espMatch) Print(b *Buf, _ bool) {
	b.S(" esp")
	m1PrintRange32(b, "spi", m.SPI.Lo, m.SPI.Hi, 0xffffffff, m.SPI.Inv)
}

// Match is xt_esp.c's esp_mt: the SPI at the transport offset.
func (m *espMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	eh := hdrAt(p, thoff(p), 8)
	if eh == nil {
		e.HotDrop = true
		return false
	}
	return m.SPI.Match(be32(eh))
}
