package host

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/pipeline"
)

// TestSnapshotChild is run by the kernel tests inside a namespace (ip netns
// exec) to take the snapshot there; on its own it does nothing.
func TestSnapshotChild(t *testing.T) {
	dir := os.Getenv("NFGO_HOST_SNAPSHOT_DIR")
	if dir == "" {
		t.Skip("only run inside a namespace by the kernel tests")
	}
	if err := Snapshot(dir); err != nil {
		t.Fatal(err)
	}
}

type testNS struct {
	t    *testing.T
	name string
}

func newNS(t *testing.T, suffix string) *testNS {
	t.Helper()
	name := fmt.Sprintf("nfx-host-%d-%s", os.Getpid(), suffix)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return &testNS{t, name}
}

func (n *testNS) run(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	return string(out), err
}

func (n *testNS) must(cmds string) {
	n.t.Helper()
	for _, l := range strings.Split(cmds, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if out, err := n.run(strings.Fields(l)...); err != nil {
			n.t.Fatalf("%s: %v: %s", l, err, out)
		}
	}
}

// snapshot takes a snapshot inside the namespace by running this test
// binary there.
func (n *testNS) snapshot() *Host {
	n.t.Helper()
	dir := n.t.TempDir()
	cmd := exec.Command("ip", "netns", "exec", n.name, os.Args[0], "-test.run=^TestSnapshotChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFGO_HOST_SNAPSHOT_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("snapshot in %s: %v: %s", n.name, err, out)
	}
	h, err := Load(dir)
	if err != nil {
		n.t.Fatal(err)
	}
	return h
}

type kernelRoute struct {
	Type    string `json:"type"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
	Prefsrc string `json:"prefsrc"`
}

var kernelErrs = map[string]errno{
	"Invalid argument":          eInval,
	"No route to host":          eHostUnreach,
	"Network is unreachable":    eNetUnreach,
	"Permission denied":         eAccess,
	"Invalid cross-device link": eXDev,
}

// routeGet asks the kernel: ip -j route get.
func (n *testNS) routeGet(args string) (kernelRoute, errno) {
	n.t.Helper()
	out, err := n.run(append([]string{"ip", "-j", "route", "get"}, strings.Fields(args)...)...)
	if err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "RTNETLINK answers:"))
		e, ok := kernelErrs[msg]
		if !ok {
			n.t.Fatalf("ip route get %s: %v: %s", args, err, out)
		}
		return kernelRoute{}, e
	}
	var rs []kernelRoute
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
		n.t.Fatalf("ip route get %s: unexpected output %q", args, out)
	}
	return rs[0], eOK
}

type rcase struct {
	dst, src, iif string
	mark          uint32
}

func (c rcase) args() string {
	s := c.dst
	if c.src != "" {
		s += " from " + c.src
	}
	if c.iif != "" {
		s += " iif " + c.iif
	}
	if c.mark != 0 {
		s += fmt.Sprintf(" mark %d", c.mark)
	}
	return s
}

// compare checks nfgo's decision for one case against the kernel's.
func compare(t *testing.T, ns *testNS, h *Host, c rcase) {
	t.Helper()
	dst := netip.MustParseAddr(c.dst)
	fam := nf.IPv4
	if dst.Is6() {
		fam = nf.IPv6
	}
	var src netip.Addr
	if c.src != "" {
		src = netip.MustParseAddr(c.src)
	}
	kr, kerr := ns.routeGet(c.args())
	var got pipeline.Route
	var gerr errno
	if c.iif != "" {
		got, gerr = h.routeInput(fam, src, dst, c.iif, c.mark)
	} else {
		got, gerr = h.routeOutput(fam, src, dst, c.mark)
	}
	desc := fmt.Sprintf("%s: kernel %s %+v, nfgo %+v (%s)", c.args(), kerr, kr, got, gerr)
	if kerr != eOK {
		// Since 6.13 the kernel reports every martian as EINVAL.
		if gerr != kerr && !(gerr == eXDev && kerr == eInval) {
			t.Errorf("%s: error differs", desc)
		}
		if got.Kind != pipeline.RouteDrop && got.Kind != pipeline.RouteUnreachable {
			t.Errorf("%s: nfgo does not drop", desc)
		}
		return
	}
	if c.iif != "" {
		switch kr.Type {
		case "local", "broadcast", "multicast":
			if got.Kind != pipeline.RouteLocal {
				t.Errorf("%s: want local delivery", desc)
			}
			return
		}
		if fam == nf.IPv6 && !h.forwarding(fam, c.iif) {
			// The kernel's lookup succeeds; ip6_forward then drops.
			if got.Kind != pipeline.RouteDrop || !strings.Contains(got.Reason, "forwarding disabled") {
				t.Errorf("%s: want a forwarding-disabled drop", desc)
			}
			return
		}
		if got.Kind != pipeline.RouteForward {
			t.Errorf("%s: want forwarding", desc)
			return
		}
	} else if got.Kind != pipeline.RouteOut {
		t.Errorf("%s: want output", desc)
		return
	}
	if got.OutDev != kr.Dev {
		t.Errorf("%s: out dev differs", desc)
	}
	if (kr.Gateway == "") != !got.Gateway.IsValid() || (kr.Gateway != "" && kr.Gateway != got.Gateway.String()) {
		t.Errorf("%s: gateway differs", desc)
	}
	if c.iif == "" && c.src == "" && kr.Prefsrc != "" && kr.Prefsrc != got.PrefSrc.String() {
		t.Errorf("%s: source address differs", desc)
	}
}

func TestRoutingAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	a, b := newNS(t, "a"), newNS(t, "b")
	for _, p := range [][2]string{{"a0", "b0"}, {"a1", "b1"}, {"a2", "b2"}} {
		if out, err := exec.Command("ip", "link", "add", p[0], "netns", a.name, "type", "veth", "peer", "name", p[1], "netns", b.name).CombinedOutput(); err != nil {
			t.Fatalf("veth: %v: %s", err, out)
		}
		b.must("ip link set " + p[1] + " up")
	}
	out4 := []rcase{
		{dst: "192.168.5.7"}, {dst: "192.168.7.7"}, {dst: "10.1.0.77"}, {dst: "10.2.0.77"},
		{dst: "10.1.0.1"}, {dst: "10.2.0.9"}, {dst: "192.0.2.1"}, {dst: "127.0.0.5"},
		{dst: "10.1.0.255"}, {dst: "10.3.0.255"}, {dst: "1.1.1.1"}, {dst: "198.18.3.4"},
		{dst: "10.99.1.1"}, {dst: "10.98.1.1"}, {dst: "10.97.1.1"},
		{dst: "172.16.5.9", mark: 5}, {dst: "172.16.9.9", mark: 5}, {dst: "172.16.9.9", mark: 0x105},
		{dst: "172.16.9.9", mark: 7}, {dst: "172.16.9.9", mark: 6}, {dst: "172.16.5.9"},
		{dst: "9.9.9.9"}, {dst: "198.51.100.7"}, {dst: "203.0.113.5"},
		{dst: "100.64.1.1"}, {dst: "100.64.1.1", src: "10.1.0.1"}, {dst: "100.80.1.1"},
		{dst: "8.8.8.8", src: "10.1.0.1"}, {dst: "10.3.0.7", src: "10.2.0.9"},
		{dst: "192.168.5.7", src: "192.0.2.1"}, {dst: "10.2.0.1", src: "10.1.0.1"},
	}
	in4 := []rcase{
		{dst: "10.1.0.1", src: "10.1.0.77", iif: "a0"}, {dst: "10.2.0.1", src: "10.1.0.77", iif: "a0"},
		{dst: "192.0.2.1", src: "10.2.0.8", iif: "a1"}, {dst: "10.1.0.255", src: "10.1.0.77", iif: "a0"},
		{dst: "255.255.255.255", src: "10.1.0.77", iif: "a0"}, {dst: "10.1.0.1", src: "10.2.0.9", iif: "a0"},
		{dst: "10.1.0.1", src: "127.0.0.1", iif: "a0"}, {dst: "127.0.0.1", src: "10.1.0.77", iif: "a0"},
		{dst: "10.1.0.1", src: "224.0.0.9", iif: "a0"}, {dst: "10.1.0.1", src: "0.0.0.0", iif: "a0"},
		{dst: "0.1.2.3", src: "10.1.0.77", iif: "a0"},
		{dst: "192.168.5.7", src: "10.1.0.77", iif: "a0"}, {dst: "192.168.5.7", src: "10.2.0.77", iif: "a1"},
		{dst: "192.168.5.7", src: "10.3.0.77", iif: "a1"}, {dst: "192.168.5.7", src: "10.2.0.77", iif: "a0"},
		{dst: "192.168.5.7", src: "8.8.4.4", iif: "a1"}, {dst: "10.1.0.1", src: "8.8.4.4", iif: "a1"},
		{dst: "10.1.0.1", src: "10.3.0.6", iif: "a1"}, {dst: "10.1.0.1", src: "10.99.0.6", iif: "a1"},
		{dst: "10.3.0.8", src: "10.1.0.77", iif: "a0"}, {dst: "10.1.0.9", src: "10.1.0.77", iif: "a0"},
		{dst: "10.99.1.1", src: "10.1.0.77", iif: "a0"}, {dst: "10.98.1.1", src: "10.1.0.77", iif: "a0"},
		{dst: "10.97.1.1", src: "10.1.0.77", iif: "a0"}, {dst: "9.9.9.9", src: "10.1.0.77", iif: "a0"},
		{dst: "203.0.113.5", src: "10.2.0.77", iif: "a1"}, {dst: "203.0.113.5", src: "10.1.0.77", iif: "a0"},
		{dst: "8.8.8.8", src: "10.1.0.77", iif: "a0"}, {dst: "8.8.8.8", src: "10.2.0.77", iif: "a1"},
		{dst: "172.16.9.9", src: "10.1.0.77", iif: "a0", mark: 7}, {dst: "172.16.5.9", src: "10.1.0.77", iif: "a0", mark: 5},
		{dst: "100.64.1.1", src: "10.1.0.77", iif: "a0"}, {dst: "100.64.1.1", src: "100.64.9.9", iif: "a0"},
	}
	out6 := []rcase{
		{dst: "2001:db8:99::5"}, {dst: "2001:db8:99:5::5"}, {dst: "2001:db8:2::77"}, {dst: "2001:db8:3::77"},
		{dst: "2001:db8:1::1"}, {dst: "2001:db8:2::1"}, {dst: "::1"}, {dst: "2001:db8:4444::1"},
		{dst: "2001:db8:dead::1"}, {dst: "2001:db8:beef::1"}, {dst: "2001:db8:f00d::1"},
		{dst: "2001:db8:77::1", mark: 9}, {dst: "2001:db8:77::1"}, {dst: "2001:db8:66::1"},
		{dst: "2001:db8:99::5", src: "2001:db8:2::1"},
	}
	in6 := []rcase{
		{dst: "2001:db8:1::1", src: "2001:db8:1::7", iif: "a0"}, {dst: "2001:db8:2::1", src: "2001:db8:1::7", iif: "a0"},
		{dst: "2001:db8:99::5", src: "2001:db8:2::7", iif: "a1"}, {dst: "2001:db8:dead::1", src: "2001:db8:2::7", iif: "a1"},
		{dst: "2001:db8:beef::1", src: "2001:db8:2::7", iif: "a1"}, {dst: "2001:db8:f00d::1", src: "2001:db8:2::7", iif: "a1"},
		{dst: "2001:db8:77::1", src: "2001:db8:2::7", iif: "a1", mark: 9}, {dst: "2001:db8:66::1", src: "2001:db8:2::7", iif: "a1"},
		{dst: "2001:db8:3::9", src: "2001:db8:1::7", iif: "a0"},
	}
	a.must(`
		ip link set lo up
		ip link set a0 up
		ip link set a1 up
		ip link set a2 up
		ip addr add 10.1.0.1/24 dev a0
		ip addr add 10.2.0.1/24 dev a1
		ip addr add 10.2.0.9/24 dev a1
		ip addr add 10.3.0.1/24 dev a2
		ip addr add 192.0.2.1/32 dev a2
		ip -6 addr add 2001:db8:1::1/64 dev a0 nodad
		ip -6 addr add 2001:db8:2::1/64 dev a1 nodad
		ip -6 addr add 2001:db8:3::1/64 dev a2 nodad
		ip route add default via 10.1.0.254
		ip route add 192.168.5.0/24 via 10.1.0.2 metric 5
		ip route add 192.168.5.0/24 via 10.2.0.2 metric 10
		ip route add 192.168.0.0/16 via 10.2.0.2
		ip route add 198.18.0.0/15 dev a2 src 192.0.2.1
		ip route add blackhole 10.99.0.0/16
		ip route add unreachable 10.98.0.0/16
		ip route add prohibit 10.97.0.0/16
		ip route add 172.16.5.0/24 via 10.2.0.3 table 100
		ip route add throw 172.16.0.0/12 table 100
		ip route add 172.16.0.0/12 via 10.1.0.3 table 200 src 10.2.0.1
		ip route add 100.64.0.0/10 via 10.3.0.5 table 200
		ip route add 8.8.8.0/24 via 10.3.0.8 table 200
		ip -6 route add default via 2001:db8:1::ff
		ip neigh add 10.1.0.2 lladdr 02:00:00:00:00:02 dev a0
		sysctl -qw net.ipv4.ip_forward=1
	`)
	// Without custom rules the kernel checks sources against the local
	// addresses only; the decisions must come out the same.
	h := a.snapshot()
	if h.customRules || h.customLocal {
		t.Error("the default rules or local routes were taken for custom ones")
	}
	t.Run("default rules", func(t *testing.T) {
		for _, c := range in4 {
			compare(t, a, h, c)
		}
	})
	a.must(`
		ip rule add fwmark 0x5/0xff lookup 100 pref 100
		ip rule add fwmark 0x7 lookup 200 pref 110
		ip rule add from 10.1.0.0/24 to 8.8.8.0/24 iif a0 lookup 200 pref 200
		ip rule add prohibit to 9.9.9.9 pref 300
		ip rule add iif a1 to 203.0.113.0/24 unreachable pref 310
		ip rule add blackhole to 198.51.100.7 pref 320
		ip rule add not from 10.0.0.0/8 to 100.64.0.0/10 lookup 200 pref 330
		ip rule add to 100.80.0.0/12 goto 32766 pref 331
		ip rule add to 100.80.0.0/12 lookup 200 pref 332
		ip rule add lookup main suppress_prefixlength 0 pref 50
		ip -6 route add 2001:db8:99::/48 via 2001:db8:1::2
		ip -6 route add 2001:db8:99:5::/64 via 2001:db8:2::2 metric 100
		ip -6 route add blackhole 2001:db8:dead::/48
		ip -6 route add unreachable 2001:db8:beef::/48
		ip -6 route add prohibit 2001:db8:f00d::/48
		ip -6 route add 2001:db8:77::/48 via 2001:db8:3::7 table 300
		ip -6 rule add fwmark 9 lookup 300 pref 100
		ip -6 rule add to 2001:db8:66::/48 prohibit pref 200
	`)
	all := func() []rcase {
		var cs []rcase
		for _, l := range [][]rcase{out4, in4, out6, in6} {
			cs = append(cs, l...)
		}
		return cs
	}()
	phases := []struct{ name, sysctls string }{
		{"forwarding off", `
			sysctl -qw net.ipv4.ip_forward=0
			sysctl -qw net.ipv6.conf.all.forwarding=0
			sysctl -qw net.ipv4.conf.all.rp_filter=0
			sysctl -qw net.ipv4.conf.a0.rp_filter=0
			sysctl -qw net.ipv4.conf.a1.rp_filter=0`},
		{"forwarding on", `
			sysctl -qw net.ipv4.ip_forward=1
			sysctl -qw net.ipv6.conf.all.forwarding=1`},
		{"rp_filter", `
			sysctl -qw net.ipv4.conf.a1.rp_filter=1
			sysctl -qw net.ipv4.conf.a0.rp_filter=2`},
		{"rp_filter all", `
			sysctl -qw net.ipv4.conf.a0.rp_filter=0
			sysctl -qw net.ipv4.conf.all.rp_filter=2`},
		{"accept_local", `
			sysctl -qw net.ipv4.conf.all.rp_filter=0
			sysctl -qw net.ipv4.conf.a1.rp_filter=0
			sysctl -qw net.ipv4.conf.a0.accept_local=1
			sysctl -qw net.ipv4.conf.a0.forwarding=0`},
	}
	for _, ph := range phases {
		a.must(ph.sysctls)
		h := a.snapshot()
		t.Run(ph.name, func(t *testing.T) {
			for _, c := range all {
				compare(t, a, h, c)
			}
		})
	}
}
