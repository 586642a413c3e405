package ruleset

import (
	"fmt"
	"io"
	"strconv"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// pad appends s left-aligned in a field of width w (printf "%-ws").
func pad(b *ext.Buf, s string, w int) {
	b.S(s)
	for i := len(s); i < w; i++ {
		b.S(" ")
	}
}

// rpad appends s right-aligned in a field of width w (printf "%ws").
func rpad(b *ext.Buf, s string, w int) {
	for i := len(s); i < w; i++ {
		b.S(" ")
	}
	b.S(s)
}

// printNum mirrors xtables_print_num: exact with -x, else K/M/G/T units.
func printNum(b *ext.Buf, n uint64, exact, notable bool) {
	if exact {
		if notable {
			b.U(n).S(" ")
		} else {
			rpad(b, strconv.FormatUint(n, 10), 8)
			b.S(" ")
		}
		return
	}
	unit := ""
	if n > 99999 {
		for _, u := range []string{"K", "M", "G", "T"} {
			n = (n + 500) / 1000
			unit = u
			if n <= 9999 || u == "T" {
				break
			}
		}
	}
	s := strconv.FormatUint(n, 10)
	switch {
	case notable:
		b.S(s).S(unit).S(" ")
	case unit == "":
		rpad(b, s, 5)
		b.S(" ")
	default:
		rpad(b, s, 4)
		b.S(unit).S(" ")
	}
}

// List prints a table (or one chain) as `iptables -L` does.
func (rs *Ruleset) List(w io.Writer, t *Table, cmd *Command) error {
	var b ext.Buf
	first := true
	for _, c := range t.Chains {
		if cmd.Chain != "" && c.Name != cmd.Chain {
			continue
		}
		if cmd.RuleNum > 0 {
			if cmd.RuleNum <= len(c.Rules) {
				rs.listRule(&b, t, c.Rules[cmd.RuleNum-1], cmd.RuleNum, cmd)
			}
			continue
		}
		if !first {
			b.S("\n")
		}
		first = false
		rs.listHeader(&b, t, c, cmd)
		for i, r := range c.Rules {
			rs.listRule(&b, t, r, i+1, cmd)
		}
	}
	_, err := w.Write(b.B)
	return err
}

func (rs *Ruleset) listHeader(b *ext.Buf, t *Table, c *Chain, cmd *Command) {
	b.S("Chain ").S(c.Name)
	if c.Builtin {
		b.S(" (policy ").S(c.Policy)
		if cmd.Verbose {
			b.S(" ")
			printNum(b, c.Counters.Packets, cmd.Exact, true)
			b.S("packets, ")
			printNum(b, c.Counters.Bytes, cmd.Exact, true)
			b.S("bytes")
		}
		b.S(")\n")
	} else {
		b.S(" (").S(strconv.Itoa(t.Refs(c.Name))).S(" references)\n")
	}
	if cmd.LineNumbers {
		pad(b, "num", 4)
		b.S(" ")
	}
	if cmd.Verbose {
		if cmd.Exact {
			rpad(b, "pkts", 8)
			b.S(" ")
			rpad(b, "bytes", 10)
			b.S(" ")
		} else {
			rpad(b, "pkts", 5)
			b.S(" ")
			rpad(b, "bytes", 5)
			b.S(" ")
		}
	}
	pad(b, "target", 9)
	b.S(" ")
	b.S(" prot ")
	b.S("opt")
	if cmd.Verbose {
		b.S(" ")
		pad(b, "in", 6)
		b.S(" ")
		pad(b, "out", 6)
		b.S(" ")
	}
	b.S(" ")
	pad(b, "source", 19)
	b.S(" ")
	b.S(" ")
	pad(b, "destination", 19)
	b.S(" ")
	b.S("\n")
}

func (rs *Ruleset) listRule(b *ext.Buf, t *Table, r *Rule, num int, cmd *Command) {
	if cmd.LineNumbers {
		pad(b, strconv.Itoa(num), 4)
		b.S(" ")
	}
	if cmd.Verbose {
		printNum(b, r.Counters.Packets, cmd.Exact, false)
		printNum(b, r.Counters.Bytes, cmd.Exact, false)
	}
	tname := ""
	if r.Target.Kind != NoTarget {
		tname = r.Target.Name
		if r.Target.Kind == Extension {
			tname = r.Target.Def.ListingName()
		}
	}
	pad(b, tname, 9)
	b.S(" ")
	if r.InvProto {
		b.S("!")
	} else {
		b.S(" ")
	}
	if cmd.Numeric {
		pad(b, strconv.Itoa(int(r.Proto)), 4)
		b.S(" ")
	} else {
		name := "all"
		if r.Proto != 0 {
			name = nf.ProtoString(r.Proto)
		}
		// "%-4s ": long names keep one space before the option column.
		pad(b, name, 4)
		b.S(" ")
	}
	{
		switch r.Frag {
		case FragOnly:
			b.S("-f ")
		case FragNot:
			b.S("!f ")
		default:
			b.S("-- ")
		}
	}
	if cmd.Verbose {
		b.S(" ")
		pad(b, ifaceCol(r.InIface, r.InvIn, cmd.Numeric), 6)
		b.S(" ")
		pad(b, ifaceCol(r.OutIface, r.InvOut, cmd.Numeric), 6)
		b.S(" ")
	}
	listAddr(b, rs.Family, r.Src, r.InvSrc, cmd.Numeric)
	listAddr(b, rs.Family, r.Dst, r.InvDst, cmd.Numeric)
	if r.Target.Kind == Goto {
		b.S("[goto] ")
	}
	for _, m := range r.Matches {
		m.Ext.Print(b, cmd.Numeric)
	}
	if r.Target.Kind == Extension {
		r.Target.Ext.Print(b, cmd.Numeric)
	}
	b.S("\n")
}

func ifaceCol(name string, inv, numeric bool) string {
	s := ""
	if inv {
		s = "!"
	}
	switch {
	case name != "":
		return s + name
	case numeric:
		return s + "*"
	}
	return s + "any"
}

func listAddr(b *ext.Buf, fam nf.Family, p Prefix, inv, numeric bool) {
	if inv {
		b.S("!")
	} else {
		b.S(" ")
	}
	var s string
	switch {
	case p.IsAny() && !numeric:
		s = "anywhere"
	case !p.Addr.IsValid():
		s = "0.0.0.0/0"
		if fam == nf.IPv6 {
			s = "::/0"
		}
	default:
		s = p.Addr.String()
		bits := p.Bits()
		switch {
		case bits < 0:
			s += "/" + p.Mask.String()
		case bits != p.Addr.BitLen():
			s += "/" + strconv.Itoa(bits)
		}
	}
	pad(b, s, 19)
	b.S(" ")
}

// ListRules prints a table (or one chain) as `iptables -S` does.
func (rs *Ruleset) ListRules(w io.Writer, t *Table, cmd *Command) error {
	var b ext.Buf
	counters := func(c Counters) {
		if cmd.Verbose {
			b.S(" -c ").U(c.Packets).S(" ").U(c.Bytes)
		}
	}
	for _, c := range t.Chains {
		if cmd.Chain != "" && c.Name != cmd.Chain {
			continue
		}
		if cmd.RuleNum > 0 {
			continue
		}
		if c.Builtin {
			b.S("-P ").S(c.Name).S(" ").S(c.Policy)
			counters(c.Counters)
			b.S("\n")
		} else {
			b.S("-N ").S(c.Name).S("\n")
		}
	}
	for _, c := range t.Chains {
		if cmd.Chain != "" && c.Name != cmd.Chain {
			continue
		}
		for i, r := range c.Rules {
			if cmd.RuleNum > 0 && cmd.RuleNum != i+1 {
				continue
			}
			b.S("-A ").S(c.Name)
			r.appendSpec(&b, rs.Family, cmd.Verbose)
			b.S("\n")
		}
	}
	if _, err := w.Write(b.B); err != nil {
		return fmt.Errorf("writing rules: %w", err)
	}
	return nil
}
