package host

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/pipeline"
)

// testdata/combined was written by ip -j inside a namespace, with
// `ip -j route show table all` listing both families in ip-route.json.
// The expectations below are what `ip route get` answered there.
func loadCombined(t testing.TB) *Host {
	t.Helper()
	h, err := Load("testdata/combined")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLoadCombined(t *testing.T) {
	h := loadCombined(t)
	ifc := h.Iface("nfxh0")
	if ifc == nil || ifc.Index != 2 || !ifc.Up || ifc.Loopback || ifc.MTU != 1500 || !ifc.HasMAC ||
		ifc.MAC != [6]byte{0xb6, 0x27, 0xad, 0x1e, 0xab, 0x0e} {
		t.Fatalf("nfxh0: %+v", ifc)
	}
	want := []string{"10.1.0.1/24", "10.1.0.9/32", "2001:db8:1::1/64", "fe80::b427:adff:fe1e:ab0e/64"}
	if len(ifc.Addrs) != len(want) {
		t.Fatalf("addrs %v", ifc.Addrs)
	}
	for i, w := range want {
		if ifc.Addrs[i].String() != w {
			t.Errorf("addr %d = %s, want %s", i, ifc.Addrs[i], w)
		}
	}
	if lo := h.IfaceByIndex(1); lo == nil || lo.Name != "lo" || !lo.Loopback || lo.HasMAC {
		t.Errorf("lo: %+v", lo)
	}
	if len(h.Ifaces()) != 2 {
		t.Errorf("%d interfaces", len(h.Ifaces()))
	}
	if m, ok := h.Neighbour("nfxh0", netip.MustParseAddr("10.1.0.2")); !ok || m != [6]byte{2, 0, 0, 0, 0, 2} {
		t.Errorf("neighbour: %v %v", m, ok)
	}
	if _, ok := h.Neighbour("lo", netip.MustParseAddr("10.1.0.2")); ok {
		t.Error("neighbour found on the wrong interface")
	}
	if h.RulesPath(nf.IPv4) != "" {
		t.Error("rules path without a file")
	}
	if n := len(h.tables["main"].routes[1]); n != 3 {
		t.Errorf("IPv6 routes of the combined file in main: %d, want 3", n)
	}
	cases := []struct {
		fam      nf.Family
		dst      string
		mark     uint32
		kind     pipeline.RouteKind
		dev, gw  string
		src      string
		reasonIn string
	}{
		{nf.IPv4, "192.168.5.7", 0, pipeline.RouteOut, "nfxh0", "10.1.0.2", "10.1.0.1", ""},
		{nf.IPv4, "10.1.0.50", 0, pipeline.RouteOut, "nfxh0", "", "10.1.0.1", ""},
		{nf.IPv4, "10.1.0.1", 0, pipeline.RouteOut, "lo", "", "10.1.0.1", ""},
		{nf.IPv4, "127.0.0.5", 0, pipeline.RouteOut, "lo", "", "127.0.0.1", ""},
		{nf.IPv4, "172.16.1.1", 5, pipeline.RouteOut, "nfxh0", "10.1.0.3", "10.1.0.9", ""},
		{nf.IPv4, "172.16.1.1", 0, pipeline.RouteUnreachable, "", "", "", "no route"},
		{nf.IPv4, "1.2.3.4", 5, pipeline.RouteUnreachable, "", "", "", "no route"},
		{nf.IPv4, "9.9.9.9", 0, pipeline.RouteUnreachable, "", "", "", "prohibit"},
		{nf.IPv4, "10.99.1.1", 0, pipeline.RouteDrop, "", "", "", "blackhole"},
		{nf.IPv4, "10.98.1.1", 0, pipeline.RouteUnreachable, "", "", "", "unreachable"},
		{nf.IPv6, "2001:db8:99::5", 0, pipeline.RouteOut, "nfxh0", "2001:db8:1::2", "2001:db8:1::1", ""},
		{nf.IPv6, "2001:db8:1::1", 0, pipeline.RouteOut, "lo", "", "2001:db8:1::1", ""},
	}
	for _, c := range cases {
		r := h.RouteOutput(c.fam, netip.Addr{}, netip.MustParseAddr(c.dst), c.mark)
		if r.Kind != c.kind || r.OutDev != c.dev || (c.gw == "") == r.Gateway.IsValid() ||
			(c.gw != "" && r.Gateway.String() != c.gw) || (c.src != "" && r.PrefSrc.String() != c.src) ||
			!strings.Contains(r.Reason, c.reasonIn) {
			t.Errorf("RouteOutput %s mark %d = %+v", c.dst, c.mark, r)
		}
	}
}

func TestRouteInputBasics(t *testing.T) {
	h := loadCombined(t) // ip_forward = 1 in its sysctl.conf
	a := netip.MustParseAddr
	for _, c := range []struct {
		src, dst, in string
		kind         pipeline.RouteKind
		out, reason  string
	}{
		{"10.1.0.77", "10.1.0.1", "nfxh0", pipeline.RouteLocal, "", ""},
		{"10.1.0.77", "10.1.0.255", "nfxh0", pipeline.RouteLocal, "", ""},
		{"10.1.0.77", "192.168.5.7", "nfxh0", pipeline.RouteForward, "nfxh0", ""},
		{"10.1.0.9", "10.1.0.1", "nfxh0", pipeline.RouteDrop, "", "martian source"},
		{"127.0.0.1", "10.1.0.1", "nfxh0", pipeline.RouteDrop, "", "martian source"},
		{"224.0.0.5", "10.1.0.1", "nfxh0", pipeline.RouteDrop, "", "martian source"},
		{"10.1.0.77", "127.0.0.1", "nfxh0", pipeline.RouteDrop, "", "martian destination"},
		{"10.1.0.77", "8.8.8.8", "nfxh0", pipeline.RouteUnreachable, "", "no route to host"},
		{"10.1.0.1", "10.1.0.1", "lo", pipeline.RouteLocal, "", ""},
		{"127.0.0.1", "127.0.0.1", "lo", pipeline.RouteLocal, "", ""},
		{"10.1.0.77", "10.1.0.1", "nope", pipeline.RouteDrop, "", "unknown"},
	} {
		r := h.RouteInput(nf.IPv4, a(c.src), a(c.dst), c.in, 0)
		if r.Kind != c.kind || r.OutDev != c.out || !strings.Contains(r.Reason, c.reason) {
			t.Errorf("RouteInput %s -> %s on %s = %+v", c.src, c.dst, c.in, r)
		}
	}
	// With forwarding off the same packet is dropped and the reason says why.
	h.sysctl["net.ipv4.ip_forward"] = "0"
	h.finish()
	r := h.RouteInput(nf.IPv4, a("10.1.0.77"), a("192.168.5.7"), "nfxh0", 0)
	if r.Kind != pipeline.RouteDrop || r.Reason != "forwarding disabled (net.ipv4.ip_forward=0)" {
		t.Errorf("forwarding off: %+v", r)
	}
	r = h.RouteInput(nf.IPv6, a("2001:db8:1::7"), a("2001:db8:99::5"), "nfxh0", 0)
	if r.Kind != pipeline.RouteDrop || r.Reason != "forwarding disabled (net.ipv6.conf.all.forwarding=0)" {
		t.Errorf("IPv6 forwarding off: %+v", r)
	}
}

func TestAddrTypeAndIfaceAddr(t *testing.T) {
	h := loadCombined(t)
	a := netip.MustParseAddr
	for _, c := range []struct {
		addr, dev string
		want      uint8
	}{
		{"10.1.0.1", "", 2}, {"10.1.0.9", "nfxh0", 2}, {"10.1.0.1", "lo", 1}, {"127.0.0.9", "", 2},
		{"10.1.0.255", "", 3}, {"255.255.255.255", "", 3}, {"0.0.0.0", "", 3}, {"224.0.0.1", "", 5},
		{"8.8.8.8", "", 1}, {"10.99.0.1", "", 1},
		{"2001:db8:1::1", "", 2}, {"2001:db8:1::1", "nfxh0", 2}, {"::1", "", 2}, {"ff02::1", "", 5},
		{"2001:db8:99::1", "", 1}, {"2001:db8:5::1", "", 7}, {"::", "", 0},
	} {
		if got := h.AddrType(a(c.addr), c.dev); got != c.want {
			t.Errorf("AddrType(%s, %q) = %d, want %d", c.addr, c.dev, got, c.want)
		}
	}
	if ad, ok := h.IfaceAddr("nfxh0", nf.IPv4); !ok || ad != a("10.1.0.1") {
		t.Errorf("IfaceAddr v4 = %v %v", ad, ok)
	}
	if ad, ok := h.IfaceAddr("nfxh0", nf.IPv6); !ok || ad != a("2001:db8:1::1") {
		t.Errorf("IfaceAddr v6 = %v %v", ad, ok)
	}
	if _, ok := h.IfaceAddr("nope", nf.IPv4); ok {
		t.Error("address on a missing interface")
	}
	if dev, ok := h.RouteOut(nf.IPv4, netip.Addr{}, a("192.168.5.1"), 0, ""); !ok || dev != "nfxh0" {
		t.Errorf("RouteOut = %q %v", dev, ok)
	}
	if _, ok := h.RouteOut(nf.IPv4, netip.Addr{}, a("10.99.5.1"), 0, ""); ok {
		t.Error("RouteOut through a blackhole")
	}
}

func TestSysctl(t *testing.T) {
	m := map[string]string{}
	in := "# comment\n; other comment\n\nnet.ipv4.ip_forward = 1\nnet.ipv4.tcp_rmem = 4096\t131072\t6291456\n" +
		"net.ipv4.conf.eth0/100.rp_filter=2\n-net.ipv4.conf.all.accept_local = 1\nkernel.hostname = a = b\n"
	if err := parseSysctl(strings.NewReader(in), m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
		"net.ipv4.conf.eth0/100.rp_filter": "2", "net.ipv4.conf.all.accept_local": "1", "kernel.hostname": "a = b"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("%d keys: %v", len(m), m)
	}
	h := &Host{sysctl: m}
	if h.SysctlInt("net.ipv4.tcp_rmem", 0) != 4096 || h.SysctlInt("missing", 7) != 7 || h.SysctlInt("kernel.hostname", 3) != 3 {
		t.Error("SysctlInt")
	}
	if v, ok := h.Sysctl("net.ipv4.ip_forward"); !ok || v != "1" {
		t.Error("Sysctl")
	}
	if confKey(nf.IPv4, "eth0.100", "rp_filter") != "net.ipv4.conf.eth0/100.rp_filter" {
		t.Error("interface names with dots are written with slashes")
	}
	for _, c := range []struct{ in, msg string }{
		{"net.ipv4.ip_forward = 1\nnet.ipv4.ip_forward\n", "sysctl.conf:2: no '='"},
		{"\n\n\n = 1\n", "sysctl.conf:4: bad key"},
		{"net ipv4 = 1\n", "sysctl.conf:1: bad key"},
	} {
		err := parseSysctl(strings.NewReader(c.in), map[string]string{})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.msg)
		}
	}
}

// copyCombined copies the test snapshot so that one file can be spoiled.
func copyCombined(t *testing.T) string {
	dir := t.TempDir()
	es, _ := os.ReadDir("testdata/combined")
	for _, e := range es {
		data, err := os.ReadFile(filepath.Join("testdata/combined", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ip-addr.json") {
		t.Errorf("missing ip-addr.json: %v", err)
	}
	for _, c := range []struct{ file, content, msg string }{
		{"ip-addr.json", `{"ifname": "x"}`, "ip-addr.json: not a JSON array"},
		{"ip-addr.json", `[{"ifindex": "1", "ifname": "lo"}]`, `ip-addr.json: entry 0: field "ifindex"`},
		{"ip-addr.json", `[{"ifindex": 1, "ifname": "lo", "addr_info": [{"local": "1.2.3"}]}]`, `field "local"`},
		{"ip-route.json", `[{"dst": "10.0.0.0/8", "metric": "x"}]`, `ip-route.json: entry 0: field "metric"`},
		{"ip-route.json", `[{"dst": "10.0.0.0/33"}]`, `ip-route.json: entry 0: field "dst"`},
		{"ip-route.json", `[{"dst": "10.0.0.0/8", "dev": "eth9"}]`, `no interface "eth9"`},
		{"ip-route.json", `[{"dst": "10.0.0.0/8", "type": "weird"}]`, `field "type"`},
		{"ip6-route.json", `[{"dst": "2001:db8::/32", "gateway": "fe80::1::1", "dev": "lo"}]`, `ip6-route.json: entry 0: nexthop 0: field "gateway"`},
		{"ip-rule.json", `[{"src": "all", "table": "main"}]`, `ip-rule.json: entry 0: field "priority" missing`},
		{"ip-rule.json", `[{"priority": 5, "fwmark": "0xzz", "table": "main"}]`, `field "fwmark"`},
		{"ip-rule.json", `[{"priority": 5, "action": "explode"}]`, `field "action"`},
		{"ip-neigh.json", `[{"dst": "10.1.0.2", "dev": "nfxh0", "lladdr": "02:00"}]`, `ip-neigh.json: entry 0: field "lladdr"`},
		{"sysctl.conf", "a = 1\nb\n", "sysctl.conf:2"},
	} {
		dir := copyCombined(t)
		os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o644)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %s: error %v, want %q", c.file, c.content, err, c.msg)
		}
	}
}

func TestRouteFileFamilies(t *testing.T) {
	// With ip6-route.json present, IPv6 routes come from it alone.
	dir := copyCombined(t)
	os.WriteFile(filepath.Join(dir, "ip6-route.json"), []byte(`[{"dst": "2001:db8:42::/48", "gateway": "2001:db8:1::9", "dev": "nfxh0", "metric": 1024}]`), 0o644)
	h, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := h.RouteOutput(nf.IPv6, netip.Addr{}, netip.MustParseAddr("2001:db8:99::5"), 0)
	if r.Kind == pipeline.RouteOut {
		t.Errorf("IPv6 route of ip-route.json used despite ip6-route.json: %+v", r)
	}
	r = h.RouteOutput(nf.IPv6, netip.Addr{}, netip.MustParseAddr("2001:db8:42::5"), 0)
	if r.Kind != pipeline.RouteOut || r.Gateway.String() != "2001:db8:1::9" {
		t.Errorf("ip6-route.json route: %+v", r)
	}
	if n := len(h.tables["main"].routes[0]); n != 4 {
		t.Errorf("IPv4 routes in main: %d, want 4", n)
	}
}

func TestNoAllocs(t *testing.T) {
	h := loadCombined(t)
	a := netip.MustParseAddr
	src, dst, loc := a("10.1.0.77"), a("192.168.5.7"), a("10.1.0.1")
	s6, d6 := a("2001:db8:1::7"), a("2001:db8:99::5")
	n := testing.AllocsPerRun(200, func() {
		h.RouteInput(nf.IPv4, src, dst, "nfxh0", 0)
		h.RouteInput(nf.IPv4, src, loc, "nfxh0", 0)
		h.RouteInput(nf.IPv4, loc, loc, "nfxh0", 0)
		h.RouteInput(nf.IPv4, src, a("10.99.0.1"), "nfxh0", 0)
		h.RouteInput(nf.IPv6, s6, d6, "nfxh0", 0)
		h.RouteOutput(nf.IPv4, netip.Addr{}, dst, 5)
		h.RouteOutput(nf.IPv6, netip.Addr{}, d6, 0)
		h.AddrType(dst, "nfxh0")
	})
	if n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

func BenchmarkRouteInput(b *testing.B) {
	h := loadCombined(b)
	src, dst := netip.MustParseAddr("10.1.0.77"), netip.MustParseAddr("192.168.5.7")
	b.ReportAllocs()
	for b.Loop() {
		h.RouteInput(nf.IPv4, src, dst, "nfxh0", 0)
	}
}
