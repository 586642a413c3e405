package ruleset_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

const corpusDir = "../../shared/corpus/rulesets"

// corpusRulesets lists the files of the shared corpus that look like
// iptables-restore input (a *table line and a COMMIT line).
func corpusRulesets(t *testing.T) []string {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("skipping: corpus not found at %s (it sits beside the project in CI)", corpusDir)
	}
	var out []string
	filepath.Walk(corpusDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Size() > 4<<20 {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if regexp.MustCompile(`(?m)^\*[a-z]+\s*$`).Match(data) && regexp.MustCompile(`(?m)^COMMIT`).Match(data) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

var v6Name = regexp.MustCompile(`ip6tables|6\.rules|rules6|rules64|/ipv6/`)
var v6Addr = regexp.MustCompile(`(?m)^(\[\d+:\d+\] )?-A .*(-[sd] [0-9a-fA-F]*:[0-9a-fA-F:]*[/ ]|icmpv6|ipv6-icmp)`)

func corpusFamily(path string, data []byte) nf.Family {
	if v6Name.MatchString(path) || v6Addr.Match(data) {
		return nf.IPv6
	}
	return nf.IPv4
}

func nfgoSave(fam nf.Family, input string, counters bool) (string, error) {
	rs := ruleset.New(fam)
	if err := rs.Restore(strings.NewReader(input), ruleset.RestoreOptions{Counters: counters}); err != nil {
		return "", err
	}
	var b bytes.Buffer
	rs.Save(&b, ruleset.SaveOptions{Counters: counters})
	return b.String(), nil
}

// TestKernelCorpusRoundTrip: every corpus ruleset the kernel accepts, nfgo
// accepts and prints byte for byte as iptables-save does; every one the
// kernel refuses, nfgo refuses.
func TestKernelCorpusRoundTrip(t *testing.T) {
	files := corpusRulesets(t)
	ns := kerneltest.NewNS(t)
	var accepted, refused, failed int
	for _, path := range files {
		data, _ := os.ReadFile(path)
		fam := corpusFamily(path, data)
		rel, _ := filepath.Rel(corpusDir, path)
		ok := t.Run(rel, func(t *testing.T) {
			ns.Flush()
			kr := ns.Restore(int(fam), string(data))
			got, err := nfgoSave(fam, string(data), false)
			if kr.Code != 0 {
				refused++
				if err == nil {
					t.Errorf("kernel refused (%s) but nfgo accepted", strings.TrimSpace(kr.Stderr))
				}
				return
			}
			accepted++
			if err != nil {
				t.Fatalf("kernel accepted, nfgo refused: %v", err)
			}
			want, err := ns.Save(int(fam))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("save differs from the kernel's iptables-save:\n%s", diffLines(want, got))
			}
		})
		if !ok {
			failed++
		}
	}
	t.Logf("corpus: %d files, kernel accepted %d, refused %d; %d disagree", len(files), accepted, refused, failed)
}

// diffLines shows the first lines that differ between want and got.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("  line " + itoa(i+1) + "\n    kernel: " + a + "\n    nfgo:   " + c + "\n")
			if n++; n >= 8 {
				b.WriteString("  ...\n")
				break
			}
		}
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestKernelListings loads each testdata/kernel/*.rules (IPv4) and *.rules6
// (IPv6) into the kernel and into nfgo, and compares iptables-save, -S and
// -L in numeric, verbose, exact and name-resolving forms, table by table.
func TestKernelListings(t *testing.T) {
	files, _ := filepath.Glob("testdata/kernel/*.rules*")
	if len(files) == 0 {
		t.Skip("no testdata/kernel rule files")
	}
	ns := kerneltest.NewNS(t)
	for _, path := range files {
		fam := nf.IPv4
		if strings.HasSuffix(path, ".rules6") {
			fam = nf.IPv6
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, _ := os.ReadFile(path)
			ns.Flush()
			if r := ns.Restore(int(fam), string(data)); r.Code != 0 {
				t.Fatalf("the kernel refuses this file: %s", r.Stderr)
			}
			rs := ruleset.New(fam)
			if err := rs.Restore(bytes.NewReader(data), ruleset.RestoreOptions{File: path}); err != nil {
				t.Fatalf("nfgo refuses what the kernel accepts: %v", err)
			}
			var got bytes.Buffer
			rs.Save(&got, ruleset.SaveOptions{})
			want, _ := ns.Save(int(fam))
			if got.String() != want {
				t.Errorf("iptables-save differs:\n%s", diffLines(want, got.String()))
			}
			for _, tbl := range tablesIn(string(data)) {
				for _, args := range [][]string{
					{"-S"}, {"-L", "-n", "-v", "-x", "--line-numbers"}, {"-L", "-n"}, {"-L", "-v"},
				} {
					full := append([]string{"-t", tbl}, args...)
					kr := ns.Iptables(int(fam), full...)
					out, code := runNfgo(rs, fam, full)
					if code != kr.Code || out != kr.Stdout {
						t.Errorf("%s %s differs (exit kernel %d, nfgo %d):\n%s", fam.Program(), strings.Join(full, " "), kr.Code, code, diffLines(kr.Stdout, out))
					}
				}
			}
		})
	}
}

func tablesIn(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "*") {
			out = append(out, strings.TrimSpace(l[1:]))
		}
	}
	return out
}

func runNfgo(rs *ruleset.Ruleset, fam nf.Family, args []string) (string, int) {
	toks := make([]ruleset.Tok, len(args))
	for i, a := range args {
		toks[i] = ruleset.Tok{Text: a, Col: i + 1}
	}
	cmd, err := ruleset.ParseCommand(fam, toks, false, "filter")
	if err != nil {
		return "", ruleset.ExitCode(err)
	}
	var b bytes.Buffer
	if _, err := rs.Exec(cmd, &b); err != nil {
		return b.String(), ruleset.ExitCode(err)
	}
	return b.String(), 0
}

// TestKernelCommands runs testdata/kernel/commands*.txt, one iptables
// command a line, against the kernel and nfgo: exit codes, listing output
// and the resulting iptables-save must agree after every command.
func TestKernelCommands(t *testing.T) {
	files, _ := filepath.Glob("testdata/kernel/commands*.txt")
	ns := kerneltest.NewNS(t)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ns.Flush()
			fams := map[nf.Family]*ruleset.Ruleset{nf.IPv4: ruleset.New(nf.IPv4), nf.IPv6: ruleset.New(nf.IPv6)}
			f, _ := os.Open(path)
			defer f.Close()
			sc := bufio.NewScanner(f)
			n := 0
			for sc.Scan() {
				n++
				line := sc.Text()
				if line == "" || line[0] == '#' {
					continue
				}
				toks, err := ruleset.SplitWords(line, n, 1)
				if err != nil || len(toks) == 0 {
					t.Fatalf("line %d: %v", n, err)
				}
				fam := nf.IPv4
				if toks[0].Text == "ip6tables" {
					fam = nf.IPv6
				} else if toks[0].Text != "iptables" {
					t.Fatalf("line %d: expected iptables or ip6tables", n)
				}
				var args []string
				for _, tk := range toks[1:] {
					args = append(args, tk.Text)
				}
				kr := ns.Iptables(int(fam), args...)
				out, code := runNfgo(fams[fam], fam, args)
				if code != kr.Code {
					t.Errorf("line %d %q: exit kernel %d (%s), nfgo %d", n, line, kr.Code, strings.TrimSpace(kr.Stderr), code)
				}
				if out != kr.Stdout {
					t.Errorf("line %d %q: output differs:\n%s", n, line, diffLines(kr.Stdout, out))
				}
				want, _ := ns.Save(int(fam))
				var got bytes.Buffer
				fams[fam].Save(&got, ruleset.SaveOptions{})
				if got.String() != want {
					t.Fatalf("line %d %q: ruleset differs afterwards:\n%s", n, line, diffLines(want, got.String()))
				}
			}
		})
	}
}
