package pipeline

import (
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// maxDepth bounds the jump stack as the kernel's does (XT_MAX_TABLE... the
// ruleset loader already refuses loops; this only guards the walk).
const maxDepth = 1024

// decision is how a table traversal ended.
type decision struct {
	v       ext.Verdict // Accept, Drop, Stolen or Queue
	chain   string      // chain of the deciding rule, or the built-in chain for a policy
	rule    int         // 1-based rule number; 0 for the policy
	target  string      // what decided: ACCEPT, DROP, REJECT, ...
	hotdrop bool
}

type frame struct {
	c *cChain
	i int // index of the rule to resume at
}

// walk evaluates one table's built-in chain for the packet, as the kernel's
// ipt_do_table / ip6t_do_table: rules in order, counters on a match, jumps
// with a return stack, goto without one, RETURN and the policy at the end
// of the built-in chain.
func (e *Engine) walk(t *cTable, hook nf.Hook, env *ext.Env, st *state) decision {
	base := t.hooks[hook]
	p := env.Pkt
	env.Table = t.name
	stack := st.stack[:0]
	c := base
	i := 0
	for {
		if i >= len(c.rules) {
			// End of chain: a user chain returns, the built-in chain
			// applies its policy.
			if c == base || len(stack) == 0 {
				if c != base {
					// Reached by goto from the base chain: the policy applies.
					c = base
				}
				base.c.Counters.Packets++
				base.c.Counters.Bytes += uint64(len(p.Data))
				if p.Trace {
					e.traceLine(env, t.name, base.name, "policy", len(base.rules)+1)
				}
				if st.tracer != nil {
					st.event(Event{Kind: EvPolicy, Hook: hook, Table: t.name, Chain: base.name, Verdict: base.policy.String()})
				}
				st.stack = stack
				return decision{v: base.policy, chain: base.name, target: base.policy.String()}
			}
			if p.Trace {
				e.traceLine(env, t.name, c.name, "return", len(c.rules)+1)
			}
			if st.tracer != nil {
				st.event(Event{Kind: EvReturn, Hook: hook, Table: t.name, Chain: c.name})
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			c, i = top.c, top.i
			continue
		}
		r := &c.rules[i]
		env.Chain, env.RuleNum = c.name, r.num
		if r.missing != "" {
			st.unsupported = true
			if st.tracer != nil {
				st.event(Event{Kind: EvUnsupported, Hook: hook, Table: t.name, Chain: c.name, Rule: r.num, Text: "match " + r.missing + " is not evaluated: the rule does not match"})
			}
		}
		if !e.ruleMatches(r, env) {
			if env.HotDrop {
				st.stack = stack
				return decision{v: ext.VerdictDrop, chain: c.name, rule: r.num, target: "hotdrop", hotdrop: true}
			}
			if st.tracer != nil {
				st.event(Event{Kind: EvRule, Hook: hook, Table: t.name, Chain: c.name, Rule: r.num, Spec: r, Matched: false})
			}
			i++
			continue
		}
		r.r.Counters.Packets++
		r.r.Counters.Bytes += uint64(len(p.Data))
		if p.Trace {
			e.traceLine(env, t.name, c.name, "rule", r.num)
		}
		if st.tracer != nil {
			st.event(Event{Kind: EvRule, Hook: hook, Table: t.name, Chain: c.name, Rule: r.num, Spec: r, Matched: true})
		}
		switch r.kind {
		case tNone:
			i++
		case tAccept:
			st.stack = stack
			return decision{v: ext.VerdictAccept, chain: c.name, rule: r.num, target: "ACCEPT"}
		case tDrop:
			st.stack = stack
			return decision{v: ext.VerdictDrop, chain: c.name, rule: r.num, target: "DROP"}
		case tQueue:
			st.stack = stack
			env.QueueNum, env.Bypass = 0, false
			return decision{v: ext.VerdictQueue, chain: c.name, rule: r.num, target: "QUEUE"}
		case tReturn:
			if len(stack) == 0 {
				// RETURN in a built-in chain: the policy decides.
				i = len(c.rules)
				c = base
				continue
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			c, i = top.c, top.i
		case tJump, tGoto:
			if r.kind == tJump {
				if len(stack) >= maxDepth {
					st.stack = stack
					return decision{v: ext.VerdictDrop, chain: c.name, rule: r.num, target: "stack overflow"}
				}
				stack = append(stack, frame{c, i + 1})
			}
			c, i = r.jump, 0
		case tExt:
			if r.target == nil {
				// A target that cannot be evaluated yet: report it and
				// go on, so the rest of the path stays visible.
				if st.tracer != nil {
					st.event(Event{Kind: EvUnsupported, Hook: hook, Table: t.name, Chain: c.name, Rule: r.num, Text: "target " + r.tname + " is not evaluated; continuing"})
				}
				st.unsupported = true
				i++
				continue
			}
			var before snapshot
			if st.tracer != nil {
				before.take(p)
			}
			v := r.target.Target(env)
			if st.tracer != nil {
				if d := before.diff(p); d != "" {
					st.event(Event{Kind: EvChange, Hook: hook, Table: t.name, Chain: c.name, Rule: r.num, Text: r.tname + ": " + d})
				}
			}
			switch v {
			case ext.VerdictContinue:
				i++
			case ext.VerdictReturn:
				if len(stack) == 0 {
					i = len(c.rules)
					c = base
					continue
				}
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				c, i = top.c, top.i
			default:
				st.stack = stack
				return decision{v: v, chain: c.name, rule: r.num, target: r.tname}
			}
		}
	}
}

// ruleMatches is ipt_packet_match / ip6_packet_match followed by the
// rule's matches in order.
func (e *Engine) ruleMatches(r *cRule, env *ext.Env) bool {
	p := env.Pkt
	rr := r.r
	if !rr.Src.IsAny() {
		if rr.Src.Contains(p.Src()) == rr.InvSrc {
			return false
		}
	} else if rr.InvSrc {
		return false
	}
	if !rr.Dst.IsAny() {
		if rr.Dst.Contains(p.Dst()) == rr.InvDst {
			return false
		}
	} else if rr.InvDst {
		return false
	}
	if ifaceMatch(r.inName, r.inWild, p.InDev) == rr.InvIn {
		return false
	}
	if ifaceMatch(r.outName, r.outWild, p.OutDev) == rr.InvOut {
		return false
	}
	// -p all (0) tests nothing, even inverted, as ipt_packet_match and
	// ip6_packet_match (IP6T_F_PROTO is set only for a protocol).
	if rr.Proto != 0 && env.Family == nf.IPv6 && !ext.LegacyXtables {
		// iptables-nft: -p is "meta l4proto", from ipv6_find_hdr with
		// IP6_FH_F_AUTH (it stops at an AH header). When the walk
		// fails (a non-first fragment followed by another extension
		// header) the protocol is unset and neither -p nor ! -p match.
		if p.FragOff != 0 && ext6AfterFrag(p.Proto) {
			return false
		}
		l4 := p.Proto
		if p.ExtHdrs&packet.ExtAuth != 0 {
			l4 = nf.ProtoAH
		}
		if (l4 == rr.Proto) == rr.InvProto {
			return false
		}
	} else if rr.Proto != 0 {
		if env.Family == nf.IPv6 && p.FragOff != 0 && ext6AfterFrag(p.Proto) {
			// ipv6_find_hdr cannot see past a non-first fragment
			// followed by another extension header: -ENOENT with a
			// zero offset, and ip6_packet_match drops the packet.
			env.HotDrop = true
			return false
		}
		if (p.Proto == rr.Proto) == rr.InvProto {
			return false
		}
	}
	if env.Family == nf.IPv4 {
		switch rr.Frag {
		case ruleset.FragOnly:
			if p.FragOff == 0 {
				return false
			}
		case ruleset.FragNot:
			if p.FragOff != 0 {
				return false
			}
		}
	}
	if r.missing != "" {
		return false
	}
	for _, m := range r.matchers {
		if !m.Match(env) {
			return false
		}
	}
	return true
}

// ext6AfterFrag reports whether the header after a non-first fragment's
// fragment header is one ipv6_find_hdr would have to walk over (hop-by-hop,
// routing, fragment, AH, destination options), which it cannot.
func ext6AfterFrag(nh uint8) bool {
	switch nh {
	case 0, 43, 44, 51, 60:
		return true
	}
	return false
}

// state is the per-packet scratch of a traversal, reused across packets.
type state struct {
	stack       []frame
	tracer      func(*Event)
	unsupported bool
}

func (st *state) event(ev Event) {
	st.tracer(&ev)
}

// snapshot keeps the packet fields a target may change, for the trace.
type snapshot struct {
	mark, prio uint32
	data       []byte
}

func (s *snapshot) take(p *packet.Packet) {
	s.mark, s.prio = p.Mark, p.Priority
	s.data = append(s.data[:0], p.Data...)
}
