package ext_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// The kernel comparison runs the rules in the OUTPUT chain of a namespace
// of its own and sends IPv4 packets from a raw socket (IP_HDRINCL) out of
// a veth; the rules have no target, so their counters tell which packets
// matched.

const (
	rawSendEnv = "NFGO_TEST_RAWSEND"
	// Optional: the pause before each packet (ns, comma separated), and a
	// file to write, per packet, the monotonic times (ns) just before and
	// just after its sendto.
	rawSendGapsEnv  = "NFGO_TEST_RAWSEND_GAPS"
	rawSendTimesEnv = "NFGO_TEST_RAWSEND_TIMES"
)

// TestRawSendHelper is not a test: run inside a namespace with rawSendEnv
// set, it sends the packets given there (hex, comma separated) back to
// back.
func TestRawSendHelper(t *testing.T) {
	spec := os.Getenv(rawSendEnv)
	if spec == "" {
		t.Skip("helper for the kernel comparison")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var bufs [][]byte
	for _, h := range strings.Split(spec, ",") {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, b)
	}
	gaps := make([]time.Duration, len(bufs))
	if g := os.Getenv(rawSendGapsEnv); g != "" {
		for i, f := range strings.Split(g, ",") {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil || i >= len(gaps) {
				t.Fatalf("bad %s %q", rawSendGapsEnv, g)
			}
			gaps[i] = time.Duration(v)
		}
	}
	times := make([]int64, 0, 2*len(bufs))
	start := time.Now()
	for i, b := range bufs {
		var sa syscall.SockaddrInet4
		copy(sa.Addr[:], b[16:20])
		if gaps[i] > 0 {
			time.Sleep(gaps[i])
		}
		before := time.Since(start)
		if err := syscall.Sendto(fd, b, 0, &sa); err != nil {
			t.Fatal(err)
		}
		times = append(times, int64(before), int64(time.Since(start)))
	}
	if f := os.Getenv(rawSendTimesEnv); f != "" {
		var out strings.Builder
		for _, v := range times {
			fmt.Fprintln(&out, v)
		}
		if err := os.WriteFile(f, []byte(out.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

type kns struct {
	t    *testing.T
	name string
}

var knsSeq atomic.Int32

func newKNS(t *testing.T) *kns {
	t.Helper()
	return newKNSNamed(t, "nfx-rate")
}

func newKNSNamed(t *testing.T, prefix string) *kns {
	t.Helper()
	kerneltest.Require(t)
	n := &kns{t: t, name: fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), knsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "nfx-rate-a", "type", "veth", "peer", "name", "nfx-rate-b"},
		{"ip", "addr", "add", "10.201.0.1/24", "dev", "nfx-rate-a"},
		{"ip", "link", "set", "nfx-rate-a", "up"},
		{"ip", "link", "set", "nfx-rate-b", "up"},
		{"ip", "neigh", "add", "10.201.0.2", "lladdr", "02:00:00:00:00:02", "dev", "nfx-rate-a", "nud", "permanent"},
		{"ip", "route", "add", "10.202.0.0/16", "via", "10.201.0.2"},
	} {
		n.rateRun("", c...)
	}
	return n
}

func (n *kns) rateRun(stdin string, args ...string) string {
	n.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		n.t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

// send sends the packets back to back from inside the namespace.
func (n *kns) send(pkts ...[]byte) {
	n.t.Helper()
	hs := make([]string, len(pkts))
	for i, p := range pkts {
		hs[i] = hex.EncodeToString(p)
	}
	cmd := exec.Command("ip", "netns", "exec", n.name, os.Args[0], "-test.run=^TestRawSendHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), rawSendEnv+"="+strings.Join(hs, ","))
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("sending: %v: %s", err, out)
	}
}

var counterLine = regexp.MustCompile(`^\[(\d+):\d+\] -A OUTPUT`)

// counts returns the packet counters of the OUTPUT rules in order.
func (n *kns) counts(save string) []int {
	var out []int
	for _, l := range strings.Split(n.rateRun("", save, "-c", "-t", "filter"), "\n") {
		if m := counterLine.FindStringSubmatch(l); m != nil {
			v, _ := strconv.Atoi(m[1])
			out = append(out, v)
		}
	}
	return out
}

// nfgoCounts evaluates each rule's match on every packet in turn, packet i
// at timestamp ts[i], and counts the matches per rule.
func nfgoCounts(t *testing.T, rules []string, pkts [][]byte, ts []int64) []int {
	ms := make([]ext.Matcher, len(rules))
	for i, r := range rules {
		ms[i] = oneMatch(t, nf.IPv4, r)
	}
	c := make([]int, len(rules))
	for i, b := range pkts {
		p := &packet.Packet{Family: nf.IPv4, Data: append([]byte(nil), b...), Local: true, OutDev: "nfx-rate-a", Timestamp: ts[i]}
		if err := p.Parse(); err != nil {
			t.Fatal(err)
		}
		for j, m := range ms {
			env := &ext.Env{Pkt: p, Family: nf.IPv4}
			if m.Match(env) {
				c[j]++
			}
		}
	}
	return c
}

func rateKpkt(dst string, dport uint16, payload []byte) []byte {
	return udp4("10.201.0.1", dst, 40000, dport, payload).Data
}

var hlRun atomic.Int32

// TestKernelRateBurst compares limit and hashlimit over a burst sent faster
// than any refill: what matches is then fixed by the buckets' sizes and
// costs alone. The kernel's clock cannot be controlled, so nfgo's counts
// are computed with all packets in one jiffy and checked not to change
// when a jiffy boundary falls anywhere in the burst.
func TestKernelRateBurst(t *testing.T) {
	var pkts [][]byte
	for i := 0; i < 12; i++ {
		for _, d := range []string{"10.202.0.1", "10.202.0.2", "10.202.0.3"} {
			pkts = append(pkts, rateKpkt(d, uint16(5000+i%2), make([]byte, 972))) // 1000 bytes
		}
	}
	rules := func(suffix string) []string {
		return []string{
			"-m limit --limit 1/min --limit-burst 5",
			"-m limit --limit 100/sec --limit-burst 7",
			"-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode dstip --hashlimit-name nfgo-k1" + suffix,
			"-m hashlimit --hashlimit-above 2/hour --hashlimit-burst 2 --hashlimit-mode dstip,dstport --hashlimit-name nfgo-k2" + suffix,
			"-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 4kb --hashlimit-mode dstport --hashlimit-name nfgo-k3" + suffix,
			"-m hashlimit --hashlimit-upto 2kb/s --hashlimit-name nfgo-k4" + suffix,
			"-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 4 --hashlimit-mode srcip,dstip --hashlimit-dstmask 16 --hashlimit-name nfgo-k5" + suffix,
		}
	}
	const t0 = int64(1_700_000_000_000_000_000)
	ts := make([]int64, len(pkts))
	for i := range ts {
		ts[i] = t0 + int64(i)*1000
	}
	// iptables-legacy runs xt_limit (jiffies), iptables-nft the nftables
	// limit expression (nanoseconds); hashlimit is xt_hashlimit in both.
	wants := map[string][]int{}
	oldLegacy := ext.LegacyXtables
	t.Cleanup(func() { ext.LegacyXtables = oldLegacy })
	for _, legacy := range []bool{true, false} {
		ext.LegacyXtables = legacy
		want := nfgoCounts(t, rules(fmt.Sprint("-", hlRun.Add(1))), pkts, ts)
		for b := 1; b < len(pkts); b += 5 {
			ts2 := append([]int64(nil), ts...)
			for i := b; i < len(ts2); i++ {
				if legacy {
					ts2[i] += jiffy
				} else {
					ts2[i] += 2 * int64(time.Millisecond)
				}
			}
			if got := nfgoCounts(t, rules(fmt.Sprint("-", hlRun.Add(1))), pkts, ts2); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("test design (legacy %v): a pause before packet %d changes the counts: %v vs %v", legacy, b, got, want)
			}
		}
		if legacy {
			wants["iptables-legacy"] = want
		} else {
			wants["iptables"] = want
		}
	}
	ext.LegacyXtables = oldLegacy

	for _, backend := range []string{"iptables-legacy", "iptables"} {
		t.Run(backend, func(t *testing.T) {
			n := newKNS(t)
			var in strings.Builder
			in.WriteString("*filter\n")
			for _, r := range rules("") {
				in.WriteString("-A OUTPUT " + strings.ReplaceAll(r, "nfgo-k", "nfxrate") + "\n")
			}
			in.WriteString("COMMIT\n")
			n.rateRun(in.String(), backend+"-restore")
			n.send(pkts...)
			got := n.counts(backend + "-save")
			if want := wants[backend]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("kernel %v, nfgo %v (rules %q)", got, want, rules(""))
			}
			t.Logf("counts %v", got)
		})
	}
}

// TestKernelStringU32 compares per-packet outcomes of string and u32 rules.
func TestKernelStringU32(t *testing.T) {
	rules := []string{
		"-m string --algo bm --string GET",
		"-m string --algo kmp --string GET",
		"-m string --algo bm --string get --icase",
		"-m string --algo kmp --string get --icase",
		"-m string --algo bm --string GET --from 30",
		"-m string --algo kmp --string GET --from 30",
		"-m string --algo bm --string GET --to 33",
		"-m string --algo kmp --string GET --to 33",
		"-m string --algo bm --string GET --from 28 --to 32",
		"-m string --algo bm ! --string HTTP",
		"-m string --algo kmp --hex-string |ff41| --icase",
		"-m string --algo bm --hex-string |ff41| --icase",
		"-m string --algo bm --hex-string |e9| --icase",
		"-m string --algo bm --string abcab",
		"-m string --algo kmp --string abcab --from 29",
		`-m u32 --u32 "0>>22&0x3C@0&0xFFFF=53"`,
		`-m u32 --u32 "0>>22&0x3C@8=0x47455420"`,
		`-m u32 --u32 "0>>22&0x3C@8>>24=0x41:0x5A,0x61:0x7A"`,
		`-m u32 ! --u32 "0>>22&0x3C@12=0:0xFFFFFFFF"`,
		`-m u32 --u32 "6&0xFF=17&&0>>22&0x3C@4&0xFFFF=0:0xFFFF"`,
		`-m u32 --u32 "0>>22&0x3C@4>>16@0>>24=0:255"`,
		`-m u32 --u32 "0<<8>>24=0"`,
	}
	payloads := [][]byte{
		[]byte("xxGET / HTTP/1.1"),
		[]byte("GET / HTTP/1.1"),
		[]byte("xxxget"),
		[]byte("xxxxGeT"),
		[]byte("a"),
		{},
		[]byte("\xdfA\xffa"),
		[]byte("\xffa\xc9\xe9"),
		[]byte("abcabcabcab"),
		[]byte("xabcabxabcab"),
		[]byte("Zxxxxxxxxxxxxxxxxxxxxxx"),
	}
	var pkts [][]byte
	for i, pl := range payloads {
		pkts = append(pkts, rateKpkt("10.202.0.9", uint16(50+i%5), pl))
	}
	n := newKNS(t)
	var in strings.Builder
	in.WriteString("*filter\n")
	for _, r := range rules {
		in.WriteString("-A OUTPUT " + r + "\n")
	}
	in.WriteString("COMMIT\n")
	n.rateRun(in.String(), "iptables-restore")
	ms := make([]ext.Matcher, len(rules))
	for i, r := range rules {
		ms[i] = oneMatch(t, nf.IPv4, r)
	}
	prev := n.counts("iptables-save")
	for i, b := range pkts {
		n.send(b)
		cur := n.counts("iptables-save")
		p := &packet.Packet{Family: nf.IPv4, Data: append([]byte(nil), b...), Local: true, OutDev: "nfx-rate-a"}
		if err := p.Parse(); err != nil {
			t.Fatal(err)
		}
		for j, m := range ms {
			kern := cur[j]-prev[j] == 1
			if got := m.Match(&ext.Env{Pkt: p, Family: nf.IPv4}); got != kern {
				t.Errorf("payload %q, rule %q: kernel %v, nfgo %v", payloads[i], rules[j], kern, got)
			}
		}
		prev = cur
	}
	t.Logf("kernel counts over %d packets: %v", len(pkts), prev)
}
