package ext

import (
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// truncated4 is an IPv4 packet of protocol proto whose transport header
// is cut to the given bytes.
func truncated4(proto uint8, l4 []byte) *packet.Packet {
	b := make([]byte, 20+len(l4))
	b[0], b[3], b[8], b[9] = 0x45, byte(len(b)), 64, proto
	copy(b[12:], []byte{198, 51, 100, 7, 10, 0, 0, 5})
	copy(b[20:], l4)
	packet.IPv4(b).UpdateChecksum()
	p := &packet.Packet{Family: nf.IPv4, Data: b}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return p
}

// Under iptables-nft a truncated header is read as far as it goes (seen
// on the kernel: a 10-byte TCP header counted by --dport 80, a 4-byte UDP
// header by --dport 53); under ip_tables it is dropped.
func TestTCPUDPTruncatedNftAndLegacy(t *testing.T) {
	dport80 := &tcpMatch{Dst: PortRange{Lo: 80, Hi: 80, Set: true}}
	syn := &tcpMatch{FlagsSet: true, FlagMask: 0x12, Flags: 0x02}
	dport53 := &udpMatch{Dst: PortRange{Lo: 53, Hi: 53, Set: true}}
	tcp10 := truncated4(nf.ProtoTCP, []byte{0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 0, 0, 0})
	udp4 := truncated4(nf.ProtoUDP, []byte{0x9c, 0x41, 0x00, 0x35})
	cases := []struct {
		name          string
		m             Matcher
		p             *packet.Packet
		nft, nftDrop  bool
		xt, xtHotDrop bool
	}{
		{"tcp --dport 80, 10-byte header", dport80, tcp10, true, false, false, true},
		{"tcp flags past the end", syn, tcp10, false, false, false, true},
		{"udp --dport 53, 4-byte header", dport53, udp4, true, false, false, true},
	}
	defer func(old bool) { LegacyXtables = old }(LegacyXtables)
	for _, c := range cases {
		for _, legacy := range []bool{false, true} {
			LegacyXtables = legacy
			e := &Env{Pkt: c.p, Family: nf.IPv4}
			got := c.m.Match(e)
			want, wantDrop := c.nft, c.nftDrop
			if legacy {
				want, wantDrop = c.xt, c.xtHotDrop
			}
			if got != want || e.HotDrop != wantDrop {
				t.Errorf("%s (legacy %v): match %v hotdrop %v, want %v %v", c.name, legacy, got, e.HotDrop, want, wantDrop)
			}
		}
	}
}
