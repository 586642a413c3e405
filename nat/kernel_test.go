package nat

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/packet"
)

const (
	labDUT0  = "02:00:00:00:7a:01"
	labPeer0 = "02:00:00:00:7a:02"
	labDUT1  = "02:00:00:00:7a:11"
	labPeer1 = "02:00:00:00:7a:12"
)

func labMAC(s string) [6]byte {
	var m [6]byte
	for i, h := range strings.Split(s, ":") {
		v, _ := strconv.ParseUint(h, 16, 8)
		m[i] = byte(v)
	}
	return m
}

// natLab is a router DUT: clients on eth0, servers on eth1.
func natLab(t *testing.T, rules4, rules6 string) *kerneltest.Lab {
	t.Helper()
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("skipping: needs conntrack (apt-get install conntrack)")
	}
	return kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{
			{Name: "eth0", MAC: labDUT0, PeerMAC: labPeer0, Addrs: []string{"192.0.2.1/24", "2001:db8:1::1/64"}},
			{Name: "eth1", MAC: labDUT1, PeerMAC: labPeer1, Addrs: []string{"10.0.0.1/24", "198.51.100.1/24", "2001:db8:2::1/48"}},
		},
		Routes: []string{"default via 198.51.100.254 dev eth1", "::/0 via 2001:db8:2::fffe dev eth1"},
		Neigh: []string{"198.51.100.254 lladdr " + labPeer1 + " dev eth1", "192.0.2.2 lladdr " + labPeer0 + " dev eth0",
			"2001:db8:2::fffe lladdr " + labPeer1 + " dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"},
		Rules4:  rules4,
		Rules6:  rules6,
	})
}

func injectUDP(t *testing.T, lab *kerneltest.Lab, src, dst netip.Addr, sport, dport uint16) {
	t.Helper()
	p, err := packet.Build(&packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: sport, DstPort: dport, Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	frame := packet.EncodeEthernet(labMAC(labDUT0), labMAC(labPeer0), p.Family, p.Data, nil)
	if err := lab.Inject("eth0", frame); err != nil {
		t.Fatal(err)
	}
}

var ctLine = regexp.MustCompile(`src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)`)

// ctEntries maps each entry's original tuple to its reply tuple.
func ctEntries(t *testing.T, lab *kerneltest.Lab, fam string) map[ext.CtTuple]ext.CtTuple {
	t.Helper()
	lines, err := lab.Conntrack("-f", fam)
	if err != nil {
		t.Fatal(err)
	}
	res := map[ext.CtTuple]ext.CtTuple{}
	for _, l := range lines {
		m := ctLine.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(l, "udp") {
			continue
		}
		tup := func(f []string) ext.CtTuple {
			sp, _ := strconv.Atoi(f[2])
			dp, _ := strconv.Atoi(f[3])
			return ext.CtTuple{Src: netip.MustParseAddr(f[0]), Dst: netip.MustParseAddr(f[1]),
				SrcPort: uint16(sp), DstPort: uint16(dp), Proto: packet.ProtoUDP}
		}
		res[tup(m[1:5])] = tup(m[5:9])
	}
	return res
}

// noTable is an empty conntrack table.
type noTable struct{}

func (noTable) TupleTaken(ext.CtTuple, uint16) bool                          { return false }
func (noTable) SameSource(ext.CtTuple, uint16, func(reply ext.CtTuple) bool) {}

// The kernel picks a DNAT backend from an address range by hashing the
// tuple; nfgo must pick the same one.
func TestKernelDNATAddressChoice(t *testing.T) {
	kerneltest.Require(t)
	lab := natLab(t,
		"*nat\n-A PREROUTING -i eth0 -p udp -j DNAT --to-destination 10.0.0.10-10.0.0.20\nCOMMIT\n",
		"*nat\n-A PREROUTING -i eth0 -p udp -j DNAT --to-destination 2001:db8:2:0:0:1::-2001:db8:2:0:0:2::\nCOMMIT\n")
	var sent []ext.CtTuple
	for i := 0; i < 30; i++ {
		o := ext.CtTuple{Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(2 + i*7%250)}),
			Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i*13%250)}), SrcPort: uint16(40000 + i), DstPort: 80, Proto: packet.ProtoUDP}
		sent = append(sent, o)
		injectUDP(t, lab, o.Src, o.Dst, o.SrcPort, o.DstPort)
		o6 := ext.CtTuple{Src: netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x:%x", i*977, 2+i)),
			Dst: netip.MustParseAddr(fmt.Sprintf("2001:db8:3::%x", 0x100+i*31)), SrcPort: uint16(41000 + i), DstPort: 53, Proto: packet.ProtoUDP}
		sent = append(sent, o6)
		injectUDP(t, lab, o6.Src, o6.Dst, o6.SrcPort, o6.DstPort)
	}
	got := ctEntries(t, lab, "ipv4")
	for k, v := range ctEntries(t, lab, "ipv6") {
		got[k] = v
	}
	rules := map[bool]Range{
		true:  {Flags: MapIPs, MinAddr: netip.MustParseAddr("10.0.0.10"), MaxAddr: netip.MustParseAddr("10.0.0.20")},
		false: {Flags: MapIPs, MinAddr: netip.MustParseAddr("2001:db8:2:0:0:1::"), MaxAddr: netip.MustParseAddr("2001:db8:2:0:0:2::")},
	}
	sel := &Selector{Table: noTable{}}
	distinct := map[netip.Addr]bool{}
	for _, o := range sent {
		reply, ok := got[o]
		if !ok {
			t.Errorf("no conntrack entry for %v", o)
			continue
		}
		r := rules[o.Src.Is4()]
		want := sel.Unique(o, &r, ManipDst, &Conn{})
		if reply.Src != want.Dst || reply.SrcPort != want.DstPort {
			t.Errorf("%v: kernel mapped to %s:%d, nfgo to %s:%d", o, reply.Src, reply.SrcPort, want.Dst, want.DstPort)
		}
		distinct[reply.Src] = true
	}
	if len(distinct) < 6 {
		t.Errorf("only %d distinct backends chosen; the test does not exercise the hash", len(distinct))
	}
}

// fakeTable is a conntrack table of whole connections: original tuples
// mapped to reply tuples, with the source-mapped ones in order.
type fakeTable struct {
	conns [][2]ext.CtTuple // original, reply; newest last
}

func (f *fakeTable) TupleTaken(t ext.CtTuple, _ uint16) bool {
	for _, c := range f.conns {
		if c[0] == t || c[1] == t {
			return true
		}
	}
	return false
}

func (f *fakeTable) SameSource(orig ext.CtTuple, _ uint16, fn func(ext.CtTuple) bool) {
	for i := len(f.conns) - 1; i >= 0; i-- {
		o := f.conns[i][0]
		if o.Proto == orig.Proto && o.Src == orig.Src && o.SrcPort == orig.SrcPort && fn(f.conns[i][1]) {
			return
		}
	}
}

// add records a connection set up with the mapping sel chooses.
func (f *fakeTable) add(sel *Selector, o ext.CtTuple, r *Range, m Manip) ext.CtTuple {
	n := sel.Unique(o, r, m, &Conn{})
	f.conns = append(f.conns, [2]ext.CtTuple{o, Invert(n)})
	return n
}

// SNAT keeps a free original port, moves a clashing one to the one free
// port of the range, and maps a second connection from the same source
// to the address the first one got rather than the one the hash gives.
func TestKernelSNATClashAndSameSource(t *testing.T) {
	kerneltest.Require(t)
	lab := natLab(t, "*nat\n"+
		"-A POSTROUTING -o eth1 -p udp --dport 80 -j SNAT --to-source 198.51.100.1:5000-5001\n"+
		"-A POSTROUTING -o eth1 -p udp --dport 81 -j SNAT --to-source 198.51.100.10-198.51.100.19\n"+
		"COMMIT\n", "")
	a := netip.MustParseAddr
	clash := []ext.CtTuple{
		{Src: a("192.0.2.2"), Dst: a("203.0.113.7"), SrcPort: 5000, DstPort: 80, Proto: packet.ProtoUDP},
		{Src: a("192.0.2.3"), Dst: a("203.0.113.7"), SrcPort: 5000, DstPort: 80, Proto: packet.ProtoUDP},
	}
	// Two destinations the hash maps to different addresses for the
	// same source.
	src := ext.CtTuple{Src: a("192.0.2.9"), SrcPort: 7000, DstPort: 81, Proto: packet.ProtoUDP}
	rr := Range{Flags: MapIPs, MinAddr: a("198.51.100.10"), MaxAddr: a("198.51.100.19")}
	var same []ext.CtTuple
	var first netip.Addr
	for i := 1; i < 250 && len(same) < 2; i++ {
		o := src
		o.Dst = netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		x := o
		BestAddr(&x, &rr, ManipSrc, 0)
		if len(same) == 0 || x.Src != first {
			same = append(same, o)
			first = x.Src
		}
	}
	if len(same) != 2 {
		t.Fatalf("found no two destinations hashed apart: %v", same)
	}
	for _, o := range append(clash, same...) {
		injectUDP(t, lab, o.Src, o.Dst, o.SrcPort, o.DstPort)
		lab.Settle()
	}
	got := ctEntries(t, lab, "ipv4")

	sel := &Selector{Table: &fakeTable{}}
	tab := sel.Table.(*fakeTable)
	r1 := Range{Flags: MapIPs | ProtoSpecified, MinAddr: a("198.51.100.1"), MaxAddr: a("198.51.100.1"), MinProto: 5000, MaxProto: 5001}
	for _, o := range clash {
		n := tab.add(sel, o, &r1, ManipSrc)
		if k := got[o]; k.Dst != n.Src || k.DstPort != n.SrcPort {
			t.Errorf("%v: kernel mapped to %s:%d, nfgo to %s:%d", o, k.Dst, k.DstPort, n.Src, n.SrcPort)
		}
	}
	if got[clash[0]].DstPort != 5000 || got[clash[1]].DstPort != 5001 {
		t.Errorf("kernel: %v, %v: want ports 5000 and 5001", got[clash[0]], got[clash[1]])
	}
	for i, o := range same {
		n := tab.add(sel, o, &rr, ManipSrc)
		k := got[o]
		if k.Dst != n.Src || k.DstPort != n.SrcPort {
			t.Errorf("%v: kernel mapped to %s:%d, nfgo to %s:%d", o, k.Dst, k.DstPort, n.Src, n.SrcPort)
		}
		if i == 1 && k.Dst != got[same[0]].Dst {
			t.Errorf("kernel did not reuse the source mapping: %v then %v", got[same[0]], k)
		}
	}
}

// An ICMP port unreachable about a SNATed UDP packet, forwarded back to
// the client: the kernel's bytes equal nfgo's translation (apart from
// the TTL the forwarding takes off).
func TestKernelICMPErrorTranslation(t *testing.T) {
	kerneltest.Require(t)
	lab := natLab(t, "*nat\n-A POSTROUTING -o eth1 -p udp -j SNAT --to-source 198.51.100.1\nCOMMIT\n", "")
	cli, srv, nat := a("192.0.2.2"), a("203.0.113.9"), a("198.51.100.1")
	injectUDP(t, lab, cli, srv, 40000, 53)
	lab.Settle()
	got := ctEntries(t, lab, "ipv4")
	orig := ext.CtTuple{Src: cli, Dst: srv, SrcPort: 40000, DstPort: 53, Proto: packet.ProtoUDP}
	reply, ok := got[orig]
	if !ok || reply.Dst != nat {
		t.Fatalf("conntrack: %v", got)
	}
	sent := build(t, &packet.Spec{Src: nat, Dst: srv, TTL: 63, HasTTL: true, Proto: packet.ProtoUDP, SrcPort: reply.DstPort, DstPort: 53, Payload: []byte("x")})
	errp := build(t, &packet.Spec{Src: srv, Dst: nat, Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 3, Quote: sent.Data})
	if err := lab.StartCapture("eth0"); err != nil {
		t.Fatal(err)
	}
	frame := packet.EncodeEthernet(labMAC(labDUT1), labMAC(labPeer1), errp.Family, errp.Data, nil)
	if err := lab.Inject("eth1", frame); err != nil {
		t.Fatal(err)
	}
	out := lab.Emitted()
	if len(out) != 1 {
		t.Fatalf("DUT sent %d frames", len(out))
	}
	kern := out[0].Frame[14:]

	c := &testConn{tup: [2]ext.CtTuple{orig, reply}, status: ext.CTStatusSrcNAT | ext.CTStatusSrcNATDone | ext.CTStatusDstNATDone}
	mine := errp.Clone()
	if err := TranslateICMPError(mine, c, true, ManipDst); err != nil {
		t.Fatal(err)
	}
	// Forwarding: TTL 64 -> 63, header checksum updated as ip_decrease_ttl.
	h := packet.IPv4(mine.Data)
	h.SetTTL(h.TTL() - 1)
	h.UpdateChecksum()
	if !bytes.Equal(kern, mine.Data) {
		t.Errorf("kernel:\n%x\nnfgo:\n%x", kern, mine.Data)
	}
}
