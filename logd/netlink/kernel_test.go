package nlsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// pair is two namespaces joined by a veth pair: A (va, 10.77.0.1,
// fd00:77::1) holds the rules and the source; B (vb, .2, ::2) is the peer.
type pair struct {
	t          *testing.T
	a, b       string
	macA, macB net.HardwareAddr
	idxA       int
}

var nsSeq int

func newPair(t *testing.T) *pair {
	t.Helper()
	kerneltest.Require(t)
	nsSeq++
	p := &pair{t: t,
		a: fmt.Sprintf("nfx-nlsrc-%d-%d-a", os.Getpid(), nsSeq),
		b: fmt.Sprintf("nfx-nlsrc-%d-%d-b", os.Getpid(), nsSeq)}
	for _, n := range []string{p.a, p.b} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	if out, err := exec.Command("ip", "link", "add", "va", "netns", p.a, "type", "veth", "peer", "name", "vb", "netns", p.b).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	p.run(p.a, "ip link set lo up", "ip link set va up", "ip addr add 10.77.0.1/24 dev va", "ip addr add fd00:77::1/64 dev va nodad")
	p.run(p.b, "ip link set lo up", "ip link set vb up", "ip addr add 10.77.0.2/24 dev vb", "ip addr add fd00:77::2/64 dev vb nodad")
	p.macA, p.idxA = p.link(p.a, "va")
	p.macB, _ = p.link(p.b, "vb")
	return p
}

// run runs command lines (split on spaces) in namespace ns.
func (p *pair) run(ns string, cmds ...string) {
	p.t.Helper()
	for _, c := range cmds {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, strings.Fields(c)...)...).CombinedOutput(); err != nil {
			p.t.Fatalf("%s: %s: %v: %s", ns, c, err, out)
		}
	}
}

func (p *pair) restore(ns string, fam int, rules string) {
	p.t.Helper()
	tool := "iptables-restore"
	if fam == 6 {
		tool = "ip6tables-restore"
	}
	cmd := exec.Command("ip", "netns", "exec", ns, tool)
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v: %s", tool, err, out)
	}
}

func (p *pair) link(ns, dev string) (net.HardwareAddr, int) {
	p.t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-j", "link", "show", dev).Output()
	if err != nil {
		p.t.Fatalf("ip link show %s: %v", dev, err)
	}
	var l []struct {
		Ifindex int    `json:"ifindex"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &l); err != nil || len(l) != 1 {
		p.t.Fatalf("ip link show %s: %v: %s", dev, err, out)
	}
	mac, err := net.ParseMAC(l[0].Address)
	if err != nil {
		p.t.Fatal(err)
	}
	return mac, l[0].Ifindex
}

// inNS runs fn on a thread in namespace ns: sockets it opens stay there.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked: Go discards it with the goroutine.
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// udpConn opens a UDP socket bound to laddr in namespace ns.
func udpConn(t *testing.T, ns, laddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	var err error
	inNS(t, ns, func() { c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(laddr))) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collect runs src and gathers its records until stop is called.
type collector struct {
	mu   sync.Mutex
	recs []logd.Record
	ch   chan logd.Record
	err  chan error
	stop context.CancelFunc
}

func collect(src logd.Source) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{ch: make(chan logd.Record), err: make(chan error, 1), stop: cancel}
	go func() { c.err <- src.Run(ctx, c.ch) }()
	go func() {
		for r := range c.ch {
			c.mu.Lock()
			c.recs = append(c.recs, r)
			c.mu.Unlock()
		}
	}()
	return c
}

// wait returns the records once n have arrived or the deadline passed.
func (c *collector) wait(n int, d time.Duration) []logd.Record {
	end := time.Now().Add(d)
	for {
		c.mu.Lock()
		got := len(c.recs)
		c.mu.Unlock()
		if got >= n || time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]logd.Record(nil), c.recs...)
}

func (c *collector) finish(t *testing.T) {
	t.Helper()
	c.stop()
	select {
	case err := <-c.err:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestKernelNFLog(t *testing.T) {
	p := newPair(t)
	p.restore(p.a, 4, `*mangle
-A OUTPUT -p udp --dport 9999 -j MARK --set-mark 0x2a
COMMIT
*filter
-A INPUT -i va -p icmp --icmp-type echo-request -j NFLOG --nflog-group 5 --nflog-prefix "p1"
-A OUTPUT -o va -p udp --dport 9999 -j NFLOG --nflog-group 5 --nflog-prefix "p2" --nflog-size 20
-A OUTPUT -o va -p udp --dport 9998 -j NFLOG --nflog-group 6 --nflog-prefix "other" --nflog-range 24
COMMIT
`)
	p.restore(p.a, 6, `*filter
-A INPUT -i va -p ipv6-icmp --icmpv6-type echo-request -j NFLOG --nflog-group 5 --nflog-prefix "p6"
COMMIT
`)
	src, err := NewNFLog(NFLogConfig{Groups: []uint16{5, 6}, NetNS: "/run/netns/" + p.a, Flags: FlagSeq, CopyRange: 0xffff})
	if err != nil {
		t.Fatal(err)
	}
	c := collect(src)
	start := time.Now()
	p.run(p.b, "ping -c 1 -W 2 -s 32 10.77.0.1", "ping -6 -c 1 -W 2 -s 32 fd00:77::1")
	u := udpConn(t, p.a, "10.77.0.1:4444")
	for _, port := range []int{9999, 9998} {
		if _, err := u.WriteToUDP([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	recs := c.wait(4, 5*time.Second)
	c.finish(t)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4: %+v", len(recs), recs)
	}
	byPrefix := map[string]*logd.Packet{}
	for _, r := range recs {
		if r.Packet == nil {
			t.Fatalf("record without packet: %+v", r)
		}
		byPrefix[r.Packet.Prefix] = r.Packet
	}
	// The echo request from B, logged at INPUT.
	wantMAC := append(append(append([]byte(nil), p.macA...), p.macB...), 0x08, 0x00)
	if q := byPrefix["p1"]; q == nil {
		t.Error("no p1 packet")
	} else {
		checkIn(t, q, p, nf.IPv4, wantMAC, 0x0800)
		if q.Data[9] != 1 || !bytes.Equal(q.Data[12:16], []byte{10, 77, 0, 2}) || !bytes.Equal(q.Data[16:20], []byte{10, 77, 0, 1}) ||
			len(q.Data) != 20+8+32 || q.OrigLen != 60 {
			t.Errorf("p1 data %x (orig %d)", q.Data, q.OrigLen)
		}
		if q.Time.Before(start.Add(-time.Second)) || q.Time.After(time.Now()) {
			t.Errorf("p1 time %v, test started %v", q.Time, start)
		}
	}
	if q := byPrefix["p6"]; q == nil {
		t.Error("no p6 packet")
	} else {
		wantMAC6 := append(append([]byte(nil), wantMAC[:12]...), 0x86, 0xdd)
		checkIn(t, q, p, nf.IPv6, wantMAC6, 0x86dd)
		src, dst := netip.MustParseAddr("fd00:77::2").As16(), netip.MustParseAddr("fd00:77::1").As16()
		if len(q.Data) != 40+8+32 || q.Data[6] != 58 || !bytes.Equal(q.Data[8:24], src[:]) || !bytes.Equal(q.Data[24:40], dst[:]) {
			t.Errorf("p6 data %x", q.Data)
		}
	}
	// The UDP datagram sent from A, logged at OUTPUT with --nflog-size 20.
	if q := byPrefix["p2"]; q == nil {
		t.Error("no p2 packet")
	} else {
		if q.Group != 5 || q.Family != nf.IPv4 || !q.HasHook || q.Hook != nf.LocalOut || q.OutDev != "va" ||
			q.OutIndex != p.idxA || q.InDev != "" || q.InIndex != 0 || q.Mark != 0x2a || q.MAC != nil ||
			!q.HasUID || q.UID != uint32(os.Geteuid()) || !q.HasGID || !q.HasSeq {
			t.Errorf("p2 %+v", q)
		}
		if len(q.Data) != 20 || q.OrigLen != 20+8+36 || !bytes.Equal(q.Data[12:20], []byte{10, 77, 0, 1, 10, 77, 0, 2}) {
			t.Errorf("p2 data %x (orig %d)", q.Data, q.OrigLen)
		}
	}
	// Group 6: the second group bound by the same source. iptables 1.8
	// ignores --nflog-range (the kernel never applied it), so the whole
	// packet is copied.
	if q := byPrefix["other"]; q == nil {
		t.Error("no packet of group 6")
	} else if q.Group != 6 || len(q.Data) != 20+8+36 {
		t.Errorf("group 6: group %d, %d bytes", q.Group, len(q.Data))
	}
	if st := src.Stats(); st.Received != 4 || st.Overruns != 0 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// checkIn checks a packet received on va from B.
func checkIn(t *testing.T, q *logd.Packet, p *pair, fam nf.Family, mac []byte, proto uint16) {
	t.Helper()
	if q.Group != 5 || q.Family != fam || !q.HasHook || q.Hook != nf.LocalIn || q.InDev != "va" || q.InIndex != p.idxA ||
		q.OutDev != "" || q.OutIndex != 0 || q.Mark != 0 || q.HasUID || q.HWProtocol != proto || q.HWType != unix.ARPHRD_ETHER ||
		!bytes.Equal(q.MAC, mac) || !bytes.Equal(q.HWAddr, p.macB) || !q.HasSeq {
		t.Errorf("%s packet %+v", q.Prefix, q)
	}
}

// TestKernelOverrun fills a tiny receive buffer with a burst logged
// before the source reads: the loss is counted, and packets logged after
// it still arrive.
func TestKernelOverrun(t *testing.T) {
	p := newPair(t)
	p.restore(p.a, 4, `*filter
-A OUTPUT -o va -p udp --dport 9999 -j NFLOG --nflog-group 7 --nflog-prefix "burst"
-A OUTPUT -o va -p udp --dport 9997 -j NFLOG --nflog-group 7 --nflog-prefix "after"
COMMIT
`)
	src, err := NewNFLog(NFLogConfig{Groups: []uint16{7}, NetNS: "/run/netns/" + p.a, ReadBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	u := udpConn(t, p.a, "10.77.0.1:4444")
	const burst = 200
	for i := 0; i < burst; i++ {
		if _, err := u.WriteToUDP(make([]byte, 200), &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 9999}); err != nil {
			t.Fatal(err)
		}
	}
	c := collect(src)
	// Wait until the backlog is read, then log one more packet.
	deadline := time.Now().Add(5 * time.Second)
	for src.Stats().Overruns == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := u.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 9997}); err != nil {
		t.Fatal(err)
	}
	var after bool
	for time.Now().Before(deadline) && !after {
		for _, r := range c.wait(0, 0) {
			after = after || r.Packet.Prefix == "after"
		}
		time.Sleep(10 * time.Millisecond)
	}
	recs := c.wait(0, 0)
	c.finish(t)
	st := src.Stats()
	t.Logf("burst of %d: %d received, stats %+v", burst, len(recs)-1, st)
	if st.Overruns == 0 {
		t.Errorf("no overrun counted: %+v", st)
	}
	if len(recs) >= burst {
		t.Errorf("all %d packets arrived through a %d-byte buffer", len(recs), 4096)
	}
	if !after {
		t.Error("the packet logged after the overrun did not arrive")
	}
	if st.Received != uint64(len(recs)) || st.Errors != 0 {
		t.Errorf("stats %+v, %d records", st, len(recs))
	}
}
