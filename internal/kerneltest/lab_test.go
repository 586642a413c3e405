package kerneltest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/nf"
)

// Frames are built by hand here so that the kit is tested independently of
// nfgo's own packet code.

func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func csum(parts ...[]byte) uint16 {
	var s uint32
	for _, p := range parts {
		for i := 0; i+1 < len(p); i += 2 {
			s += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			s += uint32(p[len(p)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ether(dst, src string, typ uint16, payload []byte) []byte {
	f := append(append(mac(dst), mac(src)...), byte(typ>>8), byte(typ))
	return append(f, payload...)
}

// ipv4 builds an IPv4 packet around an L4 payload whose checksum field (at
// ckOff, -1 for none) is filled from the pseudo-header.
func ipv4(src, dst string, ttl, proto byte, l4 []byte, ckOff int) []byte {
	s, d := net.ParseIP(src).To4(), net.ParseIP(dst).To4()
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	h[8], h[9] = ttl, proto
	copy(h[12:], s)
	copy(h[16:], d)
	binary.BigEndian.PutUint16(h[10:], csum(h))
	if ckOff >= 0 {
		pseudo := append(append(append([]byte{}, s...), d...), 0, proto, byte(len(l4)>>8), byte(len(l4)))
		binary.BigEndian.PutUint16(l4[ckOff:], csum(pseudo, l4))
	}
	return append(h, l4...)
}

func udp(sport, dport uint16, payload string) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(u, payload...)
}

// l4Valid reports whether the transport checksum of an IPv4 packet checks.
func l4Valid(ip []byte) bool {
	hl := int(ip[0]&15) * 4
	l4 := ip[hl:binary.BigEndian.Uint16(ip[2:])]
	pseudo := append(append(append([]byte{}, ip[12:20]...), 0, ip[9]), byte(len(l4)>>8), byte(len(l4)))
	if ip[9] == 1 { // ICMP has no pseudo-header
		return csum(l4) == 0
	}
	return csum(pseudo, l4) == 0
}

const (
	dut0, peer0 = "02:00:00:00:00:01", "02:00:00:00:00:02"
	dut1, peer1 = "02:00:00:00:01:01", "02:00:00:00:01:02"
)

func routerLab(t *testing.T, rules4 string) *Lab {
	start := time.Now()
	l := NewLab(t, LabConfig{
		Ifaces: []LabIface{
			{Name: "eth0", MAC: dut0, PeerMAC: peer0, Addrs: []string{"192.0.2.1/24", "2001:db8:1::1/64"}},
			{Name: "eth1", MAC: dut1, PeerMAC: peer1, Addrs: []string{"198.51.100.1/24"}},
		},
		Routes:  []string{"203.0.113.0/24 via 198.51.100.2 dev eth1"},
		Neigh:   []string{"192.0.2.2 lladdr " + peer0 + " dev eth0", "198.51.100.2 lladdr " + peer1 + " dev eth1", "2001:db8:1::2 lladdr " + peer0 + " dev eth0"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  rules4,
	})
	t.Logf("lab %s ready in %v", l.DUT.Name, time.Since(start))
	return l
}

func TestLabForwardsAndLogs(t *testing.T) {
	l := routerLab(t, "*filter\n-A FORWARD -p udp -j LOG --log-prefix \"nfx-fwd: \"\n-A FORWARD -p udp -j LOG --log-prefix \"nfx-lvl: \" --log-level 6\nCOMMIT\n")
	if err := l.StartCapture(); err != nil {
		t.Fatal(err)
	}
	ip := ipv4("192.0.2.2", "203.0.113.9", 64, 17, udp(1234, 5678, "hello"), 6)
	if err := l.Inject("eth0", ether(dut0, peer0, 0x0800, ip)); err != nil {
		t.Fatal(err)
	}
	l.Settle()
	out := l.Emitted()
	if len(out) != 1 {
		t.Fatalf("DUT emitted %d frames, want the forwarded one: %v", len(out), out)
	}
	f := out[0]
	if f.Iface != "eth1" {
		t.Errorf("forwarded out of %s, want eth1", f.Iface)
	}
	if !bytes.Equal(f.Frame[:12], append(mac(peer1), mac(dut1)...)) || f.Frame[12] != 8 || f.Frame[13] != 0 {
		t.Errorf("Ethernet header % x, want %s <- %s IPv4", f.Frame[:14], peer1, dut1)
	}
	got := f.Frame[14:]
	if len(got) != len(ip) || got[8] != 63 {
		t.Fatalf("forwarded packet % x, want TTL 63 and %d bytes", got, len(ip))
	}
	if csum(got[:20]) != 0 {
		t.Errorf("IPv4 header checksum wrong after the TTL decrement: % x", got[:20])
	}
	want := append([]byte{}, ip...)
	want[8], want[10], want[11] = got[8], got[10], got[11]
	if !bytes.Equal(got, want) {
		t.Errorf("forwarded packet\n% x\nwant (TTL and checksum aside)\n% x", got, ip)
	}

	lines := l.LogLines("nfx-fwd: ")
	if len(lines) != 1 {
		t.Fatalf("LOG lines %q, want one", lines)
	}
	line := lines[0]
	for _, part := range []string{
		"nfx-fwd: IN=eth0 OUT=eth1 MAC=" + dut0 + ":" + peer0 + ":08:00 ",
		" SRC=192.0.2.2 DST=203.0.113.9 LEN=33 ",
		" TTL=63 ID=4660 ",
		" PROTO=UDP SPT=1234 DPT=5678 LEN=13 ",
	} {
		if !strings.Contains(line, part) || !strings.HasPrefix(line, "nfx-fwd: IN=") {
			t.Errorf("LOG line %q lacks %q", line, part)
		}
	}
	if !strings.HasSuffix(line, " ") {
		t.Errorf("LOG line %q lost its trailing space", line)
	}
	if e := l.LogEntries("nfx-lvl: "); len(e) != 1 || e[0].Level != 6 {
		t.Errorf("LOG entries with --log-level 6: %+v", e)
	}
	if all := l.LogLines(); len(all) != 2 {
		t.Errorf("all LOG lines: %q, want both rules' lines", all)
	}
	if other := l.LogLines("nfx-none"); len(other) != 0 {
		t.Errorf("prefix filter let through %q", other)
	}
}

func TestLabInputDropCounts(t *testing.T) {
	l := routerLab(t, "*filter\n-A INPUT -p udp --dport 9 -j DROP\nCOMMIT\n")
	if err := l.StartCapture("eth0"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ip := ipv4("192.0.2.2", "192.0.2.1", 64, 17, udp(4000+uint16(i), 9, "drop me"), 6)
		if err := l.Inject("eth0", ether(dut0, peer0, 0x0800, ip)); err != nil {
			t.Fatal(err)
		}
	}
	// A datagram to a closed port the rule lets through: the DUT answers
	// with an ICMP port unreachable, which shows that local replies get
	// back out complete.
	probe := ipv4("192.0.2.2", "192.0.2.1", 64, 17, udp(4000, 10, "closed"), 6)
	if err := l.Inject("eth0", ether(dut0, peer0, 0x0800, probe)); err != nil {
		t.Fatal(err)
	}
	l.Settle()
	save, err := l.Save(nf.IPv4, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[3:105] -A INPUT -p udp -m udp --dport 9 -j DROP\n"; !strings.Contains(save, want) {
		t.Errorf("iptables-save -c:\n%s\nwant a line %q", save, want)
	}
	out := l.Emitted()
	if len(out) != 1 {
		t.Fatalf("DUT emitted %d frames, want one port unreachable: %v", len(out), out)
	}
	ip := out[0].Frame[14:]
	if ip[9] != 1 || ip[20] != 3 || ip[21] != 3 || !net.IP(ip[16:20]).Equal(net.ParseIP("192.0.2.2")) {
		t.Errorf("reply % x, want ICMP port unreachable to 192.0.2.2", ip)
	}
	if csum(ip[:20]) != 0 || !l4Valid(ip) {
		t.Errorf("reply checksums wrong: % x", ip)
	}
	if !bytes.Contains(ip, probe[:20]) {
		t.Errorf("reply % x does not quote the probe", ip)
	}
}

func TestLabRejectResetHasChecksum(t *testing.T) {
	l := routerLab(t, "*filter\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n")
	if err := l.StartCapture(); err != nil {
		t.Fatal(err)
	}
	syn := make([]byte, 20)
	binary.BigEndian.PutUint16(syn, 40000)
	binary.BigEndian.PutUint16(syn[2:], 80)
	binary.BigEndian.PutUint32(syn[4:], 1000)
	syn[12], syn[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(syn[14:], 65535)
	if err := l.Inject("eth0", ether(dut0, peer0, 0x0800, ipv4("192.0.2.2", "192.0.2.1", 64, 6, syn, 16))); err != nil {
		t.Fatal(err)
	}
	out := l.Emitted()
	if len(out) != 1 || out[0].Iface != "eth0" {
		t.Fatalf("DUT emitted %v, want one reset on eth0", out)
	}
	ip := out[0].Frame[14:]
	if ip[9] != 6 || ip[33]&0x04 == 0 {
		t.Fatalf("reply % x is no TCP reset", ip)
	}
	// REJECT leaves the TCP checksum to the device; the lab switches that
	// offload off so the capture holds what a wire would.
	if !l4Valid(ip) {
		t.Errorf("reset has a bad TCP checksum: % x", ip)
	}
}

func TestLabIPv6AnswersAtOnce(t *testing.T) {
	l := routerLab(t, "")
	if err := l.StartCapture(); err != nil {
		t.Fatal(err)
	}
	src, dst := net.ParseIP("2001:db8:1::2"), net.ParseIP("2001:db8:1::1")
	icmp := []byte{128, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	pseudo := append(append(append([]byte{}, src...), dst...), 0, 0, 0, byte(len(icmp)), 0, 0, 0, 58)
	binary.BigEndian.PutUint16(icmp[2:], csum(pseudo, icmp))
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(icmp)))
	h[6], h[7] = 58, 64
	copy(h[8:], src)
	copy(h[24:], dst)
	if err := l.Inject("eth0", ether(dut0, peer0, 0x86dd, append(h, icmp...))); err != nil {
		t.Fatal(err)
	}
	out := l.Emitted()
	if len(out) != 1 {
		t.Fatalf("DUT emitted %d frames, want one echo reply: %v", len(out), out)
	}
	ip := out[0].Frame[14:]
	if ip[6] != 58 || ip[40] != 129 || !net.IP(ip[24:40]).Equal(src) {
		t.Errorf("reply % x, want an ICMPv6 echo reply to %v", ip, src)
	}
}

func TestLabSnapshot(t *testing.T) {
	l := routerLab(t, "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n")
	dir := t.TempDir()
	if err := l.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"ip-addr.json":       `"local":"198.51.100.1"`,
		"ip-route.json":      `"dst":"203.0.113.0/24","gateway":"198.51.100.2"`,
		"ip6-route.json":     `"dst":"2001:db8:1::/64"`,
		"ip-neigh.json":      `"lladdr":"` + peer1 + `"`,
		"ip-rule.json":       `"table":"main"`,
		"sysctl.conf":        "net.ipv4.ip_forward = 1\n",
		"iptables-save.txt":  ":FORWARD DROP [0:0]\n",
		"ip6tables-save.txt": "",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("snapshot: %v", err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", name, want, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sysctl.conf"))
	for _, k := range []string{"net.ipv6.conf.all.forwarding = ", "net.ipv4.conf.eth0.rp_filter = "} {
		if !strings.Contains(string(b), k) {
			t.Errorf("sysctl.conf lacks %q", k)
		}
	}
}

func TestParseKmsg(t *testing.T) {
	r, ok := parseKmsg("4,1234,5678901,-,caller=T1;pfx\\x5c\\x09IN=eth0 OUT= MAC=01 \n SUBSYSTEM=net\n DEVICE=+net:eth0\n")
	if !ok || r.facility != 0 || r.level != 4 || r.text != "pfx\\\tIN=eth0 OUT= MAC=01 " {
		t.Errorf("parseKmsg = %+v, %v", r, ok)
	}
	if r, ok := parseKmsg("14,5,6,-;user text\n"); !ok || r.facility != 1 || r.level != 6 {
		t.Errorf("parseKmsg(user) = %+v, %v", r, ok)
	}
	if _, ok := parseKmsg("garbage"); ok {
		t.Error("parseKmsg accepted a record without header")
	}
}

func TestLogIfaces(t *testing.T) {
	for _, c := range []struct{ line, in, out string }{
		{"IN=eth0 OUT= MAC=", "eth0", ""},
		{"x IN=y IN= OUT=eth1 SRC=", "", "eth1"},
		{"IN=a OUT=b ", "a", "b"},
	} {
		in, out, ok := logIfaces(c.line)
		if !ok || in != c.in || out != c.out {
			t.Errorf("logIfaces(%q) = %q, %q, %v", c.line, in, out, ok)
		}
	}
	if _, _, ok := logIfaces("device eth0 entered promiscuous mode"); ok {
		t.Error("logIfaces took a plain kernel message for a LOG line")
	}
}

func TestHostChatter(t *testing.T) {
	mld := func(src string, typ byte) []byte {
		h := make([]byte, 40+8+8)
		h[0], h[6], h[7] = 0x60, 0, 1
		copy(h[8:], net.ParseIP(src))
		copy(h[24:], net.ParseIP("ff02::16"))
		h[40] = 58 // hop-by-hop header, then ICMPv6
		h[48] = typ
		return ether("33:33:00:00:00:16", dut0, 0x86dd, h)
	}
	if !isHostChatter(mld("fe80::1", 143)) {
		t.Error("MLDv2 report from link-local not recognised")
	}
	if isHostChatter(mld("2001:db8::1", 143)) {
		t.Error("report from a global address taken for chatter")
	}
	if isHostChatter(mld("fe80::1", 128)) {
		t.Error("echo request taken for chatter")
	}
	if isHostChatter(ether(dut0, peer0, 0x0800, make([]byte, 60))) {
		t.Error("IPv4 frame taken for chatter")
	}
}

func TestLabsTakeTurns(t *testing.T) {
	Require(t)
	type span struct{ from, to time.Time }
	spans := make(chan span, 2)
	t.Run("group", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				l := NewLab(t, LabConfig{Ifaces: []LabIface{{Name: "eth0", Addrs: []string{"192.0.2.1/24"}}}})
				from := time.Now()
				time.Sleep(50 * time.Millisecond)
				to := time.Now()
				l.Close()
				spans <- span{from, to}
			})
		}
	})
	a, b := <-spans, <-spans
	if a.from.Before(b.to) && b.from.Before(a.to) {
		t.Errorf("two labs were alive at once: %v-%v and %v-%v", a.from, a.to, b.from, b.to)
	}
}

// The lab shows the DUT's conntrack table and events through the real
// conntrack tool: a forwarded UDP datagram makes one UNREPLIED entry and
// a [NEW] event.
func TestLabConntrack(t *testing.T) {
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("skipping: needs conntrack (apt-get install conntrack)")
	}
	lab := NewLab(t, LabConfig{
		Ifaces: []LabIface{
			{Name: "eth0", MAC: "02:00:00:00:0e:01", PeerMAC: "02:00:00:00:0e:02", Addrs: []string{"192.0.2.1/24"}},
			{Name: "eth1", MAC: "02:00:00:00:0e:11", PeerMAC: "02:00:00:00:0e:12", Addrs: []string{"198.51.100.1/24"}},
		},
		Neigh:   []string{"198.51.100.7 lladdr 02:00:00:00:0e:12 dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate NEW\nCOMMIT\n",
	})
	if err := lab.StartConntrackEvents(); err != nil {
		t.Fatal(err)
	}
	frame := ether("02:00:00:00:0e:01", "02:00:00:00:0e:02", 0x0800, ipv4("192.0.2.9", "198.51.100.7", 64, 17, udp(40000, 53, "q"), 6))
	if err := lab.Inject("eth0", frame); err != nil {
		t.Fatal(err)
	}
	events := lab.ConntrackEvents()
	entries, err := lab.Conntrack()
	if err != nil {
		t.Fatal(err)
	}
	want := "src=192.0.2.9 dst=198.51.100.7 sport=40000 dport=53 [UNREPLIED] src=198.51.100.7 dst=192.0.2.9 sport=53 dport=40000"
	if len(entries) != 1 || !strings.Contains(entries[0], want) || !strings.HasPrefix(entries[0], "udp      17 ") {
		t.Errorf("conntrack -L:\n%s\nwant one udp entry with %q", strings.Join(entries, "\n"), want)
	}
	if len(events) != 1 || !strings.HasPrefix(events[0], "    [NEW] udp      17 30 ") || !strings.Contains(events[0], want) {
		t.Errorf("conntrack -E:\n%s", strings.Join(events, "\n"))
	}
}
