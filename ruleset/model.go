// Package ruleset is the iptables ruleset model: tables, chains, rules with
// their matches and targets, counters; the iptables-restore parser, the
// iptables command executor, and the iptables-save and -L printers.
package ruleset

import (
	"net/netip"
	"sort"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// Counters are packet and byte counters.
type Counters struct{ Packets, Bytes uint64 }

// Prefix is an address with a netmask that need not be contiguous, as
// iptables allows (-s 10.0.0.0/255.0.255.0).
type Prefix struct {
	Addr netip.Addr
	Mask netip.Addr // all zeros: any address
}

// IsAny reports whether the prefix matches every address (or is unset).
func (p Prefix) IsAny() bool { return !p.Mask.IsValid() || p.Mask.IsUnspecified() }

// Contains reports whether a is inside the prefix.
func (p Prefix) Contains(a netip.Addr) bool {
	if p.IsAny() {
		return true
	}
	if a.Is4In6() && p.Addr.Is4() {
		a = a.Unmap()
	}
	if a.BitLen() != p.Addr.BitLen() {
		return false
	}
	x, m, y := a.As16(), p.Mask.As16(), p.Addr.As16()
	for i := range x {
		if x[i]&m[i] != y[i] {
			return false
		}
	}
	return true
}

// Bits returns the prefix length when the mask is contiguous, else -1.
func (p Prefix) Bits() int {
	if !p.Mask.IsValid() {
		return 0
	}
	b := p.Mask.AsSlice()
	n := 0
	i := 0
	for ; i < len(b) && b[i] == 0xff; i++ {
		n += 8
	}
	if i < len(b) {
		c := b[i]
		for c&0x80 != 0 {
			n++
			c <<= 1
		}
		if c != 0 {
			return -1
		}
		for i++; i < len(b); i++ {
			if b[i] != 0 {
				return -1
			}
		}
	}
	return n
}

// Frag is the state of the -f flag.
type Frag uint8

const (
	FragAny  Frag = iota
	FragOnly      // -f: second and further fragments
	FragNot       // ! -f: unfragmented packets and first fragments
)

// VerdictKind classifies a rule's target.
type VerdictKind uint8

const (
	NoTarget  VerdictKind = iota // no -j: counters only
	Standard                     // ACCEPT, DROP, RETURN, QUEUE
	Jump                         // -j CHAIN
	Goto                         // -g CHAIN
	Extension                    // -j EXTENSION
)

// Target is what a rule does when it matches.
type Target struct {
	Kind VerdictKind
	Name string // verdict, chain or extension name
	Def  *ext.Def
	Ext  ext.Ext
}

// MatchInst is one -m match of a rule.
type MatchInst struct {
	Def *ext.Def
	Ext ext.Ext
}

// Rule is one iptables rule.
type Rule struct {
	Src, Dst          Prefix
	InvSrc, InvDst    bool
	InIface, OutIface string // "" for any; a trailing '+' is a wildcard
	InvIn, InvOut     bool
	Proto             uint8
	InvProto          bool
	Frag              Frag
	Matches           []MatchInst
	Target            Target
	Counters          Counters
	Line              int // restore-file line the rule came from; 0 when unknown
}

// Chain is a built-in or user-defined chain.
type Chain struct {
	Name     string
	Builtin  bool
	Hook     nf.Hook  // for built-in chains
	Policy   string   // ACCEPT or DROP for built-in chains
	Counters Counters // policy counters of built-in chains
	Rules    []*Rule
}

// Table is one iptables table.
type Table struct {
	Def    *nf.TableDef
	Chains []*Chain // built-in chains in hook order, then user chains sorted by name
}

// Name returns the table name.
func (t *Table) Name() string { return t.Def.Name }

// Ruleset is the whole of a family's tables.
type Ruleset struct {
	Family nf.Family
	Tables [5]*Table // indexed like nf.Tables; nil when absent
}

// New returns an empty ruleset.
func New(fam nf.Family) *Ruleset { return &Ruleset{Family: fam} }

// NewTable returns a table with its built-in chains, policies ACCEPT.
func NewTable(def *nf.TableDef) *Table {
	t := &Table{Def: def}
	for _, h := range def.Hooks {
		t.Chains = append(t.Chains, &Chain{Name: h.String(), Builtin: true, Hook: h, Policy: "ACCEPT"})
	}
	return t
}

// Table returns the named table, or nil when it does not exist.
func (rs *Ruleset) Table(name string) *Table {
	i := nf.TableIndex(name)
	if i < 0 {
		return nil
	}
	return rs.Tables[i]
}

// EnsureTable returns the named table, creating it with its built-in chains.
// It returns nil for an unknown table name.
func (rs *Ruleset) EnsureTable(name string) *Table {
	i := nf.TableIndex(name)
	if i < 0 {
		return nil
	}
	if rs.Tables[i] == nil {
		rs.Tables[i] = NewTable(nf.Tables[i])
	}
	return rs.Tables[i]
}

// Chain returns the named chain, or nil.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// AddChain adds a user chain, keeping user chains sorted by name as
// iptables-save prints them.
func (t *Table) AddChain(name string) *Chain {
	c := &Chain{Name: name}
	t.Chains = append(t.Chains, c)
	t.sortUserChains()
	return c
}

func (t *Table) sortUserChains() {
	n := len(t.Def.Hooks)
	user := t.Chains[n:]
	sort.SliceStable(user, func(i, j int) bool { return user[i].Name < user[j].Name })
}

// RemoveChain deletes a chain by name.
func (t *Table) RemoveChain(name string) {
	for i, c := range t.Chains {
		if c.Name == name {
			t.Chains = append(t.Chains[:i], t.Chains[i+1:]...)
			return
		}
	}
}

// Refs counts the rules of the table that jump or go to the named chain.
func (t *Table) Refs(name string) int {
	n := 0
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if (r.Target.Kind == Jump || r.Target.Kind == Goto) && r.Target.Name == name {
				n++
			}
		}
	}
	return n
}

// Info returns the RuleInfo extensions see for this rule.
func (r *Rule) Info(fam nf.Family, table string) *ext.RuleInfo {
	return &ext.RuleInfo{Family: fam, Table: table, Proto: r.Proto, InvProto: r.InvProto}
}

// IsStandardVerdict reports whether name is one of the built-in verdicts.
func IsStandardVerdict(name string) bool {
	switch name {
	case "ACCEPT", "DROP", "RETURN", "QUEUE":
		return true
	}
	return false
}
