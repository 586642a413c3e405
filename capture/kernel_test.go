package capture_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/packet"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type link struct {
	IfIndex int    `json:"ifindex"`
	Name    string `json:"ifname"`
	Address string `json:"address"`
}

func linkInfo(t *testing.T, ns, dev string) (int, [6]byte) {
	var l []link
	if err := json.Unmarshal([]byte(run(t, "ip", "-n", ns, "-j", "link", "show", dev)), &l); err != nil || len(l) != 1 {
		t.Fatalf("ip -j link show %s: %v", dev, err)
	}
	hw, err := net.ParseMAC(l[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return l[0].IfIndex, [6]byte(hw)
}

// startDump runs tcpdump in ns writing to path and waits until it listens.
func startDump(t *testing.T, ns, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "tcpdump", "-Z", "root", "--immediate-mode", "-n", "-U", "-w", path}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var all []string
		for sc.Scan() {
			all = append(all, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- strings.Join(all, "\n")
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			cmd.Wait()
			t.Fatalf("tcpdump %v: %s", args, msg)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("tcpdump %v did not start", args)
	}
	return cmd
}

func stopDump(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

type frame struct {
	f   packet.Frame
	rec capture.Record
}

func readFrames(t *testing.T, path string) []frame {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := capture.Open(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []frame
	for {
		var rec capture.Record
		if err := r.Next(&rec); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var fr frame
		rec.Data = append([]byte(nil), rec.Data...)
		if err := packet.DecodeFrame(rec.LinkType, rec.Data, &fr.f); err != nil {
			continue // ARP and the like
		}
		fr.rec = rec
		out = append(out, fr)
	}
}

// echo reports whether a frame is an ICMP or ICMPv6 echo request or reply
// between src and dst, and which.
func echo(f *packet.Frame, src, dst string) (request, ok bool) {
	var p packet.Packet
	p.Family, p.Data = f.Family, f.Net
	if p.Parse() != nil || p.Src() != netip.MustParseAddr(src) || p.Dst() != netip.MustParseAddr(dst) {
		return false, false
	}
	l4 := packet.ICMP(p.L4())
	if len(l4) < 8 || (p.Proto != packet.ProtoICMP && p.Proto != packet.ProtoICMPv6) {
		return false, false
	}
	switch l4.Type() {
	case 8, 128:
		return true, true
	case 0, 129:
		return false, true
	}
	return false, false
}

// TestKernelCapture captures pings across a veth pair with tcpdump, on the
// Ethernet device (with 802.1Q and 802.1ad VLANs on top of it) and on
// "any" as Linux SLL2, and checks the decoded frames against what the
// kernel says: addresses, VLAN IDs, interface indexes, packet types.
func TestKernelCapture(t *testing.T) {
	kerneltest.Require(t)
	for _, bin := range []string{"tcpdump", "ping"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skip("kernel capture test needs " + bin)
		}
	}
	a := fmt.Sprintf("nfx-cap-%d-a", os.Getpid())
	b := fmt.Sprintf("nfx-cap-%d-b", os.Getpid())
	for _, ns := range []string{a, b} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh := func(ns string, cmds ...string) {
		for _, c := range cmds {
			run(t, append([]string{"ip", "-n", ns}, strings.Fields(c)...)...)
		}
	}
	sh(a, "link add va type veth peer name vb netns "+b)
	// VLAN devices need the kernel's 8021q support, which may be absent.
	vlans := exec.Command("ip", "-n", a, "link", "add", "link", "va", "name", "vaq", "type", "vlan", "id", "100").Run() == nil
	if !vlans {
		t.Log("no VLAN support in this kernel: tagged frames are not captured")
	}
	for _, side := range []struct{ ns, dev, n string }{{a, "va", "1"}, {b, "vb", "2"}} {
		d, n := side.dev, side.n
		sh(side.ns,
			"link set lo up", "link set "+d+" up",
			"addr add 10.99.0."+n+"/24 dev "+d+" broadcast 10.99.0.255",
			"addr add fd00:99::"+n+"/64 dev "+d+" nodad",
		)
		if !vlans {
			continue
		}
		if side.ns == b {
			sh(b, "link add link vb name vbq type vlan id 100")
		}
		sh(side.ns,
			"link set "+d+"q up",
			"addr add 10.99.100."+n+"/24 dev "+d+"q",
			"link add link "+d+" name "+d+"s type vlan proto 802.1ad id 200", "link set "+d+"s up",
			"link add link "+d+"s name "+d+"sc type vlan id 300", "link set "+d+"sc up",
			"addr add 10.99.200."+n+"/24 dev "+d+"sc",
		)
	}
	run(t, "ip", "netns", "exec", a, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0")
	vaIdx, vaMAC := linkInfo(t, a, "va")
	_, vbMAC := linkInfo(t, b, "vb")
	var vaqIdx, vascIdx int
	targets := []string{"10.99.0.2", "fd00:99::2"}
	if vlans {
		vaqIdx, _ = linkInfo(t, a, "vaq")
		vascIdx, _ = linkInfo(t, a, "vasc")
		targets = append(targets, "10.99.100.2", "10.99.200.2")
	}

	dir := t.TempDir()
	ethPath, sllPath := filepath.Join(dir, "eth.pcap"), filepath.Join(dir, "sll2.pcap")
	eth := startDump(t, a, ethPath, "-i", "va")
	sll := startDump(t, a, sllPath, "-i", "any", "-y", "LINUX_SLL2")
	sll1Path := filepath.Join(dir, "sll.pcap")
	sll1 := startDump(t, a, sll1Path, "-i", "any", "-y", "LINUX_SLL")
	for _, dst := range targets {
		run(t, "ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", dst)
	}
	// A broadcast ping from b: a receives a broadcast frame and answers.
	exec.Command("ip", "netns", "exec", b, "ping", "-b", "-c", "1", "-W", "2", "10.99.0.255").Run()
	time.Sleep(200 * time.Millisecond)
	stopDump(eth)
	stopDump(sll)
	stopDump(sll1)

	ethFrames := readFrames(t, ethPath)
	sllFrames := readFrames(t, sllPath)
	t.Logf("frames: %d ethernet, %d SLL2", len(ethFrames), len(sllFrames))

	// Ethernet: each echo has the right MACs, VLAN tags and untagged MAC.
	for _, c := range []struct {
		src, dst string
		vlan     uint16
		tagged   bool
		et       uint16
	}{
		{"10.99.0.1", "10.99.0.2", 0, false, 0x0800},
		{"fd00:99::1", "fd00:99::2", 0, false, 0x86dd},
		{"10.99.100.1", "10.99.100.2", 100, true, 0x0800},
		{"10.99.200.1", "10.99.200.2", 200, true, 0x0800},
	}[:len(targets)] {
		var req, rep int
		for _, fr := range ethFrames {
			f := &fr.f
			if r, ok := echo(f, c.src, c.dst); ok && r {
				req++
				wantMAC := append(append(append([]byte{}, vbMAC[:]...), vaMAC[:]...), byte(c.et>>8), byte(c.et))
				if !bytes.Equal(f.MAC, wantMAC) || f.HasVLAN != c.tagged || f.VLAN != c.vlan || f.SrcMAC != vaMAC || f.EtherType != c.et {
					t.Errorf("request %s > %s: MAC %x VLAN %v/%d src %x, want MAC %x VLAN %v/%d",
						c.src, c.dst, f.MAC, f.HasVLAN, f.VLAN, f.SrcMAC, wantMAC, c.tagged, c.vlan)
				}
			}
			if r, ok := echo(f, c.dst, c.src); ok && !r {
				rep++
				if f.SrcMAC != vbMAC || f.HasVLAN != c.tagged || f.VLAN != c.vlan || f.PktType != packet.PacketHost {
					t.Errorf("reply %s > %s: %+v", c.dst, c.src, f)
				}
			}
		}
		if req != 1 || rep != 1 {
			t.Errorf("%s > %s: %d requests, %d replies on va", c.src, c.dst, req, rep)
		}
	}

	// SLL2: the kernel's interface index and packet type.
	for _, c := range []struct {
		src, dst string
		ifindex  int
	}{
		{"10.99.0.1", "10.99.0.2", vaIdx},
		{"fd00:99::1", "fd00:99::2", vaIdx},
		{"10.99.100.1", "10.99.100.2", vaqIdx},
		{"10.99.200.1", "10.99.200.2", vascIdx},
	}[:len(targets)] {
		var req, rep int
		for _, fr := range sllFrames {
			f := &fr.f
			if fr.rec.LinkType != packet.LinkLinuxSLL2 || f.MAC != nil {
				t.Fatalf("SLL2 capture: link type %d, MAC %x", fr.rec.LinkType, f.MAC)
			}
			if f.IfIndex != c.ifindex {
				continue // the same packet seen on the lower devices
			}
			if r, ok := echo(f, c.src, c.dst); ok && r {
				req++
				if f.PktType != packet.PacketOutgoing || !f.HasSrcMAC || f.SrcMAC != vaMAC {
					t.Errorf("SLL2 request %s > %s: %+v", c.src, c.dst, f)
				}
			}
			if r, ok := echo(f, c.dst, c.src); ok && !r {
				rep++
				if f.PktType != packet.PacketHost || f.SrcMAC != vbMAC {
					t.Errorf("SLL2 reply %s > %s: %+v", c.dst, c.src, f)
				}
			}
		}
		if req != 1 || rep != 1 {
			t.Errorf("SLL2 %s > %s on ifindex %d: %d requests, %d replies", c.src, c.dst, c.ifindex, req, rep)
		}
	}

	// SLL (v1): no interface index, but the packet type and source.
	var req, rep int
	for _, fr := range readFrames(t, sll1Path) {
		f := &fr.f
		if fr.rec.LinkType != packet.LinkLinuxSLL {
			t.Fatalf("SLL capture: link type %d", fr.rec.LinkType)
		}
		if r, ok := echo(f, "10.99.0.1", "10.99.0.2"); ok && r {
			req++
			if f.PktType != packet.PacketOutgoing || f.SrcMAC != vaMAC || f.IfIndex != 0 || f.MAC != nil {
				t.Errorf("SLL request: %+v", f)
			}
		}
		if r, ok := echo(f, "10.99.0.2", "10.99.0.1"); ok && !r {
			rep++
			if f.PktType != packet.PacketHost || f.SrcMAC != vbMAC {
				t.Errorf("SLL reply: %+v", f)
			}
		}
	}
	if req != 1 || rep != 1 {
		t.Errorf("SLL: %d requests, %d replies", req, rep)
	}

	// The packet type derived from the Ethernet destination agrees with
	// the kernel's for every frame va received (unicast, broadcast,
	// multicast neighbour solicitations).
	kinds := map[uint8]int{}
	for _, s := range sllFrames {
		if s.f.IfIndex != vaIdx || s.f.PktType == packet.PacketOutgoing {
			continue
		}
		for _, e := range ethFrames {
			if !e.f.HasVLAN && bytes.Equal(e.f.Net, s.f.Net) && e.f.SrcMAC == s.f.SrcMAC {
				if e.f.PktType != s.f.PktType {
					t.Errorf("packet type from the Ethernet header %d, kernel %d: %x", e.f.PktType, s.f.PktType, e.f.MAC)
				}
				kinds[s.f.PktType]++
				break
			}
		}
	}
	if kinds[packet.PacketHost] == 0 || kinds[packet.PacketBroadcast] == 0 {
		t.Errorf("compared packet types: %v; want unicast and broadcast frames", kinds)
	}
}
