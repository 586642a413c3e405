package ruleset

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// RestoreOptions mirror iptables-restore's flags.
type RestoreOptions struct {
	File     string // name used in error messages
	NoFlush  bool   // -n: add to the tables instead of replacing them
	Counters bool   // -c: keep the counters given in the input
	Table    string // -T: restore only this table
}

// SplitWords splits one restore line into words the way iptables-restore
// does: on blanks, with double quotes grouping and backslash escaping inside
// quotes. Columns are 1-based byte offsets of each word's first character.
func SplitWords(line string, lineNo, startCol int) ([]Tok, error) {
	var toks []Tok
	var cur []byte
	inWord, quoted, escaped := false, false, false
	start := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quoted {
			switch {
			case escaped:
				cur = append(cur, c)
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				quoted = false
			default:
				cur = append(cur, c)
			}
			continue
		}
		switch c {
		case '"':
			if !inWord {
				inWord, start = true, i
			}
			quoted = true
		case ' ', '\t', '\n', '\r':
			if inWord {
				toks = append(toks, Tok{Text: string(cur), Line: lineNo, Col: startCol + start})
				cur, inWord = cur[:0], false
			}
		default:
			if !inWord {
				inWord, start = true, i
			}
			cur = append(cur, c)
		}
	}
	if quoted {
		return nil, &Error{Line: lineNo, Col: startCol + start, Msg: "unterminated quoted string: expected a closing '\"'", Code: ExitParameter}
	}
	if inWord {
		toks = append(toks, Tok{Text: string(cur), Line: lineNo, Col: startCol + start})
	}
	return toks, nil
}

// Restore applies iptables-restore input to rs. As with the kernel, each
// COMMIT is a transaction: on an error, the tables committed before it stay,
// and nothing after the last good COMMIT is applied.
func (rs *Ruleset) Restore(r io.Reader, o RestoreOptions) error {
	work := rs.Clone()
	commit := func() { *rs = *work.Clone() }
	if err := work.restore(r, o, commit); err != nil {
		if e, ok := err.(*Error); ok && e.File == "" && e.Line > 0 {
			e.File = o.File
		}
		return err
	}
	*rs = *work
	return nil
}

func (rs *Ruleset) restore(r io.Reader, o RestoreOptions, commit func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	sc.Split(scanLF)
	var (
		cur      *Table // table being built, nil outside *table ... COMMIT
		curName  string
		skip     bool // -T selected another table
		lineNo   int
		openLine Tok
	)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.TrimSpace(line) == "" {
			return &Error{Line: lineNo, Col: 1, Msg: "no command specified: a line of only blanks (empty lines must be empty)", Code: ExitParameter}
		}
		lt := Tok{Text: strings.TrimSpace(line), Line: lineNo, Col: 1}
		switch {
		case line[0] == '*':
			if cur != nil || skip {
				return &Error{Line: lineNo, Col: 1, Token: line, Msg: "COMMIT expected before a new table: table " + strconv.Quote(curName) + " (line " + strconv.Itoa(openLine.Line) + ") is still open", Code: ExitParameter}
			}
			// Only blanks and tabs separate words, as in iptables-restore:
			// a DOS line end leaves "\r" in the name and the table is refused.
			name := ""
			if f := strings.FieldsFunc(line[1:], func(r rune) bool { return r == ' ' || r == '\t' }); len(f) > 0 {
				name = f[0]
			}
			def := nf.TableByName(name)
			if def == nil {
				msg := "table name invalid: expected raw, mangle, nat, filter or security"
				if strings.Contains(name, "\r") {
					msg += " (the line ends in a carriage return: convert DOS line ends)"
				}
				return &Error{Line: lineNo, Col: 2, Token: name, Msg: msg, Code: ExitParameter}
			}
			curName, openLine = name, lt
			if o.Table != "" && o.Table != name {
				skip = true
				continue
			}
			if o.NoFlush {
				cur = rs.EnsureTable(name)
			} else {
				cur = NewTable(def)
				rs.Tables[nf.TableIndex(name)] = cur
			}
		case line == "COMMIT":
			if cur == nil && !skip {
				return &Error{Line: lineNo, Col: 1, Token: "COMMIT", Msg: "COMMIT outside a table: expected a '*TABLE' line first", Code: ExitParameter}
			}
			if cur != nil {
				if err := rs.ValidateTable(cur); err != nil {
					if e, ok := err.(*Error); ok && e.Line == 0 {
						e.Line, e.Col = lineNo, 1
					}
					return err
				}
			}
			cur, skip = nil, false
			commit()
		case skip:
			continue
		case cur == nil:
			return &Error{Line: lineNo, Col: 1, Token: firstWord(line), Msg: "no table specified: expected a '*TABLE' line before rules and chains", Code: ExitParameter}
		case line[0] == ':':
			if err := rs.restoreChain(cur, line, lineNo, o); err != nil {
				return err
			}
		default:
			if err := rs.restoreRule(cur, line, lineNo, o); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return &Error{Line: lineNo + 1, Col: 1, Msg: "reading input: " + err.Error(), Code: ExitParameter}
	}
	if cur != nil || skip {
		return &Error{Line: lineNo, Col: 1, Msg: "COMMIT expected: table " + strconv.Quote(curName) + " opened at line " + strconv.Itoa(openLine.Line) + " is not committed", Code: ExitParameter}
	}
	return nil
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func (rs *Ruleset) restoreChain(t *Table, line string, lineNo int, o RestoreOptions) error {
	toks, err := SplitWords(line[1:], lineNo, 2)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return &Error{Line: lineNo, Col: 2, Msg: "chain name invalid: expected ':CHAIN POLICY [PACKETS:BYTES]'", Code: ExitParameter}
	}
	name := toks[0]
	if len(name.Text) > 28 {
		return paramErr(name, "invalid chain name: at most 28 characters")
	}
	if len(toks) < 2 {
		return paramErr(name, "policy invalid: expected ':CHAIN POLICY [PACKETS:BYTES]' (POLICY is ACCEPT or DROP for built-in chains, '-' for user chains)")
	}
	policy := toks[1]
	var cnt Counters
	if len(toks) >= 3 && o.Counters {
		c, ok := parseBracketCounters(toks[2].Text)
		if !ok {
			return paramErr(toks[2], "invalid policy counters for chain '%s': expected [PACKETS:BYTES]", name.Text)
		}
		cnt = c
	}
	if c := t.Chain(name.Text); c != nil && c.Builtin {
		if policy.Text != "ACCEPT" && policy.Text != "DROP" {
			return errAt(policy, ExitParameter, "can't set policy `%s' on `%s': expected ACCEPT or DROP", policy.Text, name.Text)
		}
		c.Policy = policy.Text
		if o.Counters {
			c.Counters = cnt
		}
		return nil
	}
	if _, isHook := nf.HookByChain(name.Text); isHook && policy.Text != "-" {
		return errAt(name, ExitParameter, "chain %s is not a built-in chain of table %s", name.Text, t.Name())
	}
	if t.Chain(name.Text) == nil {
		t.AddChain(name.Text)
	}
	return nil
}

func parseBracketCounters(s string) (Counters, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return Counters{}, false
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return Counters{}, false
	}
	p, e1 := strconv.ParseUint(a, 10, 64)
	y, e2 := strconv.ParseUint(b, 10, 64)
	if e1 != nil || e2 != nil {
		return Counters{}, false
	}
	return Counters{p, y}, true
}

func (rs *Ruleset) restoreRule(t *Table, line string, lineNo int, o RestoreOptions) error {
	startCol := 1
	var counters *Counters
	if line[0] == '[' {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return &Error{Line: lineNo, Col: 1, Token: firstWord(line), Msg: "bad counters: expected [PACKETS:BYTES] before the rule", Code: ExitParameter}
		}
		c, ok := parseBracketCounters(line[:end+1])
		if !ok {
			return &Error{Line: lineNo, Col: 1, Token: line[:end+1], Msg: "bad counters: expected [PACKETS:BYTES] with decimal numbers", Code: ExitParameter}
		}
		if o.Counters {
			counters = &c
		}
		line = line[end+1:]
		startCol = end + 2
	}
	toks, err := SplitWords(line, lineNo, startCol)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return &Error{Line: lineNo, Col: startCol, Msg: "empty rule: expected a command such as -A CHAIN", Code: ExitParameter}
	}
	cmd, err := ParseCommand(rs.Family, toks, true, t.Name())
	if err != nil {
		return err
	}
	if counters != nil && cmd.Counters == nil {
		for _, r := range cmd.Rules {
			r.Counters = *counters
		}
	}
	switch cmd.Op {
	case 'L', 'S', 'C':
		return paramErr(cmd.OpTok, "-%c is not allowed in a restore file", cmd.Op)
	}
	_, err = rs.exec(cmd, nil, false)
	return err
}

// scanLF splits at "\n" only: unlike bufio.ScanLines it keeps a "\r"
// before it, because iptables-restore does and then refuses the line.
func scanLF(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
