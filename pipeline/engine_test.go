package pipeline

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// fakeRouter: 10.0.0.1 on eth0 is local, 192.168.1.0/24 is out eth1.
type fakeRouter struct{ forward bool }

func (fakeRouter) AddrType(a netip.Addr, dev string) uint8 { return 1 }
func (fakeRouter) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	return netip.MustParseAddr("10.0.0.1"), true
}
func (fakeRouter) RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, in string) (string, bool) {
	return "eth0", true
}
func (r fakeRouter) RouteInput(fam nf.Family, src, dst netip.Addr, in string, mark uint32) Route {
	if dst == netip.MustParseAddr("10.0.0.1") {
		return Route{Kind: RouteLocal}
	}
	if !r.forward {
		return Route{Kind: RouteDrop, Reason: "forwarding is off"}
	}
	return Route{Kind: RouteForward, OutDev: "eth1"}
}
func (fakeRouter) RouteOutput(fam nf.Family, src, dst netip.Addr, mark uint32) Route {
	return Route{Kind: RouteOut, OutDev: "eth0"}
}

func tcp4(src, dst string, sport, dport uint16, flags uint8) *packet.Packet {
	return tcp4s(src, dst, sport, dport, flags, 1000, 0)
}

// tcp4s builds a TCP segment with sequence and acknowledgement numbers,
// a window and valid checksums, as conntrack's TCP tracker wants them.
func tcp4s(src, dst string, sport, dport uint16, flags uint8, seq, ack uint32) *packet.Packet {
	b := make([]byte, 40)
	b[0], b[2], b[3], b[8], b[9] = 0x45, 0, 40, 64, 6
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	packet.IPv4(b).UpdateChecksum()
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint32(b[24:], seq)
	binary.BigEndian.PutUint32(b[28:], ack)
	b[32], b[33] = 0x50, flags
	binary.BigEndian.PutUint16(b[34:], 64240)
	packet.TCP(b[20:]).SetChecksum(packet.TransportChecksum(netip.AddrFrom4(s), netip.AddrFrom4(d), 6, b[20:]))
	p := &packet.Packet{Family: nf.IPv4, Data: b, InDev: "eth0"}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return p
}

func load(t *testing.T, rules string) *ruleset.Ruleset {
	t.Helper()
	rs := ruleset.New(nf.IPv4)
	if err := rs.Restore(strings.NewReader(rules), ruleset.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	return rs
}

func counters(rs *ruleset.Ruleset, table string) string {
	var b strings.Builder
	rs.Save(&b, ruleset.SaveOptions{Counters: true})
	var out []string
	in := false
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "*") {
			in = l == "*"+table
			continue
		}
		if l == "COMMIT" {
			in = false
		}
		if in && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTraversalJumpsGotoReturnPolicy(t *testing.T) {
	rs := load(t, `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:a - [0:0]
:b - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j a
-A INPUT -p tcp -m tcp --dport 80 -g b
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A a -s 198.51.100.0/24 -j RETURN
-A a -j ACCEPT
-A b -p tcp -m tcp --sport 1000
COMMIT
`)
	e, err := New(Config{Rules4: rs, Router: fakeRouter{}, Tracker: &conntrack.Tracker{T: conntrack.NewTable()}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src   string
		sport uint16
		dport uint16
		want  string
	}{
		{"203.0.113.9", 40000, 22, "delivered locally"},                     // a rule 2
		{"198.51.100.7", 40000, 22, "dropped by policy: filter INPUT DROP"}, // a RETURN, then policy
		{"203.0.113.9", 1000, 80, "dropped by policy: filter INPUT DROP"},   // goto b, end of b: policy
		{"203.0.113.9", 40000, 443, "delivered locally"},                    // rule 3
		{"203.0.113.9", 40000, 25, "dropped by policy: filter INPUT DROP"},  // no rule
	}
	for _, c := range cases {
		p := tcp4(c.src, "10.0.0.1", c.sport, c.dport, packet.TCPSyn)
		if got := e.Receive(p).String(); got != c.want {
			t.Errorf("%s:%d -> :%d: got %q, want %q", c.src, c.sport, c.dport, got, c.want)
		}
	}
	want := `:INPUT DROP [3:120]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:a - [0:0]
:b - [0:0]
[2:80] -A INPUT -p tcp -m tcp --dport 22 -j a
[1:40] -A INPUT -p tcp -m tcp --dport 80 -g b
[1:40] -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
[1:40] -A a -s 198.51.100.0/24 -j RETURN
[1:40] -A a -j ACCEPT
[1:40] -A b -p tcp -m tcp --sport 1000`
	if got := counters(rs, "filter"); got != want {
		t.Errorf("counters:\n%s\nwant:\n%s", got, want)
	}
}

func TestNatOnlyForFirstPacket(t *testing.T) {
	rs := load(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state NEW
-A INPUT -m state --state ESTABLISHED
COMMIT
`)
	e, err := New(Config{Rules4: rs, Router: fakeRouter{}, Tracker: &conntrack.Tracker{T: conntrack.NewTable()}})
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(tcp4s("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn, 100, 0))
	e.Receive(tcp4s("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn, 100, 0)) // retransmission: still NEW, nat not consulted
	r := e.Output(tcp4s("10.0.0.1", "203.0.113.9", 22, 40000, packet.TCPSyn|packet.TCPAck, 500, 101))
	if r.Fate != Sent {
		t.Fatalf("reply: %v", r)
	}
	e.Receive(tcp4s("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPAck, 101, 501))
	got := counters(rs, "nat") + "\n" + counters(rs, "filter")
	for _, w := range []string{"[1:40] -A PREROUTING -p tcp", "[2:80] -A INPUT -m state --state NEW", "[1:40] -A INPUT -m state --state ESTABLISHED"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestForwardDecrementsTTLBeforeForwardHook(t *testing.T) {
	rs := load(t, `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m ttl --ttl-eq 63 -j ACCEPT
COMMIT
`)
	var emitted []string
	e, err := New(Config{Rules4: rs, Router: fakeRouter{forward: true}, Emit: func(dev string, next netip.Addr, p *packet.Packet) {
		emitted = append(emitted, dev+" "+next.String())
		if p.TTL() != 63 || packet.Fold(packet.Sum(p.Data[:20], 0)) != 0xffff {
			t.Errorf("ttl %d, header checksum wrong", p.TTL())
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Receive(tcp4("203.0.113.9", "192.168.1.5", 1, 2, packet.TCPSyn)); r.Fate != Forwarded || r.OutDev != "eth1" {
		t.Fatalf("got %v", r)
	}
	if len(emitted) != 1 || emitted[0] != "eth1 192.168.1.5" {
		t.Fatalf("emitted %v", emitted)
	}
	e2, _ := New(Config{Rules4: rs, Router: fakeRouter{forward: false}})
	if r := e2.Receive(tcp4("203.0.113.9", "192.168.1.5", 1, 2, packet.TCPSyn)); r.String() != "dropped by routing: forwarding is off" {
		t.Fatalf("got %v", r)
	}
}

func TestTraceEvents(t *testing.T) {
	rs := load(t, `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
`)
	var lines []string
	e, _ := New(Config{Rules4: rs, Router: fakeRouter{}, Trace: func(ev *Event) { lines = append(lines, FormatEvent(ev, nf.IPv4)) }})
	e.Receive(tcp4("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn))
	got := strings.Join(lines, "\n")
	want := `PREROUTING (in=eth0 out=)
route: local delivery
INPUT (in=eth0 out=)
  filter INPUT
    INPUT rule 1: -A INPUT -p udp -j DROP  [no match]
    INPUT rule 2: -A INPUT -p tcp -m tcp --dport 22 -j DROP  [match]
  => DROP (INPUT rule 2)
fate: dropped by filter INPUT rule 2`
	if got != want {
		t.Errorf("trace:\n%s\nwant:\n%s", got, want)
	}
}

func TestNoAllocationPerPacket(t *testing.T) {
	rs := load(t, `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:x - [0:0]
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -i eth9 -j DROP
-A INPUT -p udp -j DROP
-A INPUT -j x
-A x -p tcp -m tcp --dport 23 -j DROP
-A x -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
`)
	e, _ := New(Config{Rules4: rs, Router: fakeRouter{}})
	p := tcp4("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn)
	allocs := testing.AllocsPerRun(1000, func() {
		if e.Receive(p).Fate != Delivered {
			t.Fatal("not delivered")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet", allocs)
	}
	_ = ext.VerdictAccept
}

func BenchmarkReceive(b *testing.B) {
	rs := ruleset.New(nf.IPv4)
	rs.Restore(strings.NewReader("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\nCOMMIT\n"), ruleset.RestoreOptions{})
	e, _ := New(Config{Rules4: rs, Router: fakeRouter{}})
	p := tcp4("203.0.113.9", "10.0.0.1", 40000, 22, packet.TCPSyn)
	b.ReportAllocs()
	for b.Loop() {
		e.Receive(p)
	}
}
