package pipeline

import (
	"strings"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// tenRules is a 10-rule filter INPUT chain that a TCP SYN to port 22
// walks to the end (rule 10 accepts it).
const tenRules = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -d 10.9.0.0/16 -j DROP
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags SYN,RST SYN,RST -j DROP
-A INPUT -m ttl --ttl-lt 2 -j DROP
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 --tcp-flags SYN,RST,ACK,FIN SYN -j ACCEPT
COMMIT
`

func perPacketSetup(tb testing.TB) (*Engine, []byte) {
	rs := ruleset.New(nf.IPv4)
	if err := rs.Restore(strings.NewReader(tenRules), ruleset.RestoreOptions{}); err != nil {
		tb.Fatal(err)
	}
	e, err := New(Config{Rules4: rs, Router: fakeRouter{}})
	if err != nil {
		tb.Fatal(err)
	}
	p := tcp4("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn)
	frame := packet.EncodeEthernet([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, nf.IPv4, p.Data, nil)
	return e, frame
}

// perPacket is the whole per-packet path: link decoding, IP parsing and
// the hooks with a 10-rule chain, no conntrack.
func perPacket(e *Engine, frame []byte, f *packet.Frame, p *packet.Packet) Result {
	if err := packet.DecodeFrame(packet.LinkEthernet, frame, f); err != nil {
		panic(err)
	}
	*p = packet.Packet{InDev: "eth0"}
	f.Fill(p)
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return e.Receive(p)
}

func TestPerPacketPathAllocatesNothing(t *testing.T) {
	e, frame := perPacketSetup(t)
	var f packet.Frame
	var p packet.Packet
	if r := perPacket(e, frame, &f, &p); r.Fate != Delivered {
		t.Fatalf("got %v, want delivered locally", r)
	}
	if allocs := testing.AllocsPerRun(1000, func() { perPacket(e, frame, &f, &p) }); allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}

func BenchmarkPerPacket10Rules(b *testing.B) {
	e, frame := perPacketSetup(b)
	var f packet.Frame
	var p packet.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		perPacket(e, frame, &f, &p)
	}
}
