package ruleset

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// Command is one parsed iptables command.
type Command struct {
	Op      byte // 'A','C','D','I','R','L','S','F','Z','N','X','E','P'; 0 when none
	OpTok   Tok
	Chain   string
	Arg     string // new name for -E, policy for -P
	ArgTok  Tok
	RuleNum int // -I/-R/-D/-L/-S/-Z rule number; 0 when absent
	Table   string

	Numeric, Verbose, Exact, LineNumbers bool

	Rules    []*Rule   // the rule spec, one per source/destination pair
	Counters *Counters // from -c
	HasSpec  bool      // rule-specification options were given

	Help    bool
	Version bool
}

type optSpec struct {
	long  string
	short byte
	arg   ext.ArgKind
}

// The built-in options of iptables (xtables original_opts).
var builtinOpts = []optSpec{
	{"append", 'A', ext.NeedArg}, {"check", 'C', ext.NeedArg}, {"delete", 'D', ext.NeedArg},
	{"insert", 'I', ext.NeedArg}, {"replace", 'R', ext.NeedArg}, {"list", 'L', ext.OptionalArg},
	{"list-rules", 'S', ext.OptionalArg}, {"flush", 'F', ext.OptionalArg}, {"zero", 'Z', ext.OptionalArg},
	{"new-chain", 'N', ext.NeedArg}, {"delete-chain", 'X', ext.OptionalArg},
	{"rename-chain", 'E', ext.NeedArg}, {"policy", 'P', ext.NeedArg},
	{"source", 's', ext.NeedArg}, {"src", 's', ext.NeedArg}, {"destination", 'd', ext.NeedArg},
	{"dst", 'd', ext.NeedArg}, {"protocol", 'p', ext.NeedArg}, {"in-interface", 'i', ext.NeedArg},
	{"jump", 'j', ext.NeedArg}, {"table", 't', ext.NeedArg}, {"match", 'm', ext.NeedArg},
	{"numeric", 'n', ext.NoArg}, {"out-interface", 'o', ext.NeedArg}, {"verbose", 'v', ext.NoArg},
	{"wait", 'w', ext.OptionalArg}, {"wait-interval", 'W', ext.NeedArg}, {"exact", 'x', ext.NoArg},
	{"fragments", 'f', ext.NoArg}, {"fragment", 'f', ext.NoArg}, {"version", 'V', ext.NoArg},
	{"help", 'h', ext.NoArg}, {"line-numbers", '0', ext.NoArg}, {"modprobe", 'M', ext.NeedArg},
	{"set-counters", 'c', ext.NeedArg}, {"goto", 'g', ext.NeedArg}, {"ipv4", '4', ext.NoArg},
	{"ipv6", '6', ext.NoArg},
}

func shortSpec(c byte) *optSpec {
	for i := range builtinOpts {
		if builtinOpts[i].short == c {
			return &builtinOpts[i]
		}
	}
	return nil
}

// slot is an extension loaded into the command being parsed.
type slot struct {
	def       *ext.Def
	ext       ext.Ext
	seen      []bool
	completed bool // an earlier instance of a match loaded again
	tok       Tok
}

// parser walks the words of one command.
type parser struct {
	fam        nf.Family
	restore    bool // a restore line: -t is not allowed
	toks       []Tok
	i          int
	cmd        Command
	rule       Rule
	srcs, dsts []Tok
	matches    []*slot
	target     *slot
	jumpTok    Tok
	protoUsed  bool
	inv        bool
	invTok     Tok
	seen       map[byte]bool
	defaultTbl string
	cands      []candidate // reused by candidates()
	slotBuf    []*slot
}

// ParseCommand parses the words of one iptables command (without the
// program name). In restore mode, -t is refused as iptables-restore does.
func ParseCommand(fam nf.Family, toks []Tok, restore bool, table string) (*Command, error) {
	p := &parser{fam: fam, restore: restore, toks: toks, seen: map[byte]bool{}, defaultTbl: table}
	p.cmd.Table = table
	if err := p.run(); err != nil {
		return nil, err
	}
	return &p.cmd, nil
}

func (p *parser) next() (Tok, bool) {
	if p.i >= len(p.toks) {
		return Tok{}, false
	}
	t := p.toks[p.i]
	p.i++
	return t, true
}

// hasArg reports whether the next word is a plain argument (not an option).
func (p *parser) hasArg() bool {
	if p.i >= len(p.toks) {
		return false
	}
	s := p.toks[p.i].Text
	return s == "" || (s[0] != '-' && s[0] != '!')
}

func (p *parser) lastTok() Tok {
	if p.i > 0 && p.i <= len(p.toks) {
		return p.toks[p.i-1]
	}
	if len(p.toks) > 0 {
		return p.toks[len(p.toks)-1]
	}
	return Tok{}
}

func (p *parser) run() error {
	for p.i < len(p.toks) {
		t, _ := p.next()
		s := t.Text
		switch {
		case s == "!":
			if p.inv {
				return paramErr(t, "multiple consecutive ! not allowed")
			}
			p.inv, p.invTok = true, t
		case strings.HasPrefix(s, "--") && len(s) > 2:
			if err := p.longOpt(t); err != nil {
				return err
			}
		case strings.HasPrefix(s, "-") && len(s) > 1:
			if err := p.shortOpts(t); err != nil {
				return err
			}
		default:
			return paramErr(t, "bad argument: expected an option starting with '-'")
		}
	}
	if p.inv {
		return paramErr(p.invTok, "'!' at the end of the command: expected an option after it")
	}
	return p.finish()
}

// candidate is a resolved long option.
type candidate struct {
	name    string
	builtin *optSpec
	slot    *slot
	idx     int
}

func (p *parser) candidates() []candidate {
	c := p.cands[:0]
	for i := range builtinOpts {
		c = append(c, candidate{name: builtinOpts[i].long, builtin: &builtinOpts[i]})
	}
	// Newest extension first, as iptables merges options.
	slots := p.slotBuf[:0]
	if p.target != nil {
		slots = append(slots, p.target)
	}
	for i := len(p.matches) - 1; i >= 0; i-- {
		if !p.matches[i].completed {
			slots = append(slots, p.matches[i])
		}
	}
	for _, s := range slots {
		for i := range s.def.Options {
			c = append(c, candidate{name: s.def.Options[i].Name, slot: s, idx: i})
		}
	}
	p.cands, p.slotBuf = c, slots
	return c
}

func resolveLong(cands []candidate, name string) (*candidate, bool, error) {
	for i := range cands {
		if cands[i].name == name {
			return &cands[i], true, nil
		}
	}
	var found *candidate
	var names []string
	for i := range cands {
		if strings.HasPrefix(cands[i].name, name) {
			if found != nil && !(found.builtin != nil && cands[i].builtin != nil && found.builtin.short == cands[i].builtin.short) {
				names = append(names, "--"+cands[i].name)
				continue
			}
			if found == nil {
				found = &cands[i]
				names = append(names, "--"+found.name)
			}
		}
	}
	if len(names) > 1 {
		return nil, false, errAmbiguous(names)
	}
	return found, found != nil, nil
}

type ambiguousError struct{ names []string }

func (e ambiguousError) Error() string {
	return "option is ambiguous: could be " + strings.Join(e.names, ", ")
}

func errAmbiguous(n []string) error { return ambiguousError{n} }

func (p *parser) longOpt(t Tok) error {
	name, val, hasVal := strings.Cut(t.Text[2:], "=")
	for {
		c, ok, err := resolveLong(p.candidates(), name)
		if err != nil {
			return paramErr(t, "%v", err)
		}
		if ok {
			if c.builtin != nil {
				return p.builtin(t, c.builtin, val, hasVal)
			}
			return p.extOpt(t, c.slot, c.idx, val, hasVal)
		}
		// iptables loads the protocol's match on an unknown option (-p tcp --dport).
		if !p.loadProto() {
			return paramErr(t, "unknown option %q: %s", "--"+name, p.unknownHint())
		}
	}
}

func (p *parser) unknownHint() string {
	if p.rule.Proto != 0 && !p.protoUsed {
		return "no loaded extension has it"
	}
	if len(p.matches) == 0 && p.target == nil && p.rule.Proto == 0 {
		return "it belongs to no loaded extension (load one with -m NAME, or give -p for a protocol's options)"
	}
	return "no loaded extension has it"
}

func (p *parser) shortOpts(t Tok) error {
	s := t.Text[1:]
	for j := 0; j < len(s); j++ {
		spec := shortSpec(s[j])
		if spec == nil || spec.short == '0' {
			return paramErr(t, "unknown option \"-%c\"", s[j])
		}
		if spec.arg == ext.NoArg {
			if err := p.builtin(t, spec, "", false); err != nil {
				return err
			}
			continue
		}
		if j+1 < len(s) {
			// getopt style: the rest of the word is the value ("-ptcp").
			return p.builtin(t, spec, s[j+1:], true)
		}
		return p.builtin(t, spec, "", false)
	}
	return nil
}

// value returns the argument of an option that requires one.
func (p *parser) value(t Tok, name string, inline string, hasInline bool) (Tok, error) {
	if hasInline {
		return Tok{Text: inline, Line: t.Line, Col: t.Col}, nil
	}
	v, ok := p.next()
	if !ok {
		return Tok{}, paramErr(t, "option %s requires an argument", name)
	}
	return v, nil
}

func (p *parser) setOp(t Tok, op byte) error {
	if p.cmd.Op != 0 {
		return paramErr(t, "only one command allowed: -%c was already given", p.cmd.Op)
	}
	p.cmd.Op, p.cmd.OpTok = op, t
	return nil
}

func (p *parser) noInvert(t Tok, what string) error {
	if p.inv {
		return paramErr(p.invTok, "unexpected ! flag before %s", what)
	}
	return nil
}

func parseRuleNum(t Tok) (int, error) {
	n, err := strconv.Atoi(t.Text)
	if err != nil || n <= 0 || n > 1<<30 {
		return 0, paramErr(t, "invalid rule number: expected a number from 1")
	}
	return n, nil
}

func (p *parser) builtin(t Tok, o *optSpec, inline string, hasInline bool) error {
	name := "--" + o.long
	c := o.short
	switch c {
	case 'A', 'C', 'D', 'I', 'R', 'N', 'E', 'P':
		if err := p.noInvert(t, name); err != nil {
			return err
		}
		if err := p.setOp(t, c); err != nil {
			return err
		}
		v, err := p.value(t, name, inline, hasInline)
		if err != nil {
			return err
		}
		p.cmd.Chain = v.Text
		p.cmd.ArgTok = v
		switch c {
		case 'N':
			if strings.HasPrefix(v.Text, "-") || strings.HasPrefix(v.Text, "!") {
				return paramErr(v, "chain name may not start with '%c'", v.Text[0])
			}
		case 'I':
			if p.hasArg() {
				nt, _ := p.next()
				n, err := parseRuleNum(nt)
				if err != nil {
					return err
				}
				p.cmd.RuleNum = n
			}
		case 'D', 'C':
			if c == 'D' && p.hasArg() {
				nt, _ := p.next()
				n, err := parseRuleNum(nt)
				if err != nil {
					return err
				}
				p.cmd.RuleNum = n
			}
		case 'R':
			nt, ok := p.next()
			if !ok || !isNumber(nt.Text) {
				return paramErr(t, "-R requires a chain and a rule number")
			}
			n, err := parseRuleNum(nt)
			if err != nil {
				return err
			}
			p.cmd.RuleNum = n
		case 'E', 'P':
			a, ok := p.next()
			if !ok {
				if c == 'E' {
					return paramErr(t, "-E requires old-chain-name and new-chain-name")
				}
				return paramErr(t, "-P requires a chain and a policy")
			}
			p.cmd.Arg, p.cmd.ArgTok = a.Text, a
		}
		return nil
	case 'L', 'S', 'F', 'Z', 'X':
		if err := p.noInvert(t, name); err != nil {
			return err
		}
		if err := p.setOp(t, c); err != nil {
			return err
		}
		if hasInline {
			p.cmd.Chain = inline
		} else if p.hasArg() {
			v, _ := p.next()
			p.cmd.Chain = v.Text
		}
		if (c == 'L' || c == 'S' || c == 'Z') && p.cmd.Chain != "" && p.hasArg() {
			nt, _ := p.next()
			n, err := parseRuleNum(nt)
			if err != nil {
				return err
			}
			p.cmd.RuleNum = n
		}
		return nil
	case 't':
		if p.restore {
			return paramErr(t, "the -t option cannot be used in a restore file: tables are chosen by '*TABLE' lines")
		}
		if err := p.noInvert(t, name); err != nil {
			return err
		}
		v, err := p.value(t, name, inline, hasInline)
		if err != nil {
			return err
		}
		if nf.TableByName(v.Text) == nil {
			return errAt(v, ExitVersion, "table %q does not exist: expected raw, mangle, nat, filter or security", v.Text)
		}
		p.cmd.Table = v.Text
		return nil
	case 'n', 'v', 'x', '0', 'V', 'h', '4', '6', 'w', 'W', 'M':
		if err := p.noInvert(t, name); err != nil {
			return err
		}
		switch c {
		case 'n':
			p.cmd.Numeric = true
		case 'v':
			p.cmd.Verbose = true
		case 'x':
			p.cmd.Exact = true
		case '0':
			p.cmd.LineNumbers = true
		case 'V':
			p.cmd.Version = true
		case 'h':
			p.cmd.Help = true
		case '4':
			if p.fam != nf.IPv4 {
				return paramErr(t, "this is ip6tables: -4 only applies to iptables")
			}
		case '6':
			if p.fam != nf.IPv6 {
				return paramErr(t, "this is iptables: -6 only applies to ip6tables")
			}
		case 'w', 'W':
			// Waiting for the xtables lock has no meaning here; accept and ignore the value.
			if c == 'W' {
				if _, err := p.value(t, name, inline, hasInline); err != nil {
					return err
				}
			} else if !hasInline && p.hasArg() {
				p.next()
			}
		case 'M':
			if _, err := p.value(t, name, inline, hasInline); err != nil {
				return err
			}
		}
		return nil
	}
	return p.ruleOpt(t, o, inline, hasInline)
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ruleOpt handles the rule-specification options.
func (p *parser) ruleOpt(t Tok, o *optSpec, inline string, hasInline bool) error {
	c := o.short
	name := "-" + string(c)
	inv := p.inv
	p.inv = false
	p.cmd.HasSpec = true
	if p.seen[c] && c != 'm' {
		return paramErr(t, "multiple %s flags not allowed", name)
	}
	p.seen[c] = true
	switch c {
	case 's', 'd', 'p', 'i', 'o', 'f':
	default:
		if inv {
			return paramErr(p.invTok, "cannot have ! before %s", name)
		}
	}
	if c == 'f' {
		if p.fam == nf.IPv6 {
			return paramErr(t, "`-f' is not supported in IPv6, use -m frag instead")
		}
		p.rule.Frag = FragOnly
		if inv {
			p.rule.Frag = FragNot
		}
		return nil
	}
	v, err := p.value(t, name, inline, hasInline)
	if err != nil {
		return err
	}
	switch c {
	case 's':
		p.rule.InvSrc = inv
		p.srcs = append(p.srcs, v)
	case 'd':
		p.rule.InvDst = inv
		p.dsts = append(p.dsts, v)
	case 'p':
		n, ok := nf.ParseProto(v.Text)
		if !ok {
			return paramErr(v, "unknown protocol %q: expected a protocol name (tcp, udp, icmp, ...) or a number 0-255", v.Text)
		}
		if n == 0 && inv {
			return paramErr(v, "rule would never match protocol")
		}
		p.rule.Proto, p.rule.InvProto = n, inv
	case 'i', 'o':
		if len(v.Text) > 15 {
			return paramErr(v, "interface name `%s' must be shorter than IFNAMSIZ (15)", v.Text)
		}
		if c == 'i' {
			p.rule.InIface, p.rule.InvIn = v.Text, inv
		} else {
			p.rule.OutIface, p.rule.InvOut = v.Text, inv
		}
	case 'm':
		return p.loadMatch(v)
	case 'j', 'g':
		if p.seen['j'] && p.seen['g'] {
			return paramErr(t, "cannot use -j and -g together")
		}
		return p.setTarget(v, c == 'g')
	case 'c':
		return p.setCounters(t, v)
	}
	return nil
}

func (p *parser) setCounters(t, v Tok) error {
	pc, bc, found := strings.Cut(v.Text, ",")
	if !found || pc == "" {
		if found || !p.hasArg() {
			return paramErr(t, "-c requires packet and byte counter")
		}
		b, _ := p.next()
		pc, bc = v.Text, b.Text
	}
	pk, err1 := strconv.ParseUint(pc, 10, 64)
	by, err2 := strconv.ParseUint(bc, 10, 64)
	if err1 != nil {
		return paramErr(v, "-c packet counter not numeric")
	}
	if err2 != nil {
		return paramErr(v, "-c byte counter not numeric")
	}
	p.cmd.Counters = &Counters{Packets: pk, Bytes: by}
	return nil
}

func (p *parser) loadMatch(v Tok) error {
	name := v.Text
	if p.fam == nf.IPv6 && (name == "icmpv6" || name == "ipv6-icmp") {
		name = "icmp6"
	}
	def := ext.Lookup(ext.MatchKind, name, p.fam)
	if def == nil {
		return paramErr(v, "couldn't load match %q: no such extension for %s", v.Text, p.fam.Program())
	}
	for _, s := range p.matches {
		if s.def == def {
			s.completed = true
		}
	}
	p.matches = append(p.matches, &slot{def: def, ext: def.New(), seen: make([]bool, len(def.Options)), tok: v})
	if name == nf.ProtoName(p.rule.Proto) || (name == "icmp6" && p.rule.Proto == nf.ProtoICMPv6) {
		p.protoUsed = true
	}
	return nil
}

// protoMatchName is the match iptables loads implicitly for -p PROTO.
func protoMatchName(fam nf.Family, proto uint8) string {
	switch proto {
	case nf.ProtoICMPv6:
		if fam == nf.IPv6 {
			return "icmp6"
		}
	case nf.ProtoMH:
		return "mh"
	}
	return nf.ProtoName(proto)
}

func (p *parser) loadProto() bool {
	if p.protoUsed || p.rule.Proto == 0 || p.rule.InvProto {
		return false
	}
	p.protoUsed = true
	name := protoMatchName(p.fam, p.rule.Proto)
	def := ext.Lookup(ext.MatchKind, name, p.fam)
	if def == nil {
		return false
	}
	p.matches = append(p.matches, &slot{def: def, ext: def.New(), seen: make([]bool, len(def.Options)), tok: Tok{}})
	return true
}

func (p *parser) setTarget(v Tok, isGoto bool) error {
	p.jumpTok = v
	name := v.Text
	if isGoto {
		p.rule.Target = Target{Kind: Goto, Name: name}
		return nil
	}
	if IsStandardVerdict(name) {
		p.rule.Target = Target{Kind: Standard, Name: name}
		return nil
	}
	if def := ext.Lookup(ext.TargetKind, name, p.fam); def != nil {
		p.rule.Target = Target{Kind: Extension, Name: name, Def: def}
		p.target = &slot{def: def, ext: def.New(), seen: make([]bool, len(def.Options)), tok: v}
		p.rule.Target.Ext = p.target.ext
		return nil
	}
	p.rule.Target = Target{Kind: Jump, Name: name}
	return nil
}

func (p *parser) extOpt(t Tok, s *slot, idx int, inline string, hasInline bool) error {
	o := &s.def.Options[idx]
	inv := p.inv
	p.inv = false
	p.cmd.HasSpec = true
	if inv && !o.Invert {
		return paramErr(t, "%s: option \"--%s\" cannot be inverted", s.def.Name, o.Name)
	}
	if s.seen[idx] && !o.Multi {
		return paramErr(t, "%s: option \"--%s\" can only be used once", s.def.Name, o.Name)
	}
	s.seen[idx] = true
	u := &ext.Use{Index: idx, Opt: o, Invert: inv, Rule: p.rule.Info(p.fam, p.cmd.Table)}
	argTok := t
	switch o.Arg {
	case ext.NeedArg:
		v, err := p.value(t, "--"+o.Name, inline, hasInline)
		if err != nil {
			return err
		}
		u.Arg, u.HasArg, argTok = v.Text, true, v
		// The old intrapositioned form "--opt ! value" is refused by iptables 1.8.
		if v.Text == "!" {
			return paramErr(v, "intrapositioned negation is not supported: write \"! --%s VALUE\"", o.Name)
		}
		for k := 0; k < o.Extra; k++ {
			w, ok := p.next()
			if !ok {
				return paramErr(t, "option --%s needs %d arguments", o.Name, o.Extra+1)
			}
			u.Args = append(u.Args, w.Text)
		}
	case ext.OptionalArg:
		if hasInline {
			u.Arg, u.HasArg = inline, true
		} else if p.hasArg() {
			v, _ := p.next()
			u.Arg, u.HasArg, argTok = v.Text, true, v
		}
	case ext.NoArg:
		if hasInline {
			return paramErr(t, "option --%s does not take an argument", o.Name)
		}
	}
	if err := s.ext.Parse(u); err != nil {
		return paramErr(argTok, "%s: %v", s.def.Name, err)
	}
	return nil
}

func (p *parser) finish() error {
	info := p.rule.Info(p.fam, p.cmd.Table)
	for _, s := range p.matches {
		if err := s.ext.Final(info); err != nil {
			return paramErr(s.tok, "%s: %v", s.def.Name, err)
		}
		p.rule.Matches = append(p.rule.Matches, MatchInst{Def: s.def, Ext: s.ext})
	}
	if p.target != nil {
		if err := p.target.ext.Final(info); err != nil {
			return paramErr(p.target.tok, "%s: %v", p.target.def.Name, err)
		}
	}
	if p.cmd.Op == 0 && !p.cmd.Help && !p.cmd.Version {
		t := Tok{}
		if len(p.toks) > 0 {
			t = p.toks[0]
		}
		return paramErr(t, "no command specified: expected one of -A -C -D -I -R -L -S -F -Z -N -X -E -P")
	}
	switch p.cmd.Op {
	case 'A', 'C', 'D', 'I', 'R':
	default:
		if p.cmd.HasSpec {
			return paramErr(p.cmd.OpTok, "rule specification options are not allowed with -%c", p.cmd.Op)
		}
		return nil
	}
	// iptables refuses an output interface where there is none yet, and an
	// input interface where there is none any more, by chain name.
	switch p.cmd.Chain {
	case "PREROUTING", "INPUT":
		if p.seen['o'] {
			return paramErr(p.cmd.ArgTok, "can't use -o with %s", p.cmd.Chain)
		}
	case "POSTROUTING", "OUTPUT":
		if p.seen['i'] {
			return paramErr(p.cmd.ArgTok, "can't use -i with %s", p.cmd.Chain)
		}
	}
	if p.cmd.Op == 'D' && p.cmd.RuleNum > 0 && p.cmd.HasSpec {
		return paramErr(p.cmd.OpTok, "-D with a rule number takes no rule specification")
	}
	if p.cmd.Counters != nil {
		p.rule.Counters = *p.cmd.Counters
	}
	srcs, err := p.addrs(p.srcs)
	if err != nil {
		return err
	}
	dsts, err := p.addrs(p.dsts)
	if err != nil {
		return err
	}
	if (p.rule.InvSrc || p.rule.InvDst) && (len(srcs)+len(dsts) > 2) {
		return paramErr(p.cmd.OpTok, "! not allowed with multiple source or destination IP addresses")
	}
	for _, s := range srcs {
		for _, d := range dsts {
			r := p.rule // matches and target are shared: they are immutable once parsed
			r.Src, r.Dst = s, d
			p.cmd.Rules = append(p.cmd.Rules, &r)
		}
	}
	return nil
}

func (p *parser) addrs(toks []Tok) ([]Prefix, error) {
	if len(toks) == 0 {
		return []Prefix{{}}, nil
	}
	t := toks[0]
	var out []Prefix
	for _, part := range strings.Split(t.Text, ",") {
		ps, err := ParseAddrMask(p.fam, part)
		if err != nil {
			return nil, paramErr(t, "%v", err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

// ParseAddrMask parses "addr[/mask]" with a prefix length or a dotted or
// IPv6-form mask. Host names are resolved like iptables does.
func ParseAddrMask(fam nf.Family, s string) ([]Prefix, error) {
	bits := 32
	if fam == nf.IPv6 {
		bits = 128
	}
	a, m, hasMask := strings.Cut(s, "/")
	var mask netip.Addr
	if hasMask {
		if n, err := strconv.Atoi(m); err == nil && isNumber(m) {
			if n < 0 || n > bits {
				return nil, ext.Errorf("invalid mask `%s' specified: expected a prefix length 0-%d", m, bits)
			}
			mask = prefixMask(fam, n)
		} else {
			ma, err := netip.ParseAddr(m)
			if err != nil || ma.BitLen() != bits {
				return nil, ext.Errorf("invalid mask `%s' specified: expected a prefix length 0-%d or an address mask", m, bits)
			}
			mask = ma
		}
	} else {
		mask = prefixMask(fam, bits)
	}
	var addrs []netip.Addr
	if ad, err := netip.ParseAddr(a); err == nil && ad.Zone() == "" {
		if ad.BitLen() != bits {
			return nil, ext.Errorf("host/network `%s' is not an %s address", a, fam)
		}
		addrs = []netip.Addr{ad}
	} else {
		if a == "" {
			return nil, ext.Errorf("empty address: expected an address, network or host name")
		}
		for _, ad := range nf.LookupHost(a) {
			if ad.BitLen() == bits {
				addrs = append(addrs, ad)
			}
		}
		if len(addrs) == 0 {
			return nil, ext.Errorf("host/network `%s' not found: expected an %s address or a name in /etc/hosts", a, fam)
		}
	}
	var out []Prefix
	for _, ad := range addrs {
		out = append(out, Prefix{Addr: andMask(ad, mask), Mask: mask})
	}
	return out, nil
}

func prefixMask(fam nf.Family, n int) netip.Addr {
	var b [16]byte
	for i := 0; i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if fam == nf.IPv4 {
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	}
	return netip.AddrFrom16(b)
}

func andMask(a, m netip.Addr) netip.Addr {
	x, y := a.AsSlice(), m.AsSlice()
	for i := range x {
		x[i] &= y[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}
