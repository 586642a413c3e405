package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
