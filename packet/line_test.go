package packet_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

func parse(t *testing.T, s string) (*packet.Line, *packet.Packet) {
	t.Helper()
	l, err := packet.ParseLine(s)
	if err != nil {
		t.Fatalf("ParseLine(%q): %v", s, err)
	}
	p, err := l.Packet()
	if err != nil {
		t.Fatalf("Packet(%q): %v", s, err)
	}
	return l, p
}

func TestLineExamples(t *testing.T) {
	l, p := parse(t, `in eth0 tcp 198.51.100.7:51000 > 10.0.0.5:22 syn`)
	tcp := p.TCP()
	if l.InDev != "eth0" || p.InDev != "eth0" || p.Local || p.Family != nf.IPv4 || tcp == nil ||
		p.Src() != netip.MustParseAddr("198.51.100.7") || p.Dst() != netip.MustParseAddr("10.0.0.5") ||
		tcp.SrcPort() != 51000 || tcp.DstPort() != 22 || tcp.Flags() != packet.TCPSyn ||
		tcp.Window() != packet.DefaultWindow || p.TTL() != packet.DefaultTTL || len(p.MAC) != 14 || p.PktType != packet.PacketHost {
		t.Errorf("example 1: %+v", p)
	}

	l, p = parse(t, `out eth0 local udp 10.0.0.5:5353 > 224.0.0.251:5353 len 20`)
	u := p.UDP()
	if !l.Local || !p.Local || p.OutDev != "eth0" || p.InDev != "" || p.MAC != nil || u == nil ||
		u.Length() != 28 || len(u.Payload()) != 20 || len(p.Data) != 48 {
		t.Errorf("example 2: %+v", p)
	}

	l, p = parse(t, `in eth1 from 52:54:00:12:34:56 icmp 192.0.2.1 > 10.0.0.5 type 8 code 0`)
	ic := packet.ICMP(p.L4())
	if !l.HasSrcMAC || l.SrcMAC != [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56} || !bytes.Equal(p.MAC[6:], []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56, 8, 0}) ||
		p.Proto != packet.ProtoICMP || ic.Type() != 8 || ic.Code() != 0 {
		t.Errorf("example 3: %+v", p)
	}

	l, p = parse(t, `in eth0 tcp [2001:db8::1]:4000 > [2001:db8::5]:22 syn,ece mss 1460 ttl 3 tos 0x10 mark 0x1 payload "GET / HTTP/1.1\r\n"`)
	tcp = p.TCP()
	if p.Family != nf.IPv6 || l.Mark != 1 || p.Mark != 1 || tcp.Flags() != packet.TCPSyn|packet.TCPEce || p.TTL() != 3 || p.TOS() != 0x10 ||
		!bytes.Equal(tcp.Options(), []byte{2, 4, 0x05, 0xb4}) || string(tcp.Payload()) != "GET / HTTP/1.1\r\n" ||
		!bytes.Equal(p.MAC[12:], []byte{0x86, 0xdd}) {
		t.Errorf("example 4: %+v", p)
	}

	// ack N is the number, a bare ack the flag; id means the ICMP ID for ICMP.
	_, p = parse(t, `local tcp 10.0.0.1:1 > 10.0.0.2:2 ack ack 77 seq 0x10 win 0 urgptr 3 urg`)
	tcp = p.TCP()
	if tcp.Flags() != packet.TCPAck|packet.TCPUrg || tcp.Ack() != 77 || tcp.Seq() != 16 || tcp.Window() != 0 || tcp.Urgent() != 3 {
		t.Errorf("ack: flags %#x ack %d seq %d win %d", tcp.Flags(), tcp.Ack(), tcp.Seq(), tcp.Window())
	}
	_, p = parse(t, `icmp 10.0.0.1 > 10.0.0.2 id 5 seq 6 ipid 7`)
	if ic := packet.ICMP(p.L4()); ic.Type() != 8 || ic.ID() != 5 || ic.Seq() != 6 || packet.IPv4(p.Data).ID() != 7 {
		t.Errorf("icmp ids: %x", p.Data)
	}
	_, p = parse(t, `icmp6 fe80::1 > ff02::1`)
	if packet.ICMP(p.L4()).Type() != 128 || p.PktType != packet.PacketMulticast || !bytes.Equal(p.MAC[:6], []byte{0x33, 0x33, 0, 0, 0, 1}) {
		t.Errorf("icmp6 default: %x %x", p.Data, p.MAC)
	}
	_, p = parse(t, `udp 10.0.0.1:68 > 255.255.255.255:67`)
	if p.PktType != packet.PacketBroadcast {
		t.Errorf("broadcast: %d", p.PktType)
	}
	_, p = parse(t, `proto gre 10.0.0.1 > 10.0.0.2 payload hex:00000800 df id 9 mf frag 3`)
	h := packet.IPv4(p.Data)
	if p.Proto != 47 || !bytes.Equal(h.Payload(), []byte{0, 0, 8, 0}) || !h.DontFragment() || !h.MoreFragments() || h.FragOffset() != 3 || h.ID() != 9 || p.L4Off != -1 {
		t.Errorf("gre fragment: %x", p.Data)
	}
	_, p = parse(t, `udp [2001:db8::1]:1 > [2001:db8::2]:2 frag 0 mf id 0x1234 flow 0xabcde`)
	if p.Fragment != true || !p.MoreFrags || p.Proto != packet.ProtoUDP || p.L4Off != 48 || packet.IPv6(p.Data).FlowLabel() != 0xabcde {
		t.Errorf("ipv6 fragment: %+v", p)
	}
	_, p = parse(t, `in eth0 icmp 192.0.2.1 > 10.0.0.5 type 3 code 3 quote udp 10.0.0.5:4000 > 192.0.2.1:53 len 8`)
	inner := packet.IPv4(packet.ICMP(p.L4()).Payload())
	if len(inner) != 36 || inner.Protocol() != packet.ProtoUDP || inner.Src() != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("quote: %x", p.Data)
	}
}

func TestLineErrors(t *testing.T) {
	for _, c := range []struct {
		line  string
		col   int
		token string
	}{
		{``, 1, ""},
		{`in eth0`, 8, ""},
		{`in eth0 foo 1.2.3.4 > 5.6.7.8`, 9, "foo"},
		{`tcp 198.51.100.7:51000 > 10.0.0.5:22 foo`, 38, "foo"},
		{`tcp 198.51.100.7 > 10.0.0.5:22`, 5, "198.51.100.7"},
		{`udp 1.2.3.4:1 > [::1]:2`, 17, "[::1]:2"},
		{`icmp ::1 > ::2`, 6, "::1"},
		{`tcp 1.1.1.1:1 > 2.2.2.2:2 syn,foo`, 27, "syn,foo"},
		{`tcp 1.1.1.1:1 > 2.2.2.2:2 ttl 256`, 31, "256"},
		{`tcp 1.1.1.1:1 > 2.2.2.2:2 payload "abc`, 35, `"abc`},
		{`tcp 1.1.1.1:1 > 2.2.2.2:2 payload "\q"`, 35, `"\q"`},
		{`tcp 1.1.1.1:1 > 2.2.2.2:2 len 3 payload "x"`, 33, "payload"},
		{`tcp [::1]:1 > [::2]:2 df`, 23, "df"},
		{`udp 1.1.1.1:1 > 2.2.2.2:2 type 3`, 27, "type"},
		{`local in eth0 tcp 1.1.1.1:1 > 2.2.2.2:2`, 7, "in"},
		{`in averyveryverylongname tcp 1.1.1.1:1 > 2.2.2.2:2`, 4, "averyveryverylongname"},
		{`from 52:54:00 tcp 1.1.1.1:1 > 2.2.2.2:2`, 6, "52:54:00"},
		{`tcp 1.1.1.1:1 2.2.2.2:2`, 15, "2.2.2.2:2"},
		{`é tcp`, 1, "é"},
		{`"é" tcp`, 1, `"é"`},
		{`udp 1.1.1.1:1 > 2.2.2.2:2 ipopt hex:zz`, 33, "hex:zz"},
	} {
		_, err := packet.ParseLine(c.line)
		var se *packet.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a SyntaxError", c.line, err)
			continue
		}
		if se.Col != c.col || se.Token != c.token || se.Expected == "" {
			t.Errorf("%q: got column %d token %q (%v), want column %d token %q", c.line, se.Col, se.Token, se, c.col, c.token)
		}
	}
	_, err := packet.ParseLine(`tcp 198.51.100.7:51000 > 10.0.0.5:22 foo`)
	if want := `column 38: "foo": expected a TCP flag, seq, ack,`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message: %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`in eth0 tcp 198.51.100.7:51000 > 10.0.0.5:22 syn`,
		`out eth0 local udp 10.0.0.5:5353 > 224.0.0.251:5353 len 20`,
		`in eth1 from 52:54:00:12:34:56 icmp 192.0.2.1 > 10.0.0.5 type 8 code 0`,
		`in eth0 tcp [2001:db8::1]:4000 > [2001:db8::5]:22 syn,ece mss 1460 ttl 3 tos 0x10 mark 0x1 payload "GET / HTTP/1.1\r\n"`,
		`icmp 192.0.2.1 > 10.0.0.5 type 3 code 3 quote icmp 10.0.0.5 > 192.0.2.1 type 3 quote udp 10.0.0.5:1 > 1.1.1.1:2`,
		`tcp 1.1.1.1:1 > 2.2.2.2:2 ts 1 2 sackok wscale 7 tcpopt hex:0101 ipopt hex:01010101 frag 1 mf`,
		`proto 58 ::1 > ::2 payload hex:8000`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := packet.ParseLine(s)
		if err != nil {
			var se *packet.SyntaxError
			if !errors.As(err, &se) || se.Col < 1 || se.Expected == "" {
				t.Fatalf("%q: bad error %#v", s, err)
			}
			return
		}
		p, err := l.Packet()
		if err != nil {
			return // e.g. options too long together: Build reports it
		}
		if !p.Src().IsValid() || p.Family != l.Spec.Family() {
			t.Fatalf("%q: bad packet %+v", s, p)
		}
	})
}

// TestBuildChecksumsTcpdump writes built packets to a capture file and has
// tcpdump, an independent decoder, verify the checksums and fields.
func TestBuildChecksumsTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	cases := []struct {
		line string
		want []string
	}{
		{`in eth0 tcp 198.51.100.7:51000 > 10.0.0.5:22 syn seq 1000 mss 1460 sackok ts 11 22 wscale 7`,
			[]string{"198.51.100.7.51000 > 10.0.0.5.22: Flags [S]", "cksum", "(correct)", "seq 1000", "win 64240",
				"options [mss 1460,sackOK,TS val 11 ecr 22,nop,wscale 7]", "ttl 64"}},
		{`tcp [2001:db8::1]:4000 > [2001:db8::5]:22 syn,ece ttl 3 tos 0x10 payload "GET / HTTP/1.1\r\n"`,
			[]string{"2001:db8::1.4000 > 2001:db8::5.22: Flags [SE]", "(correct)", "hlim 3", "class 0x10", "length 16"}},
		{`udp 10.0.0.5:5353 > 224.0.0.251:5353 len 20 tos 0x10 id 4242 df`,
			[]string{"10.0.0.5.5353 > 224.0.0.251.5353", "udp sum ok", "tos 0x10", "id 4242", "flags [DF]"}},
		{`udp [fe80::1]:546 > [ff02::1:2]:547 payload hex:0102`, []string{"fe80::1.546 > ff02::1:2.547", "udp sum ok"}},
		{`icmp 192.0.2.1 > 10.0.0.5 id 77 seq 3 payload "ping"`, []string{"192.0.2.1 > 10.0.0.5: ICMP echo request, id 77, seq 3"}},
		{`icmp6 2001:db8::1 > 2001:db8::2 type 129 id 9 seq 1`, []string{"2001:db8::1 > 2001:db8::2: [icmp6 sum ok] ICMP6, echo reply, id 9, seq 1"}},
		{`icmp 192.0.2.1 > 10.0.0.5 type 3 code 3 quote udp 10.0.0.5:4000 > 192.0.2.1:9999 len 8`,
			[]string{"192.0.2.1 > 10.0.0.5: ICMP 192.0.2.1 udp port 9999 unreachable", "10.0.0.5.4000 > 192.0.2.1.9999: [udp sum ok] UDP, length 8"}},
		{`tcp 10.0.0.1:1 > 10.0.0.2:2 ipopt hex:94040000 rst ack ack 5`,
			[]string{"options (RA)", "Flags [R.]", "ack 5", "(correct)"}},
		{`udp 10.0.0.1:1 > 10.0.0.2:2 id 7 mf len 100`, []string{"flags [+]", "offset 0"}},
		{`proto 47 10.0.0.1 > 10.0.0.2 id 7 frag 16 len 10`, []string{"offset 128", "proto GRE (47)"}},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "built.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := capture.NewPcapWriter(f, packet.LinkEthernet)
	for i, c := range cases {
		_, p := parse(t, c.line)
		mac := [6]byte{0x52, 0x54, 0, 0, 0, 1}
		if err := w.WritePacket(0, int64(i+1)*1e9, packet.EncodeEthernet(mac, mac, p.Family, p.Data, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tcpdump", "-r", path, "-nn", "-vvv", "-tt").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump: %v\n%s", err, out)
	}
	// Split the verbose output into one chunk per packet (timestamps start them).
	chunks := make([]string, len(cases))
	cur := -1
	for _, ln := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(ln, "reading from") {
			continue
		}
		if len(ln) > 0 && ln[0] >= '0' && ln[0] <= '9' {
			cur++
		}
		if cur >= 0 && cur < len(chunks) {
			chunks[cur] += ln + "\n"
		}
	}
	for i, c := range cases {
		for _, bad := range []string{"incorrect", "bad cksum", "wrong", "truncated", "bad hdr"} {
			if strings.Contains(chunks[i], bad) {
				t.Errorf("%q: tcpdump says %q:\n%s", c.line, bad, chunks[i])
			}
		}
		for _, want := range c.want {
			if !strings.Contains(chunks[i], want) {
				t.Errorf("%q: tcpdump output lacks %q:\n%s", c.line, want, chunks[i])
			}
		}
	}
}
