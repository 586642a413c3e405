package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

func familyOf(v6 bool) nf.Family {
	if v6 {
		return nf.IPv6
	}
	return nf.IPv4
}

func cmdSave(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo save", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v4 := fs.Bool("4", false, "IPv4 rules (default)")
	v6 := fs.Bool("6", false, "IPv6 rules (ip6tables-save)")
	counters := fs.Bool("c", false, "print packet and byte counters")
	table := fs.String("t", "", "print only this table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nfgo save [-4|-6] [-c] [-t TABLE] [FILE...]\n\nRead iptables-restore input and print it as iptables-save does.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	_ = v4
	if *table != "" && nf.TableByName(*table) == nil {
		fmt.Fprintf(stderr, "nfgo save: table %q does not exist: expected raw, mangle, nat, filter or security\n", *table)
		return 2
	}
	rs := ruleset.New(familyOf(*v6))
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range files {
		if err := restoreFrom(rs, f, stdin, ruleset.RestoreOptions{Counters: *counters}); err != nil {
			fmt.Fprintf(stderr, "nfgo save: %v\n", err)
			return 2
		}
	}
	if err := rs.Save(stdout, ruleset.SaveOptions{Counters: *counters, Table: *table, Header: "nfgo"}); err != nil {
		fmt.Fprintf(stderr, "nfgo save: %v\n", err)
		return 1
	}
	return 0
}

func restoreFrom(rs *ruleset.Ruleset, name string, stdin io.Reader, o ruleset.RestoreOptions) error {
	r := stdin
	o.File = "<stdin>"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
		o.File = name
	}
	return rs.Restore(r, o)
}

func cmdRestore(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "ruleset file to update (iptables-save -c text)")
	v6 := fs.Bool("6", false, "IPv6 rules (ip6tables-restore)")
	fs.Bool("4", false, "IPv4 rules (default)")
	noflush := fs.Bool("n", false, "do not flush the tables: add to them")
	fs.BoolVar(noflush, "noflush", false, "same as -n")
	counters := fs.Bool("c", false, "keep the counters given in the input")
	table := fs.String("T", "", "restore only this table")
	test := fs.Bool("t", false, "test: parse and check the input, change nothing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nfgo restore --state FILE [-4|-6] [-n] [-c] [-t] [-T TABLE] [INPUT]\n\nApply iptables-restore input to the ruleset kept in FILE.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *state == "" && !*test {
		fmt.Fprintln(stderr, "nfgo restore: --state FILE is required (the ruleset to update)")
		return 2
	}
	fam := familyOf(*v6)
	rs := ruleset.New(fam)
	if *state != "" {
		var err error
		if rs, err = loadState(*state, fam); err != nil {
			fmt.Fprintf(stderr, "nfgo restore: %v\n", err)
			return 2
		}
	}
	in := "-"
	if fs.NArg() > 0 {
		in = fs.Arg(0)
	}
	if err := restoreFrom(rs, in, stdin, ruleset.RestoreOptions{NoFlush: *noflush, Counters: *counters, Table: *table}); err != nil {
		fmt.Fprintf(stderr, "nfgo restore: %v\n", err)
		return 2
	}
	if *test || *state == "" {
		return 0
	}
	if err := writeState(*state, rs); err != nil {
		fmt.Fprintf(stderr, "nfgo restore: %v\n", err)
		return 1
	}
	return 0
}

// loadState reads a ruleset file; a missing file is an empty ruleset.
func loadState(path string, fam nf.Family) (*ruleset.Ruleset, error) {
	rs := ruleset.New(fam)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rs, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := rs.Restore(f, ruleset.RestoreOptions{File: path, Counters: true}); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	return rs, nil
}

func writeState(path string, rs *ruleset.Ruleset) error {
	var b bytes.Buffer
	if err := rs.Save(&b, ruleset.SaveOptions{Counters: true, Header: "nfgo"}); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nfgo-state-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cmdIptables(famNum int, args []string, stdout, stderr io.Writer) int {
	fam := nf.Family(famNum)
	prog := "nfgo " + fam.Program()
	state := ""
	if len(args) >= 1 && strings.HasPrefix(args[0], "--state=") {
		state, args = strings.TrimPrefix(args[0], "--state="), args[1:]
	} else if len(args) >= 2 && args[0] == "--state" {
		state, args = args[1], args[2:]
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintf(stdout, "usage: %s --state FILE [-t TABLE] COMMAND [OPTIONS]\n\n%s", prog, iptablesHelp)
		return 0
	}
	if state == "" {
		fmt.Fprintf(stderr, "%s: --state FILE must come first: the ruleset file the command works on\n", prog)
		return 2
	}
	toks := make([]ruleset.Tok, len(args))
	for i, a := range args {
		toks[i] = ruleset.Tok{Text: a, Col: i + 1}
	}
	cmd, err := ruleset.ParseCommand(fam, toks, false, "filter")
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ruleset.ExitCode(err)
	}
	if cmd.Help {
		fmt.Fprintf(stdout, "usage: %s --state FILE [-t TABLE] COMMAND [OPTIONS]\n\n%s", prog, iptablesHelp)
		return 0
	}
	rs, err := loadState(state, fam)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	var out bytes.Buffer
	if _, err := rs.Exec(cmd, &out); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ruleset.ExitCode(err)
	}
	stdout.Write(out.Bytes())
	switch cmd.Op {
	case 'L', 'S', 'C':
		return 0
	}
	if err := writeState(state, rs); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}

const iptablesHelp = `Commands:
  -A CHAIN RULE        append a rule
  -C CHAIN RULE        check whether a rule exists (exit 1 when it does not)
  -D CHAIN RULE|NUM    delete a rule
  -I CHAIN [NUM] RULE  insert a rule (at position NUM, default 1)
  -R CHAIN NUM RULE    replace rule NUM
  -L [CHAIN [NUM]]     list rules (with -n numeric, -v verbose, -x exact, --line-numbers)
  -S [CHAIN [NUM]]     print rules as iptables commands
  -F [CHAIN]           delete all rules of a chain or of the table
  -Z [CHAIN [NUM]]     zero counters
  -N CHAIN             create a user chain
  -X [CHAIN]           delete a user chain (or all of them)
  -E OLD NEW           rename a user chain
  -P CHAIN POLICY      set a built-in chain's policy (ACCEPT or DROP)
Rule specification:
  [!] -s ADDR[/MASK][,...]  [!] -d ADDR[/MASK][,...]  [!] -p PROTO
  [!] -i IFACE  [!] -o IFACE  [!] -f  -m MATCH [OPTIONS]  -j TARGET [OPTIONS]
  -g CHAIN  -c PACKETS BYTES
`
