// Package pipeline is the netfilter packet path: the five hooks with their
// tables in the kernel's priority order, traversal of chains with jumps,
// verdicts and counters, routing between the hooks, and a trace of
// everything a packet met on its way.
package pipeline

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// RouteKind is the outcome of a route lookup.
type RouteKind uint8

const (
	RouteLocal       RouteKind = iota // deliver to this host (INPUT)
	RouteForward                      // forward out OutDev (FORWARD)
	RouteOut                          // locally generated, out OutDev
	RouteDrop                         // no route, forwarding off, martian, blackhole...
	RouteUnreachable                  // the kernel answers with an ICMP error (not modelled yet: dropped)
)

// Route is a routing decision.
type Route struct {
	Kind    RouteKind
	OutDev  string
	Gateway netip.Addr // next hop; invalid when the destination is on link
	PrefSrc netip.Addr
	MTU     int
	Reason  string // why a packet is dropped by routing
	// Unreach is the ICMP destination-unreachable code the host answers
	// an unroutable received packet with (ip_error: 0 network, 1 host,
	// 13 administratively prohibited), or NoICMP.
	Unreach uint8
	// Redirect: a forwarded packet leaves by the interface it came in on
	// and its source is on that link, so the host sends the source an
	// ICMP redirect (the kernel's RTCF_DOREDIRECT).
	Redirect bool
}

// NoICMP in Route.Unreach: the packet is dropped without an answer.
const NoICMP uint8 = 0xff

// Router makes routing decisions and answers the extensions' questions
// about the host.
type Router interface {
	ext.Host
	RouteInput(fam nf.Family, src, dst netip.Addr, inDev string, mark uint32) Route
	RouteOutput(fam nf.Family, src, dst netip.Addr, mark uint32) Route
}

// Tracker is connection tracking as the pipeline sees it: it classifies a
// packet at PREROUTING and OUTPUT (after the raw table) and confirms the
// connection when the packet leaves the last hook.
type Tracker interface {
	// In sets env.Conn and env.CtState. It returns false when the packet
	// must be dropped (conntrack table full).
	In(env *ext.Env, hook nf.Hook) bool
	// Confirm is called when the packet passed INPUT or POSTROUTING: it
	// runs the connection's helper and confirms the connection. ok false
	// drops the packet (a helper refused it); why is the reason the fate
	// line gives, starting with "conntrack ".
	Confirm(env *ext.Env) (ok bool, why string)
	// IsNew reports whether the packet starts a connection, so the nat
	// table is consulted.
	IsNew(env *ext.Env) bool
}

// NAT is implemented by a Tracker that translates addresses as the
// kernel's NAT hooks do (nf_nat_ipv4_fn, nf_nat_inet_fn), in the nat
// table's place at each hook (DNAT at PREROUTING and OUTPUT, priority
// -100; SNAT at INPUT and POSTROUTING, priority 100). The engine hands it
// to the NAT targets as Env.NAT.
type NAT interface {
	ext.NATSetup
	// NATTable reports whether the nat table is to run for the packet
	// at hook: its connection is new (or expected) and has no mapping
	// for the hook's manip type yet. nexthop is the route's next hop at
	// POSTROUTING (for MASQUERADE), invalid elsewhere.
	NATTable(env *ext.Env, hook nf.Hook, nexthop netip.Addr) bool
	// NATHook completes the hook after the table or in its place: the
	// null binding when the table set no mapping, then the packet's
	// translation (an ICMP error's quoted packet too). A non-empty
	// result drops the packet and says why, starting with "nat ".
	NATHook(env *ext.Env, hook nf.Hook) string
}

// Fate is what became of a packet.
type Fate uint8

const (
	Delivered Fate = iota // passed INPUT: delivered to a local socket
	Forwarded             // passed FORWARD and POSTROUTING, out an interface
	Sent                  // locally generated, out an interface
	Dropped               // dropped by a rule, a policy or routing
	Stolen                // taken by a target
	Queued                // NFQUEUE / QUEUE (no listener offline: dropped unless bypassed)
	Held                  // a fragment kept until its datagram is complete
)

func (f Fate) String() string {
	return [...]string{"delivered", "forwarded", "sent", "dropped", "stolen", "queued", "held"}[f]
}

// Result tells what happened to one packet.
type Result struct {
	Fate   Fate
	OutDev string
	Hook   nf.Hook // where it was decided (for Dropped, Stolen, Queued)
	Table  string
	Chain  string
	Rule   int    // deciding rule; 0 for a policy or routing
	By     string // target or verdict that decided; "policy DROP"; routing reason
	Next   netip.Addr
}

// String is the fate line of nfgo trace and replay.
func (r Result) String() string {
	switch r.Fate {
	case Delivered:
		return "delivered locally"
	case Forwarded:
		return "forwarded out " + r.OutDev
	case Sent:
		return "sent out " + r.OutDev
	case Held:
		return "held for reassembly: " + r.By
	}
	verb := map[Fate]string{Dropped: "dropped", Stolen: "stolen", Queued: "queued"}[r.Fate]
	if r.Table == "" && (strings.HasPrefix(r.By, "conntrack ") || strings.HasPrefix(r.By, "nat ")) {
		// Conntrack's own drops: a full table, a helper's refusal.
		return verb + " by " + r.By
	}
	if r.Table == "" {
		return verb + " by routing: " + r.By
	}
	if r.Rule == 0 {
		return fmt.Sprintf("%s by policy: %s %s %s", verb, r.Table, r.Chain, r.By)
	}
	s := fmt.Sprintf("%s by %s %s rule %d", verb, r.Table, r.Chain, r.Rule)
	if r.By == "REJECT" {
		s = fmt.Sprintf("rejected by %s %s rule %d", r.Table, r.Chain, r.Rule)
	} else if r.By != "DROP" && r.By != "" {
		s += " (" + r.By + ")"
	}
	return s
}

// Emitter receives packets leaving the host: out interface, next hop, and
// the packet after POSTROUTING. The packet is valid only during the call.
type Emitter func(outDev string, next netip.Addr, p *packet.Packet)

// Config builds an Engine.
type Config struct {
	Rules4, Rules6 *ruleset.Ruleset // nil: no rules for that family
	Router         Router
	Tracker        Tracker // nil: no connection tracking
	// Log receives LOG and TRACE lines, the text dmesg shows after its
	// timestamp.
	Log func(level uint8, line string)
	// NFLog receives NFLOG/ULOG packets with the hook the rule ran at;
	// the packet is valid only during the call.
	NFLog func(group uint16, prefix string, p *packet.Packet, hook nf.Hook)
	// Emit receives every packet leaving the host.
	Emit Emitter
	// Trace, when set, receives every step of every packet.
	Trace func(*Event)
	// Generated, when set, learns the fate of each packet the engine
	// made itself (REJECT replies) or looped back through lo.
	Generated func(p *packet.Packet, r Result)
}

// Engine runs packets through the hooks.
type Engine struct {
	cfg        Config
	tables     [2][nf.NumHooks][]*cTable // per family, per hook, in priority order
	st         state
	env        ext.Env
	sink       sink
	queue      []*packet.Packet // packets generated during evaluation (REJECT)
	depth      int
	traceBuf   []byte
	frags      map[fragKey]*fragQueue      // IPv4 datagrams being reassembled for local delivery
	ctFrags    map[fragKey]*fragQueue      // IPv4 datagrams being reassembled for conntrack
	ctActive   [2]bool                     // the rules need conntrack (per family), so it defragments at PREROUTING
	ctFrags6   [2]map[frag6Key]*frag6Queue // IPv6 datagrams being reassembled for conntrack: PREROUTING, OUTPUT
	frag6Pkt   *packet.Packet              // the datagram last reassembled for IPv6 conntrack...
	frag6Sizes []int                       // ...and its fragments' sizes, for refragmentation
	frag6ID    uint32                      // fragment identifications of refragmented datagrams
	rrSlot     int                         // Record Route slot filled on input, for forwarding
	peers      map[netip.Addr]*peer        // ICMP rate-limit state per remote address
	tracked    bool                        // conntrack has seen the current packet
	nat        NAT                         // the tracker's NAT, nil without
	nexthop    netip.Addr                  // the route's next hop at POSTROUTING, for MASQUERADE
}

// hookTables lists each hook's tables in the kernel's priority order
// (raw -300, conntrack -200, mangle -150, nat dst -100, filter 0,
// security 50, nat src 100).
var hookTables = [nf.NumHooks][]string{
	nf.PreRouting:  {"raw", "mangle", "nat"},
	nf.LocalIn:     {"mangle", "filter", "security", "nat"},
	nf.Forward:     {"mangle", "filter", "security"},
	nf.LocalOut:    {"raw", "mangle", "nat", "filter", "security"},
	nf.PostRouting: {"mangle", "nat"},
}

// New compiles the rulesets into an Engine.
func New(cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg}
	e.sink.e = e
	e.st.tracer = cfg.Trace
	if n, ok := cfg.Tracker.(NAT); ok {
		e.nat = n
	}
	for fi, rs := range []*ruleset.Ruleset{cfg.Rules4, cfg.Rules6} {
		if rs == nil {
			continue
		}
		fam := nf.IPv4
		if fi == 1 {
			fam = nf.IPv6
		}
		compiled := map[string]*cTable{}
		for _, t := range rs.Tables {
			if t == nil {
				continue
			}
			ct, err := compileTable(fam, t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fam.Program(), err)
			}
			compiled[t.Name()] = ct
		}
		e.ctActive[fi] = needsConntrack(compiled)
		for h := nf.Hook(0); h < nf.NumHooks; h++ {
			for _, name := range hookTables[h] {
				if ct := compiled[name]; ct != nil && ct.hooks[h] != nil {
					e.tables[fi][h] = append(e.tables[fi][h], ct)
				}
			}
		}
	}
	return e, nil
}

func famIndex(f nf.Family) int {
	if f == nf.IPv6 {
		return 1
	}
	return 0
}

// runHook passes the packet through every table of a hook. It returns the
// deciding decision when a table dropped, stole or queued the packet.
func (e *Engine) runHook(p *packet.Packet, hook nf.Hook) (decision, string, bool) {
	env := &e.env
	env.Hook = hook
	if e.st.tracer != nil {
		e.st.event(Event{Kind: EvHook, Hook: hook, In: p.InDev, Out: p.OutDev})
	}
	for _, t := range e.tables[famIndex(p.Family)][hook] {
		// Conntrack sits between raw and mangle (priority -200).
		if (hook == nf.PreRouting || hook == nf.LocalOut) && t.name != "raw" && !e.tracked {
			if !e.track(hook) {
				return decision{v: ext.VerdictDrop, target: "conntrack table full"}, "", false
			}
		}
		if t.name == "nat" && e.nat != nil {
			if d, ok := e.natStep(t, hook, env); !ok {
				if d.chain == "" {
					return d, "", false // NAT's own drop
				}
				return d, t.name, false
			}
			continue
		}
		if t.name == "nat" && (e.cfg.Tracker == nil || !e.cfg.Tracker.IsNew(env)) {
			if e.st.tracer != nil {
				e.st.event(Event{Kind: EvSkip, Hook: hook, Table: "nat", Text: "nat is consulted only for a connection's first packet"})
			}
			continue
		}
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvTable, Hook: hook, Table: t.name, Chain: t.hooks[hook].name})
		}
		d := e.walk(t, hook, env, &e.st)
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvVerdict, Hook: hook, Table: t.name, Chain: d.chain, Rule: d.rule, Verdict: d.target})
		}
		if d.v != ext.VerdictAccept {
			return d, t.name, false
		}
	}
	if (hook == nf.PreRouting || hook == nf.LocalOut) && !e.tracked {
		if !e.track(hook) {
			return decision{v: ext.VerdictDrop, target: "conntrack table full"}, "", false
		}
	}
	return decision{}, "", true
}

// natStep is the NAT hook in the nat table's place: the table for a
// connection's first packet, then the translation. ok false: the packet
// is dropped, by the table's verdict (d.chain set) or by NAT itself.
func (e *Engine) natStep(t *cTable, hook nf.Hook, env *ext.Env) (d decision, ok bool) {
	if e.nat.NATTable(env, hook, e.nexthop) {
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvTable, Hook: hook, Table: t.name, Chain: t.hooks[hook].name})
		}
		d := e.walk(t, hook, env, &e.st)
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvVerdict, Hook: hook, Table: t.name, Chain: d.chain, Rule: d.rule, Verdict: d.target})
		}
		if d.v != ext.VerdictAccept {
			return d, false
		}
	} else if e.st.tracer != nil {
		e.st.event(Event{Kind: EvSkip, Hook: hook, Table: "nat", Text: "nat is consulted only for a connection's first packet"})
	}
	p := env.Pkt
	var before snapshot
	if e.st.tracer != nil {
		before.take(p)
	}
	why := e.nat.NATHook(env, hook)
	if e.st.tracer != nil {
		if diff := before.diff(env.Pkt); diff != "" {
			m := "DNAT"
			if hook == nf.PostRouting || hook == nf.LocalIn {
				m = "SNAT"
			}
			e.st.event(Event{Kind: EvNAT, Hook: hook, Table: "nat", Text: m + ": " + diff})
		}
	}
	if why != "" {
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvConntrack, Text: why})
		}
		return decision{v: ext.VerdictDrop, target: why}, false
	}
	return decision{}, true
}

func (e *Engine) track(hook nf.Hook) bool {
	e.tracked = true
	if e.cfg.Tracker == nil {
		return true
	}
	return e.cfg.Tracker.In(&e.env, hook)
}

func (e *Engine) begin(p *packet.Packet) {
	e.env = ext.Env{Pkt: p, Family: p.Family, Host: e.cfg.Router, Sink: &e.sink}
	if e.nat != nil {
		e.env.NAT = e.nat
	}
	e.tracked = false
	e.nexthop = netip.Addr{}
}

func verdictResult(d decision, hook nf.Hook, table string) Result {
	r := Result{Fate: Dropped, Hook: hook, Table: table, Chain: d.chain, Rule: d.rule, By: d.target}
	switch d.v {
	case ext.VerdictStolen:
		r.Fate = Stolen
	case ext.VerdictQueue:
		r.Fate = Queued
	}
	if table != "" && d.rule == 0 {
		r.By = "DROP"
	}
	if table == "" {
		r.By = d.target
	}
	return r
}

// Receive processes a packet that arrived on p.InDev: PREROUTING, the
// routing decision, then INPUT, or FORWARD and POSTROUTING.
func (e *Engine) Receive(p *packet.Packet) Result {
	res := e.receive(p)
	e.drain()
	return res
}

func (e *Engine) receive(p *packet.Packet) Result {
	e.begin(p)
	p.OutDev = ""
	if p.Fragment && p.Family == nf.IPv4 && e.ctActive[0] {
		// nf_defrag_ipv4 (priority -400): conntrack needs whole
		// datagrams, so every hook sees them reassembled.
		whole, why := e.reassemble(p, &e.ctFrags)
		if why != "" {
			return e.final(p, Result{Fate: Dropped, By: "reassembly: " + why})
		}
		if whole == nil {
			return e.final(p, Result{Fate: Held, By: "waiting for the other fragments (conntrack defragments at PREROUTING)"})
		}
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvRoute, Text: "reassembled for conntrack: " + strconv.Itoa(len(whole.Data)) + " bytes"})
		}
		p = whole
		e.env.Pkt = p
	}
	if p.Fragment && p.Family == nf.IPv6 && e.ctActive[1] {
		// nf_defrag_ipv6 (priority -400).
		q, r, ok := e.gather6(p, 0, "PREROUTING")
		if !ok {
			return e.final(p, r)
		}
		p = q
		e.env.Pkt = p
	}
	if d, table, ok := e.runHook(p, nf.PreRouting); !ok {
		return e.final(p, verdictResult(d, nf.PreRouting, table))
	}
	rt := e.cfg.Router.RouteInput(p.Family, p.Src(), p.Dst(), p.InDev, p.Mark)
	if e.st.tracer != nil {
		e.st.event(Event{Kind: EvRoute, Text: routeText(rt)})
	}
	switch rt.Kind {
	case RouteLocal:
		if p.Family == nf.IPv4 {
			if why := e.inputOptions(p, p.Dst()); why != "" {
				return e.final(p, Result{Fate: Dropped, By: why})
			}
			if p.Fragment {
				whole, why := e.reassemble(p, &e.frags)
				if why != "" {
					return e.final(p, Result{Fate: Dropped, By: "reassembly: " + why})
				}
				if whole == nil {
					return e.final(p, Result{Fate: Held, By: "waiting for the other fragments"})
				}
				if e.st.tracer != nil {
					e.st.event(Event{Kind: EvRoute, Text: "reassembled: " + strconv.Itoa(len(whole.Data)) + " bytes"})
				}
				p = whole
				e.env.Pkt = p
			}
		}
		if d, table, ok := e.runHook(p, nf.LocalIn); !ok {
			return e.final(p, verdictResult(d, nf.LocalIn, table))
		}
		if why, ok := e.confirm(); !ok {
			return e.final(p, Result{Fate: Dropped, Hook: nf.LocalIn, By: why})
		}
		return e.final(p, Result{Fate: Delivered})
	case RouteForward:
		if p.Family == nf.IPv4 {
			spec, _ := e.cfg.Router.IfaceAddr(p.InDev, nf.IPv4)
			if why := e.inputOptions(p, spec); why != "" {
				return e.final(p, Result{Fate: Dropped, By: why})
			}
		}
		// ip_forward / ip6_forward: hop limit, then the path MTU, both
		// answered with an ICMP error, before FORWARD.
		if p.TTL() <= 1 {
			e.sendICMPError(p, icmpTimeExceeded, 0)
			return e.final(p, Result{Fate: Dropped, By: "TTL exceeded in forwarding"})
		}
		if mtu := rt.MTU; mtu > 0 && len(p.Data) > mtu && mustNotFragment(p) &&
			(p.Family == nf.IPv4 || p.FragMax == 0 || p.FragMax > mtu) {
			// ip6_pkt_too_big: a datagram reassembled for conntrack
			// is too big only when its largest fragment was.
			e.sendICMPError(p, icmpTooBig, uint32(mtu))
			return e.final(p, Result{Fate: Dropped, By: "packet larger than the path MTU " + strconv.Itoa(mtu) + " and not to be fragmented"})
		}
		decTTL(p)
		if rt.Redirect && p.Family == nf.IPv4 && !hasSourceRoute(p) {
			e.sendRedirect(p, rt)
		}
		p.OutDev = rt.OutDev
		if d, table, ok := e.runHook(p, nf.Forward); !ok {
			return e.final(p, verdictResult(d, nf.Forward, table))
		}
		if p.Family == nf.IPv4 {
			e.forwardOptions(p, rt.OutDev)
		}
		return e.postrouting(p, rt, Forwarded)
	default:
		if rt.Kind == RouteUnreachable && rt.Unreach != NoICMP && e.ipErrorAllowed(p) {
			e.sendICMPError(p, icmpUnreachable, uint32(rt.Unreach))
		}
		return e.final(p, Result{Fate: Dropped, By: rt.Reason})
	}
}

// Output processes a locally generated packet: the route lookup, OUTPUT,
// a new lookup when OUTPUT changed what routing depends on, POSTROUTING.
func (e *Engine) Output(p *packet.Packet) Result {
	res := e.output(p)
	e.drain()
	return res
}

func (e *Engine) output(p *packet.Packet) Result {
	e.begin(p)
	p.Local = true
	p.InDev = ""
	rt := e.cfg.Router.RouteOutput(p.Family, p.Src(), p.Dst(), p.Mark)
	if rt.Kind == RouteDrop || rt.Kind == RouteUnreachable {
		return e.final(p, Result{Fate: Dropped, By: rt.Reason})
	}
	p.OutDev = rt.OutDev
	if e.st.tracer != nil {
		e.st.event(Event{Kind: EvRoute, Text: routeText(rt)})
	}
	if p.Fragment && p.Family == nf.IPv6 && e.ctActive[1] {
		q, r, ok := e.gather6(p, 1, "OUTPUT")
		if !ok {
			return e.final(p, r)
		}
		p = q
		e.env.Pkt = p
	}
	src, dst, mark, tos := p.Src(), p.Dst(), p.Mark, p.TOS()
	if d, table, ok := e.runHook(p, nf.LocalOut); !ok {
		return e.final(p, verdictResult(d, nf.LocalOut, table))
	}
	if p.Src() != src || p.Dst() != dst || p.Mark != mark || p.TOS() != tos {
		// ip_route_me_harder: OUTPUT changed a routing key.
		rt = e.cfg.Router.RouteOutput(p.Family, p.Src(), p.Dst(), p.Mark)
		if rt.Kind == RouteDrop || rt.Kind == RouteUnreachable {
			return e.final(p, Result{Fate: Dropped, By: rt.Reason})
		}
		p.OutDev = rt.OutDev
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvRoute, Text: "rerouted: " + routeText(rt)})
		}
	}
	return e.postrouting(p, rt, Sent)
}

func (e *Engine) postrouting(p *packet.Packet, rt Route, fate Fate) Result {
	e.nexthop = rt.Gateway
	if !e.nexthop.IsValid() {
		e.nexthop = p.Dst()
	}
	if d, table, ok := e.runHook(p, nf.PostRouting); !ok {
		return e.final(p, verdictResult(d, nf.PostRouting, table))
	}
	if why, ok := e.confirm(); !ok {
		return e.final(p, Result{Fate: Dropped, Hook: nf.PostRouting, By: why})
	}
	if rt.OutDev == "lo" && fate == Sent {
		// Looped back: the packet comes in again on lo.
		q := p.Clone()
		// The kernel orphans the skb on the way back in: no owner.
		q.InDev, q.OutDev, q.Local, q.MAC, q.HasOwner = "lo", "", false, nil, false
		e.queue = append(e.queue, q)
		return e.final(p, Result{Fate: Sent, OutDev: "lo"})
	}
	next := rt.Gateway
	if !next.IsValid() {
		next = p.Dst()
	}
	// ip_finish_output: a datagram larger than the route's MTU, or one
	// reassembled from fragments, leaves in fragments (ip_do_fragment) no
	// larger than the MTU or the largest fragment it came in.
	fragMax := 0
	if p.Family == nf.IPv4 && (p.FragMax > 0 || rt.MTU > 0 && len(p.Data) > rt.MTU) {
		fragMax = rt.MTU
		if p.FragMax > 0 && (fragMax <= 0 || p.FragMax < fragMax) {
			fragMax = p.FragMax
		}
		if packet.IPv4(p.Data).DontFragment() && p.FragMax == 0 {
			// ip_fragment refuses DF; a socket would not have built it.
			return e.final(p, Result{Fate: Dropped, By: "packet larger than the MTU " + strconv.Itoa(rt.MTU) + " and not to be fragmented"})
		}
		if fragMax < packet.IPv4(p.Data).HeaderLen()+8 {
			return e.final(p, Result{Fate: Dropped, By: "MTU " + strconv.Itoa(fragMax) + " too small to fragment"})
		}
		if len(p.Data) <= fragMax && p.FragMax > 0 {
			fragMax = 0 // fits: one fragment, the packet as it is
		}
	}
	if fragMax > 0 && e.st.tracer != nil {
		e.st.event(Event{Kind: EvRoute, Text: "fragmented to at most " + strconv.Itoa(fragMax) + " bytes"})
	}
	if e.cfg.Emit != nil {
		if fragMax > 0 {
			q := *p
			fragment(p, fragMax, func(frag []byte) {
				q.Data = frag
				e.cfg.Emit(rt.OutDev, next, &q)
			})
		} else if p.Family == nf.IPv6 && p.FragMax > 0 && len(p.Data) > p.FragMax {
			// ip6_finish_output: a datagram reassembled for conntrack
			// leaves in fragments no larger than those received.
			var sizes []int
			if p == e.frag6Pkt {
				sizes = e.frag6Sizes
			}
			e.frag6ID++
			q := *p
			refragment6(p, sizes, e.frag6ID, func(frag []byte) {
				q.Data = frag
				e.cfg.Emit(rt.OutDev, next, &q)
			})
		} else {
			e.cfg.Emit(rt.OutDev, next, p)
		}
	}
	return e.final(p, Result{Fate: fate, OutDev: rt.OutDev, Next: next})
}

// confirm is the conntrack confirmation at the end of INPUT and
// POSTROUTING; ok false when a conntrack helper dropped the packet.
func (e *Engine) confirm() (why string, ok bool) {
	if e.cfg.Tracker != nil && e.tracked {
		ok, why := e.cfg.Tracker.Confirm(&e.env)
		if !ok && e.st.tracer != nil {
			e.st.event(Event{Kind: EvConntrack, Text: why})
		}
		return why, ok
	}
	return "", true
}

func (e *Engine) final(p *packet.Packet, r Result) Result {
	if e.st.tracer != nil {
		rc := r
		e.st.event(Event{Kind: EvFate, Text: r.String(), Result: &rc})
	}
	return r
}

// drain processes packets generated while evaluating (REJECT replies,
// loopback), in order.
func (e *Engine) drain() {
	if e.depth > 0 {
		return
	}
	e.depth++
	for len(e.queue) > 0 {
		q := e.queue[0]
		e.queue = e.queue[1:]
		if e.st.tracer != nil {
			e.st.event(Event{Kind: EvGenerated, Text: "generated packet"})
		}
		var r Result
		if q.Local {
			r = e.output(q)
		} else {
			r = e.receive(q)
		}
		if e.cfg.Generated != nil {
			e.cfg.Generated(q, r)
		}
	}
	e.queue = e.queue[:0]
	e.depth--
}

// decTTL is ip_forward's TTL check and decrement (before FORWARD, as the
// kernel does it), with the IPv4 checksum updated incrementally.
func decTTL(p *packet.Packet) bool {
	if p.Family == nf.IPv6 {
		h := packet.IPv6(p.Data)
		if h.HopLimit() <= 1 {
			return false
		}
		h.SetHopLimit(h.HopLimit() - 1)
		return true
	}
	h := packet.IPv4(p.Data)
	if h.TTL() <= 1 {
		return false
	}
	// ip_decrease_ttl adds htons(0x0100) to the checksum as the CPU
	// reads it, little-endian on the x86 reference, and carries only when
	// the sum reaches 0xffff: that can leave 0x0000 where a full
	// one's-complement update gives 0xffff, and the kernel's bytes win.
	c := h.Checksum()
	le := uint32(c>>8|c<<8) + 1
	if le >= 0xffff {
		le++
	}
	v := uint16(le)
	h.SetChecksum(v>>8 | v<<8)
	h.SetTTL(h.TTL() - 1)
	return true
}

func routeText(rt Route) string {
	switch rt.Kind {
	case RouteLocal:
		return "route: local delivery"
	case RouteForward, RouteOut:
		s := "route: out " + rt.OutDev
		if rt.Gateway.IsValid() {
			s += " via " + rt.Gateway.String()
		}
		return s
	}
	return "route: " + rt.Reason
}

// sink connects the extensions' Sink to the engine.
type sink struct{ e *Engine }

func (s *sink) Log(level uint8, line string) {
	if s.e.st.tracer != nil {
		s.e.st.event(Event{Kind: EvLog, Text: line})
	}
	if s.e.cfg.Log != nil {
		s.e.cfg.Log(level, line)
	}
}

func (s *sink) Send(p *packet.Packet) {
	if s.e.icmpRateLimited(p) {
		if s.e.st.tracer != nil {
			s.e.st.event(Event{Kind: EvLog, Text: "ICMP error not sent: rate limited (net.ipv4.icmp_ratelimit)"})
		}
		return
	}
	p.Local = true
	s.e.queue = append(s.e.queue, p)
}

func (s *sink) NFLog(group uint16, prefix string, p *packet.Packet) {
	if s.e.st.tracer != nil {
		s.e.st.event(Event{Kind: EvLog, Text: "NFLOG group " + strconv.Itoa(int(group)) + " prefix " + strconv.Quote(prefix)})
	}
	if s.e.cfg.NFLog != nil {
		s.e.cfg.NFLog(group, prefix, p, s.e.env.Hook)
	}
}

// traceLine prints the TRACE target's line for a rule, policy or return,
// in ip_tables' trace_packet format.
func (e *Engine) traceLine(env *ext.Env, table, chain, kind string, num int) {
	// The prefix goes in first: the kernel's 1016-byte line limit counts it.
	b := append(e.traceBuf[:0], "TRACE: "...)
	b = append(b, table...)
	b = append(b, ':')
	b = append(b, chain...)
	b = append(b, ':')
	b = append(b, kind...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(num), 10)
	b = append(b, ' ')
	b = ext.AppendLogPacket(b, env, ext.LogDefaultFlags)
	e.traceBuf = b
	e.sink.Log(4, string(b))
}

// conntrackExts are the extensions whose kernel modules take a conntrack
// reference for the namespace (nf_ct_netns_get), which also turns on
// defragmentation at PREROUTING and OUTPUT.
var conntrackExts = map[string]bool{
	"state": true, "conntrack": true, "connmark": true, "connlimit": true, "connbytes": true,
	"connlabel": true, "helper": true, "cluster": true, "CONNMARK": true, "CONNSECMARK": true,
	"SNAT": true, "DNAT": true, "MASQUERADE": true, "REDIRECT": true, "NETMAP": true, "SYNPROXY": true,
}

// needsConntrack reports whether a family's rules make the kernel track
// connections: a nat table (its chains are conntrack's), or a rule using
// a conntrack extension (CT unless it only sets --notrack).
func needsConntrack(tables map[string]*cTable) bool {
	if _, ok := tables["nat"]; ok {
		return true
	}
	for _, t := range tables {
		for _, c := range t.t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					if conntrackExts[m.Def.Name] {
						return true
					}
				}
				if r.Target.Def != nil {
					n := r.Target.Def.Name
					if conntrackExts[n] {
						return true
					}
					if n == "CT" && !ctNotrackOnly(r) {
						return true
					}
				}
			}
		}
	}
	return false
}

// ctNotrackOnly tells a `-j CT --notrack` (which needs no conntrack) from
// other CT uses, by its saved form.
func ctNotrackOnly(r *ruleset.Rule) bool {
	var b ext.Buf
	r.Target.Ext.Save(&b)
	return strings.TrimSpace(b.String()) == "--notrack"
}
