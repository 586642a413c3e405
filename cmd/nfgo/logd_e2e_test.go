package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/packet"
)

// End-to-end tests of nfgo logd against the kernel: the real command runs
// as its own process (this test binary re-executed as nfgo, see
// TestMain), reads a lab namespace over netlink, and is stopped with
// SIGTERM as an operator would.

// e2eRole selects what a re-executed test binary does.
const e2eRole = "NFGO_E2E_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(e2eRole) {
	case "nfgo":
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	case "flood":
		os.Exit(udpFlood(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logdProc is a running `nfgo logd -c CONFIG`.
type logdProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{}
	err    error
}

func startLogd(t *testing.T, conf string) *logdProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &logdProc{done: make(chan struct{})}
	p.cmd = exec.Command(exe, "logd", "-c", conf)
	p.cmd.Env = append(os.Environ(), e2eRole+"=nfgo")
	p.cmd.Stdout, p.cmd.Stderr = &p.stderr, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nfgo logd: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits for the daemon to flush and exit; it
// returns its standard error and exit code.
func (p *logdProc) stop(t *testing.T) (string, int) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("nfgo logd did not exit on SIGTERM: %s", p.stderr.String())
	}
	return p.stderr.String(), p.cmd.ProcessState.ExitCode()
}

// exited reports a daemon that stopped on its own.
func (p *logdProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitNFLogBound waits until every group has a reader in namespace ns
// (/proc/net/netfilter/nfnetlink_log lists bound instances).
func waitNFLogBound(t *testing.T, ns string, groups []int, what func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/netfilter/nfnetlink_log").Output()
		bound := map[string]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				bound[f[0]] = true
			}
		}
		all := true
		for _, g := range groups {
			all = all && bound[fmt.Sprint(g)]
		}
		if all {
			return
		}
	}
	t.Fatalf("NFLOG groups %v not bound in %s: %s", groups, ns, what())
}

// fileLines returns the complete lines of path.
func fileLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}

const (
	ulogdBin   = "/usr/sbin/ulogd"
	ulogdPlugs = "/usr/lib/x86_64-linux-gnu/ulogd"
)

// startUlogd runs Debian's ulogd in namespace ns, reading NFLOG group
// group into a LOGEMU file (synced on every line) with the stack
// logd/sink's LOGEMU is modelled on.
func startUlogd(t *testing.T, ns string, group int, emu string) *syncBuffer {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "ulogd.conf")
	cfg := "[global]\nlogfile=\"" + filepath.Join(dir, "ulogd.log") + "\"\nloglevel=3\n"
	for _, p := range []string{"ulogd_inppkt_NFLOG", "ulogd_raw2packet_BASE", "ulogd_filter_IFINDEX",
		"ulogd_filter_IP2STR", "ulogd_filter_PRINTPKT", "ulogd_output_LOGEMU"} {
		cfg += "plugin=\"" + filepath.Join(ulogdPlugs, p+".so") + "\"\n"
	}
	cfg += "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU\n\n"
	cfg += fmt.Sprintf("[log1]\ngroup=%d\n\n[emu1]\nfile=\"%s\"\nsync=1\n", group, emu)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, ulogdBin, "-c", conf)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ulogd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return out
}

// TestLogdE2EMatchesUlogd logs the same packets to two NFLOG groups in a
// lab: Debian's ulogd reads one, nfgo logd (in its own process, reaching
// the lab's namespace by its netns key) the other, both writing LOGEMU.
// The two files must agree byte for byte from the host name on, with
// times a second apart at most.
func TestLogdE2EMatchesUlogd(t *testing.T) {
	kerneltest.Require(t)
	if _, err := os.Stat(ulogdBin); err != nil {
		t.Skip("skipping: ulogd is not installed (apt-get install ulogd2)")
	}
	const groupU, groupN = 41, 42
	var r4, r6 strings.Builder
	rule := func(b *strings.Builder, match, prefix string) {
		for _, g := range []int{groupU, groupN} {
			fmt.Fprintf(b, "-A %s -j NFLOG --nflog-group %d --nflog-prefix %q\n", match, g, prefix)
		}
	}
	r4.WriteString("*filter\n")
	rule(&r4, "INPUT -p tcp", "nfx-tcp")
	rule(&r4, "INPUT -p udp", "nfx udp")
	rule(&r4, "INPUT -p icmp", "nfx-icmp")
	rule(&r4, "OUTPUT -p icmp --icmp-type echo-request", "nfx-out")
	r4.WriteString("COMMIT\n")
	r6.WriteString("*filter\n")
	rule(&r6, "INPUT -p tcp", "nfx-tcp6")
	rule(&r6, "INPUT -p udp", "nfx-udp6")
	rule(&r6, "INPUT -p ipv6-icmp --icmpv6-type echo-request", "nfx-icmp6")
	r6.WriteString("COMMIT\n")
	const dutMAC, peerMAC = "02:00:00:1e:00:01", "02:00:00:1e:00:02"
	lab := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{{Name: "eth0", MAC: dutMAC, PeerMAC: peerMAC,
			Addrs: []string{"192.0.2.1/24", "2001:db8:1::1/64"}}},
		Neigh:  []string{"192.0.2.2 lladdr " + peerMAC + " dev eth0", "2001:db8:1::2 lladdr " + peerMAC + " dev eth0"},
		Rules4: r4.String(),
		Rules6: r6.String(),
	})

	dir := t.TempDir()
	ulogdEmu, nfgoEmu := filepath.Join(dir, "ulogd.log"), filepath.Join(dir, "nfgo.log")
	ulogdOut := startUlogd(t, lab.DUT.Name, groupU, ulogdEmu)
	conf := filepath.Join(dir, "logd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[source nflog]\ngroups = %d\nnetns = /run/netns/%s\n\n[sink logemu]\nfile = %s\nsync = yes\n",
		groupN, lab.DUT.Name, nfgoEmu)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startLogd(t, conf)
	waitNFLogBound(t, lab.DUT.Name, []int{groupU, groupN}, func() string { return ulogdOut.String() + d.stderr.String() })

	packets := []string{
		"tcp 192.0.2.2:40000 > 192.0.2.1:80 syn seq 1000 win 29200 mss 1460 sackok ts 12345 0 wscale 7 ttl 63 id 7 df",
		"tcp 192.0.2.2:40001 > 192.0.2.1:80 ack,psh seq 5 ack 9 win 502 payload \"GET / HTTP/1.0\\r\\n\\r\\n\"",
		"udp 192.0.2.2:5353 > 192.0.2.1:53 len 12 tos 0xb8",
		"icmp 192.0.2.2 > 192.0.2.1 type 8 code 0 id 77 seq 3 len 56",
		"tcp [2001:db8:1::2]:40000 > [2001:db8:1::1]:22 syn mss 1440 sackok wscale 7 tos 0x20 flow 0x12345 hl 9",
		"tcp [2001:db8:1::2]:40000 > [2001:db8:1::1]:22 ack,fin seq 77 ack 88 payload \"bye\"",
		"udp [2001:db8:1::2]:1000 > [2001:db8:1::1]:2000 len 3",
		"icmp6 2001:db8:1::2 > 2001:db8:1::1 type 128 code 0 id 5 seq 6 len 8",
	}
	for _, l := range packets {
		ln, err := packet.ParseLine("in eth0 from " + peerMAC + " to " + dutMAC + " " + l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		p, err := ln.Packet()
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if err := lab.Inject("eth0", append(append([]byte{}, p.MAC...), p.Data...)); err != nil {
			t.Fatal(err)
		}
	}
	// A packet of a local socket: no input device, no MAC, an owner.
	if r := lab.Run("ping", "-c", "1", "-W", "1", "192.0.2.2"); r.Stdout == "" {
		t.Fatalf("ping from the DUT: %s", r.Stderr)
	}
	want := len(packets) + 1
	lab.Settle()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) &&
		(len(fileLines(ulogdEmu)) < want || len(fileLines(nfgoEmu)) < want); time.Sleep(50 * time.Millisecond) {
	}
	report, code := d.stop(t)
	if code != 0 {
		t.Errorf("nfgo logd exit %d: %s", code, report)
	}
	if !strings.Contains(report, fmt.Sprintf("source nflog: %d received, 0 lost", want)) ||
		!strings.Contains(report, fmt.Sprintf("sink logemu: %d written, 0 dropped, 0 errors", want)) {
		t.Errorf("nfgo logd report:\n%s", report)
	}
	got, exp := fileLines(nfgoEmu), fileLines(ulogdEmu)
	if len(exp) != want {
		t.Errorf("ulogd wrote %d lines, want %d: %s", len(exp), want, ulogdOut.String())
	}
	if len(got) != len(exp) {
		t.Errorf("nfgo logd wrote %d lines, ulogd %d", len(got), len(exp))
	}
	for i := range min(len(got), len(exp)) {
		g, u := got[i], exp[i]
		// "Mmm dd hh:mm:ss " then the host name.
		if len(g) < 16 || len(u) < 16 || g[16:] != u[16:] {
			t.Errorf("line %d:\nulogd %q\nnfgo  %q", i+1, u, g)
			continue
		}
		gt, err1 := time.ParseInLocation(time.Stamp, g[:15], time.Local)
		ut, err2 := time.ParseInLocation(time.Stamp, u[:15], time.Local)
		if err1 != nil || err2 != nil || gt.Sub(ut).Abs() > time.Second {
			t.Errorf("line %d: ulogd's time %q, nfgo's %q", i+1, u[:15], g[:15])
		}
	}
	if t.Failed() {
		t.Logf("ulogd:\n%s\nnfgo:\n%s", strings.Join(exp, "\n"), strings.Join(got, "\n"))
	} else {
		t.Logf("%d lines agree, such as:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// ctListeners counts the netlink sockets of namespace ns subscribed to
// conntrack event groups (/proc/net/netlink: protocol 12, groups set).
func ctListeners(ns string) int {
	out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/netlink").Output()
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[1] == "12" && strings.Trim(f[3], "0") != "" {
			n++
		}
	}
	return n
}

// TestLogdE2EFlowsMatchConntrack runs nfgo logd with the conntrack
// source on a lab DUT forwarding a UDP exchange and a TCP connection from
// handshake to teardown, next to conntrack -E; the flows nfgo logs
// prints from the SQLite store must be conntrack -E's lines, in order.
func TestLogdE2EFlowsMatchConntrack(t *testing.T) {
	const (
		dut0, peer0 = "02:00:00:1e:01:01", "02:00:00:1e:01:02"
		dut1, peer1 = "02:00:00:1e:02:01", "02:00:00:1e:02:02"
	)
	lab := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{
			{Name: "eth0", MAC: dut0, PeerMAC: peer0, Addrs: []string{"192.0.2.1/24"}},
			{Name: "eth1", MAC: dut1, PeerMAC: peer1, Addrs: []string{"198.51.100.1/24"}},
		},
		Neigh:   []string{"192.0.2.2 lladdr " + peer0 + " dev eth0", "198.51.100.2 lladdr " + peer1 + " dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  "*filter\n-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT\n-A FORWARD -j DROP\nCOMMIT\n",
	})
	if err := lab.StartConntrackEvents(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "flows.db")
	conf := filepath.Join(dir, "logd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[source conntrack]\nnetns = /run/netns/%s\n\n[sink sqlite]\npath = %s\n",
		lab.DUT.Name, db)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := ctListeners(lab.DUT.Name)
	d := startLogd(t, conf)
	for deadline := time.Now().Add(10 * time.Second); ctListeners(lab.DUT.Name) <= before; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || d.exited() {
			t.Fatalf("nfgo logd did not subscribe to conntrack events: %s", d.stderr.String())
		}
	}

	c2s := "in eth0 from " + peer0 + " to " + dut0 + " "
	s2c := "in eth1 from " + peer1 + " to " + dut1 + " "
	for _, l := range []string{
		c2s + "udp 192.0.2.2:5000 > 198.51.100.2:53 len 20",
		s2c + "udp 198.51.100.2:53 > 192.0.2.2:5000 len 60",
		c2s + "tcp 192.0.2.2:40000 > 198.51.100.2:80 syn seq 1000 mss 1460",
		s2c + "tcp 198.51.100.2:80 > 192.0.2.2:40000 syn,ack seq 5000 ack 1001 mss 1460",
		c2s + "tcp 192.0.2.2:40000 > 198.51.100.2:80 ack seq 1001 ack 5001",
		c2s + "tcp 192.0.2.2:40000 > 198.51.100.2:80 ack,psh seq 1001 ack 5001 payload \"hello\"",
		s2c + "tcp 198.51.100.2:80 > 192.0.2.2:40000 ack seq 5001 ack 1006",
		c2s + "tcp 192.0.2.2:40000 > 198.51.100.2:80 fin,ack seq 1006 ack 5001",
		s2c + "tcp 198.51.100.2:80 > 192.0.2.2:40000 fin,ack seq 5001 ack 1007",
		c2s + "tcp 192.0.2.2:40000 > 198.51.100.2:80 ack seq 1007 ack 5002",
	} {
		ln, err := packet.ParseLine(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		p, err := ln.Packet()
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if err := lab.Inject(ln.InDev, append(append([]byte{}, p.MAC...), p.Data...)); err != nil {
			t.Fatal(err)
		}
		// One packet at a time through the DUT, so that the events
		// come in the order of the exchange.
		lab.Settle()
	}
	// Flushing the table ends both connections: DESTROY events.
	if r := lab.Run("conntrack", "-F"); r.Code != 0 {
		t.Fatalf("conntrack -F: %s", r.Stderr)
	}
	events := lab.ConntrackEvents()
	for i, e := range events {
		// conntrack(8) names the process behind an event that came from
		// a netlink request (here conntrack -F's DESTROYs): the sender's
		// port id in the message header, looked up in /proc as it
		// prints. That is not part of the connection's record.
		if j := strings.Index(e, " [USERSPACE] portid="); j >= 0 {
			events[i] = e[:j]
		}
	}
	report, code := d.stop(t)
	if code != 0 {
		t.Errorf("nfgo logd exit %d: %s", code, report)
	}
	if !strings.Contains(report, fmt.Sprintf("source conntrack: %d received, 0 lost", len(events))) ||
		!strings.Contains(report, fmt.Sprintf("sink sqlite:%s: %d written, 0 dropped, 0 errors", db, len(events))) {
		t.Errorf("nfgo logd report:\n%s", report)
	}
	out, errs, code := runNfgo(t, "", "logs", "--db", "sqlite:"+db, "--flows")
	if code != 0 {
		t.Fatalf("nfgo logs: exit %d: %s", code, errs)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		tm, rest, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, tm); err != nil {
			t.Errorf("nfgo logs line %q: time: %v", l, err)
		}
		got = append(got, rest)
	}
	if len(events) < 8 {
		t.Errorf("conntrack -E printed %d events, want the exchange's (at least 8):\n%s", len(events), strings.Join(events, "\n"))
	}
	if strings.Join(got, "\n") != strings.Join(events, "\n") {
		t.Errorf("nfgo logs --flows:\n%s\nconntrack -E:\n%s", strings.Join(got, "\n"), strings.Join(events, "\n"))
	} else {
		t.Logf("%d events agree:\n%s", len(got), out)
	}
}

// udpFlood sends COUNT small UDP datagrams to ADDR:PORT as fast as it
// can and prints how long that took: the sender of the load test, run in
// its namespace by ip netns exec.
func udpFlood(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "flood: COUNT ADDR PORT")
		return 2
	}
	n, err1 := strconv.Atoi(args[0])
	ip := net.ParseIP(args[1]).To4()
	port, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || ip == nil {
		fmt.Fprintln(os.Stderr, "flood: COUNT ADDR PORT")
		return 2
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		return 1
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte(ip)}); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		return 1
	}
	payload := make([]byte, 16)
	start := time.Now()
	for i := 0; i < n; {
		binary.BigEndian.PutUint64(payload, uint64(i))
		if _, err := unix.Write(fd, payload); err != nil {
			if err == unix.ENOBUFS || err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			fmt.Fprintln(os.Stderr, "flood:", err)
			return 1
		}
		i++
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// loadPackets is how many packets the load test logs.
const loadPackets = 1_000_000

// TestLogdE2ELoad floods an NFLOG rule in a namespace with small UDP
// datagrams while nfgo logd writes them to a JSON file and an SQLite
// store through queues small enough to overflow. Nothing may go
// unaccounted: for each sink, what it wrote, what its queue dropped and
// what the kernel dropped (counted exactly from NFLOG sequence numbers)
// add up to the rule's packet counter.
func TestLogdE2ELoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the load test in -short mode")
	}
	kerneltest.Require(t)
	ns := fmt.Sprintf("nfx-logde2e-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	// The datagrams go over lo and are dropped at INPUT: no receiver, no
	// ICMP errors, only the OUTPUT rule's work.
	const group = 7
	rules := fmt.Sprintf("*filter\n-A INPUT -d 127.0.0.2/32 -p udp -m udp --dport 9 -j DROP\n"+
		"-A OUTPUT -d 127.0.0.2/32 -p udp -m udp --dport 9 -j NFLOG --nflog-group %d --nflog-size 64\nCOMMIT\n", group)
	restore := exec.Command("ip", "netns", "exec", ns, "iptables-restore")
	restore.Stdin = strings.NewReader(rules)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore: %v: %s", err, out)
	}

	dir := t.TempDir()
	js, db := filepath.Join(dir, "load.json"), filepath.Join(dir, "load.db")
	conf := filepath.Join(dir, "logd.conf")
	const queueSize = 16384
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`queue = %d

[source nflog]
groups = %d
netns = /run/netns/%s
range = 64
seq = yes
qthreshold = 32
timeout = 100ms
buffer = 1048576

[sink json]
file = %s

[sink sqlite]
path = %s
batch = 5000
`, queueSize, group, ns, js, db)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startLogd(t, conf)
	waitNFLogBound(t, ns, []int{group}, d.stderr.String)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	flood := func(n int) time.Duration {
		cmd := exec.Command("ip", "netns", "exec", ns, exe, strconv.Itoa(n), "127.0.0.2", "9")
		cmd.Env = append(os.Environ(), e2eRole+"=flood")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("flood: %v: %s", err, out)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		return time.Duration(ns)
	}
	sendTime := flood(loadPackets)
	// Once the daemon has caught up, one more packet: its sequence
	// number reveals any loss at the end of the flood.
	time.Sleep(time.Second)
	flood(1)
	time.Sleep(500 * time.Millisecond)
	report, code := d.stop(t)
	t.Logf("nfgo logd:\n%s", report)
	// Exit 1 says a sink dropped records, which this test provokes.
	if code != 0 && code != 1 {
		t.Fatalf("nfgo logd exit %d", code)
	}

	logged := ruleCounter(t, ns)
	var received, overruns, malformed, lost uint64
	if n, _ := fmt.Sscanf(after(report, "source nflog: "), "%d received, %d lost in the kernel (ENOBUFS), %d malformed", &received, &overruns, &malformed); n != 3 {
		t.Fatalf("no source report:\n%s", report)
	}
	if _, err := fmt.Sscanf(afterLast(report, "source nflog: "), "%d records the kernel dropped (sequence numbers)", &lost); err != nil {
		t.Fatalf("no sequence loss report:\n%s", report)
	}
	if logged < loadPackets+1 {
		t.Errorf("the rule counted %d packets, sent %d", logged, loadPackets+1)
	}
	if received+lost != logged {
		t.Errorf("received %d + lost %d = %d, the kernel logged %d", received, lost, received+lost, logged)
	}
	if lost > 0 && overruns == 0 {
		t.Errorf("%d packets lost without an overrun", lost)
	}
	if malformed != 0 {
		t.Errorf("%d malformed", malformed)
	}
	// Sinks as the daemon names them in its report.
	for _, sk := range []struct{ name, count string }{{"json", "json"}, {"sqlite:" + db, "sqlite"}} {
		var written, dropped, errs uint64
		if n, _ := fmt.Sscanf(after(report, "sink "+sk.name+": "), "%d written, %d dropped, %d errors", &written, &dropped, &errs); n != 3 {
			t.Fatalf("no report for sink %s:\n%s", sk.name, report)
		}
		if written+dropped+lost != logged {
			t.Errorf("sink %s: written %d + dropped %d + lost in the kernel %d = %d, the kernel logged %d",
				sk.count, written, dropped, lost, written+dropped+lost, logged)
		}
		if errs != 0 {
			t.Errorf("sink %s: %d errors", sk.count, errs)
		}
		var stored uint64
		switch sk.count {
		case "json":
			stored = uint64(len(fileLines(js)))
		case "sqlite":
			stored = sqliteCount(t, db)
		}
		if stored != written {
			t.Errorf("sink %s: reported %d written, holds %d", sk.count, written, stored)
		}
		// Sinks write during the flood and then drain their queue (at
		// most a queue's worth): the sustained rate is between the two.
		t.Logf("sink %s: %d written, %d dropped by its queue; sustained %.0f-%.0f packets/s over the flood's %v",
			sk.count, written, dropped, float64(max(written, queueSize)-queueSize)/sendTime.Seconds(), float64(written)/sendTime.Seconds(),
			sendTime.Round(time.Millisecond))
	}
	t.Logf("kernel: %d packets logged, %d sent in %v (%.0f packets/s); nfgo logd received %d (%.0f packets/s), the kernel dropped %d in %d overruns",
		logged, loadPackets, sendTime.Round(time.Millisecond), float64(loadPackets)/sendTime.Seconds(), received, float64(received)/sendTime.Seconds(), lost, overruns)
}

// after returns what follows the first occurrence of marker in s.
func after(s, marker string) string {
	if _, rest, ok := strings.Cut(s, marker); ok {
		return rest
	}
	return ""
}

// afterLast returns what follows the last occurrence of marker in s.
func afterLast(s, marker string) string {
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return ""
}

// ruleCounter returns the packet counter of the NFLOG rule in ns.
func ruleCounter(t *testing.T, ns string) uint64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "iptables-save", "-c", "-t", "filter").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "-j NFLOG") {
			var pkts, bytes uint64
			if _, err := fmt.Sscanf(l, "[%d:%d]", &pkts, &bytes); err != nil {
				t.Fatalf("iptables-save line %q: %v", l, err)
			}
			return pkts
		}
	}
	t.Fatalf("no NFLOG rule in:\n%s", out)
	return 0
}

// sqliteCount returns the number of packets in the store at path.
func sqliteCount(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n uint64
	if err := db.QueryRow("SELECT count(*) FROM packets").Scan(&n); err != nil {
		t.Fatalf("count the stored packets: %v", err)
	}
	return n
}
