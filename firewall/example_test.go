package firewall_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/nfgo/nfgo/firewall"
	"github.com/nfgo/nfgo/host"
	"github.com/nfgo/nfgo/packet"
	"net/netip"
)

// A stack embeds the firewall between its link layer and its transport
// layer: every packet in goes through Inbound, every packet out through
// Outbound.
func Example() {
	h, err := host.Load("../examples/ssh-trace") // interfaces, addresses, routes, sysctls
	if err != nil {
		log.Fatal(err)
	}
	fw, err := firewall.New(firewall.Config{
		Host: h,
		Rules4: strings.NewReader(`*filter
:INPUT DROP [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset
COMMIT
`),
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, port := range []uint16{22, 23, 80} {
		syn := synTo(port) // a received frame's IP packet
		d, err := fw.Inbound(syn, "eth0")
		if err != nil {
			log.Print(err) // not an IP packet: the stack drops it
			continue
		}
		fmt.Printf("port %d: %v (%s)\n", port, d.Verdict, d.Reason())
		for _, g := range d.Generated {
			fmt.Printf("  %v %d bytes out %s\n", g.Verdict, len(g.Packet), g.OutIface)
		}
	}
	// Output:
	// port 22: deliver (delivered locally)
	// port 23: drop (rejected by filter INPUT rule 3)
	//   send 40 bytes out eth0
	// port 80: drop (dropped by policy: filter INPUT DROP)
}

func synTo(port uint16) []byte {
	p, _ := packet.Build(&packet.Spec{
		Src: netip.MustParseAddr("172.16.0.20"), Dst: netip.MustParseAddr("172.16.0.10"),
		Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: port, Flags: packet.TCPSyn, Seq: 1,
	})
	return p.Data
}
