package pipeline

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// EventKind says what a trace event reports.
type EventKind uint8

const (
	EvHook        EventKind = iota // the packet enters a hook
	EvTable                        // a table's built-in chain is entered
	EvSkip                         // a table is skipped (nat for a known connection)
	EvRule                         // a rule was evaluated (Matched tells the outcome)
	EvReturn                       // a user chain ended and returned
	EvPolicy                       // a built-in chain's policy applied
	EvVerdict                      // a table's verdict for the packet
	EvChange                       // a target changed the packet
	EvLog                          // a LOG/TRACE line or an NFLOG delivery
	EvRoute                        // a routing decision
	EvConntrack                    // conntrack classified the packet
	EvUnsupported                  // something nfgo cannot evaluate yet
	EvGenerated                    // a generated packet (REJECT reply) starts its way
	EvFate                         // what became of the packet
	EvNAT                          // NAT translated the packet at a hook
)

var eventNames = [...]string{"hook", "table", "skip", "rule", "return", "policy", "verdict", "change", "log", "route", "conntrack", "unsupported", "generated", "fate", "nat"}

func (k EventKind) String() string { return eventNames[k] }

// Event is one step of a packet's way.
type Event struct {
	Kind    EventKind
	Hook    nf.Hook
	Table   string
	Chain   string
	Rule    int
	Matched bool
	Verdict string
	In, Out string
	Text    string
	Spec    *cRule
	Result  *Result
}

// RuleText returns the rule of an EvRule event in iptables -S form.
func (ev *Event) RuleText(fam nf.Family) string {
	if ev.Spec == nil {
		return ""
	}
	return "-A " + ev.Chain + ev.Spec.r.Spec(fam)
}

// FormatEvent renders an event as one line of nfgo trace output.
func FormatEvent(ev *Event, fam nf.Family) string {
	switch ev.Kind {
	case EvHook:
		return fmt.Sprintf("%s (in=%s out=%s)", ev.Hook, ev.In, ev.Out)
	case EvTable:
		return fmt.Sprintf("  %s %s", ev.Table, ev.Chain)
	case EvSkip:
		return fmt.Sprintf("  %s skipped: %s", ev.Table, ev.Text)
	case EvRule:
		m := "no match"
		if ev.Matched {
			m = "match"
		}
		return fmt.Sprintf("    %s rule %d: %s  [%s]", ev.Chain, ev.Rule, ev.RuleText(fam), m)
	case EvReturn:
		return fmt.Sprintf("    %s: end of chain, return", ev.Chain)
	case EvPolicy:
		return fmt.Sprintf("    %s: policy %s", ev.Chain, ev.Verdict)
	case EvVerdict:
		if ev.Rule == 0 {
			return fmt.Sprintf("  => %s (%s policy)", ev.Verdict, ev.Chain)
		}
		return fmt.Sprintf("  => %s (%s rule %d)", ev.Verdict, ev.Chain, ev.Rule)
	case EvChange:
		return "    changed: " + ev.Text
	case EvLog:
		return "    log: " + ev.Text
	case EvRoute:
		return ev.Text
	case EvConntrack:
		return "conntrack: " + ev.Text
	case EvUnsupported:
		return "    note: " + ev.Text
	case EvGenerated:
		return "-- " + ev.Text
	case EvFate:
		return "fate: " + ev.Text
	case EvNAT:
		return "  nat: " + ev.Text
	}
	return ev.Kind.String() + " " + ev.Text
}

// diff describes how the packet changed since take.
func (s *snapshot) diff(p *packet.Packet) string {
	var parts []string
	if p.Mark != s.mark {
		parts = append(parts, fmt.Sprintf("mark 0x%x -> 0x%x", s.mark, p.Mark))
	}
	if p.Priority != s.prio {
		parts = append(parts, fmt.Sprintf("priority 0x%x -> 0x%x", s.prio, p.Priority))
	}
	if !bytes.Equal(s.data, p.Data) {
		old := packet.Packet{Family: p.Family, Data: s.data}
		if old.Parse() == nil {
			if old.TTL() != p.TTL() {
				parts = append(parts, fmt.Sprintf("ttl %d -> %d", old.TTL(), p.TTL()))
			}
			if old.TOS() != p.TOS() {
				parts = append(parts, fmt.Sprintf("tos 0x%02x -> 0x%02x", old.TOS(), p.TOS()))
			}
			if old.Src() != p.Src() {
				parts = append(parts, fmt.Sprintf("src %s -> %s", old.Src(), p.Src()))
			}
			if old.Dst() != p.Dst() {
				parts = append(parts, fmt.Sprintf("dst %s -> %s", old.Dst(), p.Dst()))
			}
			os, od, ok1 := old.Ports()
			ns, nd, ok2 := p.Ports()
			if ok1 && ok2 && (os != ns || od != nd) {
				parts = append(parts, fmt.Sprintf("ports %d:%d -> %d:%d", os, od, ns, nd))
			}
			if len(s.data) != len(p.Data) {
				parts = append(parts, fmt.Sprintf("length %d -> %d", len(s.data), len(p.Data)))
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "packet bytes")
		}
	}
	return strings.Join(parts, ", ")
}
