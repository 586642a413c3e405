//go:build linux

package ext

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// The forwarding comparison: the dut routes between the peer (vd) and a
// third namespace "far" (vd2, MTU 1400). Packets from the peer to far go
// through the dut's mangle FORWARD chain (or filter FORWARD for REJECT);
// what arrives at far, or comes back to the peer, is compared with nfgo's
// target applied to the same datagram after the forwarding hop-limit
// decrement.

var farMAC = [6]byte{0x02, 0, 0, 0, 0x78, 0x02}

const (
	far4, far6 = "10.78.0.2", "fd78::2"
	dutFar4    = "10.78.0.1"
	dutFar6    = "fd78::1"
	farMTU     = 1400
)

func newFwdRig(t *testing.T) (*rig, string) {
	r := newRig(t)
	far := fmt.Sprintf("nfx-tgt-%d-far", os.Getpid())
	exec.Command("ip", "netns", "del", far).Run()
	sh(t, "ip", "netns", "add", far)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", far).Run() })
	d := func(a ...string) { sh(t, append([]string{"ip", "netns", "exec", r.dut}, a...)...) }
	f := func(a ...string) { sh(t, append([]string{"ip", "netns", "exec", far}, a...)...) }
	sh(t, "ip", "link", "add", "vd2", "netns", r.dut, "mtu", fmt.Sprint(farMTU), "type", "veth", "peer", "name", "vfar",
		"netns", far, "address", net.HardwareAddr(farMAC[:]).String(), "mtu", fmt.Sprint(farMTU))
	f("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	d("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	d("ip", "addr", "add", dutFar4+"/24", "dev", "vd2")
	d("ip", "addr", "add", dutFar6+"/64", "dev", "vd2", "nodad")
	f("ip", "addr", "add", far4+"/24", "dev", "vfar")
	f("ip", "addr", "add", far6+"/64", "dev", "vfar", "nodad")
	d("ip", "link", "set", "vd2", "up")
	f("ip", "link", "set", "vfar", "up")
	d("ip", "neigh", "replace", far4, "lladdr", net.HardwareAddr(farMAC[:]).String(), "dev", "vd2", "nud", "permanent")
	d("ip", "neigh", "replace", far6, "lladdr", net.HardwareAddr(farMAC[:]).String(), "dev", "vd2", "nud", "permanent")
	f("iptables", "-P", "OUTPUT", "DROP")
	f("ip6tables", "-P", "OUTPUT", "DROP")
	return r, far
}

// fwdHost is the forwarding dut as nfgo sees it.
type fwdHost struct{ dutHost }

func (fwdHost) AddrType(a netip.Addr, dev string) uint8 {
	switch a.String() {
	case dut4, dut6, dutFar4, dutFar6:
		return 2
	}
	return dutHost{}.AddrType(a, dev)
}
func (fwdHost) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	m := map[string]string{"vd/4": dut4, "vd/6": dut6, "vd2/4": dutFar4, "vd2/6": dutFar6}
	k := dev + "/4"
	if fam == nf.IPv6 {
		k = dev + "/6"
	}
	a, ok := m[k]
	if !ok {
		return netip.Addr{}, false
	}
	return netip.MustParseAddr(a), true
}
func (fwdHost) RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, in string) (string, bool) {
	if strings.HasPrefix(dst.String(), "10.78.") || strings.HasPrefix(dst.String(), "fd78:") {
		return "vd2", true
	}
	return "vd", true
}
func (h fwdHost) RouteMTU(fam nf.Family, dst netip.Addr) int {
	if dev, _ := h.RouteOut(fam, netip.Addr{}, dst, 0, ""); dev == "vd2" {
		return farMTU
	}
	return 1500
}

// forwardHop is what ip_forward/ip6_forward do before the FORWARD hook:
// the TTL decrement, with ip_decrease_ttl's checksum arithmetic as it runs
// on a little-endian machine.
func forwardHop(fam nf.Family, d []byte) {
	if fam == nf.IPv6 {
		d[7]--
		return
	}
	check := uint32(binary.LittleEndian.Uint16(d[10:]))
	check += 0x0001 // htons(0x0100) on little-endian
	if check >= 0xffff {
		check++
	}
	binary.LittleEndian.PutUint16(d[10:], uint16(check))
	d[8]--
}

type fwdCase struct {
	rule string // for the mangle (or filter) FORWARD chain
	tg   Targeter
	in   string // input name in fwdInputs
}

func fwdInputs(fam nf.Family) map[string][]byte {
	if fam == nf.IPv6 {
		return map[string][]byte{
			"udp":       build6(peer6, far6, 17, udpSeg(40001, 9, []byte("forward me"))),
			"syn mss":   build6(peer6, far6, 6, tcpSeg(40002, 80, 7, 0, packet.TCPSyn, []byte{2, 4, 0x05, 0xa0, 1, 1, 4, 2}, nil)),
			"syn nomss": build6(peer6, far6, 6, tcpSeg(40003, 80, 7, 0, packet.TCPSyn, []byte{1, 1, 4, 2}, nil)),
			"echo":      build6(peer6, far6, 58, icmpMsg(128, 0, 0x00010001, []byte("ping6"))),
		}
	}
	o := func(proto, tos uint8) ip4Opt { return ip4Opt{ttl: 64, tos: tos, proto: proto, src: peer4, dst: far4} }
	return map[string][]byte{
		"udp":       build4(o(17, 0x13), udpSeg(40001, 9, []byte("forward me"))),
		"syn mss":   build4(o(6, 0x02), tcpSeg(40002, 80, 7, 0, packet.TCPSyn|packet.TCPEce|packet.TCPCwr, []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}, nil)),
		"syn nomss": build4(o(6, 0), tcpSeg(40003, 80, 7, 0, packet.TCPSyn, []byte{1, 1, 4, 2}, nil)),
		"echo":      build4(o(1, 0xb8), icmpMsg(8, 0, 0x00010001, []byte("ping"))),
		// A header checksum of 0xfeff: ip_decrease_ttl turns it into
		// 0x0000 where RFC 1624 arithmetic gives 0xffff.
		"udp csum feff": withIPChecksum(build4(o(17, 0), udpSeg(40004, 9, []byte("edge"))), 0xfeff),
	}
}

func TestForwardTargetsKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel comparison skipped in -short mode")
	}
	r, far := newFwdRig(t)
	fd, idx := rawSocket(t, r.peer, "vp")
	defer syscall.Close(fd)
	ffd, _ := rawSocket(t, far, "vfar")
	defer syscall.Close(ffd)

	common := []fwdCase{
		{"-j TOS --set-tos 0x10/0x3f", &tosTarget{Value: 0x10, Mask: 0x3f}, "udp"},
		{"-j TOS --set-tos 0xff/0xff", &tosTarget{Value: 0xff, Mask: 0xff}, "echo"},
		{"-j TOS --xor-tos 0x5", &tosTarget{Value: 5}, "udp"},
		{"-j DSCP --set-dscp 0x2e", &dscpTarget{DSCP: 0x2e}, "udp"},
		{"-j DSCP --set-dscp-class cs1", &dscpTarget{DSCP: 0x08}, "echo"},
		{"-p tcp -j TCPMSS --set-mss 1000", &tcpmssTarget{MSS: 1000}, "syn mss"},
		{"-p tcp -j TCPMSS --set-mss 9000", &tcpmssTarget{MSS: 9000}, "syn mss"},
		{"-p tcp -j TCPMSS --set-mss 1000", &tcpmssTarget{MSS: 1000}, "syn nomss"},
		{"-p tcp -j TCPMSS --set-mss 300", &tcpmssTarget{MSS: 300}, "syn nomss"},
		{"-p tcp -j TCPMSS --clamp-mss-to-pmtu", &tcpmssTarget{MSS: t2TCPMSSClamp}, "syn mss"},
		{"-p tcp -j TCPMSS --clamp-mss-to-pmtu", &tcpmssTarget{MSS: t2TCPMSSClamp}, "syn nomss"},
		{"-j MARK --set-mark 0x5", &markTarget{Mark: 5, Mask: 0xffffffff}, "udp"},
	}
	v4 := []fwdCase{
		{"-j MARK --set-mark 0x5", &markTarget{Mark: 5, Mask: 0xffffffff}, "udp csum feff"},
		{"-j TTL --ttl-set 7", &ttlTarget{Mode: TTLSet, Value: 7}, "udp"},
		{"-j TTL --ttl-dec 10", &ttlTarget{Mode: TTLDec, Value: 10}, "echo"},
		{"-j TTL --ttl-inc 200", &ttlTarget{Mode: TTLInc, Value: 200}, "udp"},
		{"-j ECN --ecn-ip-ect 1", &ecnTarget{Operation: ECNOpSetIP, IPECT: 1}, "udp"},
		{"-p tcp -j ECN --ecn-tcp-remove", &ecnTarget{Operation: ECNOpSetECE | ECNOpSetCWR}, "syn mss"},
		{"filter: -j REJECT", &rejectTarget{Family: nf.IPv4, With: 3}, "udp"},
		{"filter: -j REJECT --reject-with icmp-admin-prohibited", &rejectTarget{Family: nf.IPv4, With: 8}, "echo"},
		{"filter: -p tcp -j REJECT --reject-with tcp-reset", &rejectTarget{Family: nf.IPv4, With: rejectTCPReset4}, "syn mss"},
	}
	v6 := []fwdCase{
		{"-j HL --hl-set 7", &ttlTarget{Mode: TTLSet, Value: 7, hl: true}, "udp"},
		{"-j HL --hl-dec 100", &ttlTarget{Mode: TTLDec, Value: 100, hl: true}, "echo"},
		{"filter: -j REJECT", &rejectTarget{Family: nf.IPv6, With: 4}, "udp"},
		{"filter: -j REJECT --reject-with icmp6-adm-prohibited", &rejectTarget{Family: nf.IPv6, With: 1}, "echo"},
		{"filter: -p tcp -j REJECT --reject-with tcp-reset", &rejectTarget{Family: nf.IPv6, With: rejectTCPReset6}, "syn nomss"},
	}
	compared := 0
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		cases, tool, farA, peerA := append(common, v4...), "iptables-restore", far4, peer4
		if fam == nf.IPv6 {
			cases, tool, farA, peerA = append(common, v6...), "ip6tables-restore", far6, peer6
		}
		inputs := fwdInputs(fam)
		for _, c := range cases {
			name := fmt.Sprintf("%v %s on %s", fam, c.rule, c.in)
			table, rule := "mangle", c.rule
			if strings.HasPrefix(rule, "filter: ") {
				table, rule = "filter", strings.TrimPrefix(rule, "filter: ")
			}
			if tm, ok := c.tg.(*tcpmssTarget); ok {
				tm.Family = fam
			}
			cmd := exec.Command("ip", "netns", "exec", r.dut, tool)
			cmd.Stdin = strings.NewReader("*mangle\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*" +
				table + "\n:FORWARD ACCEPT [0:0]\n-A FORWARD " + rule + "\nCOMMIT\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", name, err, out)
			}
			in := inputs[c.in]
			_, isReject := c.tg.(*rejectTarget)
			var kern [][]byte
			if isReject {
				kern = r.exchangeTo(fd, idx, fd, fam, in, peerA)
			} else {
				kern = r.exchangeTo(fd, idx, ffd, fam, in, farA)
			}
			for i := range kern {
				kern[i] = completeCsum(t, fam, kern[i])
			}

			d := append(make([]byte, 0, len(in)+64), in...)
			forwardHop(fam, d)
			p := &packet.Packet{Family: fam, Data: d, InDev: "vd", OutDev: "vd2"}
			if err := p.Parse(); err != nil {
				t.Fatal(err)
			}
			s := &testSink{}
			e := &Env{Pkt: p, Family: fam, Hook: nf.Forward, Table: table, Chain: "FORWARD", Host: fwdHost{}, Sink: s}
			v := c.tg.Target(e)
			var want [][]byte
			switch {
			case isReject:
				for _, q := range s.sent {
					want = append(want, q.Data)
				}
			case v == VerdictContinue:
				want = [][]byte{p.Data}
			}
			if len(kern) != len(want) {
				t.Errorf("%s: kernel %d packets, nfgo %d", name, len(kern), len(want))
				for _, k := range kern {
					t.Logf("kernel: %s", short(k))
				}
				continue
			}
			for i := range kern {
				k, n := maskReply(fam, kern[i]), maskReply(fam, want[i])
				if !isReject {
					k, n = kern[i], want[i]
				}
				if !bytes.Equal(k, n) {
					t.Errorf("%s: packets differ\nkernel %s\nnfgo   %s", name, short(k), short(n))
				}
				compared++
			}
		}
	}
	t.Logf("%d packets compared", compared)
}

// withIPChecksum picks the IPv4 ID that gives the header checksum c.
func withIPChecksum(d []byte, c uint16) []byte {
	for id := 0; id < 0x10000; id++ {
		binary.BigEndian.PutUint16(d[4:], uint16(id))
		packet.IPv4(d).UpdateChecksum()
		if packet.IPv4(d).Checksum() == c {
			return d
		}
	}
	panic("no ID gives that checksum")
}
