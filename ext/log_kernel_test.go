package ext_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// The LOG comparison: a DUT namespace joined by a veth to a peer. Frames
// built here are written into the peer's end with a packet socket, so the
// bytes the kernel logs are known exactly; packets the DUT generates
// itself are captured where they arrive. Each case loads one LOG rule
// with the real iptables, reads the line from /dev/kmsg and compares it
// with what nfgo's LOG target prints for the same bytes.

var (
	dutMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x77, 0x00, 0x01}
	peerMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x77, 0x00, 0x02}
	dut4    = []byte{10, 77, 0, 1}
	peer4   = []byte{10, 77, 0, 2}
	dut6    = net.ParseIP("fd77::1").To16()
	peer6   = net.ParseIP("fd77::2").To16()
	lo4     = []byte{127, 0, 0, 1}
	lo6     = net.IPv6loopback.To16()
)

const (
	ownerUID = 4321
	ownerGID = 8765
)

type logLab struct {
	t          *testing.T
	dut, peer  *kerneltest.NS
	dutDev     string
	peerDev    string
	fwdDev     string // the DUT's veth to a second peer, for FORWARD
	inject     int    // packet socket on the peer's veth end
	peerIdx    int
	capPeer    int // packet socket receiving on the peer's veth end
	capLo      int // packet socket on the DUT's lo
	udp4, udp6 int // DUT sockets owned by ownerUID/ownerGID
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on an OS thread switched into the namespace. The thread is
// never handed back to the runtime (it ends with the goroutine), so the
// namespace and the file-system ids fn sets cannot leak elsewhere.
func inNS(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			done <- fmt.Errorf("setns %s: %w", ns, e)
			return
		}
		done <- fn()
	}()
	return <-done
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func packetSocket(dev string) (int, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	tv := syscall.Timeval{Usec: 100000}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	return fd, nil
}

func newLogLab(t *testing.T) *logLab {
	kerneltest.Require(t)
	kerneltest.LockKernelLog(t)
	const sysctl = "/proc/sys/net/netfilter/nf_log_all_netns"
	old, err := os.ReadFile(sysctl)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skipf("skipping: no /dev/kmsg: %v", err)
	}
	id := os.Getpid() % 100000
	l := &logLab{t: t,
		dut:     &kerneltest.NS{Name: fmt.Sprintf("nfx-log-d%d", id)},
		peer:    &kerneltest.NS{Name: fmt.Sprintf("nfx-log-p%d", id)},
		dutDev:  fmt.Sprintf("nfx-log-d%d", id),
		peerDev: fmt.Sprintf("nfx-log-p%d", id),
		fwdDev:  fmt.Sprintf("nfx-log-f%d", id),
	}
	far := fmt.Sprintf("nfx-log-q%d", id)
	for _, ns := range []string{l.dut.Name, l.peer.Name, far} {
		run(t, "ip", "netns", "add", ns)
		name := ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}
	run(t, "ip", "link", "add", l.dutDev, "netns", l.dut.Name, "address", dutMAC.String(), "type", "veth",
		"peer", "name", l.peerDev, "netns", l.peer.Name, "address", peerMAC.String())
	for _, c := range [][]string{
		{"-n", l.dut.Name, "addr", "add", "10.77.0.1/24", "dev", l.dutDev},
		{"-n", l.peer.Name, "addr", "add", "10.77.0.2/24", "dev", l.peerDev},
		{"-n", l.dut.Name, "addr", "add", "fd77::1/64", "dev", l.dutDev, "nodad"},
		{"-n", l.peer.Name, "addr", "add", "fd77::2/64", "dev", l.peerDev, "nodad"},
		{"-n", l.dut.Name, "link", "set", l.dutDev, "up"},
		{"-n", l.peer.Name, "link", "set", l.peerDev, "up"},
		{"-n", l.dut.Name, "link", "set", "lo", "up"},
		{"-n", l.dut.Name, "neigh", "add", "10.77.0.2", "lladdr", peerMAC.String(), "dev", l.dutDev, "nud", "permanent"},
		{"link", "add", l.fwdDev, "netns", l.dut.Name, "type", "veth", "peer", "name", far, "netns", far},
		{"-n", l.dut.Name, "addr", "add", "10.78.0.1/24", "dev", l.fwdDev},
		{"-n", l.dut.Name, "link", "set", l.fwdDev, "up"},
		{"-n", far, "link", "set", far, "up"},
		{"-n", l.dut.Name, "neigh", "add", "10.78.0.2", "lladdr", peerMAC.String(), "dev", l.fwdDev, "nud", "permanent"},
		{"-n", l.dut.Name, "neigh", "add", "fd77::2", "lladdr", peerMAC.String(), "dev", l.dutDev, "nud", "permanent"},
	} {
		run(t, "ip", c...)
	}
	run(t, "ip", "netns", "exec", l.dut.Name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	if err := os.WriteFile(sysctl, []byte("1\n"), 0o644); err != nil {
		t.Skipf("skipping: cannot enable nf_log_all_netns: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(sysctl, old, 0o644) })

	err = inNS(l.peer.Name, func() error {
		var err error
		if l.inject, err = packetSocket(l.peerDev); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(l.peerDev)
		if err != nil {
			return err
		}
		l.peerIdx = ifi.Index
		l.capPeer, err = packetSocket(l.peerDev)
		return err
	})
	if err != nil {
		t.Fatalf("peer sockets: %v", err)
	}
	err = inNS(l.dut.Name, func() error {
		var err error
		if l.capLo, err = packetSocket("lo"); err != nil {
			return err
		}
		// Sockets whose file carries the owner LOG --log-uid prints:
		// fsuid/fsgid are per thread, and this thread dies afterwards.
		syscall.RawSyscall(syscall.SYS_SETFSUID, ownerUID, 0, 0)
		syscall.RawSyscall(syscall.SYS_SETFSGID, ownerGID, 0, 0)
		if l.udp4, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0); err != nil {
			return err
		}
		l.udp6, err = syscall.Socket(syscall.AF_INET6, syscall.SOCK_DGRAM, 0)
		return err
	})
	if err != nil {
		t.Fatalf("DUT sockets: %v", err)
	}
	t.Cleanup(func() {
		for _, fd := range []int{l.inject, l.capPeer, l.capLo, l.udp4, l.udp6} {
			syscall.Close(fd)
		}
	})
	return l
}

// tcpConnect makes the DUT send a SYN from a socket owned by ownerUID.
func (l *logLab) tcpConnect(fam int, dst []byte, port int) {
	err := inNS(l.dut.Name, func() error {
		syscall.RawSyscall(syscall.SYS_SETFSUID, ownerUID, 0, 0)
		syscall.RawSyscall(syscall.SYS_SETFSGID, ownerGID, 0, 0)
		af := syscall.AF_INET
		var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: port, Addr: [4]byte(dst)}
		if fam == 6 {
			af, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Port: port, Addr: [16]byte(dst)}
		}
		fd, err := syscall.Socket(af, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		l.t.Cleanup(func() { syscall.Close(fd) })
		if err := syscall.Connect(fd, sa); err != nil && !errors.Is(err, syscall.EINPROGRESS) {
			return err
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("connect: %v", err)
	}
}

func (l *logLab) sendUDP(fam int, dst []byte, port int, payload string) {
	var err error
	if fam == 6 {
		err = syscall.Sendto(l.udp6, []byte(payload), 0, &syscall.SockaddrInet6{Port: port, Addr: [16]byte(dst)})
	} else {
		err = syscall.Sendto(l.udp4, []byte(payload), 0, &syscall.SockaddrInet4{Port: port, Addr: [4]byte(dst)})
	}
	if err != nil {
		l.t.Fatalf("sendto: %v", err)
	}
}

// capture returns the first frame received on fd (not one sent from it)
// that pred accepts.
func (l *logLab) capture(fd int, pred func(frame []byte) bool) []byte {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		n, from, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING && fd != l.capLo {
			continue
		}
		if pred(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	l.t.Fatal("no matching frame captured")
	return nil
}

func drain(fd int) {
	buf := make([]byte, 65536)
	for {
		if _, _, err := syscall.Recvfrom(fd, buf, syscall.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// kmsg reads kernel log records written after it was opened.
type kmsg struct{ fd int }

func openKmsg(t *testing.T) *kmsg {
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	if _, err := syscall.Seek(fd, 0, 2); err != nil {
		syscall.Close(fd)
		t.Fatalf("seek /dev/kmsg: %v", err)
	}
	return &kmsg{fd}
}

// wait returns the level and text of the first record starting with
// prefix. The kernel escapes bytes outside printable ASCII as \xNN; the
// lines compared here have none.
func (k *kmsg) wait(t *testing.T, prefix string) (uint8, string) {
	defer syscall.Close(k.fd)
	buf := make([]byte, 8192)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		n, err := syscall.Read(k.fd, buf)
		if err == syscall.EAGAIN {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			continue // EPIPE: records were overwritten; go on
		}
		rec := string(buf[:n])
		semi := strings.IndexByte(rec, ';')
		if semi < 0 {
			continue
		}
		text := rec[semi+1:]
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[:i]
		}
		if !strings.HasPrefix(text, prefix) {
			continue
		}
		var pri int
		fmt.Sscanf(rec[:semi], "%d", &pri)
		return uint8(pri & 7), text
	}
	t.Fatalf("no kernel log line with prefix %q", prefix)
	return 0, ""
}

// Packet builders.

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

type ip4 struct {
	tos   uint8
	id    uint16
	frag  uint16 // flags and offset as on the wire
	ttl   uint8
	proto uint8
	src   []byte
	dst   []byte
	opts  []byte
	ihl   int // override of the header length field, 0 for the real one
}

func (h ip4) build(payload []byte) []byte {
	hl := 20 + len(h.opts)
	b := make([]byte, hl, hl+len(payload))
	ihl := hl / 4
	if h.ihl != 0 {
		ihl = h.ihl
	}
	b[0] = 0x40 | byte(ihl)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:], uint16(hl+len(payload)))
	binary.BigEndian.PutUint16(b[4:], h.id)
	binary.BigEndian.PutUint16(b[6:], h.frag)
	b[8] = h.ttl
	b[9] = h.proto
	copy(b[12:], h.src)
	copy(b[16:], h.dst)
	copy(b[20:], h.opts)
	binary.BigEndian.PutUint16(b[10:], csum(b[:hl]))
	return append(b, payload...)
}

type ip6 struct {
	tc    uint8
	flow  uint32
	next  uint8
	hlim  uint8
	src   []byte
	dst   []byte
	extra int // added to the payload length field
}

func (h ip6) build(payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	binary.BigEndian.PutUint32(b, 6<<28|uint32(h.tc)<<20|h.flow&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)+h.extra))
	b[6] = h.next
	b[7] = h.hlim
	copy(b[8:], h.src)
	copy(b[24:], h.dst)
	return append(b, payload...)
}

func tcpSeg(sport, dport uint16, seq, ack uint32, flags uint8, win, urg uint16, opts []byte, data []byte) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], win)
	binary.BigEndian.PutUint16(b[18:], urg)
	copy(b[20:], opts)
	return append(b, data...)
}

func udpDgram(sport, dport uint16, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(data)))
	return append(b, data...)
}

func icmpMsg(typ, code uint8, rest uint32, data []byte) []byte {
	b := []byte{typ, code, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], rest)
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[2:], csum(b))
	return b
}

// synOpts are a Linux SYN's options: MSS, SACK permitted, timestamps,
// NOP, window scale.
var synOpts = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 1, 3, 3, 7}

// ext6 builds an IPv6 extension header: next header, then data padded to
// a multiple of 8 bytes with the length field set.
func ext6(next uint8, data []byte) []byte {
	n := (2 + len(data) + 7) / 8 * 8
	b := make([]byte, n)
	b[0] = next
	b[1] = byte(n/8 - 1)
	copy(b[2:], data)
	if pad := n - 2 - len(data); pad >= 2 {
		b[2+len(data)] = 1 // PadN
		b[3+len(data)] = byte(pad - 2)
	}
	return b
}

func frag6(next uint8, off uint16, more bool, id uint32) []byte {
	b := make([]byte, 8)
	b[0] = next
	fo := off &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
	return b
}

func eth(dst, src net.HardwareAddr, etype uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], etype)
	return append(b, payload...)
}

// A logCase is one LOG rule and one packet.
type logCase struct {
	name  string
	fam   int
	table string
	chain string
	match string // matches before -j LOG
	opts  string // LOG options besides the prefix
	pre   string // rules before the LOG rule in the same chain
	mark  uint32 // the mark pre sets

	// Exactly one of frame (injected at the peer) or local (run in the
	// DUT, returning the bytes captured from the network header on).
	frame func() []byte
	local func(l *logLab) (mac, ip []byte)
	inDev string // DUT interface the packet comes in on; "" for local
	out   string
	owner bool // the packet has the ownerUID/ownerGID socket
	// longPrefix uses the longest prefix iptables accepts (29 bytes).
	longPrefix bool
	// seen turns the injected bytes into those the hook sees (FORWARD
	// comes after the TTL is decremented).
	seen func(ip []byte)
}

func TestLogKernel(t *testing.T) {
	l := newLogLab(t)
	in4 := func(build func() []byte) func() []byte {
		return func() []byte { return eth(dutMAC, peerMAC, 0x0800, build()) }
	}
	in6 := func(build func() []byte) func() []byte {
		return func() []byte { return eth(dutMAC, peerMAC, 0x86dd, build()) }
	}
	v4 := func(proto uint8, payload []byte) []byte {
		return ip4{id: 0x1234, frag: 0x4000, ttl: 64, proto: proto, src: peer4, dst: dut4}.build(payload)
	}
	v6 := func(next uint8, payload []byte) []byte {
		return ip6{next: next, hlim: 64, src: peer6, dst: dut6}.build(payload)
	}
	fromPeer4, fromPeer6 := "-s 10.77.0.2/32", "-s fd77::2/128"
	quotedUDP := ip4{id: 7, ttl: 1, proto: 17, src: dut4, dst: peer4}.build(udpDgram(40000, 33434, []byte("probe")))
	quotedTCP := ip4{id: 9, frag: 0x4000, ttl: 63, proto: 6, src: dut4, dst: peer4}.build(tcpSeg(40001, 80, 1, 0, 0x02, 64240, 0, synOpts, nil))[:28]
	quoted6 := ip6{next: 17, hlim: 1, src: dut6, dst: peer6}.build(udpDgram(40000, 33434, []byte("probe6")))

	cases := []logCase{
		{name: "tcp-syn-options", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts: "--log-level 6 --log-tcp-sequence --log-tcp-options",
			frame: in4(func() []byte {
				return v4(6, tcpSeg(51000, 22, 0xdeadbeef, 0, 0x02, 64240, 0, synOpts, nil))
			})},
		{name: "tcp-flags-plain", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte {
				s := tcpSeg(51000, 22, 1, 2, 0xff, 512, 77, synOpts, []byte("x"))
				s[12] |= 0x0f // reserved bits
				return ip4{tos: 0xff, id: 65535, frag: 0x8000 | 0x4000, ttl: 255, proto: 6, src: peer4, dst: dut4}.build(s)
			})},
		{name: "tcp-options-truncated", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts: "--log-tcp-options --log-uid",
			frame: in4(func() []byte {
				s := tcpSeg(51000, 22, 1, 2, 0x10, 512, 0, synOpts, nil)
				return v4(6, s[:30])
			})},
		{name: "tcp-incomplete", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(6, tcpSeg(51000, 22, 1, 2, 0x10, 512, 0, nil, nil)[:10]) })},
		{name: "udp", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(17, udpDgram(5353, 53, []byte("hello"))) })},
		{name: "udplite-mark", fam: 4, table: "mangle", chain: "PREROUTING", match: fromPeer4,
			pre: "-A PREROUTING -j MARK --set-xmark 0xc0ffee/0xffffffff", mark: 0xc0ffee,
			frame: in4(func() []byte { return v4(136, udpDgram(5353, 53, []byte("hello"))) })},
		{name: "icmp-echo-macdecode", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts:  "--log-macdecode --log-level 7",
			frame: in4(func() []byte { return v4(1, icmpMsg(8, 0, 0x4d2<<16|9, []byte("pingpong"))) })},
		{name: "icmp-unreachable-quoted", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts:  "--log-ip-options --log-tcp-options",
			frame: in4(func() []byte { return v4(1, icmpMsg(3, 3, 0, quotedUDP)) })},
		{name: "icmp-frag-needed-tcp", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts:  "--log-tcp-sequence",
			frame: in4(func() []byte { return v4(1, icmpMsg(3, 4, 1400, quotedTCP)) })},
		{name: "icmp-redirect", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(1, icmpMsg(5, 1, 0x0a4d0009, quotedUDP)) })},
		{name: "icmp-time-exceeded-short", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(1, icmpMsg(11, 0, 0, quotedUDP[:12])) })},
		{name: "icmp-parameter-problem", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(1, icmpMsg(12, 0, 20<<24, quotedUDP)) })},
		{name: "icmp-timestamp-short", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(1, icmpMsg(13, 0, 0, []byte{1, 2, 3, 4})) })},
		{name: "ip-options", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts: "--log-ip-options",
			frame: in4(func() []byte {
				rr := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1} // record route, NOP
				return ip4{tos: 0x12, id: 4242, ttl: 9, proto: 17, src: peer4, dst: dut4, opts: rr}.build(udpDgram(1, 2, nil))
			})},
		{name: "ip-options-unlogged", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte {
				ra := []byte{0x94, 4, 0, 0}
				return ip4{id: 4243, ttl: 9, proto: 17, src: peer4, dst: dut4, opts: ra}.build(udpDgram(1, 2, nil))
			})},
		{name: "fragment-first", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts: "--log-uid",
			frame: in4(func() []byte {
				return ip4{id: 99, frag: 0x2000, ttl: 64, proto: 17, src: peer4, dst: dut4}.build(udpDgram(7, 9, make([]byte, 16)))
			})},
		{name: "fragment-later", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			opts: "--log-tcp-options",
			frame: in4(func() []byte {
				return ip4{id: 99, frag: 3, ttl: 64, proto: 6, src: peer4, dst: dut4}.build(make([]byte, 16))
			})},
		{name: "fragment-later-icmp", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte {
				return ip4{id: 98, frag: 0x2000 | 0x1fff, ttl: 64, proto: 1, src: peer4, dst: dut4}.build(make([]byte, 8))
			})},
		{name: "esp", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4 + " -p esp",
			frame: in4(func() []byte { return v4(50, []byte{0xf1, 0x23, 0x45, 0x67, 0, 0, 0, 1, 9, 9}) })},
		{name: "ah", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(51, []byte{6, 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1, 0, 0, 0, 0}) })},
		{name: "gre", fam: 4, table: "raw", chain: "PREROUTING", match: fromPeer4,
			frame: in4(func() []byte { return v4(47, []byte{0, 0, 8, 0}) })},

		{name: "v6-tcp-syn", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-tcp-options --log-tcp-sequence --log-level 1",
			frame: in6(func() []byte {
				return ip6{tc: 0xb8, flow: 0xabcde, next: 6, hlim: 255, src: peer6, dst: dut6}.build(tcpSeg(33000, 443, 7, 0, 0xc2, 65535, 0, synOpts, nil))
			})},
		{name: "v6-udp", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte { return v6(17, udpDgram(546, 547, []byte("dhcp"))) })},
		{name: "v6-ext-headers-ipopt", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-ip-options",
			frame: in6(func() []byte {
				p := append(ext6(60, []byte{5, 2, 0, 0}), ext6(17, nil)...) // hop-by-hop (router alert), dst opts
				return v6(0, append(p, udpDgram(1000, 2000, []byte("ext"))...))
			})},
		{name: "v6-ext-headers", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte {
				p := append(ext6(60, []byte{5, 2, 0, 0}), ext6(58, nil)...)
				return v6(0, append(p, icmpMsg(128, 0, 77<<16|1, nil)...))
			})},
		{name: "v6-icmp-echo", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts:  "--log-macdecode",
			frame: in6(func() []byte { return v6(58, icmpMsg(128, 0, 0xbeef0003, []byte("abcdefgh"))) })},
		{name: "v6-fragment-first", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-ip-options",
			frame: in6(func() []byte {
				return v6(44, append(frag6(17, 0, true, 0xfeedf00d), udpDgram(1, 2, make([]byte, 16))...))
			})},
		{name: "v6-fragment-later", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte {
				return v6(44, append(frag6(6, 1232, false, 0x11), make([]byte, 24)...))
			})},
		{name: "v6-fragment-later-dstopts-ipopt", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-ip-options",
			frame: in6(func() []byte {
				return v6(44, append(frag6(60, 8, true, 0x12), make([]byte, 24)...))
			})},
		{name: "v6-unreachable-quoted", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte { return v6(58, icmpMsg(1, 4, 0, quoted6)) })},
		{name: "v6-too-big", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts:  "--log-uid",
			frame: in6(func() []byte { return v6(58, icmpMsg(2, 0, 1280, quoted6)) })},
		{name: "v6-param-problem-short", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte { return v6(58, icmpMsg(4, 1, 40, quoted6[:30])) })},
		{name: "v6-esp-ipopt", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts:  "--log-ip-options",
			frame: in6(func() []byte { return v6(50, []byte{0, 0, 1, 0, 0, 0, 0, 1, 5, 5}) })},
		{name: "v6-esp", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			frame: in6(func() []byte { return v6(50, []byte{0, 0, 1, 0, 0, 0, 0, 1, 5, 5}) })},
		{name: "v6-ah-ipopt", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-ip-options",
			frame: in6(func() []byte {
				ah := []byte{17, 4, 0, 0, 0xab, 0xcd, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
				return v6(51, append(ah, udpDgram(3, 4, nil)...))
			})},
		{name: "v6-truncated-ext", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts:  "--log-ip-options",
			frame: in6(func() []byte { return v6(60, []byte{17}) })},

		{name: "forward", fam: 4, table: "filter", chain: "FORWARD", match: fromPeer4,
			opts: "--log-macdecode --log-uid", out: "fwd",
			frame: in4(func() []byte {
				return ip4{tos: 0x08, id: 5, ttl: 9, proto: 17, src: peer4, dst: []byte{10, 78, 0, 2}}.build(udpDgram(5, 6, []byte("via")))
			}),
			seen: func(ip []byte) { ip[8]-- }},
		{name: "v6-line-limit", fam: 6, table: "raw", chain: "PREROUTING", match: fromPeer6,
			opts: "--log-ip-options", longPrefix: true,
			frame: in6(func() []byte {
				var p []byte
				for i := 0; i < 140; i++ {
					p = append(p, ext6(60, nil)...)
				}
				p[len(p)-8] = 17
				return v6(60, append(p, udpDgram(7, 8, nil)...))
			})},

		// Packets the DUT generates: no MAC, OUT set, owner known.
		{name: "local-udp-uid", fam: 4, table: "filter", chain: "OUTPUT", match: "-d 10.77.0.2/32",
			opts: "--log-uid", owner: true, out: "dut",
			local: func(l *logLab) ([]byte, []byte) {
				l.sendUDP(4, peer4, 9999, "owned")
				return nil, l.capture(l.capPeer, isUDP4To(9999))[14:]
			}},
		{name: "local-tcp-syn-uid", fam: 4, table: "filter", chain: "OUTPUT", match: "-p tcp --dport 9998",
			opts: "--log-uid --log-tcp-options --log-tcp-sequence --log-ip-options", owner: true, out: "dut",
			local: func(l *logLab) ([]byte, []byte) {
				l.tcpConnect(4, peer4, 9998)
				return nil, l.capture(l.capPeer, isTCP4To(9998))[14:]
			}},
		{name: "local-v6-udp-uid-mark", fam: 6, table: "mangle", chain: "OUTPUT", match: "-d fd77::2/128",
			pre: "-A OUTPUT -j MARK --set-xmark 0x7/0xffffffff", mark: 7,
			opts: "--log-uid", owner: true, out: "dut",
			local: func(l *logLab) ([]byte, []byte) {
				l.sendUDP(6, peer6, 9997, "owned6")
				return nil, l.capture(l.capPeer, isUDP6To(9997))[14:]
			}},
		{name: "local-v6-tcp-syn-uid", fam: 6, table: "filter", chain: "OUTPUT", match: "-p tcp --dport 9996",
			opts: "--log-uid --log-tcp-options", owner: true, out: "dut",
			local: func(l *logLab) ([]byte, []byte) {
				l.tcpConnect(6, peer6, 9996)
				return nil, l.capture(l.capPeer, func(f []byte) bool {
					return len(f) >= 58 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 6 && binary.BigEndian.Uint16(f[56:]) == 9996
				})[14:]
			}},
		{name: "local-icmp-port-unreachable", fam: 4, table: "filter", chain: "OUTPUT", match: "-p icmp",
			opts: "--log-uid --log-ip-options", out: "dut",
			local: func(l *logLab) ([]byte, []byte) {
				f := eth(dutMAC, peerMAC, 0x0800, ip4{id: 31, ttl: 64, proto: 17, src: peer4, dst: dut4}.build(udpDgram(4444, 1, []byte("closed"))))
				if err := syscall.Sendto(l.inject, f, 0, l.injectAddr()); err != nil {
					l.t.Fatalf("inject: %v", err)
				}
				return nil, l.capture(l.capPeer, func(f []byte) bool {
					return len(f) >= 34 && f[12] == 8 && f[13] == 0 && f[23] == 1 && f[34] == 3
				})[14:]
			}},
		{name: "loopback-in", fam: 4, table: "filter", chain: "INPUT", match: "-i lo -p udp --dport 9995",
			opts: "--log-uid --log-macdecode", inDev: "lo",
			local: func(l *logLab) ([]byte, []byte) {
				l.sendUDP(4, lo4, 9995, "lo")
				f := l.capture(l.capLo, func(f []byte) bool {
					return len(f) >= 38 && f[12] == 8 && f[13] == 0 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == 9995
				})
				return nil, f[14:]
			}},
		{name: "loopback-out", fam: 4, table: "filter", chain: "OUTPUT", match: "-o lo -p udp --dport 9994",
			opts: "--log-uid", owner: true, out: "lo",
			local: func(l *logLab) ([]byte, []byte) {
				l.sendUDP(4, lo4, 9994, "lo")
				f := l.capture(l.capLo, func(f []byte) bool {
					return len(f) >= 38 && f[12] == 8 && f[13] == 0 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == 9994
				})
				return nil, f[14:]
			}},
		{name: "loopback-v6-in", fam: 6, table: "filter", chain: "INPUT", match: "-i lo -p udp --dport 9993",
			inDev: "lo",
			local: func(l *logLab) ([]byte, []byte) {
				l.sendUDP(6, lo6, 9993, "lo6")
				f := l.capture(l.capLo, func(f []byte) bool {
					return len(f) >= 58 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 17 && binary.BigEndian.Uint16(f[56:]) == 9993
				})
				return nil, f[14:]
			}},
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l.t = t
			l.runCase(i, c)
		})
	}
}

func isUDP4To(port uint16) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 38 && f[12] == 8 && f[13] == 0 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == port
	}
}

func isTCP4To(port uint16) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 38 && f[12] == 8 && f[13] == 0 && f[23] == 6 && binary.BigEndian.Uint16(f[36:]) == port
	}
}

func isUDP6To(port uint16) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 58 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 17 && binary.BigEndian.Uint16(f[56:]) == port
	}
}

func (l *logLab) injectAddr() *syscall.SockaddrLinklayer {
	return &syscall.SockaddrLinklayer{Ifindex: l.peerIdx, Halen: 6}
}

type recSink struct {
	level uint8
	lines []string
}

func (s *recSink) Log(level uint8, line string)         { s.level = level; s.lines = append(s.lines, line) }
func (s *recSink) Send(*packet.Packet)                  {}
func (s *recSink) NFLog(uint16, string, *packet.Packet) {}

func (l *logLab) runCase(i int, c logCase) {
	t := l.t
	prefix := fmt.Sprintf("nfx%d-%02d ", os.Getpid()%100000, i)
	if c.longPrefix {
		prefix = prefix[:len(prefix)-1] + strings.Repeat("_", 29-len(prefix)) + " "
	}
	rule := "-A " + c.chain
	if c.match != "" {
		rule += " " + c.match
	}
	rule += fmt.Sprintf(" -j LOG --log-prefix %q", prefix)
	if c.opts != "" {
		rule += " " + c.opts
	}
	rules := "*" + c.table + "\n"
	if c.pre != "" {
		rules += c.pre + "\n"
	}
	rules += rule + "\nCOMMIT\n"

	l.dut.Flush()
	if r := l.dut.Restore(c.fam, rules); r.Code != 0 {
		t.Fatalf("iptables-restore: %s\n%s", r.Stderr, rules)
	}
	drain(l.capPeer)
	drain(l.capLo)
	k := openKmsg(t)
	var mac, data []byte
	if c.frame != nil {
		f := c.frame()
		if err := syscall.Sendto(l.inject, f, 0, l.injectAddr()); err != nil {
			t.Fatalf("inject: %v", err)
		}
		mac, data = f[:14], append([]byte(nil), f[14:]...)
		if c.seen != nil {
			c.seen(data)
		}
	} else {
		mac, data = c.local(l)
	}
	level, kernel := k.wait(t, prefix)

	// nfgo: the same rule set, the same bytes.
	fam := nf.IPv4
	if c.fam == 6 {
		fam = nf.IPv6
	}
	rs := ruleset.New(fam)
	if err := rs.Restore(strings.NewReader(rules), ruleset.RestoreOptions{}); err != nil {
		t.Fatalf("nfgo restore: %v", err)
	}
	ch := rs.Table(c.table).Chain(c.chain)
	tg, ok := ch.Rules[len(ch.Rules)-1].Target.Ext.(ext.Targeter)
	if !ok {
		t.Fatal("LOG does not evaluate")
	}
	p := &packet.Packet{Family: fam, Data: append([]byte(nil), data...), MAC: mac, Mark: c.mark}
	p.Parse() // malformed packets are logged as they are
	if c.inDev != "" {
		p.InDev = c.inDev
	} else if c.frame != nil {
		p.InDev = l.dutDev
	}
	switch c.out {
	case "dut":
		p.OutDev = l.dutDev
	case "lo":
		p.OutDev = "lo"
	case "fwd":
		p.OutDev = l.fwdDev
	}
	if c.local != nil && c.inDev == "" {
		p.Local = true
	}
	if c.owner {
		p.UID, p.GID, p.HasOwner = ownerUID, ownerGID, true
	}
	sink := &recSink{}
	env := &ext.Env{Pkt: p, Family: fam, Hook: ch.Hook, Table: c.table, Chain: c.chain, Sink: sink}
	if v := tg.Target(env); v != ext.VerdictContinue {
		t.Errorf("verdict %v, want CONTINUE", v)
	}
	if len(sink.lines) != 1 {
		t.Fatalf("nfgo logged %d lines", len(sink.lines))
	}
	if sink.lines[0] != kernel || sink.level != level {
		t.Errorf("LOG line differs\nkernel (level %d): %q\nnfgo   (level %d): %q", level, kernel, sink.level, sink.lines[0])
	}
	if testing.Verbose() {
		t.Logf("%d bytes: %q", len(kernel), kernel)
	}
}

// sysSetns is setns(2) on amd64 and arm64; the syscall package lacks it.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268}[runtime.GOARCH]
