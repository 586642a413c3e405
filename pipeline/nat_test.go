package pipeline

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// DNAT at PREROUTING changes the route (the lookup comes after the hook),
// the reply is translated back at PREROUTING of its own way, the nat
// table sees only the first packet, and the trace shows each translation.
func TestNATHooksTranslateAndTrace(t *testing.T) {
	rs := load(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.0.0.1/32 -p tcp --dport 8080 -j DNAT --to-destination 192.168.1.5:80
COMMIT
`)
	var trace []string
	var emitted []string
	e, err := New(Config{Rules4: rs, Router: fakeRouter{forward: true},
		Tracker: &conntrack.Tracker{T: conntrack.NewTable()},
		Trace:   func(ev *Event) { trace = append(trace, FormatEvent(ev, nf.IPv4)) },
		Emit: func(dev string, next netip.Addr, p *packet.Packet) {
			s, d, _ := p.Ports()
			emitted = append(emitted, dev+" "+p.Src().String()+":"+itoa(s)+" > "+p.Dst().String()+":"+itoa(d))
		}})
	if err != nil {
		t.Fatal(err)
	}
	syn := tcp4s("192.0.2.7", "10.0.0.1", 40000, 8080, packet.TCPSyn, 1000, 0)
	if r := e.Receive(syn); r.Fate != Forwarded || r.OutDev != "eth1" {
		t.Fatalf("SYN: %v, want forwarded out eth1 after DNAT", r)
	}
	if !strings.Contains(strings.Join(trace, "\n"), "nat: DNAT: dst 10.0.0.1 -> 192.168.1.5, ports 40000:8080 -> 40000:80") {
		t.Fatalf("trace lacks the DNAT step:\n%s", strings.Join(trace, "\n"))
	}
	trace = nil
	synack := tcp4s("192.168.1.5", "192.0.2.7", 80, 40000, packet.TCPSyn|packet.TCPAck, 5000, 1001)
	synack.InDev = "eth1"
	e.Receive(synack)
	tr := strings.Join(trace, "\n")
	if !strings.Contains(tr, "nat: SNAT: src 192.168.1.5 -> 10.0.0.1, ports 80:40000 -> 8080:40000") {
		t.Fatalf("reply not translated back at POSTROUTING:\n%s", tr)
	}
	if strings.Contains(tr, "  nat PREROUTING") || !strings.Contains(tr, "nat skipped") {
		t.Fatalf("nat table consulted for a reply:\n%s", tr)
	}
	want := "eth1 192.0.2.7:40000 > 192.168.1.5:80\neth1 10.0.0.1:8080 > 192.0.2.7:40000"
	if got := strings.Join(emitted, "\n"); got != want {
		t.Fatalf("emitted\n%s\nwant\n%s", got, want)
	}
}

func itoa(v uint16) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// Packets of a translated connection pass the NAT hooks without
// allocating.
func TestNATEstablishedAllocatesNothing(t *testing.T) {
	rs := load(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth1 -j SNAT --to-source 10.0.0.1
COMMIT
`)
	e, err := New(Config{Rules4: rs, Router: fakeRouter{forward: true}, Tracker: &conntrack.Tracker{T: conntrack.NewTable()}})
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(tcp4s("192.0.2.7", "192.168.1.5", 40000, 80, packet.TCPSyn, 1000, 0))
	synack := tcp4s("192.168.1.5", "10.0.0.1", 80, 40000, packet.TCPSyn|packet.TCPAck, 5000, 1001)
	synack.InDev = "eth1"
	e.Receive(synack)
	ack := tcp4s("192.0.2.7", "192.168.1.5", 40000, 80, packet.TCPAck, 1001, 5001)
	orig := append([]byte(nil), ack.Data...)
	if r := e.Receive(ack); r.Fate != Forwarded || ack.Src() != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("ACK: %v from %v, want forwarded from 10.0.0.1", r, ack.Src())
	}
	allocs := testing.AllocsPerRun(200, func() {
		copy(ack.Data, orig)
		e.Receive(ack)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per translated packet, want 0", allocs)
	}
}

// A nat chain's DROP is the nat table's verdict; MASQUERADE without an
// address drops the packet by its rule.
func TestNATTableDrop(t *testing.T) {
	rs := load(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 81 -j DROP
-A POSTROUTING -j MASQUERADE
COMMIT
`)
	e, err := New(Config{Rules4: rs, Router: fakeRouter{forward: true}, Tracker: &conntrack.Tracker{T: conntrack.NewTable()}})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Receive(tcp4s("192.0.2.7", "192.168.1.5", 40000, 81, packet.TCPSyn, 1, 0)); r.String() != "dropped by nat PREROUTING rule 1" {
		t.Fatalf("got %q", r)
	}
	if r := e.Receive(tcp4s("192.0.2.7", "192.168.1.5", 40000, 80, packet.TCPSyn, 1, 0)); r.String() != "dropped by nat POSTROUTING rule 1 (MASQUERADE)" {
		t.Fatalf("got %q", r)
	}
}
