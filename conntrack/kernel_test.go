package conntrack

import (
	"bytes"
	"net/netip"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

const (
	kDut0  = "02:00:00:00:01:01"
	kPeer0 = "02:00:00:00:01:02"
	kDut1  = "02:00:00:00:02:01"
	kPeer1 = "02:00:00:00:02:02"
)

func kmac(s string) []byte {
	b := make([]byte, 0, 6)
	for _, h := range strings.Split(s, ":") {
		v, _ := strconv.ParseUint(h, 16, 8)
		b = append(b, byte(v))
	}
	return b
}

func frame(dst, src string, p *packet.Packet) []byte {
	typ := []byte{8, 0}
	if p.Family == nf.IPv6 {
		typ = []byte{0x86, 0xdd}
	}
	return append(append(append(kmac(dst), kmac(src)...), typ...), p.Data...)
}

// TestKernelCompare drives traffic through a DUT namespace (forwarded
// UDP request and reply, a generic protocol, a ping of the DUT and a UDP
// packet to a closed port that draws an ICMP port unreachable) and
// compares conntrack -L, /proc/net/nf_conntrack, conntrack -E and the
// RELATED classification of the error with nfgo fed the same packets.
func TestKernelCompare(t *testing.T) {
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A OUTPUT -p icmp -m conntrack --ctstate RELATED\n-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED\nCOMMIT\n"
	l := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{
			{Name: "eth0", MAC: kDut0, PeerMAC: kPeer0, Addrs: []string{"192.0.2.1/24"}},
			{Name: "eth1", MAC: kDut1, PeerMAC: kPeer1, Addrs: []string{"198.51.100.1/24"}},
		},
		Routes:  []string{"203.0.113.0/24 via 198.51.100.2 dev eth1"},
		Neigh:   []string{"192.0.2.2 lladdr " + kPeer0 + " dev eth0", "198.51.100.2 lladdr " + kPeer1 + " dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  rules,
	})
	ev := exec.Command("ip", "netns", "exec", l.DUT.Name, "stdbuf", "-oL", "conntrack", "-E")
	var evOut bytes.Buffer
	ev.Stdout = &evOut
	if err := ev.Start(); err != nil {
		t.Fatalf("conntrack -E: %v", err)
	}
	time.Sleep(300 * time.Millisecond)

	tab := NewTable()
	var nEv []string
	tab.OnEvent = func(e Event) { nEv = append(nEv, FormatEvent(e)) }
	tr := &Tracker{T: tab}
	feed := func(p *packet.Packet, hook nf.Hook) *ext.Env {
		p.Timestamp = time.Now().UnixNano()
		env := &ext.Env{Pkt: p, Family: p.Family, Hook: hook}
		if tr.In(env, hook) {
			tr.Confirm(env)
		}
		return env
	}
	cli := netip.MustParseAddr("192.0.2.2")
	far := netip.MustParseAddr("203.0.113.9")
	dut := netip.MustParseAddr("192.0.2.1")
	var related bool
	// inject sends a frame to the DUT and feeds nfgo the packet, then the
	// DUT's own answers (ICMP from its address) as locally generated.
	inject := func(iface, dst, src string, s packet.Spec) {
		t.Helper()
		p := build(t, s, 0)
		if err := l.StartCapture(); err != nil {
			t.Fatal(err)
		}
		if err := l.Inject(iface, frame(dst, src, p)); err != nil {
			t.Fatal(err)
		}
		feed(p, nf.PreRouting)
		for _, e := range l.Emitted() {
			if len(e.Frame) < 34 || e.Frame[12] != 8 || e.Frame[23] != 1 || !bytes.Equal(e.Frame[26:30], []byte{192, 0, 2, 1}) {
				continue
			}
			q := &packet.Packet{Data: append([]byte(nil), e.Frame[14:]...), Family: nf.IPv4, Local: true, OutDev: e.Iface}
			if err := q.Parse(); err != nil {
				t.Fatal(err)
			}
			env := feed(q, nf.LocalOut)
			if q.L4()[0] == 3 {
				related = env.CtState == ext.CtStateRelated && env.CtReply
			}
		}
	}
	// Forwarded UDP request and reply.
	inject("eth0", kDut0, kPeer0, packet.Spec{Src: cli, Dst: far, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, Payload: []byte("q")})
	inject("eth1", kDut1, kPeer1, packet.Spec{Src: far, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 40000, Payload: []byte("a")})
	// A generic protocol, one way.
	inject("eth0", kDut0, kPeer0, packet.Spec{Src: cli, Dst: far, Proto: 99, Payload: []byte("gen")})
	// A ping of the DUT: the echo reply is the DUT's own (OUTPUT).
	inject("eth0", kDut0, kPeer0, packet.Spec{Src: cli, Dst: dut, Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 77, ICMPSeq: 1, Payload: []byte("ping")})
	// UDP to a closed port: the DUT answers port unreachable.
	inject("eth0", kDut0, kPeer0, packet.Spec{Src: cli, Dst: dut, Proto: packet.ProtoUDP, SrcPort: 41000, DstPort: 9, Payload: []byte("x")})
	if !related {
		t.Error("nfgo did not classify the DUT's port unreachable as RELATED in the reply direction")
	}
	save := l.Run("iptables-save", "-c")
	if !strings.Contains(save.Stdout, "[1:") || !regexp.MustCompile(`\[1:\d+\] -A OUTPUT -p icmp -m conntrack --ctstate RELATED`).MatchString(save.Stdout) {
		t.Errorf("the kernel did not count the port unreachable as RELATED:\n%s", save.Stdout)
	}
	time.Sleep(200 * time.Millisecond)
	ev.Process.Signal(syscall.SIGINT)
	ev.Wait()

	now := time.Now().UnixNano()
	kl := l.Run("conntrack", "-L")
	var b bytes.Buffer
	tab.WriteList(&b, now)
	kList, nList := kerneltest.Lines(kl.Stdout), kerneltest.Lines(b.String())
	sort.Strings(kList)
	sort.Strings(nList)
	kerneltest.CompareConntrack(t, "conntrack -L", kList, nList, false)

	kp := l.Run("cat", "/proc/net/nf_conntrack")
	b.Reset()
	tab.WriteProc(&b, now)
	kProc, nProc := kerneltest.Lines(kp.Stdout), kerneltest.Lines(b.String())
	sort.Strings(kProc)
	sort.Strings(nProc)
	stripL3 := func(ls []string) []string {
		out := make([]string, len(ls))
		for i, s := range ls {
			out[i] = s[len("ipv4     2 "):]
		}
		return out
	}
	if kp.Code == 0 && len(kProc) > 0 {
		kerneltest.CompareConntrack(t, "/proc/net/nf_conntrack", stripL3(kProc), stripL3(nProc), false)
		for i := range kProc {
			if i < len(nProc) && kProc[i][:11] != nProc[i][:11] {
				t.Errorf("proc line start %q, nfgo %q", kProc[i][:11], nProc[i][:11])
			}
		}
	} else {
		t.Logf("no /proc/net/nf_conntrack in the DUT: %s", kp.Stderr)
	}
	kerneltest.CompareConntrack(t, "conntrack -E", kerneltest.Lines(evOut.String()), nEv, false)
	t.Logf("conntrack -L:\n%s\nconntrack -E:\n%s", kl.Stdout, evOut.String())
}
