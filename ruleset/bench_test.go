package ruleset_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

// bigRuleset builds an iptables-restore input of n rules spread over user
// chains, with addresses, interfaces, ports and comments, like a large
// real-world firewall.
func bigRuleset(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	const chains = 50
	for c := 0; c < chains; c++ {
		fmt.Fprintf(&b, ":zone-%02d - [0:0]\n", c)
	}
	for c := 0; c < chains; c++ {
		fmt.Fprintf(&b, "-A INPUT -s 10.%d.0.0/16 -j zone-%02d\n", c, c)
	}
	for i := chains; i < n; i++ {
		c := i % chains
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "-A zone-%02d -s 10.%d.%d.%d/32 -p tcp -m tcp --dport %d -j ACCEPT\n", c, c, (i>>8)&255, i&255, 1+i%65000)
		case 1:
			fmt.Fprintf(&b, "-A zone-%02d -d 192.168.%d.0/24 -i eth%d -p udp -m udp --sport 1024:65535 --dport %d -j DROP\n", c, i&255, i%4, 1+i%65000)
		case 2:
			fmt.Fprintf(&b, "-A zone-%02d ! -s 172.16.%d.%d/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment \"rule %d\" -j RETURN\n", c, (i>>8)&255, i&255, i)
		default:
			fmt.Fprintf(&b, "-A zone-%02d -s 10.%d.0.0/255.255.0.255 -o eth1 -p tcp -m tcp ! --dport 22\n", c, i&255)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// BenchmarkRestoreSave50k parses and prints a 50,000-rule ruleset.
func BenchmarkRestoreSave50k(b *testing.B) {
	in := bigRuleset(50000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rs := ruleset.New(nf.IPv4)
		if err := rs.Restore(strings.NewReader(in), ruleset.RestoreOptions{}); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		rs.Save(&out, ruleset.SaveOptions{})
	}
}

// BenchmarkKernelRestore50k times the real iptables-restore loading the same
// ruleset into the kernel, for comparison (root only).
func BenchmarkKernelRestore50k(b *testing.B) {
	kerneltest.Require(b)
	in := bigRuleset(50000)
	ns := kerneltest.NewNS(b)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if r := ns.Restore(4, in); r.Code != 0 {
			b.Fatalf("iptables-restore: %s", r.Stderr)
		}
	}
}

// TestBigRulesetMatchesKernel checks the benchmark's input is one the kernel
// accepts and that nfgo prints it exactly as iptables-save does.
func TestBigRulesetMatchesKernel(t *testing.T) {
	ns := kerneltest.NewNS(t)
	in := bigRuleset(2000)
	if r := ns.Restore(4, in); r.Code != 0 {
		t.Fatalf("kernel refuses: %s", r.Stderr)
	}
	want, _ := ns.Save(4)
	got, err := nfgoSave(nf.IPv4, in, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("differs:\n%s", diffLines(want, got))
	}
}

// BenchmarkRestoreSave5k is the same at a tenth of the size; comparing the
// two shows whether the cost grows linearly.
func BenchmarkRestoreSave5k(b *testing.B) {
	in := bigRuleset(5000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rs := ruleset.New(nf.IPv4)
		if err := rs.Restore(strings.NewReader(in), ruleset.RestoreOptions{}); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		rs.Save(&out, ruleset.SaveOptions{})
	}
}
