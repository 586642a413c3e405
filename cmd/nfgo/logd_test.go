package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nfgo logd with nfgo's engine as the source: the example's SSH SYN,
// logged by an NFLOG rule in filter INPUT, comes out of the text sink as
// the kernel's own LOG line for that packet at INPUT (from the example's
// kernel-log.txt), behind the NFLOG prefix.
func TestLogdEngineToTextMatchesKernelLOG(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.txt")
	os.WriteFile(rules, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"+
		"-A INPUT -p tcp -m tcp --dport 22 -j NFLOG --nflog-group 1 --nflog-prefix \"ssh: \"\n"+
		"-A INPUT -p udp -j NFLOG --nflog-group 2\nCOMMIT\n"), 0o644)
	text, js := filepath.Join(dir, "out.txt"), filepath.Join(dir, "out.json")
	cfg := filepath.Join(dir, "logd.conf")
	os.WriteFile(cfg, []byte(`[source replay]
host = ../../examples/ssh-trace
capture = ../../examples/ssh-trace/capture.pcapng
rules = `+rules+`
groups = 1

[sink text]
file = `+text+`
[sink json]
file = `+js+`
`), 0o644)
	_, errs, code := runNfgo(t, "", "logd", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "sink text: 1 written, 0 dropped, 0 errors") {
		t.Errorf("report: %s", errs)
	}
	out, _ := os.ReadFile(text)
	kernel, _ := os.ReadFile("../../examples/ssh-trace/kernel-log.txt")
	var want string
	for _, l := range strings.Split(string(kernel), "\n") {
		if p, ok := strings.CutPrefix(l, "filter-input-ssh-in: "); ok {
			want = "ssh: " + p
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || want == "" {
		t.Fatalf("text sink:\n%s", out)
	}
	if _, got, _ := strings.Cut(lines[0], " "); got != strings.TrimRight(want, " ") && got != want {
		t.Errorf("text sink line\n%q\nwant the kernel's LOG text\n%q", got, want)
	}
	j, _ := os.ReadFile(js)
	if !strings.Contains(string(j), `"group":1,"prefix":"ssh: "`) || !strings.Contains(string(j), `"dport":22`) {
		t.Errorf("json sink: %s", j)
	}
}

func TestLogdConfigErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.json")
	for _, c := range []struct{ conf, want string }{
		{"[sink json]\nfile = " + out + "\n", "needs at least one [source ...] and one [sink ...] section"},
		{"[source carrier-pigeon]\n", ":1:1: unknown source \"carrier-pigeon\": expected one of conntrack, nflog, replay"},
		{"[source replay]\nhost = ../../examples/ssh-trace\ncapture = x.pcap\n[sink json]\nfile = " + out + "\nformat = xml\n",
			":6:10: unknown key \"format\" in [sink json] (line 4): expected file, sync"},
		{"[source replay]\ncapture = x.pcap\n", "[source replay] (line 1) needs host = DIR"},
		{"[source nflog]\ngroups = one\n", ":2:10: groups: \"one\": expected numbers 0-65535"},
	} {
		path := filepath.Join(dir, "c.conf")
		os.WriteFile(path, []byte(c.conf), 0o644)
		_, errs, code := runNfgo(t, "", "logd", "--check", "-c", path)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", c.conf, code, errs, c.want)
		}
	}
}
