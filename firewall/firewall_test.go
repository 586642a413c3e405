package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfgo/nfgo/host"
	"github.com/nfgo/nfgo/packet"
)

const statefulRules = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -p tcp -m tcp --dport 81 -j REJECT --reject-with tcp-reset
COMMIT
`

var (
	hostAddr   = netip.MustParseAddr("172.16.0.10") // eth0 of examples/ssh-trace
	clientAddr = netip.MustParseAddr("172.16.0.20") // on eth0's link
)

// fakeClock advances a millisecond per reading, so that timeouts never
// fire during a test and runs are reproducible.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func newFirewall(t testing.TB, rules string) *Firewall {
	t.Helper()
	h, err := host.Load("../examples/ssh-trace")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Rules4: strings.NewReader(rules), Host: h, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tcp(t testing.TB, src, dst netip.Addr, sport, dport uint16, flags uint8, seq, ack uint32) []byte {
	t.Helper()
	p, err := packet.Build(&packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP,
		SrcPort: sport, DstPort: dport, Flags: flags, Seq: seq, Ack: ack})
	if err != nil {
		t.Fatal(err)
	}
	return p.Data
}

// csum is the RFC 1071 checksum, written out here so that the tests do
// not check the package's checksum code with itself.
func csum(parts ...[]byte) uint16 {
	var s uint32
	for _, b := range parts {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// checkIPv4TCP verifies the IPv4 header and TCP checksums of a packet.
func checkIPv4TCP(t *testing.T, b []byte) {
	t.Helper()
	ihl := int(b[0]&15) * 4
	if c := csum(b[:ihl]); c != 0 {
		t.Errorf("IPv4 header checksum wrong (residue %#04x)", c)
	}
	seg := b[ihl:]
	pseudo := make([]byte, 12)
	copy(pseudo, b[12:20])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(seg)))
	if c := csum(pseudo, seg); c != 0 {
		t.Errorf("TCP checksum wrong (residue %#04x)", c)
	}
}

func ports(b []byte) (uint16, uint16) {
	ihl := int(b[0]&15) * 4
	return binary.BigEndian.Uint16(b[ihl:]), binary.BigEndian.Uint16(b[ihl+2:])
}

func addrs(b []byte) (netip.Addr, netip.Addr) {
	return netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
}

func mustRun(t *testing.T, d Decision, err error, want Verdict) Decision {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != want {
		t.Fatalf("verdict %v (%s), want %v", d.Verdict, d.Reason(), want)
	}
	return d
}

func TestStatefulHandshake(t *testing.T) {
	f := newFirewall(t, statefulRules)

	syn := tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPSyn, 1000, 0)
	d, err := f.Inbound(syn, "eth0")
	d = mustRun(t, d, err, Deliver)
	if &d.Packet[0] != &syn[0] {
		t.Error("unchanged packet was copied")
	}

	web := tcp(t, clientAddr, hostAddr, 40001, 80, packet.TCPSyn, 5000, 0)
	d, err = f.Inbound(web, "eth0")
	d = mustRun(t, d, err, Drop)
	if d.Result.Rule != 0 || d.Result.Chain != "INPUT" {
		t.Errorf("SYN to 80: %s, want the INPUT policy", d.Reason())
	}
	if len(d.Generated) != 0 {
		t.Errorf("policy DROP generated %d packets", len(d.Generated))
	}

	synack := tcp(t, hostAddr, clientAddr, 22, 40000, packet.TCPSyn|packet.TCPAck, 9000, 1001)
	d, err = f.Outbound(synack)
	d = mustRun(t, d, err, Send)
	if d.OutIface != "eth0" || d.NextHop != clientAddr {
		t.Errorf("SYN-ACK out %q via %v, want eth0 via %v", d.OutIface, d.NextHop, clientAddr)
	}

	ack := tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPAck, 1001, 9001)
	d, err = f.Inbound(ack, "eth0")
	mustRun(t, d, err, Deliver)

	ct := f.Conntrack()
	var found bool
	for _, l := range ct {
		if strings.Contains(l, "ESTABLISHED") && strings.Contains(l, "sport=40000 dport=22") && strings.Contains(l, "[ASSURED]") {
			found = true
		}
	}
	if !found {
		t.Errorf("no assured ESTABLISHED ssh connection in\n%s", strings.Join(ct, "\n"))
	}

	// Which rules accepted: the SYN the NEW ssh rule, the ACK the
	// ESTABLISHED one.
	c := f.Counters()
	if want := fmt.Sprintf("[1:%d] -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT", len(syn)); !strings.Contains(c, want) {
		t.Errorf("counters lack %q:\n%s", want, c)
	}
	if want := fmt.Sprintf("[1:%d] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", len(ack)); !strings.Contains(c, want) {
		t.Errorf("counters lack %q:\n%s", want, c)
	}
	if want := fmt.Sprintf(":INPUT DROP [1:%d]", len(web)); !strings.Contains(c, want) {
		t.Errorf("counters lack %q:\n%s", want, c)
	}
}

func TestRejectGeneratesReset(t *testing.T) {
	f := newFirewall(t, statefulRules)
	syn := tcp(t, clientAddr, hostAddr, 40002, 81, packet.TCPSyn, 7000, 0)
	d, err := f.Inbound(syn, "eth0")
	d = mustRun(t, d, err, Drop)
	if !strings.HasPrefix(d.Reason(), "rejected by filter INPUT rule 4") {
		t.Errorf("reason %q", d.Reason())
	}
	if len(d.Generated) != 1 {
		t.Fatalf("%d generated packets, want the RST", len(d.Generated))
	}
	g := d.Generated[0]
	if g.Verdict != Send || g.OutIface != "eth0" || g.NextHop != clientAddr {
		t.Errorf("RST: %v out %q via %v", g.Verdict, g.OutIface, g.NextHop)
	}
	rst := g.Packet
	if s, dd := addrs(rst); s != hostAddr || dd != clientAddr {
		t.Errorf("RST %v > %v", s, dd)
	}
	if sp, dp := ports(rst); sp != 81 || dp != 40002 {
		t.Errorf("RST ports %d > %d", sp, dp)
	}
	th := rst[20:]
	if flags := th[13]; flags != packet.TCPRst|packet.TCPAck {
		t.Errorf("RST flags %#x, want RST|ACK", flags)
	}
	// A SYN without payload is acknowledged at seq+1 (tcp_v4_send_reset).
	if ack := binary.BigEndian.Uint32(th[8:]); ack != 7001 {
		t.Errorf("RST ack %d, want 7001", ack)
	}
	checkIPv4TCP(t, rst)
}

const dnatRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 172.16.0.10/32 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 172.16.0.10:22
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,UNTRACKED --ctorigdstport 2222 -j ACCEPT
COMMIT
`

func TestDNATInPlace(t *testing.T) {
	f := newFirewall(t, dnatRules)
	syn := tcp(t, clientAddr, hostAddr, 40100, 2222, packet.TCPSyn, 100, 0)
	d, err := f.Inbound(syn, "eth0")
	d = mustRun(t, d, err, Deliver)
	if &d.Packet[0] != &syn[0] {
		t.Error("DNAT copied the packet instead of rewriting it in place")
	}
	if _, dp := ports(syn); dp != 22 {
		t.Errorf("destination port %d after DNAT, want 22", dp)
	}
	checkIPv4TCP(t, syn)

	// The reply from port 22 leaves as coming from 2222.
	synack := tcp(t, hostAddr, clientAddr, 22, 40100, packet.TCPSyn|packet.TCPAck, 500, 101)
	d, err = f.Outbound(synack)
	d = mustRun(t, d, err, Send)
	if sp, dp := ports(d.Packet); sp != 2222 || dp != 40100 {
		t.Errorf("reply ports %d > %d, want 2222 > 40100", sp, dp)
	}
	if &d.Packet[0] != &synack[0] {
		t.Error("reply translation copied the packet")
	}
	checkIPv4TCP(t, d.Packet)

	// Port 22 itself is closed to new connections.
	d, err = f.Inbound(tcp(t, clientAddr, hostAddr, 40101, 22, packet.TCPSyn, 100, 0), "eth0")
	mustRun(t, d, err, Drop)
}

func TestBadPackets(t *testing.T) {
	f := newFirewall(t, statefulRules)
	good := tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPSyn, 1, 0)
	cases := []struct {
		name  string
		pkt   []byte
		iface string
		want  error
	}{
		{"empty", nil, "eth0", ErrNotIP},
		{"version 5", append([]byte{0x50}, good[1:]...), "eth0", ErrNotIP},
		{"truncated", good[:12], "eth0", packet.ErrTruncated},
		{"short total length", func() []byte {
			b := append([]byte(nil), good...)
			b[2], b[3] = 0, 10
			return b
		}(), "eth0", packet.ErrHeader},
		{"unknown interface", good, "eth9", ErrUnknownIface},
	}
	for _, c := range cases {
		_, err := f.Inbound(c.pkt, c.iface)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := f.Outbound([]byte{0x60, 0, 0}); !errors.Is(err, packet.ErrTruncated) {
		t.Errorf("truncated IPv6: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without Host or Router succeeded")
	}
	if _, err := New(Config{Router: f.router, Rules4: strings.NewReader("*filter\n-A NOPE\nCOMMIT\n")}); err == nil {
		t.Error("New accepted a broken ruleset")
	}
}

// TestConcurrent runs many handshakes at once (run it with -race).
func TestConcurrent(t *testing.T) {
	f := newFirewall(t, statefulRules)
	const workers, flows = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range flows {
				port := uint16(20000 + w*flows + i)
				steps := []struct {
					pkt  []byte
					out  bool
					want Verdict
				}{
					{tcp(t, clientAddr, hostAddr, port, 22, packet.TCPSyn, 1, 0), false, Deliver},
					{tcp(t, hostAddr, clientAddr, 22, port, packet.TCPSyn|packet.TCPAck, 9, 2), true, Send},
					{tcp(t, clientAddr, hostAddr, port, 22, packet.TCPAck, 2, 10), false, Deliver},
					{tcp(t, clientAddr, hostAddr, port, 80, packet.TCPSyn, 1, 0), false, Drop},
				}
				for _, s := range steps {
					var d Decision
					var err error
					if s.out {
						d, err = f.Outbound(s.pkt)
					} else {
						d, err = f.Inbound(s.pkt, "eth0")
					}
					if err == nil && d.Verdict != s.want {
						err = fmt.Errorf("port %d: %v (%s), want %v", port, d.Verdict, d.Reason(), s.want)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	// Readers alongside the packets.
	for range 20 {
		f.Conntrack()
		f.Counters()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	for _, l := range f.Conntrack() {
		if strings.Contains(l, "ESTABLISHED") && strings.Contains(l, "dport=22 ") {
			n++
		}
	}
	if n != workers*flows {
		t.Errorf("%d established connections, want %d", n, workers*flows)
	}
}

func establish(t testing.TB, f *Firewall) []byte {
	t.Helper()
	for _, s := range []struct {
		pkt []byte
		out bool
	}{
		{tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPSyn, 1000, 0), false},
		{tcp(t, hostAddr, clientAddr, 22, 40000, packet.TCPSyn|packet.TCPAck, 9000, 1001), true},
		{tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPAck, 1001, 9001), false},
	} {
		var err error
		if s.out {
			_, err = f.Outbound(s.pkt)
		} else {
			_, err = f.Inbound(s.pkt, "eth0")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return tcp(t, clientAddr, hostAddr, 40000, 22, packet.TCPAck, 1001, 9001)
}

func TestEstablishedAllocs(t *testing.T) {
	f := newFirewall(t, statefulRules)
	ack := establish(t, f)
	var d Decision
	allocs := testing.AllocsPerRun(200, func() {
		d, _ = f.Inbound(ack, "eth0")
	})
	if d.Verdict != Deliver {
		t.Fatalf("established ACK: %s", d.Reason())
	}
	if allocs != 0 {
		t.Errorf("%.1f allocations per established packet, want 0", allocs)
	}
}

func BenchmarkEstablished(b *testing.B) {
	f := newFirewall(b, statefulRules)
	f.clock = time.Now
	ack := establish(b, f)
	b.ReportAllocs()
	for b.Loop() {
		d, err := f.Inbound(ack, "eth0")
		if err != nil || d.Verdict != Deliver {
			b.Fatal(d.Reason(), err)
		}
	}
}

// TestFragmentsReassembled: conntrack needs whole datagrams, so the first
// fragment is held and the last one's Decision carries the datagram.
func TestFragmentsReassembled(t *testing.T) {
	f := newFirewall(t, statefulRules)
	whole, err := packet.Build(&packet.Spec{Src: clientAddr, Dst: hostAddr, Proto: packet.ProtoTCP,
		SrcPort: 40200, DstPort: 22, Flags: packet.TCPSyn, Seq: 1, ID: 77, Payload: make([]byte, 40)})
	if err != nil {
		t.Fatal(err)
	}
	seg := whole.Data[20:] // 20-byte TCP header + 40 bytes
	frag := func(off int, part []byte, mf bool) []byte {
		p, err := packet.Build(&packet.Spec{Src: clientAddr, Dst: hostAddr, Proto: packet.ProtoTCP,
			ID: 77, FragOff: uint16(off / 8), MF: mf, Payload: part})
		if err != nil {
			t.Fatal(err)
		}
		return p.Data
	}
	first := frag(0, seg[:32], true)
	// Build adds a transport header to a first fragment: give it the
	// segment's bytes raw instead.
	copy(first[20:], seg[:32])
	first = first[:20+32]
	binary.BigEndian.PutUint16(first[2:], uint16(len(first)))
	first[10], first[11] = 0, 0
	binary.BigEndian.PutUint16(first[10:], csum(first[:20]))

	d, err := f.Inbound(first, "eth0")
	mustRun(t, d, err, Hold)
	d, err = f.Inbound(frag(32, seg[32:], false), "eth0")
	d = mustRun(t, d, err, Deliver)
	if len(d.Packet) != len(whole.Data) {
		t.Fatalf("delivered %d bytes, want the %d-byte datagram", len(d.Packet), len(whole.Data))
	}
	if sp, dp := ports(d.Packet); sp != 40200 || dp != 22 {
		t.Errorf("reassembled ports %d > %d", sp, dp)
	}
	checkIPv4TCP(t, d.Packet)
}

// TestLoopback: a packet sent out lo comes back in; the copy INPUT
// accepted is among the generated packets, for local delivery.
func TestLoopback(t *testing.T) {
	f := newFirewall(t, statefulRules)
	lo := netip.MustParseAddr("127.0.0.1")
	syn := tcp(t, lo, lo, 40300, 8080, packet.TCPSyn, 1, 0)
	d, err := f.Outbound(syn)
	d = mustRun(t, d, err, Send)
	if d.OutIface != "lo" {
		t.Fatalf("sent out %q, want lo", d.OutIface)
	}
	if len(d.Generated) != 1 || d.Generated[0].Verdict != Deliver {
		t.Fatalf("generated %+v, want the looped-back copy delivered", d.Generated)
	}
	if g := d.Generated[0].Packet; string(g) != string(syn) || &g[0] == &syn[0] {
		t.Error("looped-back copy differs from the packet or shares its bytes")
	}
}

// forwardingHost is examples/ssh-trace with IPv4 forwarding on.
func forwardingHost(t *testing.T) *host.Host {
	t.Helper()
	dir := t.TempDir()
	src := "../examples/ssh-trace"
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "sysctl.conf" {
			b = regexp.MustCompile(`(?m)^(net\.ipv4\.(ip_forward|conf\.\w+\.forwarding)) = 0$`).ReplaceAll(b, []byte("$1 = 1"))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestForwardDNAT: a DNATed packet forwarded back out the interface it
// came in on; the host also tells the sender about the shorter way (an
// ICMP redirect, made while the packet is on its way).
func TestForwardDNAT(t *testing.T) {
	rules := `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 172.16.0.10/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.16.0.30:80
COMMIT
`
	f, err := New(Config{Rules4: strings.NewReader(rules), Host: forwardingHost(t), Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	server := netip.MustParseAddr("172.16.0.30")
	syn := tcp(t, clientAddr, hostAddr, 40400, 8080, packet.TCPSyn, 1, 0)
	ttl := syn[8]
	d, err := f.Inbound(syn, "eth0")
	d = mustRun(t, d, err, Forward)
	if d.OutIface != "eth0" || d.NextHop != server {
		t.Errorf("forwarded out %q via %v, want eth0 via %v", d.OutIface, d.NextHop, server)
	}
	if &d.Packet[0] != &syn[0] {
		t.Error("forwarded packet was copied")
	}
	if _, dst := addrs(d.Packet); dst != server {
		t.Errorf("destination %v after DNAT", dst)
	}
	if _, dp := ports(d.Packet); dp != 80 {
		t.Errorf("destination port %d after DNAT", dp)
	}
	if d.Packet[8] != ttl-1 {
		t.Errorf("TTL %d, want %d", d.Packet[8], ttl-1)
	}
	checkIPv4TCP(t, d.Packet)
	var redirects int
	for _, g := range d.Generated {
		if g.Verdict == Send && g.Packet[9] == 1 && g.Packet[20] == 5 {
			redirects++
			if _, dst := addrs(g.Packet); dst != clientAddr {
				t.Errorf("redirect to %v", dst)
			}
		}
	}
	if redirects != 1 {
		t.Errorf("%d ICMP redirects among %d generated packets, want 1", redirects, len(d.Generated))
	}

	// The server's answer is translated back to the address the client
	// asked for.
	synack := tcp(t, server, clientAddr, 80, 40400, packet.TCPSyn|packet.TCPAck, 7, 2)
	d, err = f.Inbound(synack, "eth0")
	d = mustRun(t, d, err, Forward)
	if src, _ := addrs(d.Packet); src != hostAddr {
		t.Errorf("reply source %v, want %v", src, hostAddr)
	}
	if sp, _ := ports(d.Packet); sp != 8080 {
		t.Errorf("reply source port %d, want 8080", sp)
	}
	checkIPv4TCP(t, d.Packet)
}
