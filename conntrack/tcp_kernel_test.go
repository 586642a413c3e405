package conntrack

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
)

// The kernel comparison: the DUT forwards between the client (eth0) and
// the server (eth1) side; each scenario's segments are injected on the
// side they come from, and after each one the DUT's conntrack entry and
// the INVALID counter are compared with the tracker fed the same packet.

const (
	tcpKDut0  = "02:00:00:00:01:01"
	tcpKPeer0 = "02:00:00:00:01:02"
	tcpKDut1  = "02:00:00:00:02:01"
	tcpKPeer1 = "02:00:00:00:02:02"
)

// Sysctls some scenario changes, with their defaults, reset before each.
var tcpKDefaults = map[string]string{
	"nf_conntrack_tcp_loose":                  "1",
	"nf_conntrack_tcp_timeout_close":          "10",
	"nf_conntrack_tcp_be_liberal":             "0",
	"nf_conntrack_tcp_ignore_invalid_rst":     "0",
	"nf_conntrack_tcp_timeout_max_retrans":    "300",
	"nf_conntrack_tcp_timeout_syn_sent":       "120",
	"nf_conntrack_tcp_timeout_syn_recv":       "60",
	"nf_conntrack_tcp_timeout_established":    "432000",
	"nf_conntrack_tcp_timeout_unacknowledged": "300",
}

var tcpKEntry = regexp.MustCompile(`^tcp\s+6\s+(\d+)\s+(\S+)\s`)

// kernelView reads the DUT's only TCP entry as tcpSim.view describes it.
func tcpKernelView(t *testing.T, lab *kerneltest.Lab) (state string, to int64, flags string) {
	r := lab.Run("conntrack", "-L", "-p", "tcp")
	if r.Code != 0 {
		t.Fatalf("conntrack -L: exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return "-", 0, ""
	}
	if len(lines) != 1 {
		t.Fatalf("conntrack -L: want one entry, got %q", r.Stdout)
	}
	m := tcpKEntry.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("conntrack -L: unexpected line %q", lines[0])
	}
	to, _ = strconv.ParseInt(m[1], 10, 64)
	if strings.Contains(lines[0], "[ASSURED]") {
		flags += "A"
	}
	if strings.Contains(lines[0], "[UNREPLIED]") {
		flags += "U"
	}
	return m[2], to, flags
}

var tcpKCounter = regexp.MustCompile(`^\[(\d+):\d+\] -A FORWARD .*INVALID`)

func tcpKernelInvalid(t *testing.T, lab *kerneltest.Lab) int {
	out, err := lab.Save(nf.IPv4, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if m := tcpKCounter.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	t.Fatalf("no INVALID counter in %q", out)
	return 0
}

func TestTCPKernel(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("skipping: conntrack (conntrack-tools) is not installed")
	}
	lab := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{
			{Name: "eth0", MAC: tcpKDut0, PeerMAC: tcpKPeer0, Addrs: []string{"10.0.1.1/24"}},
			{Name: "eth1", MAC: tcpKDut1, PeerMAC: tcpKPeer1, Addrs: []string{"10.0.2.1/24"}},
		},
		Neigh:   []string{"10.0.1.2 lladdr " + tcpKPeer0 + " dev eth0", "10.0.2.2 lladdr " + tcpKPeer1 + " dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  "*filter\n-A FORWARD -m conntrack --ctstate INVALID\nCOMMIT\n",
	})
	if r := lab.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_log_invalid=6"); r.Code != 0 {
		t.Fatalf("sysctl nf_conntrack_log_invalid: %s", r.Stderr)
	}
	seenLogs := 0
	for _, sc := range tcpScenarios {
		t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) {
			for _, c := range [][]string{{"conntrack", "-F"}, {"iptables", "-Z", "FORWARD"}} {
				if r := lab.Run(c...); r.Code != 0 {
					t.Fatalf("%v: %s", c, r.Stderr)
				}
			}
			for k, v := range tcpKDefaults {
				if sc.sysctls[k] != "" {
					v = sc.sysctls[k]
				}
				if r := lab.Run("sysctl", "-qw", "net.netfilter."+k+"="+v); r.Code != 0 {
					t.Fatalf("sysctl %s: %s", k, r.Stderr)
				}
			}
			var sim tcpSim
			sim.apply(t, sc.sysctls)
			start := time.Now()
			invalid := 0
			for i, s := range sc.steps {
				iface, dut, peer := "eth0", tcpKDut0, tcpKPeer0
				if s.from == 's' {
					iface, dut, peer = "eth1", tcpKDut1, tcpKPeer1
				}
				p := tcpPacket(t, fmt.Sprintf("in %s from %s to %s %s", iface, peer, dut, tcpLine(s)))
				frame := append(append([]byte{}, p.MAC...), p.Data...)
				if err := lab.Inject(iface, frame); err != nil {
					t.Fatal(err)
				}
				sim.now = int64(time.Since(start))
				simLogs := len(sim.logs)
				simInv := sim.feed(p)
				lab.Settle()
				kState, kTo, kFlags := tcpKernelView(t, lab)
				n := tcpKernelInvalid(t, lab)
				kInv := n > invalid
				invalid = n
				sim.now = int64(time.Since(start))
				state, to, flags := sim.view()
				if kInv != simInv || kState != state || kFlags != flags || to > kTo+1 || to < kTo-1 {
					t.Errorf("step %d %c %q: kernel invalid=%v %s to=%d flags=%q; tracker invalid=%v %s to=%d flags=%q; log %q",
						i+1, s.from, s.seg, kInv, kState, kTo, kFlags, simInv, state, to, flags, sim.logs)
				}
				// nf_conntrack_log_invalid: "nf_ct_proto_6: MESSAGE IN=...".
				all := lab.LogLines("nf_ct_proto_6: ")
				var kLogs []string
				for _, l := range all[seenLogs:] {
					m, _, _ := strings.Cut(strings.TrimPrefix(l, "nf_ct_proto_6: "), " IN=")
					kLogs = append(kLogs, m)
				}
				seenLogs = len(all)
				if want := sim.logs[simLogs:]; strings.Join(kLogs, "|") != strings.Join(want, "|") {
					t.Errorf("step %d %c %q: kernel logged %q, tracker %q", i+1, s.from, s.seg, kLogs, want)
				}
			}
		})
	} // The scenarios have INVALID packets: the kernel must have said why.
	if seenLogs == 0 {
		t.Error("the kernel logged no INVALID packet")
	}
	t.Logf("%d log lines compared", seenLogs)
}
