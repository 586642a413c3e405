package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/packet"
)

func runNfgo(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// The bundled example carries what the real kernel printed for its
// capture; nfgo replay must print the same LOG lines and counters.
func TestExampleReplayMatchesKernel(t *testing.T) {
	dir := "../../examples/ssh-trace"
	tmp := t.TempDir()
	logf, ctrf := filepath.Join(tmp, "log"), filepath.Join(tmp, "counters")
	out, errs, code := runNfgo(t, "", "replay", "--host", dir, "--log", logf, "--counters", ctrf, filepath.Join(dir, "capture.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, c := range []struct{ got, want string }{{logf, "kernel-log.txt"}, {ctrf, "kernel-counters.txt"}} {
		got, _ := os.ReadFile(c.got)
		want, err := os.ReadFile(filepath.Join(dir, c.want))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the kernel's\nnfgo:\n%s\nkernel:\n%s", c.want, got, want)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one line per packet (4), got:\n%s", out)
	}
	for i, want := range []string{"delivered locally", "dropped by policy: filter INPUT DROP", "delivered locally", "dropped by policy: filter INPUT DROP"} {
		if !strings.HasSuffix(lines[i], ": "+want) {
			t.Errorf("line %d: %q, want fate %q", i+1, lines[i], want)
		}
	}
}

func TestReplayJSONFields(t *testing.T) {
	dir := "../../examples/ssh-trace"
	out, errs, code := runNfgo(t, "", "replay", "--host", dir, "--json", "--trace", filepath.Join(dir, "capture.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first, second map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if first["in"] != "eth0" || first["family"] != "ipv4" || first["dir"] != "in" {
		t.Errorf("first packet: %v", first)
	}
	if n := len(first["log"].([]any)); n != 6 {
		t.Errorf("first packet has %d LOG lines, want 6 (one per table and chain)", n)
	}
	fate := second["fate"].(map[string]any)
	if fate["kind"] != "dropped" || fate["table"] != "filter" || fate["chain"] != "INPUT" || fate["by"] != "DROP" {
		t.Errorf("second packet's fate: %v", fate)
	}
	path := first["path"].([]any)
	var rules int
	for _, s := range path {
		st := s.(map[string]any)
		if st["event"] == "rule" {
			rules++
			if _, ok := st["matched"]; !ok {
				t.Errorf("rule step without matched: %v", st)
			}
		}
	}
	if rules == 0 {
		t.Error("--trace path has no rule steps")
	}
}

func TestTraceErrors(t *testing.T) {
	dir := "../../examples/ssh-trace"
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trace", dir}, 2, "--host DIR is required"},
		{[]string{"trace", "--host", dir}, 2, "no packet given"},
		{[]string{"trace", "--host", dir, "in eth0 tcp 1.2.3.4:1 > 172.16.0.10:22 syn bogus"}, 2, `column 44: "bogus": expected`},
		{[]string{"trace", "--host", dir, "in eth7 tcp 1.2.3.4:1 > 172.16.0.10:22 syn"}, 2, "interface eth7 is not in the host snapshot"},
		{[]string{"trace", "--host", filepath.Join(dir, "missing"), "in eth0 udp 1.2.3.4:1 > 172.16.0.10:2"}, 1, "ip-addr.json"},
		{[]string{"replay", "--host", dir}, 2, "expected exactly one CAPTURE"},
		{[]string{"replay", "--host", dir, filepath.Join(dir, "iptables-save.txt")}, 1, "nfgo replay:"},
	}
	for _, c := range cases {
		_, errs, code := runNfgo(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestTraceFromStdin(t *testing.T) {
	dir := "../../examples/ssh-trace"
	in := "# two packets\nin eth0 tcp 198.51.100.7:51000 > 172.16.0.10:22 syn\n\nin eth0 udp 198.51.100.7:5000 > 172.16.0.10:53 len 10\n"
	out, errs, code := runNfgo(t, in, "trace", "--host", dir, "--time", "2026-01-02T03:04:05Z", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"1 03:04:05.000000 in eth0 tcp 198.51.100.7:51000 > 172.16.0.10:22 [S] len 40: delivered locally",
		"filter-input-ssh-in: IN=eth0 OUT= MAC=00:16:3e:0c:35:51:ee:ff:ff:ff:ff:ff:08:00 SRC=198.51.100.7",
		"INPUT rule 4: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT  [match]",
		"2 03:04:05.001000 in eth0 udp 198.51.100.7:5000 > 172.16.0.10:53 len 38: dropped by policy: filter INPUT DROP",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// --out writes what leaves the host: here the RST a REJECT sends back,
// framed with the egress interface's MAC and the gateway's from
// ip-neigh.json, in a pcapng interface named after the egress interface.
func TestReplayOutWritesEmittedFrames(t *testing.T) {
	src := "../../examples/ssh-trace"
	dir := t.TempDir()
	for _, f := range []string{"ip-addr.json", "ip-route.json", "ip6-route.json", "ip-neigh.json", "ip-rule.json", "sysctl.conf"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset\nCOMMIT\n"
	os.WriteFile(filepath.Join(dir, "iptables-save.txt"), []byte(rules), 0o644)

	pl, err := packet.ParseLine("in eth0 tcp 203.0.113.50:40000 > 172.16.0.10:23 syn seq 100")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pl.Packet()
	if err != nil {
		t.Fatal(err)
	}
	var capBuf bytes.Buffer
	w := capture.NewPcapngWriter(&capBuf)
	id, _ := w.Interface("eth0", packet.LinkEthernet)
	frame := packet.EncodeEthernet([6]byte{0x00, 0x16, 0x3e, 0x0c, 0x35, 0x51}, [6]byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}, p.Family, p.Data, nil)
	w.WritePacket(id, 1_700_000_000_000_000_000, frame)
	w.Close()
	capPath, outPath := filepath.Join(dir, "in.pcapng"), filepath.Join(dir, "out.pcapng")
	os.WriteFile(capPath, capBuf.Bytes(), 0o644)

	stdout, errs, code := runNfgo(t, "", "replay", "--host", dir, "--out", outPath, capPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "rejected by filter INPUT rule 1") || !strings.Contains(stdout, "generated tcp 172.16.0.10:23 > 203.0.113.50:40000 [R.]") {
		t.Errorf("fate lines:\n%s", stdout)
	}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr, err := capture.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	var rec capture.Record
	if err := cr.Next(&rec); err != nil {
		t.Fatalf("no emitted packet: %v", err)
	}
	if rec.IfName != "eth0" || rec.LinkType != packet.LinkEthernet || rec.Timestamp != 1_700_000_000_000_000_000 {
		t.Errorf("record: if %q link %d ts %d", rec.IfName, rec.LinkType, rec.Timestamp)
	}
	var fr packet.Frame
	if err := packet.DecodeFrame(rec.LinkType, rec.Data, &fr); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("% x", fr.MAC[:12]); got != "ee ff ff ff ff ff 00 16 3e 0c 35 51" {
		t.Errorf("Ethernet addresses %s, want the gateway's then eth0's", got)
	}
	var q packet.Packet
	fr.Fill(&q)
	if err := q.Parse(); err != nil {
		t.Fatal(err)
	}
	th := q.TCP()
	if th == nil || th.Flags() != packet.TCPRst|packet.TCPAck || th.Ack() != 101 || q.Dst().String() != "203.0.113.50" {
		t.Errorf("emitted packet is not the RST answering the SYN: %x", q.Data)
	}
	if err := cr.Next(&rec); err != io.EOF {
		t.Errorf("more than one emitted packet (%v)", err)
	}
}

// NAT translations show in --json as changes of the nat table at the
// hook, for the first packet (through the table) and the later ones
// (through the mapping).
func TestReplayJSONNATChanges(t *testing.T) {
	dir := "../../examples/ssh-trace"
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"+
		"-A PREROUTING -p tcp --dport 22 -j REDIRECT --to-ports 2222\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runNfgo(t, "", "replay", "--host", dir, "--rules", rules, "--json", filepath.Join(dir, "capture.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Packet  string
			Changes []struct{ Hook, Table, Chain, Text string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Packet, ":22 ") {
			continue
		}
		n++
		if len(r.Changes) != 1 || r.Changes[0].Hook != "PREROUTING" || r.Changes[0].Table != "nat" ||
			!strings.HasPrefix(r.Changes[0].Text, "DNAT: ports ") || !strings.HasSuffix(r.Changes[0].Text, ":2222") {
			t.Errorf("%s: changes %+v, want the REDIRECT's port translation at PREROUTING", r.Packet, r.Changes)
		}
	}
	if n == 0 {
		t.Fatal("no packet to port 22 in the example capture")
	}
}
