package ext_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var (
	macA  = [6]byte{2, 0, 0, 0, 0, 0x0a} // sender, va in namespace A
	macB  = [6]byte{2, 0, 0, 0, 0, 0x0b} // receiver, vb in namespace B
	macBc = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

type kpkt struct {
	name string
	pk
}

// Rules loaded into mangle PREROUTING of the receiving namespace; the
// first counts every packet so a lost one is noticed.
var kernelRules4 = []string{
	"-A PREROUTING",
	"-A PREROUTING -p icmp -m icmp --icmp-type 8",
	"-A PREROUTING -p icmp -m icmp --icmp-type any",
	"-A PREROUTING -p icmp -m icmp --icmp-type 3/1",
	"-A PREROUTING -p icmp -m icmp ! --icmp-type 0",
	"-A PREROUTING -f",
	"-A PREROUTING ! -f",
	"-A PREROUTING ! -p tcp",
	"-A PREROUTING -p tcp -m multiport --dports 22,80:90",
	"-A PREROUTING -p tcp -m multiport --sports 1000:2000",
	"-A PREROUTING -p tcp -m multiport ! --ports 443",
	"-A PREROUTING -p udp -m multiport --ports 53",
	"-A PREROUTING -m iprange --src-range 10.9.0.1-10.9.0.1",
	"-A PREROUTING -m iprange ! --dst-range 10.9.0.0-10.9.0.2",
	"-A PREROUTING -m length --length 40:60",
	"-A PREROUTING -m length ! --length 100:",
	"-A PREROUTING -m tos --tos 0x10/0x3f",
	"-A PREROUTING -m tos --tos Minimize-Cost",
	"-A PREROUTING -m dscp --dscp 0x2e",
	"-A PREROUTING -m dscp ! --dscp 0",
	"-A PREROUTING -m ecn --ecn-ip-ect 1",
	"-A PREROUTING -p tcp -m ecn --ecn-tcp-ece",
	"-A PREROUTING -p tcp -m ecn ! --ecn-tcp-cwr",
	"-A PREROUTING -m mac --mac-source 02:00:00:00:00:0a",
	"-A PREROUTING -m mac ! --mac-source 02:00:00:00:00:0a",
	"-A PREROUTING -m mark --mark 0",
	"-A PREROUTING -m mark --mark 0x1/0x1",
	"-A PREROUTING -m comment --comment x",
	"-A PREROUTING -m addrtype --dst-type LOCAL",
	"-A PREROUTING -m addrtype --dst-type BROADCAST,MULTICAST",
	"-A PREROUTING -m addrtype --src-type UNICAST --limit-iface-in",
	"-A PREROUTING -m addrtype ! --src-type UNICAST",
	"-A PREROUTING -m pkttype --pkt-type unicast",
	"-A PREROUTING -m pkttype --pkt-type broadcast",
	"-A PREROUTING -m pkttype ! --pkt-type multicast",
	"-A PREROUTING -m rpfilter",
	"-A PREROUTING -m rpfilter --loose --invert",
	"-A PREROUTING -m policy --dir in --pol none",
	"-A PREROUTING -m policy --dir in --pol ipsec",
	"-A PREROUTING -p sctp -m sctp --dport 80 --chunk-types any INIT",
	"-A PREROUTING -p sctp -m sctp --chunk-types only DATA",
	"-A PREROUTING -p sctp -m sctp --chunk-types all INIT,DATA",
	"-A PREROUTING -p dccp -m dccp --dccp-types REQUEST",
	"-A PREROUTING -p dccp -m dccp --dccp-option 32",
	"-A PREROUTING -p ah -m ah --ahspi 100",
	"-A PREROUTING -p esp -m esp --espspi 200:300",
	"-A PREROUTING -p tcp -m tcpmss ! --mss 536",
	"-A PREROUTING -p tcp -m tcpmss --mss 1000:1460",
	"-A PREROUTING -p tcp -m tcp --dport 80",
}

var kernelRules6 = []string{
	"-A PREROUTING",
	"-A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type 128",
	"-A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type echo-reply",
	"-A PREROUTING -p ipv6-icmp -m icmp6 ! --icmpv6-type 1/3",
	"-A PREROUTING ! -p tcp",
	"-A PREROUTING -p udp",
	"-A PREROUTING -p tcp -m multiport --dports 80",
	"-A PREROUTING -m ipv6header --header prot",
	"-A PREROUTING -m ipv6header --header hop-by-hop,prot",
	"-A PREROUTING -m ipv6header --header frag --soft",
	"-A PREROUTING -m ipv6header ! --header frag,dst --soft",
	"-A PREROUTING -m ipv6header --header route,none",
	"-A PREROUTING -m frag --fragid 5 --fragfirst",
	"-A PREROUTING -m frag --fraglast",
	"-A PREROUTING -m frag --fragmore",
	"-A PREROUTING -m frag ! --fragid 1:4",
	"-A PREROUTING -m rt --rt-type 0 --rt-segsleft 1",
	"-A PREROUTING -m rt --rt-type 0 --rt-0-addrs fd00::5",
	"-A PREROUTING -m rt ! --rt-segsleft 1",
	"-A PREROUTING -m hbh --hbh-len 8",
	"-A PREROUTING -m hbh --hbh-opts 1:4",
	"-A PREROUTING -m hbh --hbh-opts 1:2",
	"-A PREROUTING -m dst --dst-len 8",
	"-A PREROUTING -m dst ! --dst-len 16",
	"-A PREROUTING -m length --length 48:56",
	"-A PREROUTING -m eui64",
	"-A PREROUTING -m ah --ahspi 300",
	"-A PREROUTING -m ah ! --ahlen 16",
	"-A PREROUTING -m tos --tos 0x20/0xe0",
	"-A PREROUTING -m dscp --dscp 8",
	"-A PREROUTING -m ecn --ecn-ip-ect 2",
	"-A PREROUTING -m rpfilter",
	"-A PREROUTING -m pkttype --pkt-type unicast",
	"-A PREROUTING -m addrtype --dst-type LOCAL",
	"-A PREROUTING -m addrtype --src-type UNICAST",
	"-A PREROUTING -m policy --dir in --pol none",
	"-A PREROUTING -m mac --mac-source 02:00:00:00:00:0a",
	"-A PREROUTING -p tcp -m tcpmss --mss 1460",
	"-A PREROUTING -p mobility-header -m mh --mh-type 5",
	"-A PREROUTING -p tcp -m tcp --dport 80",
}

func v4(name string, k pk) kpkt {
	if k.src == "" {
		k.src = "10.9.0.1"
	}
	if k.dst == "" {
		k.dst = "10.9.0.2"
	}
	if k.dstMAC == ([6]byte{}) {
		k.dstMAC = macB
	}
	k.srcMAC = macA
	return kpkt{name, k}
}

func v6(name string, k pk) kpkt {
	k.v6 = true
	if k.src == "" {
		k.src = "fd00::1"
	}
	if k.dst == "" {
		k.dst = "fd00::2"
	}
	if k.dstMAC == ([6]byte{}) {
		k.dstMAC = macB
	}
	k.srcMAC = macA
	return kpkt{name, k}
}

func sctpInit(sport, dport uint16, chunks ...[]byte) []byte {
	b := make([]byte, 12)
	b[0], b[1], b[2], b[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b
}

func sctpChunk(typ, flags uint8, body int) []byte {
	n := 4 + body
	c := make([]byte, (n+3)&^3)
	c[0], c[1], c[2], c[3] = typ, flags, byte(n>>8), byte(n)
	return c
}

var kernelPackets4 = []kpkt{
	v4("echo request tos 0x10", pk{proto: 1, tos: 0x10, l4: hdrIcmpMsg(8, 0)}),
	v4("unreach 3/1 dscp 46 ect 1", pk{proto: 1, tos: 0xb9, l4: hdrIcmpMsg(3, 1)}),
	v4("icmp later fragment", pk{proto: 1, frag: 0x0001, l4: hdrIcmpMsg(0, 0)}),
	v4("echo first fragment", pk{proto: 1, frag: 0x2000, l4: hdrIcmpMsg(8, 0)}),
	v4("tcp syn ece cwr mss 1460", pk{proto: 6, l4: hdrTcpSeg(1500, 22, 0xc2, 2, 4, 0x05, 0xb4)}),
	v4("tcp 443->85 ect0 tos 0x02", pk{proto: 6, tos: 0x02, l4: hdrTcpSeg(443, 85, 0x10)}),
	v4("tcp mss 536 nop first", pk{proto: 6, l4: hdrTcpSeg(2001, 91, 0x02, 1, 1, 2, 4, 0x02, 0x18)}),
	v4("tcp options truncated", pk{proto: 6, l4: hdrTcpSeg(999, 80, 0x02)[:20]}),
	v4("tcp header of 10 bytes", pk{proto: 6, l4: hdrTcpSeg(80, 80, 0x02)[:10]}),
	v4("udp 53 broadcast", pk{proto: 17, dst: "10.9.0.255", dstMAC: macBc, l4: hdrUdpDgram(53, 5353, 92)}),
	v4("udp multicast", pk{proto: 17, dst: "224.0.0.251", dstMAC: [6]byte{1, 0, 0x5e, 0, 0, 0xfb}, l4: hdrUdpDgram(5353, 5353, 10)}),
	v4("dhcp from 0.0.0.0", pk{proto: 17, src: "0.0.0.0", dst: "255.255.255.255", dstMAC: macBc, l4: hdrUdpDgram(68, 67, 20)}),
	v4("from an unroutable source", pk{proto: 17, src: "192.0.2.7", l4: hdrUdpDgram(53, 53, 4)}),
	v4("sctp INIT to 80", pk{proto: 132, l4: sctpInit(5000, 80, sctpChunk(1, 0, 16))}),
	v4("sctp DATA,DATA", pk{proto: 132, l4: sctpInit(5000, 81, sctpChunk(0, 3, 8), sctpChunk(0, 0, 5))}),
	v4("sctp DATA,INIT", pk{proto: 132, l4: sctpInit(5000, 81, sctpChunk(0, 3, 8), sctpChunk(1, 0, 16))}),
	v4("sctp zero-length chunk", pk{proto: 132, l4: sctpInit(5000, 80, []byte{1, 0, 0, 0})}),
	v4("dccp request with option 32", pk{proto: 33, l4: []byte{0x13, 0x88, 0, 80, 6, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 32, 0, 0, 0}}),
	v4("dccp data", pk{proto: 33, l4: []byte{0x13, 0x88, 0, 80, 3, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 1}}),
	v4("ah spi 100", pk{proto: 51, l4: []byte{6, 4, 0, 0, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}),
	v4("esp spi 250", pk{proto: 50, l4: []byte{0, 0, 0, 250, 0, 0, 0, 1}}),
	v4("esp spi 301", pk{proto: 50, l4: []byte{0, 0, 1, 45, 0, 0, 0, 1}}),
	v4("tcp fragment at offset 8", pk{proto: 6, frag: 0x0001, l4: make([]byte, 16)}),
	v4("tcp fragment at offset 16", pk{proto: 6, frag: 0x0002, l4: make([]byte, 16)}),
	v4("esp truncated", pk{proto: 50, l4: []byte{0, 0, 1}}),
}

var kernelPackets6 = []kpkt{
	v6("echo request tc 0x22", pk{proto: 58, tos: 0x22, l4: hdrIcmpMsg(128, 0)}),
	v6("hbh padn + echo reply", pk{firstNH: 0, ext: hdrExt6(0, 58, 1, 4), proto: 58, l4: hdrIcmpMsg(129, 0)}),
	v6("hbh pad1 x6 + unreach 1/3", pk{firstNH: 0, ext: hdrExt6(0, 58, 0, 0, 0, 0, 0, 0), proto: 58, l4: hdrIcmpMsg(1, 3)}),
	v6("dstopts + tcp syn to 80 mss 1460", pk{firstNH: 60, ext: hdrExt6(60, 6, 1, 4), proto: 6, l4: hdrTcpSeg(1024, 80, 0x02, 2, 4, 0x05, 0xb4)}),
	v6("first fragment id 5 + udp", pk{firstNH: 44, ext: hdrExt6(44, 17, 0, 1, 0, 0, 0, 5), proto: 17, l4: hdrUdpDgram(53, 53, 8)}),
	v6("later fragment id 5", pk{firstNH: 44, ext: hdrExt6(44, 17, 0, 8, 0, 0, 0, 5), proto: 17, l4: make([]byte, 8)}),
	v6("routing type 0 segsleft 1", pk{firstNH: 43, ext: cat([]byte{59, 2, 0, 1, 0, 0, 0, 0}, addr16("fd00::5")), proto: 59}),
	v6("routing type 0 segsleft 0 two addrs", pk{firstNH: 43, ext: cat([]byte{59, 4, 0, 0, 0, 0, 0, 0}, addr16("fd00::5"), addr16("fd00::6")), proto: 59}),
	v6("ah spi 300 + tcp", pk{firstNH: 51, ext: hdrExt6(51, 6, 0, 0, 0, 0, 1, 44, 0, 0, 0, 1, 0, 0, 0, 0), proto: 6, l4: hdrTcpSeg(1, 80, 0x10)}),
	v6("mobility header type 5", pk{proto: 135, l4: []byte{59, 0, 5, 0, 0, 0, 0, 0}}),
	v6("eui64 source", pk{src: "fd00::ff:fe00:a", proto: 58, l4: hdrIcmpMsg(128, 0)}),
	v6("link-local source", pk{src: "fe80::1", proto: 17, l4: hdrUdpDgram(546, 547, 4)}),
	v6("unroutable source", pk{src: "2001:db8::1", proto: 17, l4: hdrUdpDgram(53, 53, 4)}),
	v6("tcp fragment at offset 8", pk{firstNH: 44, ext: hdrExt6(44, 6, 0, 8, 0, 0, 0, 7), proto: 6, l4: make([]byte, 16)}),
	v6("icmpv6 of 4 bytes", pk{proto: 58, l4: []byte{128, 0, 0, 0}}),
	v6("later fragment + dstopts", pk{firstNH: 44, ext: hdrExt6(44, 60, 0, 8, 0, 0, 0, 6), proto: 60, l4: make([]byte, 8)}),
}

func addr16(s string) []byte { a := netipMust(s).As16(); return a[:] }

// TestMatchesAgainstKernel loads one counting rule per match case into
// the real kernel's ip_tables/ip6_tables (mangle PREROUTING of a
// namespace), sends each packet over a veth pair from a second namespace,
// and compares every rule's counter with what nfgo's evaluation says.
func TestMatchesAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	for _, bin := range []string{"iptables-legacy-restore", "ip6tables-legacy-restore", "iptables-legacy-save", "ip6tables-legacy-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skip("skipping: needs " + bin + " (ip_tables is the reference)")
		}
	}
	// The rules go through ip_tables, so the xt semantics apply.
	defer func(old bool) { ext.LegacyXtables = old }(ext.LegacyXtables)
	ext.LegacyXtables = true
	nsA := fmt.Sprintf("nfx-hdr-a%d", os.Getpid())
	nsB := fmt.Sprintf("nfx-hdr-b%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run("ip", "netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	run("ip", "-n", nsA, "link", "add", "va", "address", "02:00:00:00:00:0a", "type", "veth",
		"peer", "name", "vb", "address", "02:00:00:00:00:0b", "netns", nsB)
	run("ip", "netns", "exec", nsA, "sysctl", "-qw", "net.ipv6.conf.va.disable_ipv6=1")
	run("ip", "netns", "exec", nsB, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vb.rp_filter=0",
		"net.ipv6.conf.vb.accept_ra=0", "net.ipv6.conf.vb.accept_dad=0")
	run("ip", "-n", nsB, "addr", "add", "10.9.0.2/24", "dev", "vb")
	run("ip", "-n", nsB, "addr", "add", "fd00::2/64", "dev", "vb", "nodad")
	run("ip", "-n", nsB, "link", "set", "lo", "up")
	run("ip", "-n", nsB, "link", "set", "vb", "up")
	run("ip", "-n", nsA, "link", "set", "va", "up")

	fd, ifindex, err := hdrPacketSocket(nsA, "va")
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		rules, pkts, tool := kernelRules4, kernelPackets4, "iptables-legacy"
		if fam == nf.IPv6 {
			rules, pkts, tool = kernelRules6, kernelPackets6, "ip6tables-legacy"
		}
		nr := loadRules(t, fam, "mangle", rules)
		in := "*mangle\n" + strings.Join(rules, "\n") + "\nCOMMIT\n"
		cmd := exec.Command("ip", "netns", "exec", nsB, tool+"-restore")
		cmd.Stdin = strings.NewReader(in)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s-restore: %v: %s", tool, err, out)
		}
		prev := kernelCounts(t, nsB, tool, len(rules))
		for _, kp := range pkts {
			if err := syscall.Sendto(fd, kp.frame(), 0, &syscall.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
				t.Fatalf("send %s: %v", kp.name, err)
			}
			var now []uint64
			for try := 0; try < 50; try++ {
				now = kernelCounts(t, nsB, tool, len(rules))
				if now[0] != prev[0] {
					break
				}
			}
			if now[0]-prev[0] != 1 {
				t.Fatalf("%s: the kernel's first rule counted %d packets, want 1", kp.name, now[0]-prev[0])
			}
			kp.pktType = packet.PacketHost
			switch {
			case kp.dstMAC == macBc:
				kp.pktType = packet.PacketBroadcast
			case kp.dstMAC[0]&1 != 0:
				kp.pktType = packet.PacketMulticast
			}
			p := kp.packet(t, "vb")
			env := &ext.Env{Pkt: p, Family: fam, Hook: nf.PreRouting, Table: "mangle", Chain: "PREROUTING", Host: netHost{}}
			hot := false
			var seen strings.Builder
			for i, r := range nr {
				got := uint64(0)
				if !hot {
					m, h := evalRule(t, r, env)
					hot = h
					if m {
						got = 1
					}
				}
				seen.WriteByte(byte('0' + now[i] - prev[i]))
				if k := now[i] - prev[i]; k != got {
					t.Errorf("%s: rule %q: kernel counted %d, nfgo %d", kp.name, rules[i], k, got)
				}
			}
			t.Logf("%-40s kernel %s", kp.name, seen.String())
			prev = now
		}
	}
}

var countRE = regexp.MustCompile(`^\[(\d+):\d+\] -A PREROUTING`)

func kernelCounts(t *testing.T, ns, tool string, n int) []uint64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, tool+"-save", "-c", "-t", "mangle").Output()
	if err != nil {
		t.Fatalf("%s-save: %v", tool, err)
	}
	var c []uint64
	for _, l := range strings.Split(string(out), "\n") {
		if m := countRE.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			c = append(c, v)
		}
	}
	if len(c) != n {
		t.Fatalf("%s-save listed %d rules, want %d:\n%s", tool, len(c), n, out)
	}
	return c
}

// hdrPacketSocket opens an AF_PACKET socket bound to dev inside namespace ns.
// The socket keeps its namespace after the thread that made it is gone.
func hdrPacketSocket(ns, dev string) (int, int, error) {
	type res struct {
		fd, idx int
		err     error
	}
	ch := make(chan res)
	go func() {
		// The thread is left in the other namespace: never unlocked, it
		// ends with the goroutine.
		runtime.LockOSThread()
		nsfd, err := syscall.Open("/var/run/netns/"+ns, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{err: fmt.Errorf("open namespace %s: %w", ns, err)}
			return
		}
		defer syscall.Close(nsfd)
		if _, _, e := syscall.RawSyscall(sysSetns, uintptr(nsfd), syscall.CLONE_NEWNET, 0); e != 0 {
			ch <- res{err: fmt.Errorf("setns %s: %w", ns, e)}
			return
		}
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
		if err != nil {
			ch <- res{err: fmt.Errorf("packet socket: %w", err)}
			return
		}
		idx, err := ifIndex(fd, dev)
		if err != nil {
			syscall.Close(fd)
			ch <- res{err: err}
			return
		}
		ch <- res{fd: fd, idx: idx}
	}()
	r := <-ch
	return r.fd, r.idx, r.err
}

// ifIndex asks the socket's namespace for dev's index (SIOCGIFINDEX).
func ifIndex(fd int, dev string) (int, error) {
	var req struct {
		name  [16]byte
		index int32
		_     [20]byte
	}
	copy(req.name[:], dev)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFINDEX, uintptr(unsafe.Pointer(&req))); e != 0 {
		return 0, fmt.Errorf("interface %s: %w", dev, e)
	}
	return int(req.index), nil
}
