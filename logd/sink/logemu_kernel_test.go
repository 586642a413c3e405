package sink

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

const (
	ulogdBin   = "/usr/sbin/ulogd"
	ulogdPlugs = "/usr/lib/x86_64-linux-gnu/ulogd"
	kDUTMAC    = "02:00:00:1a:00:01"
	kPeerMAC   = "02:00:00:1a:00:02"
	kGroup     = 27
)

// TestLOGEMUKernel sends packets into a namespace whose rules NFLOG them,
// lets Debian's ulogd write them with the NFLOG, BASE, IFINDEX, IP2STR,
// PRINTPKT, LOGEMU stack, and compares its lines with the LOGEMU sink's
// for the same packets (time and host name aside, which are checked
// loosely).
func TestLOGEMUKernel(t *testing.T) {
	kerneltest.Require(t)
	if _, err := os.Stat(ulogdBin); err != nil {
		t.Skip("skipping: ulogd is not installed (apt-get install ulogd2)")
	}
	rules4 := fmt.Sprintf("*raw\n-A PREROUTING -f -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-frag\nCOMMIT\n*filter\n-A INPUT -p tcp -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-tcp\n"+
		"-A INPUT -p udp -j NFLOG --nflog-group %[1]d --nflog-prefix \"nfx udp\"\n"+
		"-A INPUT -p icmp -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-icmp\n"+
		"-A INPUT -p 47 -j NFLOG --nflog-group %[1]d\n"+
		"-A OUTPUT -p icmp --icmp-type echo-request -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-out\nCOMMIT\n", kGroup)
	rules6 := fmt.Sprintf("*filter\n-A INPUT -m frag -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-frag6\n-A INPUT -m frag -j ACCEPT\n-A INPUT -p tcp -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-tcp6\n"+
		"-A INPUT -p udp -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-udp6\n"+
		"-A INPUT -p ipv6-icmp --icmpv6-type echo-request -j NFLOG --nflog-group %[1]d --nflog-prefix nfx-icmp6\n"+
		"COMMIT\n", kGroup)
	lab := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{{Name: "eth0", MAC: kDUTMAC, PeerMAC: kPeerMAC,
			Addrs: []string{"192.0.2.1/24", "2001:db8:1::1/64"}}},
		Neigh:  []string{"192.0.2.2 lladdr " + kPeerMAC + " dev eth0", "2001:db8:1::2 lladdr " + kPeerMAC + " dev eth0"},
		Rules4: rules4,
		Rules6: rules6,
	})

	dir := t.TempDir()
	emu := filepath.Join(dir, "syslogemu.log")
	conf := filepath.Join(dir, "ulogd.conf")
	cfg := "[global]\nlogfile=\"" + filepath.Join(dir, "ulogd.log") + "\"\nloglevel=3\n"
	for _, p := range []string{"ulogd_inppkt_NFLOG", "ulogd_raw2packet_BASE", "ulogd_filter_IFINDEX",
		"ulogd_filter_IP2STR", "ulogd_filter_PRINTPKT", "ulogd_output_LOGEMU"} {
		cfg += "plugin=\"" + filepath.Join(ulogdPlugs, p+".so") + "\"\n"
	}
	cfg += "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU\n\n"
	cfg += fmt.Sprintf("[log1]\ngroup=%d\n\n[emu1]\nfile=\"%s\"\nsync=1\n", kGroup, emu)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lab.DUT.Name, ulogdBin, "-c", conf)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ulogd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	waitBound(t, lab, &stderr)

	cases := []struct{ line, prefix string }{
		{"tcp 192.0.2.2:40000 > 192.0.2.1:80 syn seq 1000 win 29200 mss 1460 ttl 63 id 7 df", "nfx-tcp"},
		{"tcp 192.0.2.2:40001 > 192.0.2.1:81 ack,psh,fin,urg seq 5 ack 9 urgptr 3 tos 0x12 payload \"x\"", "nfx-tcp"},
		{"udp 192.0.2.2:5353 > 192.0.2.1:53 len 12 tos 0xb8", "nfx udp"},
		{"icmp 192.0.2.2 > 192.0.2.1 type 8 code 0 id 77 seq 3", "nfx-icmp"},
		{"icmp 192.0.2.2 > 192.0.2.1 type 3 code 3 quote udp 192.0.2.1:53 > 192.0.2.2:4000 len 8", "nfx-icmp"},
		{"icmp 192.0.2.2 > 192.0.2.1 type 5 code 1 quote udp 192.0.2.1:53 > 192.0.2.2:4000 len 8", "nfx-icmp"},
		{"icmp 192.0.2.2 > 192.0.2.1 type 12 code 0 quote udp 192.0.2.1:53 > 192.0.2.2:4000 len 8", "nfx-icmp"},
		// A later fragment, logged before reassembly: BASE reads its
		// payload as a UDP header.
		{"udp 192.0.2.2:7 > 192.0.2.1:9 frag 2 id 99 payload hex:0102030400000009", "nfx-frag"},
		{"proto 47 192.0.2.2 > 192.0.2.1 len 4", ""},
		{"tcp [2001:db8:1::2]:40000 > [2001:db8:1::1]:22 syn tos 0x20 flow 0x12345 hl 9", "nfx-tcp6"},
		{"udp [2001:db8:1::2]:1000 > [2001:db8:1::1]:2000 len 3", "nfx-udp6"},
		{"icmp6 2001:db8:1::2 > 2001:db8:1::1 type 128 code 0 id 5 seq 6", "nfx-icmp6"},
		{"udp [2001:db8:1::2]:1000 > [2001:db8:1::1]:2000 mf id 0x1234 len 16", "nfx-frag6"},
		{"udp [2001:db8:1::2]:1000 > [2001:db8:1::1]:2000 frag 3 id 0x1234 len 16", "nfx-frag6"},
	}
	var want []string
	sink := &LOGEMU{Hostname: shortHostname(), Location: time.Local}
	for _, c := range cases {
		ln, err := packet.ParseLine("in eth0 from " + kPeerMAC + " to " + kDUTMAC + " " + c.line)
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		p, err := ln.Packet()
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		frame := append(append([]byte{}, p.MAC...), p.Data...)
		if err := lab.Inject("eth0", frame); err != nil {
			t.Fatal(err)
		}
		hook := nf.LocalIn
		if c.prefix == "nfx-frag" {
			hook = nf.PreRouting
		}
		rec := &logd.Packet{Time: time.Now(), Source: "kernel", Group: kGroup, Prefix: c.prefix,
			Family: p.Family, Hook: hook, HasHook: true, InDev: "eth0",
			MAC: p.MAC, Data: p.Data, OrigLen: len(p.Data)}
		want = append(want, string(AppendPrintPkt(sink.appendHead(nil, rec.Time), rec)))
	}
	lab.Settle()
	readLines(t, emu, len(want), &stderr)

	// A packet of a local socket: no input device, no MAC, the owner.
	if err := lab.StartCapture("eth0"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", lab.DUT.Name, "ping", "-c", "1", "-W", "1", "192.0.2.2").CombinedOutput(); err != nil && len(out) == 0 {
		t.Fatalf("ping: %v", err)
	}
	var echo []byte
	for _, e := range lab.Emitted() {
		if f := e.Frame; len(f) >= 14+28 && f[12] == 8 && f[14+9] == 1 && f[14+20] == 8 {
			echo = f[14:]
		}
	}
	if echo == nil {
		t.Fatal("the DUT sent no echo request")
	}
	cases = append(cases, struct{ line, prefix string }{"ping from the DUT", "nfx-out"})
	rec := &logd.Packet{Time: time.Now(), Source: "kernel", Group: kGroup, Prefix: "nfx-out",
		Family: nf.IPv4, Hook: nf.LocalOut, HasHook: true, OutDev: "eth0",
		UID: 0, GID: 0, HasUID: true, HasGID: true, Data: echo, OrigLen: len(echo)}
	want = append(want, string(AppendPrintPkt(sink.appendHead(nil, rec.Time), rec)))

	got := readLines(t, emu, len(want), &stderr)
	if len(got) != len(want) {
		t.Fatalf("ulogd wrote %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, ""))
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(g) < 16 || g[16:] != w[16:] {
			t.Errorf("%s:\nulogd %q\nnfgo  %q", cases[i].line, g, w)
			continue
		}
		// The time: ulogd's own clock or the packet's time stamp.
		gt, err := time.ParseInLocation("Jan _2 15:04:05", g[:15], time.Local)
		wt, _ := time.ParseInLocation("Jan _2 15:04:05", w[:15], time.Local)
		if err != nil || gt.Sub(wt).Abs() > 5*time.Second {
			t.Errorf("%s: ulogd's time %q, nfgo's %q", cases[i].line, g[:15], w[:15])
		}
	}
}

// waitBound waits until ulogd has bound the NFLOG group in the DUT.
func waitBound(t *testing.T, lab *kerneltest.Lab, stderr *strings.Builder) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", lab.DUT.Name, "cat", "/proc/net/netfilter/nfnetlink_log").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == fmt.Sprint(kGroup) {
				return
			}
		}
	}
	t.Fatalf("ulogd did not bind NFLOG group %d: %s", kGroup, stderr.String())
}

// readLines waits for n lines in path.
func readLines(t *testing.T, path string, n int, stderr *strings.Builder) []string {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		lines = lines[:0]
		r := bufio.NewReader(f)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			lines = append(lines, l)
		}
		f.Close()
		if len(lines) >= n {
			break
		}
	}
	if len(lines) < n {
		t.Logf("ulogd output: %s", stderr.String())
	}
	return lines
}
