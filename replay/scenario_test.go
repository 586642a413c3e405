package replay_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/replay"
	"github.com/nfgo/nfgo/ruleset"
)

// A scenario is a directory under testdata/scenarios with scenario.txt
// (the host's interfaces, routes, policy rules, neighbours, sysctls and the packets to
// send, in nfgo trace's line syntax) and rules4.txt / rules6.txt. Each runs
// through the kernel in a namespace and through nfgo replay; LOG lines,
// counters and emitted packets must agree byte for byte.
type scenario struct {
	name    string
	cfg     kerneltest.LabConfig
	packets []string // packet lines, each with "in IFACE"
	// conntrack: also compare the conntrack table (conntrack -L) after
	// the packets and the events (conntrack -E) while they pass.
	conntrack bool
	// global: sysctls only the initial namespace can set (such as
	// net.netfilter.nf_conntrack_max), set for the scenario and restored.
	// The lab lock keeps other labs out meanwhile.
	global map[string]string
}

func loadScenario(t *testing.T, dir string) *scenario {
	t.Helper()
	sc := &scenario{name: filepath.Base(dir)}
	f, err := os.Open(filepath.Join(dir, "scenario.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch kw {
		case "iface":
			// iface NAME mac MAC peer MAC [mtu N] addr CIDR [addr CIDR...]
			w := strings.Fields(rest)
			ifc := kerneltest.LabIface{Name: w[0]}
			for i := 1; i+1 < len(w); i += 2 {
				switch w[i] {
				case "mac":
					ifc.MAC = w[i+1]
				case "peer":
					ifc.PeerMAC = w[i+1]
				case "addr":
					ifc.Addrs = append(ifc.Addrs, w[i+1])
				case "mtu":
					m, err := strconv.Atoi(w[i+1])
					if err != nil || m < 68 {
						t.Fatalf("%s/scenario.txt:%d: bad mtu %q", dir, n, w[i+1])
					}
					ifc.MTU = m
				default:
					t.Fatalf("%s/scenario.txt:%d: unknown iface keyword %q", dir, n, w[i])
				}
			}
			sc.cfg.Ifaces = append(sc.cfg.Ifaces, ifc)
		case "route":
			sc.cfg.Routes = append(sc.cfg.Routes, rest)
		case "rule":
			sc.cfg.IPRules = append(sc.cfg.IPRules, rest)
		case "neigh":
			sc.cfg.Neigh = append(sc.cfg.Neigh, rest)
		case "sysctl":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				t.Fatalf("%s/scenario.txt:%d: expected sysctl KEY=VALUE", dir, n)
			}
			if sc.cfg.Sysctls == nil {
				sc.cfg.Sysctls = map[string]string{}
			}
			sc.cfg.Sysctls[strings.TrimSpace(k)] = strings.TrimSpace(v)
		case "global-sysctl":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				t.Fatalf("%s/scenario.txt:%d: expected global-sysctl KEY=VALUE", dir, n)
			}
			if sc.global == nil {
				sc.global = map[string]string{}
			}
			sc.global[strings.TrimSpace(k)] = strings.TrimSpace(v)
		case "compare":
			if rest != "conntrack" {
				t.Fatalf("%s/scenario.txt:%d: expected \"compare conntrack\"", dir, n)
			}
			sc.conntrack = true
		case "packet":
			if _, err := packet.ParseLine(rest); err != nil {
				t.Fatalf("%s/scenario.txt:%d: %v", dir, n, err)
			}
			sc.packets = append(sc.packets, rest)
		default:
			t.Fatalf("%s/scenario.txt:%d: unknown keyword %q: expected iface, route, rule, neigh, sysctl, global-sysctl, compare or packet", dir, n, kw)
		}
	}
	for fam, name := range map[int]string{4: "rules4.txt", 6: "rules6.txt"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			if fam == 4 {
				sc.cfg.Rules4 = string(b)
			} else {
				sc.cfg.Rules6 = string(b)
			}
		}
	}
	return sc
}

type emitted struct {
	iface string
	frame []byte
}

func TestScenariosAgainstKernel(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/scenarios/*")
	if len(dirs) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	kerneltest.Require(t)
	for _, dir := range dirs {
		sc := loadScenario(t, dir)
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

func runScenario(t *testing.T, sc *scenario) {
	if sc.cfg.Sysctls == nil {
		sc.cfg.Sysctls = map[string]string{}
	}
	// The host's own TCP/UDP/ICMP stack answers what reaches it (RST,
	// port unreachable, echo reply); nfgo replays what netfilter does and
	// leaves those to the capture. Keep the kernel's stack quiet: echo
	// ignored, and everything but ICMP dropped by an nftables chain that
	// runs after every iptables INPUT table (priority 1000).
	sc.cfg.Sysctls["net.ipv4.icmp_echo_ignore_all"] = "1"
	sc.cfg.Sysctls["net.ipv6.icmp.echo_ignore_all"] = "1"
	lab := kerneltest.NewLab(t, sc.cfg)
	for k, v := range sc.global {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("global sysctl %s: %v", k, err)
		}
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			t.Fatalf("global sysctl %s=%s: %v", k, v, err)
		}
		t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
	}
	for _, args := range [][]string{
		{"nft", "add", "table", "inet", "nfgo_quiet"},
		{"nft", "add", "chain", "inet", "nfgo_quiet", "in", "{ type filter hook input priority 1000; }"},
		{"nft", "add", "rule", "inet", "nfgo_quiet", "in", "meta", "l4proto", "!=", "{ icmp, ipv6-icmp }", "drop"},
	} {
		if r := lab.Run(args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r.Stderr)
		}
	}
	snap := t.TempDir()
	if err := lab.Snapshot(snap); err != nil {
		t.Fatal(err)
	}
	macs := map[string][2]net.HardwareAddr{}
	for _, ifc := range sc.cfg.Ifaces {
		own, _ := net.ParseMAC(ifc.MAC)
		peer, _ := net.ParseMAC(ifc.PeerMAC)
		macs[ifc.Name] = [2]net.HardwareAddr{own, peer}
	}
	var capBuf bytes.Buffer
	w := capture.NewPcapngWriter(&capBuf)
	ifIDs := map[string]int{}
	var ifaces []string
	for _, ifc := range sc.cfg.Ifaces {
		ifaces = append(ifaces, ifc.Name)
	}
	if err := lab.StartCapture(ifaces...); err != nil {
		t.Fatal(err)
	}
	if sc.conntrack {
		if r := lab.Run("conntrack", "-F"); r.Code != 0 {
			t.Fatalf("conntrack -F: %s", r.Stderr)
		}
		if err := lab.StartConntrackEvents(); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range sc.packets {
		pl, err := packet.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pl.Packet()
		if err != nil {
			t.Fatal(err)
		}
		m, ok := macs[pl.InDev]
		if !ok {
			t.Fatalf("packet %q: interface %q is not in the scenario", line, pl.InDev)
		}
		var dst, src [6]byte
		copy(dst[:], m[0])
		copy(src[:], m[1])
		if pl.HasSrcMAC {
			src = pl.SrcMAC
		}
		if d := p.Dst(); d.IsMulticast() || (d.Is4() && d.As4()[3] == 255) {
			dst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		frame := packet.EncodeEthernet(dst, src, p.Family, p.Data, nil)
		id, ok := ifIDs[pl.InDev]
		if !ok {
			if id, err = w.Interface(pl.InDev, packet.LinkEthernet); err != nil {
				t.Fatal(err)
			}
			ifIDs[pl.InDev] = id
		}
		ts := time.Now().UnixNano()
		if err := lab.Inject(pl.InDev, frame); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(id, ts, frame); err != nil {
			t.Fatal(err)
		}
	}
	lab.Settle()
	var kEvents, kTable []string
	if sc.conntrack {
		kEvents = lab.ConntrackEvents()
		var err error
		if kTable, err = lab.Conntrack(); err != nil {
			t.Fatal(err)
		}
	}
	kEmitted := lab.Emitted()
	kLog := lab.LogLines()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	if out := os.Getenv("NFGO_SCENARIO_OUT"); out != "" {
		// Keep what the kernel saw and did, e.g. for examples/.
		writeScenarioOut(t, filepath.Join(out, sc.name), snap, capBuf.Bytes(), kLog, lab)
	}

	var nLog, nEvents []string
	var nEmitted []emitted
	var events func(string)
	if sc.conntrack {
		events = func(l string) { nEvents = append(nEvents, l) }
	}
	s, err := replay.Open(replay.Options{HostDir: snap,
		Events: events,
		Log:    func(l string) { nLog = append(nLog, l) },
		Emit: func(dev string, ts int64, frame []byte) {
			nEmitted = append(nEmitted, emitted{dev, append([]byte(nil), frame...)})
		}})
	if err != nil {
		t.Fatal(err)
	}
	var fates []string
	if _, err := s.Replay(bytes.NewReader(capBuf.Bytes()), "", func(r *replay.Report) error {
		fates = append(fates, fmt.Sprintf("%d %s: %s", r.N, r.Packet, r.Fate.Text))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("nfgo fates:\n%s", strings.Join(fates, "\n"))

	if got, want := maskLog(nLog), maskLog(kLog); got != want {
		t.Errorf("LOG lines differ\nnfgo:\n%s\nkernel:\n%s", got, want)
	}
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		rules := sc.cfg.Rules4
		if fam == nf.IPv6 {
			rules = sc.cfg.Rules6
		}
		if rules == "" {
			continue
		}
		want, err := lab.Save(fam, true)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		rs := s.Rules4
		if fam == nf.IPv6 {
			rs = s.Rules6
		}
		rs.Save(&b, ruleset.SaveOptions{Counters: true})
		if got := kerneltest.StripComments(b.String()); got != kerneltest.StripComments(want) {
			t.Errorf("%s counters differ\nnfgo:\n%s\nkernel:\n%s", fam.Program(), got, want)
		}
	}
	if sc.conntrack {
		var b bytes.Buffer
		if err := s.CT.WriteList(&b, s.Now()); err != nil {
			t.Fatal(err)
		}
		nTable := kerneltest.Lines(b.String())
		kerneltest.CompareConntrack(t, "conntrack -L (sorted)", kTable, nTable, true)
		kerneltest.CompareConntrack(t, "conntrack -E", kEvents, nEvents, false)
	}
	var kFrames []emitted
	for _, e := range kEmitted {
		if isIP(e.Frame) {
			kFrames = append(kFrames, emitted{e.Iface, e.Frame})
		}
	}
	if g, k := describeFrames(nEmitted), describeFrames(kFrames); g != k {
		t.Errorf("emitted packets differ\nnfgo:\n%s\nkernel:\n%s", g, k)
	}
}

func isIP(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	switch uint16(f[12])<<8 | uint16(f[13]) {
	case 0x0800:
		return true
	case 0x86dd:
		// Neighbour discovery and MLD are the kernel's own chatter,
		// not netfilter's doing.
		if len(f) < 14+41 || f[14+24] == 0xff {
			return false
		}
		if f[14+6] == 58 && f[14+40] >= 130 && f[14+40] <= 143 {
			return false
		}
		return true
	}
	return false
}

// describeFrames prints frames as hex, with the IP ID and header checksum
// of ICMP errors masked (the kernel takes that ID from a per-destination
// generator nfgo cannot see) and the flow label of ICMPv6 errors. IPv6
// fragment identifications are numbered in order of appearance: the
// kernel draws a random one for a datagram it fragments (ipv6_select_ident),
// and the numbering still shows which fragments belong together.
func describeFrames(fs []emitted) string {
	var b strings.Builder
	fragIDs := map[string]int{}
	for _, e := range fs {
		f := append([]byte(nil), e.frame...)
		if len(f) >= 14+48 && f[12] == 0x86 && f[13] == 0xdd && f[14+6] == 44 {
			id := string(f[14+44 : 14+48])
			n, ok := fragIDs[id]
			if !ok {
				n = len(fragIDs) + 1
				fragIDs[id] = n
			}
			f[14+44], f[14+45], f[14+46], f[14+47] = 0, 0, 0, byte(n)
		}
		if len(f) >= 14+20 && f[12] == 0x08 && f[13] == 0x00 && f[14+9] == 1 {
			ihl := int(f[14]&0x0f) * 4
			if len(f) > 14+ihl {
				switch f[14+ihl] {
				case 3, 4, 5, 11, 12:
					f[14+4], f[14+5] = 0, 0
					f[14+10], f[14+11] = 0, 0
				}
			}
		}
		if len(f) >= 14+41 && f[12] == 0x86 && f[13] == 0xdd && f[14+6] == 58 && f[14+40] < 128 {
			// ICMPv6 errors carry a flow label the kernel hashes
			// from a per-boot random seed.
			f[14+1] &= 0xf0
			f[14+2], f[14+3] = 0, 0
		}
		fmt.Fprintf(&b, "%s %x\n", e.iface, f)
	}
	return b.String()
}

func writeScenarioOut(t *testing.T, dir, snap string, pcapng []byte, log []string, lab *kerneltest.Lab) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(snap, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "capture.pcapng"), pcapng, 0o644)
	text := strings.Join(log, "\n")
	if text != "" {
		text += "\n"
	}
	os.WriteFile(filepath.Join(dir, "kernel-log.txt"), []byte(text), 0o644)
	if c, err := lab.Save(nf.IPv4, true); err == nil && c != "" {
		os.WriteFile(filepath.Join(dir, "kernel-counters.txt"), []byte(c), 0o644)
	}
	if c, err := lab.Save(nf.IPv6, true); err == nil && c != "" {
		os.WriteFile(filepath.Join(dir, "kernel-counters6.txt"), []byte(c), 0o644)
	}
}

var (
	ctNetns        = regexp.MustCompile(` in netns \d+,`)
	generatedICMP  = regexp.MustCompile(`^(.*IN= OUT=\S+ .*?)ID=\d+( PROTO=ICMP TYPE=(3|4|5|11|12) )`)
	generatedICMP6 = regexp.MustCompile(`^(.*IN= OUT=\S+ .*?)FLOWLBL=\d+( PROTO=ICMPv6 TYPE=[1-4] )`)
)

// maskLog joins LOG lines with the fields of host-generated ICMP errors
// that the kernel draws from per-boot random state masked: the IPv4 ID
// and the ICMPv6 flow label (the same fields describeFrames masks).
func maskLog(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		l = ctNetns.ReplaceAllString(l, ",") // 6.18 names the namespace
		l = generatedICMP.ReplaceAllString(l, "${1}ID=*${2}")
		out[i] = generatedICMP6.ReplaceAllString(l, "${1}FLOWLBL=*${2}")
	}
	return strings.Join(out, "\n")
}
