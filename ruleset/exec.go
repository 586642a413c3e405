package ruleset

import (
	"fmt"
	"io"
	"slices"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// Clone copies the ruleset's tables, chains and rule lists. Rules are copied
// by value; their parsed extensions are shared, as they do not change.
func (rs *Ruleset) Clone() *Ruleset {
	n := &Ruleset{Family: rs.Family}
	for i, t := range rs.Tables {
		if t == nil {
			continue
		}
		nt := &Table{Def: t.Def}
		for _, c := range t.Chains {
			nc := *c
			nc.Rules = make([]*Rule, len(c.Rules))
			for j, r := range c.Rules {
				rr := *r
				nc.Rules[j] = &rr
			}
			nt.Chains = append(nt.Chains, &nc)
		}
		n.Tables[i] = nt
	}
	return n
}

func cmdErr(code int, format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...), Code: code}
}

// Exec runs one parsed command against the ruleset. Listing commands write
// to w. For -C it returns ExitOther when the rule is absent.
func (rs *Ruleset) Exec(cmd *Command, w io.Writer) (bool, error) {
	return rs.exec(cmd, w, true)
}

// exec runs cmd; validate=false leaves the kernel's table checks to the
// caller, as a restore does once at COMMIT rather than after every line.
func (rs *Ruleset) exec(cmd *Command, w io.Writer, validate bool) (bool, error) {
	tname := cmd.Table
	if tname == "" {
		tname = "filter"
	}
	def := nf.TableByName(tname)
	if def == nil {
		return false, cmdErr(ExitParameter, "table %q does not exist", tname)
	}
	switch cmd.Op {
	case 'L', 'S':
		t := rs.Table(tname)
		if t == nil {
			t = NewTable(def)
		}
		if cmd.Chain != "" && t.Chain(cmd.Chain) == nil {
			return false, errAt(cmd.ArgTok, ExitOther, "chain `%s' in table `%s' does not exist", cmd.Chain, tname)
		}
		if cmd.Op == 'L' {
			return true, rs.List(w, t, cmd)
		}
		return true, rs.ListRules(w, t, cmd)
	}

	t := rs.Table(tname)
	created := false
	if t == nil {
		if cmd.Op == 'F' || cmd.Op == 'Z' || cmd.Op == 'X' || cmd.Op == 'C' || cmd.Op == 'D' {
			if cmd.Chain == "" {
				return true, nil
			}
		}
		t = NewTable(def)
		created = true
	}
	chain := func() (*Chain, error) {
		c := t.Chain(cmd.Chain)
		if c == nil {
			return nil, errAt(cmd.ArgTok, ExitOther, "chain `%s' does not exist in table %s", cmd.Chain, tname)
		}
		return c, nil
	}
	switch cmd.Op {
	case 'A', 'I', 'R', 'C', 'D':
		c, err := chain()
		if err != nil {
			return false, err
		}
		if cmd.Op == 'D' && cmd.RuleNum > 0 {
			if cmd.RuleNum > len(c.Rules) {
				return false, errAt(cmd.OpTok, ExitOther, "index of deletion too big: chain %s has %d rules", c.Name, len(c.Rules))
			}
			c.Rules = slices.Delete(c.Rules, cmd.RuleNum-1, cmd.RuleNum)
			break
		}
		for _, r := range cmd.Rules {
			if cmd.Op != 'C' && cmd.Op != 'D' {
				if err := checkJump(t, r, cmd); err != nil {
					return false, err
				}
			}
			r.Line = cmd.OpTok.Line
		}
		switch cmd.Op {
		case 'A':
			c.Rules = append(c.Rules, cmd.Rules...)
		case 'I':
			pos := max(cmd.RuleNum, 1) - 1
			if pos > len(c.Rules) {
				return false, errAt(cmd.OpTok, ExitOther, "index of insertion too big: chain %s has %d rules", c.Name, len(c.Rules))
			}
			c.Rules = slices.Insert(c.Rules, pos, cmd.Rules...)
		case 'R':
			if len(cmd.Rules) != 1 {
				return false, errAt(cmd.OpTok, ExitParameter, "-R replaces one rule: multiple source or destination addresses are not allowed")
			}
			if cmd.RuleNum > len(c.Rules) {
				return false, errAt(cmd.OpTok, ExitOther, "index of replacement too big: chain %s has %d rules", c.Name, len(c.Rules))
			}
			c.Rules[cmd.RuleNum-1] = cmd.Rules[0]
		case 'C', 'D':
			for _, r := range cmd.Rules {
				i := findRule(c, r, rs.Family)
				if i < 0 {
					return false, errAt(cmd.OpTok, ExitOther, "bad rule (does a matching rule exist in that chain?)")
				}
				if cmd.Op == 'D' {
					c.Rules = slices.Delete(c.Rules, i, i+1)
				}
			}
			if cmd.Op == 'C' {
				return true, nil
			}
		}
	case 'F':
		if cmd.Chain != "" {
			c, err := chain()
			if err != nil {
				return false, err
			}
			c.Rules = nil
		} else {
			for _, c := range t.Chains {
				c.Rules = nil
			}
		}
	case 'Z':
		zero := func(c *Chain) {
			c.Counters = Counters{}
			for _, r := range c.Rules {
				r.Counters = Counters{}
			}
		}
		if cmd.Chain != "" {
			c, err := chain()
			if err != nil {
				return false, err
			}
			if cmd.RuleNum > 0 {
				if cmd.RuleNum > len(c.Rules) {
					return false, errAt(cmd.OpTok, ExitOther, "rule %d does not exist in chain %s", cmd.RuleNum, c.Name)
				}
				c.Rules[cmd.RuleNum-1].Counters = Counters{}
			} else {
				zero(c)
			}
		} else {
			for _, c := range t.Chains {
				zero(c)
			}
		}
	case 'N':
		if err := validNewChain(rs.Family, t, cmd.Chain, cmd.ArgTok); err != nil {
			return false, err
		}
		t.AddChain(cmd.Chain)
	case 'X':
		// The kernel deletes only empty, unreferenced chains; deleting all
		// user chains is one transaction that fails as a whole.
		busy := func(c *Chain) error {
			if len(c.Rules) > 0 {
				return errAt(cmd.OpTok, ExitResource, "cannot delete chain `%s': it is not empty (flush it first with -F)", c.Name)
			}
			if n := t.Refs(c.Name); n > 0 {
				return errAt(cmd.OpTok, ExitResource, "cannot delete chain `%s': %d rule(s) still jump to it", c.Name, n)
			}
			return nil
		}
		if cmd.Chain == "" {
			var keep []*Chain
			for _, c := range t.Chains {
				if c.Builtin {
					keep = append(keep, c)
				} else if err := busy(c); err != nil {
					return false, err
				}
			}
			t.Chains = keep
			break
		}
		c, err := chain()
		if err != nil {
			return false, err
		}
		if c.Builtin {
			return false, errAt(cmd.ArgTok, ExitParameter, "cannot delete built-in chain `%s'", c.Name)
		}
		if err := busy(c); err != nil {
			return false, err
		}
		t.RemoveChain(c.Name)
	case 'E':
		c, err := chain()
		if err != nil {
			return false, err
		}
		if c.Builtin {
			return false, errAt(cmd.ArgTok, ExitParameter, "cannot rename built-in chain `%s'", c.Name)
		}
		nt := Tok{Text: cmd.Arg, Line: cmd.ArgTok.Line, Col: cmd.ArgTok.Col}
		if err := validNewChain(rs.Family, t, cmd.Arg, nt); err != nil {
			return false, err
		}
		old := c.Name
		c.Name = cmd.Arg
		for _, cc := range t.Chains {
			for _, r := range cc.Rules {
				if (r.Target.Kind == Jump || r.Target.Kind == Goto) && r.Target.Name == old {
					r.Target.Name = cmd.Arg
				}
			}
		}
		t.sortUserChains()
	case 'P':
		c, err := chain()
		if err != nil {
			return false, err
		}
		if !c.Builtin {
			return false, errAt(cmd.ArgTok, ExitOther, "bad built-in chain name: `%s' is a user chain and has no policy", c.Name)
		}
		if cmd.Arg != "ACCEPT" && cmd.Arg != "DROP" {
			return false, errAt(Tok{Text: cmd.Arg, Line: cmd.ArgTok.Line, Col: cmd.ArgTok.Col}, ExitOther, "bad policy name: expected ACCEPT or DROP")
		}
		c.Policy = cmd.Arg
		if cmd.Counters != nil {
			c.Counters = *cmd.Counters
		}
	default:
		return false, errAt(cmd.OpTok, ExitParameter, "unsupported command")
	}
	if validate {
		if err := rs.ValidateTable(t); err != nil {
			return false, err
		}
	}
	if created {
		rs.Tables[nf.TableIndex(tname)] = t
	}
	return true, nil
}

func validNewChain(fam nf.Family, t *Table, name string, tok Tok) error {
	if len(name) > 28 {
		return paramErr(tok, "chain name `%s' too long (must be under 29 chars)", name)
	}
	if name == "" || name[0] == '-' || name[0] == '!' {
		return paramErr(tok, "invalid chain name: it may not be empty or start with '-' or '!'")
	}
	if IsStandardVerdict(name) || ext.Lookup(ext.TargetKind, name, fam) != nil {
		return paramErr(tok, "chain name may not clash with target name")
	}
	if t.Chain(name) != nil {
		return errAt(tok, ExitOther, "chain `%s' already exists", name)
	}
	return nil
}

func checkJump(t *Table, r *Rule, cmd *Command) error {
	if r.Target.Kind != Jump && r.Target.Kind != Goto {
		return nil
	}
	c := t.Chain(r.Target.Name)
	if c == nil {
		return errAt(cmd.OpTok, ExitParameter, "chain '%s' does not exist: -j needs a target extension, ACCEPT, DROP, RETURN, QUEUE or a user chain of table %s", r.Target.Name, t.Name())
	}
	if c.Builtin {
		return errAt(cmd.OpTok, ExitParameter, "cannot jump to built-in chain %s", c.Name)
	}
	return nil
}

func findRule(c *Chain, r *Rule, fam nf.Family) int {
	want := r.Spec(fam)
	for i, x := range c.Rules {
		if x.Spec(fam) == want {
			return i
		}
	}
	return -1
}

// ValidateTable runs the checks the kernel makes when a table is committed:
// jumps go to existing user chains, no chain loops, and every extension is
// valid in its table, at the hooks its chain is reached from, and for the
// rule's protocol.
func (rs *Ruleset) ValidateTable(t *Table) error {
	masks, err := t.HookMasks()
	if err != nil {
		return err
	}
	for _, c := range t.Chains {
		for i, r := range c.Rules {
			if err := rs.checkRule(t, c, r, masks[c.Name]); err != nil {
				return &Error{Line: r.Line, Col: 1, Msg: fmt.Sprintf("chain %s rule %d: %v", c.Name, i+1, err), Code: ExitResource}
			}
		}
	}
	return nil
}

// HookMasks returns, for every chain, the hooks it can be reached from. It
// fails on a jump to a missing chain or a loop.
func (t *Table) HookMasks() (map[string]nf.HookMask, error) {
	masks := map[string]nf.HookMask{}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var visit func(c *Chain, m nf.HookMask, path []string) error
	visit = func(c *Chain, m nf.HookMask, path []string) error {
		if color[c.Name] == grey {
			return cmdErr(ExitResource, "loop in the chain graph: %v -> %s", path, c.Name)
		}
		if masks[c.Name]&m == m && color[c.Name] == black {
			return nil
		}
		masks[c.Name] |= m
		color[c.Name] = grey
		for _, r := range c.Rules {
			if r.Target.Kind != Jump && r.Target.Kind != Goto {
				continue
			}
			d := t.Chain(r.Target.Name)
			if d == nil {
				return cmdErr(ExitParameter, "chain %s jumps to chain '%s', which does not exist", c.Name, r.Target.Name)
			}
			if err := visit(d, m, append(path, c.Name)); err != nil {
				return err
			}
		}
		color[c.Name] = black
		return nil
	}
	for _, c := range t.Chains {
		if c.Builtin {
			if err := visit(c, c.Hook.Mask(), nil); err != nil {
				return nil, err
			}
		}
	}
	// Chains no built-in chain reaches are not validated by the kernel
	// (nf_tables checks from base chains), loops among them included.
	return masks, nil
}

func (rs *Ruleset) checkRule(t *Table, c *Chain, r *Rule, hooks nf.HookMask) error {
	info := r.Info(rs.Family, t.Name())
	check := func(d *ext.Def, e ext.Ext) error {
		if d.Tables != nil && !slices.Contains(d.Tables, t.Name()) {
			return fmt.Errorf("%s %s is only valid in table(s) %v, not %s", d.Name, d.Kind, d.Tables, t.Name())
		}
		if d.Hooks != 0 && hooks&^d.Hooks != 0 {
			return fmt.Errorf("%s %s is only valid in chain(s) reached from %s, but chain %s is reached from %s", d.Name, d.Kind, d.Hooks, c.Name, hooks)
		}
		if d.Proto != 0 && (r.Proto != d.Proto || r.InvProto) {
			return fmt.Errorf("%s %s is only valid for protocol %s (-p %s)", d.Name, d.Kind, nf.ProtoString(d.Proto), nf.ProtoString(d.Proto))
		}
		if ck, ok := e.(ext.Checker); ok {
			if err := ck.Check(&ext.CheckCtx{Rule: info, Hooks: hooks, Chain: c.Name}); err != nil {
				return fmt.Errorf("%s %s: %v", d.Name, d.Kind, err)
			}
		}
		return nil
	}
	for _, m := range r.Matches {
		if err := check(m.Def, m.Ext); err != nil {
			return err
		}
	}
	if r.Target.Kind == Extension {
		return check(r.Target.Def, r.Target.Ext)
	}
	return nil
}
