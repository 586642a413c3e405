// Package ext holds iptables extensions, the matches (-m NAME) and targets
// (-j NAME). Each extension lives in a file of its own, the way iptables'
// libxt_*.c are built: its options, their parsing and validation, its
// iptables-save form, its `iptables -L` form and, later, its evaluation.
// Extensions register themselves by name in init functions.
package ext

import (
	"fmt"
	"sort"

	"github.com/nfgo/nfgo/nf"
)

// Kind tells matches and targets apart.
type Kind uint8

const (
	MatchKind Kind = iota
	TargetKind
)

func (k Kind) String() string {
	if k == TargetKind {
		return "target"
	}
	return "match"
}

// ArgKind says whether an option takes an argument.
type ArgKind uint8

const (
	NoArg ArgKind = iota
	NeedArg
	OptionalArg // the next word is taken when it does not start with '-' or '!'
)

// Option is one long option an extension accepts.
type Option struct {
	Name   string  // without the leading "--"
	Arg    ArgKind // whether a value follows
	Invert bool    // may be preceded by "!"
	Multi  bool    // may be given more than once
	Extra  int     // further words the option takes after its value (--tcp-flags MASK COMP)
}

// RuleInfo is what an extension may know of the rule it belongs to.
type RuleInfo struct {
	Family   nf.Family
	Table    string
	Proto    uint8 // -p value, 0 for any
	InvProto bool  // ! -p
}

// Use is one occurrence of an extension's option on the command line.
type Use struct {
	Index  int      // position of the option in Def.Options
	Opt    *Option  // the option itself
	Arg    string   // its value ("" for NoArg)
	Args   []string // the further words of an option with Extra > 0
	HasArg bool     // an OptionalArg option got a value
	Invert bool     // it was preceded by "!"
	Rule   *RuleInfo
}

// Name returns the option's name for messages.
func (u *Use) Name() string { return u.Opt.Name }

// Ext is one parsed match or target instance.
type Ext interface {
	// Parse takes one option. Errors say what was wrong with the value;
	// the caller adds the position.
	Parse(u *Use) error
	// Final runs once all options are in (iptables' final check).
	Final(r *RuleInfo) error
	// Save appends the options in iptables-save form, each preceded by a space.
	Save(b *Buf)
	// Print appends the `iptables -L` form, each part preceded by a space.
	Print(b *Buf, numeric bool)
}

// CheckCtx is the context of a kernel-side validity check (checkentry).
type CheckCtx struct {
	Rule  *RuleInfo
	Hooks nf.HookMask // hooks from which the rule's chain can be reached
	Chain string
}

// Checker is implemented by extensions with kernel-side rules beyond the
// declarative ones in Def.
type Checker interface {
	Check(c *CheckCtx) error
}

// Def declares an extension.
type Def struct {
	Name    string
	Kind    Kind
	Family  nf.Family // 0 for both families
	Options []Option
	New     func() Ext

	// Kernel constraints, as in struct xt_match / xt_target.
	Tables []string    // tables the extension is valid in; nil for all
	Hooks  nf.HookMask // hooks it is valid in; 0 for all
	Proto  uint8       // required protocol; the rule needs -p PROTO without "!"

	// SaveName overrides the name printed after -m/-j (e.g. an alias that
	// the kernel stores under another name).
	SaveName string
	// ListName overrides the name in the target column of -L, where
	// iptables prints the kernel's name rather than the alias (NOTRACK
	// shows as CT).
	ListName string
}

type regKey struct {
	kind Kind
	name string
	fam  nf.Family
}

var registry = map[regKey]*Def{}

// Register adds an extension. It panics on duplicates: that is a programming error.
func Register(d *Def) {
	k := regKey{d.Kind, d.Name, d.Family}
	if _, dup := registry[k]; dup {
		panic(fmt.Sprintf("ext: %s %q registered twice", d.Kind, d.Name))
	}
	if d.New == nil {
		panic(fmt.Sprintf("ext: %s %q has no constructor", d.Kind, d.Name))
	}
	registry[k] = d
}

// Lookup finds an extension for a family: a family-specific one first, then
// one for both families.
func Lookup(kind Kind, name string, fam nf.Family) *Def {
	if d := registry[regKey{kind, name, fam}]; d != nil {
		return d
	}
	return registry[regKey{kind, name, 0}]
}

// Names lists the registered extensions of a kind usable in a family.
func Names(kind Kind, fam nf.Family) []string {
	var out []string
	for k := range registry {
		if k.kind == kind && (k.fam == 0 || k.fam == fam) {
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return out
}

// OptionIndex returns the index of the named option, or -1.
func (d *Def) OptionIndex(name string) int {
	for i := range d.Options {
		if d.Options[i].Name == name {
			return i
		}
	}
	return -1
}

// PrintName is the name printed after -m or -j.
// ListingName is the name in the target column of iptables -L.
func (d *Def) ListingName() string {
	if d.ListName != "" {
		return d.ListName
	}
	return d.PrintName()
}

func (d *Def) PrintName() string {
	if d.SaveName != "" {
		return d.SaveName
	}
	return d.Name
}

// Errorf builds an extension error.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
