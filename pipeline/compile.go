package pipeline

import (
	"fmt"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/ruleset"
)

// verdict kinds of a compiled rule's target.
type tkind uint8

const (
	tNone tkind = iota // no target: counters only
	tAccept
	tDrop
	tReturn
	tQueue
	tJump
	tGoto
	tExt
)

// cRule is a rule prepared for evaluation: matches and target resolved once
// so the per-packet path does no lookups.
type cRule struct {
	r        *ruleset.Rule
	num      int // 1-based position in its chain
	matchers []ext.Matcher
	missing  string // name of a match that cannot be evaluated yet ("" if none)
	kind     tkind
	target   ext.Targeter
	tname    string
	jump     *cChain
	inName   string
	inWild   bool
	outName  string
	outWild  bool
}

type cChain struct {
	c       *ruleset.Chain
	name    string
	builtin bool
	policy  ext.Verdict
	rules   []cRule
}

type cTable struct {
	name   string
	t      *ruleset.Table
	chains map[string]*cChain
	hooks  [nf.NumHooks]*cChain
}

func compileTable(fam nf.Family, t *ruleset.Table) (*cTable, error) {
	ct := &cTable{name: t.Name(), t: t, chains: map[string]*cChain{}}
	for _, c := range t.Chains {
		cc := &cChain{c: c, name: c.Name, builtin: c.Builtin, policy: ext.VerdictAccept}
		if c.Builtin {
			if c.Policy == "DROP" {
				cc.policy = ext.VerdictDrop
			}
			ct.hooks[c.Hook] = cc
		}
		ct.chains[c.Name] = cc
	}
	for _, c := range t.Chains {
		cc := ct.chains[c.Name]
		cc.rules = make([]cRule, len(c.Rules))
		for i, r := range c.Rules {
			cr := &cc.rules[i]
			cr.r, cr.num = r, i+1
			cr.inName, cr.inWild = ifaceSpec(r.InIface)
			cr.outName, cr.outWild = ifaceSpec(r.OutIface)
			for _, m := range r.Matches {
				mm, ok := m.Ext.(ext.Matcher)
				if pe, isPartial := m.Ext.(ext.Partial); ok && isPartial {
					if can, what := pe.CanEval(); !can {
						ok = false
						if cr.missing == "" {
							cr.missing = m.Def.Name + " (" + what + ")"
						}
					}
				}
				if !ok {
					if cr.missing == "" {
						cr.missing = m.Def.Name
					}
					continue
				}
				cr.matchers = append(cr.matchers, mm)
			}
			switch r.Target.Kind {
			case ruleset.NoTarget:
				cr.kind = tNone
			case ruleset.Standard:
				switch r.Target.Name {
				case "ACCEPT":
					cr.kind = tAccept
				case "DROP":
					cr.kind = tDrop
				case "RETURN":
					cr.kind = tReturn
				case "QUEUE":
					cr.kind = tQueue
				default:
					return nil, fmt.Errorf("table %s chain %s rule %d: unknown verdict %q", t.Name(), c.Name, i+1, r.Target.Name)
				}
			case ruleset.Jump, ruleset.Goto:
				cr.kind = tJump
				if r.Target.Kind == ruleset.Goto {
					cr.kind = tGoto
				}
				cr.jump = ct.chains[r.Target.Name]
				if cr.jump == nil {
					return nil, fmt.Errorf("table %s chain %s rule %d: chain %q does not exist", t.Name(), c.Name, i+1, r.Target.Name)
				}
			case ruleset.Extension:
				cr.kind = tExt
				cr.tname = r.Target.Def.PrintName()
				if tg, ok := r.Target.Ext.(ext.Targeter); ok {
					cr.target = tg
				}
			}
			if cr.tname == "" {
				cr.tname = r.Target.Name
			}
		}
	}
	_ = fam
	return ct, nil
}

// ifaceSpec splits an iptables interface name: "eth+" matches every name
// starting with "eth"; "" matches all.
func ifaceSpec(s string) (string, bool) {
	if n := len(s); n > 0 && s[n-1] == '+' {
		return s[:n-1], true
	}
	return s, false
}

func ifaceMatch(name string, wild bool, dev string) bool {
	if wild {
		return len(dev) >= len(name) && dev[:len(name)] == name
	}
	if name == "" {
		return true
	}
	return dev == name
}
