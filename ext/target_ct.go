package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// CT: -j CT (libxt_CT.c revision 2, xt_CT.c): conntrack template options
// for the raw table. NOTRACK (target_notrack.go) is its alias.
type ctTarget struct {
	Notrack   bool
	Alias     bool   // registered as NOTRACK (XT_CT_NOTRACK_ALIAS)
	Helper    string // conntrack helper name
	Timeout   string // cttimeout policy name
	CTEvents  uint32 // bit 1<<IPCT_* per event
	ExpEvents uint32 // bit 1<<IPEXP_* per event
	Zone      uint16
	ZoneOrig  bool // XT_CT_ZONE_DIR_ORIG
	ZoneReply bool // XT_CT_ZONE_DIR_REPL
	ZoneMark  bool // XT_CT_ZONE_MARK: the zone comes from the packet mark

	tmpl *CtTemplate // the rule's template, built once by Final
}

type t2Event struct {
	name string
	bit  uint
}

// ctEventNames is the table of --ctevents names with their IPCT_* numbers.
var ctEventNames = []t2Event{
	{"new", 0}, {"related", 1}, {"destroy", 2}, {"reply", 3}, {"assured", 4},
	{"protoinfo", 5}, {"helper", 6}, {"mark", 7}, {"natseqinfo", 8}, {"secmark", 10},
}

var ctExpEventNames = []t2Event{{"new", 0}}

// ctHelpers lists the conntrack helpers the kernel provides, with the L4
// protocol and families each is registered for.
var ctHelpers = []struct {
	name  string
	proto uint8
	v6    bool
}{
	{"ftp", nf.ProtoTCP, true}, {"irc", nf.ProtoTCP, false}, {"sip", nf.ProtoUDP, true},
	{"sip", nf.ProtoTCP, true}, {"tftp", nf.ProtoUDP, true}, {"amanda", nf.ProtoUDP, true},
	{"pptp", nf.ProtoTCP, false}, {"sane", nf.ProtoTCP, true}, {"netbios-ns", nf.ProtoUDP, false},
	{"snmp", nf.ProtoUDP, false}, {"RAS", nf.ProtoUDP, true}, {"Q.931", nf.ProtoTCP, true},
}

func init() {
	Register(&Def{
		Name: "CT", Kind: TargetKind,
		Options: []Option{
			{Name: "notrack", Arg: NoArg},
			{Name: "helper", Arg: NeedArg},
			{Name: "timeout", Arg: NeedArg},
			{Name: "ctevents", Arg: NeedArg},
			{Name: "expevents", Arg: NeedArg},
			{Name: "zone-orig", Arg: NeedArg},
			{Name: "zone-reply", Arg: NeedArg},
			{Name: "zone", Arg: NeedArg},
		},
		New:    func() Ext { return &ctTarget{} },
		Tables: []string{"raw"},
	})
}

func t2ParseEvents(tbl []t2Event, s string) (uint32, error) {
	var mask uint32
	for _, w := range strings.Split(s, ",") {
		found := false
		for _, e := range tbl {
			if e.name == w {
				mask |= 1 << e.bit
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(tbl))
			for i, e := range tbl {
				names[i] = e.name
			}
			return 0, Errorf("Unknown event type \"%s\": expected a comma-separated list of %s", w, strings.Join(names, ", "))
		}
	}
	return mask, nil
}

func t2EventsString(tbl []t2Event, mask uint32) string {
	var parts []string
	for _, e := range tbl {
		if mask&(1<<e.bit) != 0 {
			parts = append(parts, e.name)
		}
	}
	return strings.Join(parts, ",")
}

func (t *ctTarget) Parse(u *Use) error {
	var err error
	switch u.Opt.Name {
	case "notrack":
		t.Notrack = true
	case "helper":
		if len(u.Arg) > 15 {
			return Errorf("helper name %q too long: at most 15 characters", u.Arg)
		}
		t.Helper = u.Arg
	case "timeout":
		if len(u.Arg) > 31 {
			return Errorf("timeout policy name %q too long: at most 31 characters", u.Arg)
		}
		t.Timeout = u.Arg
	case "ctevents":
		t.CTEvents, err = t2ParseEvents(ctEventNames, u.Arg)
	case "expevents":
		t.ExpEvents, err = t2ParseEvents(ctExpEventNames, u.Arg)
	case "zone", "zone-orig", "zone-reply":
		if u.Opt.Name == "zone-orig" {
			t.ZoneOrig = true
		}
		if u.Opt.Name == "zone-reply" {
			t.ZoneReply = true
		}
		t.Zone = 0
		if strings.EqualFold(u.Arg, "mark") {
			t.ZoneMark = true
			return nil
		}
		v, ok := ParseUint(u.Arg, 0, 0xffff)
		if !ok {
			return Errorf("Cannot parse %s as a zone ID: expected 0-65535 or \"mark\"", u.Arg)
		}
		t.Zone = uint16(v)
	}
	return err
}

func (t *ctTarget) Final(*RuleInfo) error {
	t.tmpl = t.template()
	return nil
}

// template builds the conntrack template the rule attaches to packets,
// as xt_ct_tg_check allocates it once per rule. --notrack wins over
// every other option (the kernel allocates no template then).
func (t *ctTarget) template() *CtTemplate {
	if t.Notrack {
		return &CtTemplate{NoTrack: true}
	}
	c := &CtTemplate{Helper: t.Helper, Zone: t.Zone, ZoneFromMark: t.ZoneMark,
		Timeout: t.Timeout, Events: t.CTEvents, ExpEvents: t.ExpEvents}
	switch {
	case t.ZoneOrig && !t.ZoneReply:
		c.ZoneDir = 1
	case t.ZoneReply && !t.ZoneOrig:
		c.ZoneDir = 2
	}
	return c
}

// Target is xt_ct_target and notrack_tg. A packet that already has a
// conntrack reference (an earlier CT or NOTRACK rule, or a looped-back
// packet conntrack saw on output) is left alone: the first rule wins.
// --notrack makes the packet UNTRACKED at once, as nf_ct_set(skb, NULL,
// IP_CT_UNTRACKED) does, so later rules in raw already see it so.
//
// Other templates take effect when conntrack runs. The kernel's later
// raw rules see the template itself as the packet's conntrack (state
// NEW, zero tuples); here they see no connection until conntrack ran.
func (t *ctTarget) Target(e *Env) Verdict {
	if e.CtTemplate != nil || e.Conn != nil || e.CtState != 0 {
		return VerdictContinue
	}
	tm := t.tmpl
	if tm == nil {
		tm = t.template()
		t.tmpl = tm
	}
	e.CtTemplate = tm
	if tm.NoTrack {
		e.CtState = CtStateUntracked
		e.Conn = nil
	}
	return VerdictContinue
}

// Check mirrors xt_ct_tg_check: without --notrack a helper needs a known
// helper for the rule's (non-inverted) L4 protocol, and a timeout policy
// must exist (nfgo has no cttimeout objects, so none does).
func (t *ctTarget) Check(c *CheckCtx) error {
	if t.Notrack {
		return nil
	}
	if t.Helper != "" {
		if c.Rule.Proto == 0 || c.Rule.InvProto {
			return Errorf("--helper needs an L4 protocol: specify -p PROTO without inversion")
		}
		found := false
		for _, h := range ctHelpers {
			if h.name == t.Helper && h.proto == c.Rule.Proto && (c.Rule.Family == nf.IPv4 || h.v6) {
				found = true
			}
		}
		if !found {
			return Errorf("no conntrack helper %q for protocol %s in %s", t.Helper, nf.ProtoString(c.Rule.Proto), c.Rule.Family)
		}
	}
	if t.Timeout != "" {
		return Errorf("timeout policy %q does not exist (nfgo has no conntrack timeout objects)", t.Timeout)
	}
	return nil
}

func (t *ctTarget) zoneText() string {
	s := ""
	switch {
	case t.ZoneOrig && !t.ZoneReply:
		s = "-orig"
	case t.ZoneReply && !t.ZoneOrig:
		s = "-reply"
	}
	if t.ZoneMark {
		return s + " mark"
	}
	return s + " " + Itoa(t.Zone)
}

func (t *ctTarget) out(b *Buf, pfx string) {
	if t.Notrack {
		b.S(" ").S(pfx).S("notrack")
	}
	if t.Helper != "" {
		b.S(" ").S(pfx).S("helper ").S(t.Helper)
	}
	if t.Timeout != "" {
		b.S(" ").S(pfx).S("timeout ").S(t.Timeout)
	}
	if t.CTEvents != 0 {
		b.S(" ").S(pfx).S("ctevents ").S(t2EventsString(ctEventNames, t.CTEvents))
	}
	if t.ExpEvents != 0 {
		b.S(" ").S(pfx).S("expevents ").S(t2EventsString(ctExpEventNames, t.ExpEvents))
	}
	if t.ZoneMark || t.Zone != 0 {
		b.S(" ").S(pfx).S("zone").S(t.zoneText())
	}
}

func (t *ctTarget) Save(b *Buf) {
	if t.Alias {
		return
	}
	t.out(b, "--")
}

func (t *ctTarget) Print(b *Buf, _ bool) {
	if t.Alias {
		b.S(" NOTRACK")
		return
	}
	b.S(" CT")
	t.out(b, "")
}
