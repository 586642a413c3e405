package ruleset_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

// restoreCase is a sequence of iptables-restore inputs applied in turn.
type restoreCase struct {
	name   string
	flags  []string // iptables-restore flags for every step: -n, -c
	inputs []string
}

var restoreCases = []restoreCase{
	{name: "policies and counters without -c", inputs: []string{"*filter\n:INPUT DROP [5:6]\n:FORWARD ACCEPT [1:1]\n[3:4] -A INPUT -j ACCEPT\nCOMMIT\n"}},
	{name: "counters with -c", flags: []string{"-c"}, inputs: []string{"*filter\n:INPUT DROP [5:6]\n:X - [7:8]\n[3:4] -A INPUT -j ACCEPT\n-A INPUT -c 9 10 -j X\nCOMMIT\n"}},
	{name: "flush replaces the table", inputs: []string{
		"*filter\n:INPUT DROP [0:0]\n:A - [0:0]\n-A INPUT -j A\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j ACCEPT\nCOMMIT\n",
		"*filter\n:B - [0:0]\n-A FORWARD -j B\nCOMMIT\n"}},
	{name: "noflush adds", flags: []string{"-n"}, inputs: []string{
		"*filter\n:INPUT DROP [0:0]\n:A - [0:0]\n-A INPUT -j A\nCOMMIT\n",
		"*filter\n:B - [0:0]\n-A INPUT -j B\nCOMMIT\n"}},
	{name: "failed input changes nothing", inputs: []string{
		"*filter\n-A INPUT -s 1.1.1.1 -j ACCEPT\nCOMMIT\n",
		"*filter\n-A INPUT -s 2.2.2.2 -j ACCEPT\nCOMMIT\n*nat\n-A NOPE -j ACCEPT\nCOMMIT\n"}},
	{name: "comments blank lines and quoting", inputs: []string{"# hello\n\n*filter\n# inside\n-A INPUT -m comment --comment \"a \\\"quoted\\\" word\" -j ACCEPT\n-A INPUT -m comment --comment 'single' -j ACCEPT\nCOMMIT\n"}},
	{name: "missing COMMIT", inputs: []string{"*filter\n-A INPUT -j ACCEPT\n"}},
	{name: "rule outside table", inputs: []string{"-A INPUT -j ACCEPT\n"}},
	{name: "unknown table", inputs: []string{"*foo\nCOMMIT\n"}},
	{name: "-t in a restore file", inputs: []string{"*filter\n-t nat -A INPUT -j ACCEPT\nCOMMIT\n"}},
	{name: "policy on user chain ignored", inputs: []string{"*filter\n:A ACCEPT [0:0]\nCOMMIT\n"}},
	{name: "bad builtin policy", inputs: []string{"*filter\n:INPUT REJECT [0:0]\nCOMMIT\n"}},
	{name: "jump to undeclared chain", inputs: []string{"*filter\n-A INPUT -j LATER\n:LATER - [0:0]\nCOMMIT\n"}},
	{name: "chain declared twice", inputs: []string{"*filter\n:A - [0:0]\n:A - [0:0]\nCOMMIT\n"}},
	{name: "table twice", inputs: []string{"*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*filter\n-A OUTPUT -j ACCEPT\nCOMMIT\n"}},
	{name: "other commands in restore", inputs: []string{"*filter\n:A - [0:0]\n-A INPUT -j A\n-I INPUT -j DROP\n-N B\n-D INPUT 1\n-P OUTPUT DROP\nCOMMIT\n"}},
	{name: "multiple addresses", inputs: []string{"*filter\n-A INPUT -s 1.1.1.1,2.2.2.0/24 -d 3.3.3.3,4.4.4.4 -j DROP\nCOMMIT\n"}},
	{name: "long chain name", inputs: []string{"*filter\n:abcdefghijklmnopqrstuvwxyz0123 - [0:0]\nCOMMIT\n"}},
	{name: "max chain name", inputs: []string{"*filter\n:abcdefghijklmnopqrstuvwxyz01 - [0:0]\nCOMMIT\n"}},
	{name: "whitespace only line", inputs: []string{"*filter\n   \n-A INPUT -j ACCEPT\nCOMMIT\n"}},
	{name: "trailing spaces after COMMIT", inputs: []string{"*filter\n-A INPUT -j ACCEPT\nCOMMIT   \n"}},
}

func TestKernelRestoreSemantics(t *testing.T) {
	ns := kerneltest.NewNS(t)
	for _, c := range restoreCases {
		t.Run(c.name, func(t *testing.T) {
			ns.Flush()
			rs := ruleset.New(nf.IPv4)
			o := ruleset.RestoreOptions{}
			for _, f := range c.flags {
				switch f {
				case "-n":
					o.NoFlush = true
				case "-c":
					o.Counters = true
				}
			}
			for i, in := range c.inputs {
				kr := ns.Restore(4, in, c.flags...)
				err := rs.Restore(strings.NewReader(in), o)
				if (kr.Code == 0) != (err == nil) {
					t.Fatalf("step %d: kernel exit %d (%s), nfgo error %v", i+1, kr.Code, strings.TrimSpace(kr.Stderr), err)
				}
				want, _ := ns.Save(4, "-c")
				var got bytes.Buffer
				rs.Save(&got, ruleset.SaveOptions{Counters: true})
				if got.String() != want {
					t.Fatalf("step %d: ruleset differs:\n%s", i+1, diffLines(want, got.String()))
				}
			}
		})
	}
}
