package ruleset_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

// tLine is one test line of an iptables .t file.
type tLine struct {
	file, table string
	chains      []string
	line        int
	rule, want  string
	ok          bool
}

func readTFile(t *testing.T, path string) []tLine {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tLine
	table := "filter"
	var chains []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case l == "" || l[0] == '#':
		case l[0] == ':':
			chains = strings.Split(l[1:], ",")
		case l[0] == '*':
			table = l[1:]
		default:
			parts := strings.Split(l, ";")
			if len(parts) < 3 {
				continue
			}
			want := parts[1]
			if want == "=" {
				want = parts[0]
			}
			out = append(out, tLine{file: filepath.Base(path), table: table, chains: chains, line: n,
				rule: parts[0], want: want, ok: strings.TrimSpace(parts[2]) == "OK"})
		}
	}
	return out
}

func familiesOf(name string) []nf.Family {
	switch {
	case strings.HasPrefix(name, "libipt_"), name == "iptables.t":
		return []nf.Family{nf.IPv4}
	case strings.HasPrefix(name, "libip6t_"):
		return []nf.Family{nf.IPv6}
	}
	return []nf.Family{nf.IPv4, nf.IPv6}
}

// runTLine applies "-t TABLE -A CHAIN RULE" to a fresh ruleset and reports
// whether the outcome is the one the test line expects.
func runTLine(fam nf.Family, tl tLine, chain string) (bool, string) {
	rs := ruleset.New(fam)
	words, err := ruleset.SplitWords(tl.rule, 1, 1)
	if err != nil {
		return !tl.ok, "split: " + err.Error()
	}
	args := []ruleset.Tok{{Text: "-t"}, {Text: tl.table}, {Text: "-A"}, {Text: chain}}
	args = append(args, words...)
	cmd, err := ruleset.ParseCommand(fam, args, false, "filter")
	if err == nil {
		_, err = rs.Exec(cmd, nil)
	}
	if !tl.ok {
		if err == nil {
			return false, "accepted, want FAIL"
		}
		return true, ""
	}
	if err != nil {
		return false, "refused: " + err.Error()
	}
	t := rs.Table(tl.table)
	c := t.Chain(chain)
	for _, r := range c.Rules {
		if got := strings.TrimSpace(r.Spec(fam)); got == strings.TrimSpace(tl.want) {
			return true, ""
		}
	}
	var got []string
	for _, r := range c.Rules {
		got = append(got, strings.TrimSpace(r.Spec(fam)))
	}
	return false, fmt.Sprintf("saved %q, want %q", strings.Join(got, " | "), tl.want)
}

// TestIptablesT runs iptables' own rule tests through the parser and the
// save printer: OK lines must be accepted and saved as expected, FAIL lines
// refused. The whole must pass at least 95%; failures are logged per file.
func TestIptablesT(t *testing.T) {
	files, _ := filepath.Glob("testdata/iptables-t/*.t")
	if len(files) == 0 {
		t.Fatal("no .t files in testdata/iptables-t")
	}
	type stat struct{ pass, total int }
	stats := map[string]*stat{}
	var total, pass int
	var failures []string
	for _, path := range files {
		name := filepath.Base(path)
		st := &stat{}
		stats[name] = st
		for _, tl := range readTFile(t, path) {
			for _, fam := range familiesOf(name) {
				good := true
				var why string
				for _, ch := range tl.chains {
					if ok, w := runTLine(fam, tl, ch); !ok {
						good, why = false, fmt.Sprintf("chain %s: %s", ch, w)
						break
					}
				}
				st.total++
				total++
				if good {
					st.pass++
					pass++
				} else {
					failures = append(failures, fmt.Sprintf("%s:%d [%s] %s: %s", name, tl.line, fam, tl.rule, why))
				}
			}
		}
	}
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	var report strings.Builder
	for _, n := range names {
		s := stats[n]
		fmt.Fprintf(&report, "%-28s %4d/%-4d\n", n, s.pass, s.total)
	}
	fmt.Fprintf(&report, "TOTAL %d/%d (%.1f%%)\n", pass, total, 100*float64(pass)/float64(total))
	for _, f := range failures {
		fmt.Fprintln(&report, "FAIL", f)
	}
	if out := os.Getenv("NFGO_T_REPORT"); out != "" {
		os.WriteFile(out, []byte(report.String()), 0o644)
	}
	t.Logf("iptables .t lines: %d/%d pass (%.1f%%)", pass, total, 100*float64(pass)/float64(total))
	if float64(pass) < 0.95*float64(total) {
		t.Errorf("only %d of %d .t lines pass (need 95%%); set NFGO_T_REPORT=FILE for the list", pass, total)
	}
}
