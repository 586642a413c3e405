//go:build linux

package ext

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// The kernel comparison for REJECT: a namespace "dut" runs the real
// REJECT on INPUT; from a namespace "peer" joined to it by a veth pair we
// send a packet through an AF_PACKET socket and capture what comes back.
// nfgo's REJECT gets the same datagram and must produce the same bytes,
// but for the IPv4 ID of ICMP errors (the kernel's is a keyed hash) and the
// IPv6 flow label of ICMPv6 errors (a keyed hash of the flow too), which
// are masked.

var (
	dutMAC  = [6]byte{0x02, 0, 0, 0, 0x77, 0x01}
	peerMAC = [6]byte{0x02, 0, 0, 0, 0x77, 0x02}
)

const (
	dut4, peer4 = "10.77.0.1", "10.77.0.2"
	dut6, peer6 = "fd77::1", "fd77::2"
)

type rig struct {
	t         *testing.T
	dut, peer string
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newRig(t *testing.T) *rig {
	kerneltest.Require(t)
	if _, err := exec.LookPath("sysctl"); err != nil {
		t.Skip("needs sysctl")
	}
	if setnsCall() == 0 {
		t.Skip("setns number unknown on " + runtime.GOARCH)
	}
	r := &rig{t: t, dut: fmt.Sprintf("nfx-tgt-%d-dut", os.Getpid()), peer: fmt.Sprintf("nfx-tgt-%d-peer", os.Getpid())}
	for _, ns := range []string{r.dut, r.peer} {
		exec.Command("ip", "netns", "del", ns).Run()
		sh(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	d := func(a ...string) { sh(t, append([]string{"ip", "netns", "exec", r.dut}, a...)...) }
	p := func(a ...string) { sh(t, append([]string{"ip", "netns", "exec", r.peer}, a...)...) }
	sh(t, "ip", "link", "add", "vd", "netns", r.dut, "address", net.HardwareAddr(dutMAC[:]).String(),
		"type", "veth", "peer", "name", "vp", "netns", r.peer, "address", net.HardwareAddr(peerMAC[:]).String())
	for _, x := range []func(...string){d, p} {
		x("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	d("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
	d("ip", "addr", "add", dut4+"/24", "dev", "vd")
	d("ip", "addr", "add", dut6+"/64", "dev", "vd", "nodad")
	p("ip", "addr", "add", peer4+"/24", "dev", "vp")
	p("ip", "addr", "add", peer6+"/64", "dev", "vp", "nodad")
	d("ip", "link", "set", "vd", "up")
	p("ip", "link", "set", "vp", "up")
	d("ip", "link", "set", "lo", "up")
	d("ip", "neigh", "replace", peer4, "lladdr", net.HardwareAddr(peerMAC[:]).String(), "dev", "vd", "nud", "permanent")
	d("ip", "neigh", "replace", peer6, "lladdr", net.HardwareAddr(peerMAC[:]).String(), "dev", "vd", "nud", "permanent")
	// The peer must not answer what it receives (RSTs to our SYN-ACKs...)
	// nor send its own: drop everything it would output.
	p("iptables", "-P", "OUTPUT", "DROP")
	p("ip6tables", "-P", "OUTPUT", "DROP")
	return r
}

func setnsCall() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 308
	case "arm64", "riscv64", "loong64":
		return 268
	case "386":
		return 346
	}
	return 0
}

// rawSocket opens an AF_PACKET socket on dev inside namespace ns.
func rawSocket(t *testing.T, ns, dev string) (int, int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, _, e := syscall.RawSyscall(setnsCall(), target.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		t.Fatalf("setns: %v", e)
	}
	defer func() {
		if _, _, e := syscall.RawSyscall(setnsCall(), self.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			panic("cannot return to the test's network namespace: " + e.Error())
		}
	}()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		t.Fatal(err)
	}
	tv := syscall.NsecToTimeval(int64(20 * time.Millisecond))
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	return fd, ifi.Index
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// exchange sends the datagram d from the peer and returns the IP
// datagrams the dut sends back within a short time.
func (r *rig) exchange(fd, ifindex int, fam nf.Family, d []byte) [][]byte {
	peer := peer4
	if fam == nf.IPv6 {
		peer = peer6
	}
	return r.exchangeTo(fd, ifindex, fd, fam, d, peer)
}

// exchangeTo sends d from the peer's socket fd and returns the datagrams
// to dst that socket recvFd sees.
func (r *rig) exchangeTo(fd, ifindex, recvFd int, fam nf.Family, d []byte, dst string) [][]byte {
	r.t.Helper()
	et := uint16(0x0800)
	if fam == nf.IPv6 {
		et = 0x86dd
	}
	// Drain what is queued (neighbour traffic and the like).
	buf := make([]byte, 65536)
	for _, f := range []int{fd, recvFd} {
		for {
			if n, _, err := syscall.Recvfrom(f, buf, syscall.MSG_DONTWAIT); err != nil || n < 0 {
				break
			}
		}
	}
	frame := append(append(append(append([]byte{}, dutMAC[:]...), peerMAC[:]...), byte(et>>8), byte(et)), d...)
	to := &syscall.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Protocol: htons(et)}
	copy(to.Addr[:], dutMAC[:])
	if err := syscall.Sendto(fd, frame, 0, to); err != nil {
		r.t.Fatalf("sendto: %v", err)
	}
	var got [][]byte
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, from, err := syscall.Recvfrom(recvFd, buf, 0)
		if err != nil || n < 14 {
			continue
		}
		if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue
		}
		if binary.BigEndian.Uint16(buf[12:]) != et {
			continue
		}
		ip := append([]byte(nil), buf[14:n]...)
		q := &packet.Packet{Family: fam, Data: ip}
		if q.Parse() != nil {
			continue
		}
		// Only the answers: to the peer, ICMP error or TCP.
		if q.Dst() != netip.MustParseAddr(dst) {
			continue
		}
		if fam == nf.IPv6 && q.Proto == packet.ProtoICMPv6 && q.L4Off >= 0 && (ip[q.L4Off] >= 130 && ip[q.L4Off] <= 137 || ip[q.L4Off] == 143) {
			continue // neighbour discovery, MLD
		}
		got = append(got, ip)
		if len(got) > 0 {
			// One reply is all REJECT sends; wait briefly for a second
			// one that would be a bug.
			deadline = time.Now().Add(30 * time.Millisecond)
		}
	}
	return got
}

// dutHost is the dut as nfgo sees it.
type dutHost struct{}

func (dutHost) AddrType(a netip.Addr, dev string) uint8 {
	switch a.String() {
	case dut4, dut6:
		return 2
	case "10.77.0.255":
		return 3
	}
	if a.IsMulticast() {
		return 5
	}
	return 1
}
func (dutHost) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	if fam == nf.IPv6 {
		return netip.MustParseAddr(dut6), true
	}
	return netip.MustParseAddr(dut4), true
}
func (dutHost) RouteOut(nf.Family, netip.Addr, netip.Addr, uint32, string) (string, bool) {
	return "vd", true
}

// maskReply hides what the kernel randomises: the IPv4 ID of an ICMP
// error (and so the header checksum, recomputed), the IPv6 flow label.
func maskReply(fam nf.Family, d []byte) []byte {
	d = append([]byte(nil), d...)
	if fam == nf.IPv4 && len(d) >= 20 && d[9] == packet.ProtoICMP {
		d[4], d[5] = 0, 0
		packet.IPv4(d).UpdateChecksum()
	}
	if fam == nf.IPv6 && len(d) >= 40 {
		d[1] &= 0xf0
		d[2], d[3] = 0, 0
	}
	return d
}

type rejectCase struct {
	name string
	d    []byte
}

func rejectInputs(fam nf.Family) []rejectCase {
	mss := []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7} // MSS, SACK-perm, NOP, wscale
	mss = append(mss, 0, 0)                           // pad to 12
	if fam == nf.IPv6 {
		return []rejectCase{
			{"udp", build6(peer6, dut6, 17, udpSeg(40001, 9, []byte("hello kernel")))},
			{"udp big", build6(peer6, dut6, 17, udpSeg(40002, 9, bytes.Repeat([]byte{0xa5}, 1400)))},
			{"udp no checksum", zeroUDPCsum(fam, build6(peer6, dut6, 17, udpSeg(40003, 9, []byte("x"))))},
			{"tcp syn", build6(peer6, dut6, 6, tcpSeg(40004, 80, 0x11223344, 0, packet.TCPSyn, mss, nil))},
			{"tcp ack data", build6(peer6, dut6, 6, tcpSeg(40005, 80, 1000, 0xdeadbeef, packet.TCPAck|packet.TCPPsh, nil, []byte("GET /")))},
			{"tcp fin", build6(peer6, dut6, 6, tcpSeg(40006, 80, 0xffffffff, 0, packet.TCPFin, nil, []byte("ab")))},
			{"tcp rst", build6(peer6, dut6, 6, tcpSeg(40007, 80, 5, 0, packet.TCPRst, nil, nil))},
			{"echo", build6(peer6, dut6, 58, icmpMsg(128, 0, 0x12340001, []byte("ping6")))},
			{"udp bad checksum", badCsum(fam, build6(peer6, dut6, 17, udpSeg(40008, 9, []byte("y"))))},
			{"tcp bad checksum", badCsum(fam, build6(peer6, dut6, 6, tcpSeg(40009, 80, 1, 0, packet.TCPSyn, nil, nil)))},
			{"proto 253", build6(peer6, dut6, 253, []byte{1, 2, 3, 4})},
			{"icmp error", build6(peer6, dut6, 58, icmpMsg(1, 4, 0, build6(dut6, peer6, 17, udpSeg(9, 40001, nil))))},
		}
	}
	tos := ip4Opt{ttl: 64, tos: 0x2d, src: peer4, dst: dut4}
	o := func(proto uint8) ip4Opt { x := tos; x.proto = proto; return x }
	frag := o(17)
	frag.frag = 0x2000 | 10
	return []rejectCase{
		{"udp", build4(o(17), udpSeg(40001, 9, []byte("hello kernel")))},
		{"udp big", build4(o(17), udpSeg(40002, 9, bytes.Repeat([]byte{0x5a}, 1000)))},
		{"udp no checksum", zeroUDPCsum(fam, build4(o(17), udpSeg(40003, 9, []byte("x"))))},
		{"tcp syn", build4(o(6), tcpSeg(40004, 80, 0x11223344, 0, packet.TCPSyn, mss, nil))},
		{"tcp ack data", build4(o(6), tcpSeg(40005, 80, 1000, 0xdeadbeef, packet.TCPAck|packet.TCPPsh, nil, []byte("GET /")))},
		{"tcp fin", build4(o(6), tcpSeg(40006, 80, 0xffffffff, 0, packet.TCPFin, nil, []byte("ab")))},
		{"tcp rst", build4(o(6), tcpSeg(40007, 80, 5, 0, packet.TCPRst, nil, nil))},
		{"echo", build4(o(1), icmpMsg(8, 0, 0x12340001, []byte("ping")))},
		{"timestamp", build4(o(1), icmpMsg(13, 0, 0x12340001, make([]byte, 12)))},
		{"icmp error", build4(o(1), icmpMsg(3, 3, 0, build4(ip4Opt{ttl: 64, proto: 17, src: dut4, dst: peer4}, udpSeg(9, 40001, nil))))},
		{"icmp unknown type", build4(o(1), icmpMsg(42, 0, 0, nil))},
		{"proto 253", build4(o(253), []byte{0xff, 0xff, 0, 0})},
		{"proto 253 bad sum", build4(o(253), []byte{0x12, 0x34, 0, 0})},
		{"udp bad checksum", badCsum(fam, build4(o(17), udpSeg(40008, 9, []byte("y"))))},
		{"tcp bad checksum", badCsum(fam, build4(o(6), tcpSeg(40009, 80, 1, 0, packet.TCPSyn, nil, nil)))},
		{"fragment", build4(frag, make([]byte, 24))},
	}
}

// badCsum spoils the transport checksum (the last payload byte).
func badCsum(fam nf.Family, d []byte) []byte {
	d[len(d)-1] ^= 0x10
	return d
}

func zeroUDPCsum(fam nf.Family, d []byte) []byte {
	off := 20
	if fam == nf.IPv6 {
		off = 40
	}
	d[off+6], d[off+7] = 0, 0
	return d
}

func TestRejectKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel comparison skipped in -short mode")
	}
	r := newRig(t)
	fd, idx := rawSocket(t, r.peer, "vp")
	defer syscall.Close(fd)
	compared := 0
	defer func() { t.Logf("%d replies compared", compared) }()
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		types, famN, tool := rejectTypes4, 4, "iptables-restore"
		if fam == nf.IPv6 {
			types, famN, tool = rejectTypes6, 6, "ip6tables-restore"
		}
		_ = famN
		for _, rt := range types {
			rule := "-A INPUT -j REJECT --reject-with " + rt.Name
			rst := rt.With == rejectTCPReset4 && fam == nf.IPv4 || rt.With == rejectTCPReset6 && fam == nf.IPv6
			if rst {
				rule = "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"
			}
			cmd := exec.Command("ip", "netns", "exec", r.dut, tool)
			cmd.Stdin = strings.NewReader("*filter\n:INPUT ACCEPT [0:0]\n" + rule + "\nCOMMIT\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", rule, err, out)
			}
			for _, c := range rejectInputs(fam) {
				if rst && !strings.HasPrefix(c.name, "tcp") {
					continue // the rule does not match it
				}
				name := fmt.Sprintf("%v/%s/%s", fam, rt.Name, c.name)
				kern := r.exchange(fd, idx, fam, c.d)
				for i := range kern {
					kern[i] = completeCsum(t, fam, kern[i])
				}
				p := &packet.Packet{Family: fam, Data: append([]byte(nil), c.d...), InDev: "vd"}
				if err := p.Parse(); err != nil {
					t.Fatal(err)
				}
				s := &testSink{}
				e := &Env{Pkt: p, Family: fam, Hook: nf.LocalIn, Table: "filter", Chain: "INPUT", Host: dutHost{}, Sink: s}
				(&rejectTarget{Family: fam, With: rt.With}).Target(e)
				if len(kern) > 1 {
					t.Errorf("%s: kernel sent %d replies", name, len(kern))
					continue
				}
				if len(kern) != len(s.sent) {
					t.Errorf("%s: kernel sent %d replies, nfgo %d", name, len(kern), len(s.sent))
					for _, k := range kern {
						t.Logf("kernel: %s", short(k))
					}
					continue
				}
				if len(kern) == 0 {
					t.Logf("%s: no reply from either", name)
					continue
				}
				compared++
				k, n := maskReply(fam, kern[0]), maskReply(fam, s.sent[0].Data)
				if !bytes.Equal(k, n) {
					t.Errorf("%s: replies differ\nkernel %s\nnfgo   %s", name, short(k), short(n))
				}
			}
		}
	}
}

func short(b []byte) string {
	if len(b) > 96 {
		return hex.EncodeToString(b[:96]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return hex.EncodeToString(b)
}

// completeCsum finishes a TCP checksum the kernel left partial: a veth
// hands CHECKSUM_PARTIAL packets over with only the pseudo-header sum in
// the checksum field, for the (virtual) NIC to complete. A real NIC sends
// the completed sum, so that is what nfgo's reply is compared with. Only a
// field holding exactly the pseudo-header sum is completed.
func completeCsum(t *testing.T, fam nf.Family, d []byte) []byte {
	q := &packet.Packet{Family: fam, Data: d}
	if q.Parse() != nil || q.Proto != packet.ProtoTCP || q.L4Off < 0 {
		return d
	}
	seg := packet.TCP(d[q.L4Off:])
	if naiveSum(pseudo(q.Src(), q.Dst(), 6, len(seg)), seg) == 0xffff {
		return d
	}
	if seg.Checksum() != naiveSum(pseudo(q.Src(), q.Dst(), 6, len(seg))) {
		t.Errorf("kernel TCP reply with a wrong checksum: %s", short(d))
		return d
	}
	seg.SetChecksum(^naiveSum(seg))
	return d
}
