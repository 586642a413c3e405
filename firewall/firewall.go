// Package firewall is nfgo's netfilter packet path as a library for Go
// userspace network stacks: the stack hands each IP packet it receives or
// sends to a Firewall and acts on the Decision, and the host gets the
// kernel's iptables/ip6tables behaviour (connection tracking, NAT,
// mangling, LOG, REJECT) without a kernel.
//
//	fw, err := firewall.New(firewall.Config{Rules4: rules, Host: h})
//	...
//	d, err := fw.Inbound(pkt, "eth0")
//	switch d.Verdict {
//	case firewall.Deliver: // hand d.Packet to the local transport layer
//	case firewall.Forward: // send d.Packet out d.OutIface via d.NextHop
//	}
//	for _, g := range d.Generated { ... } // REJECT replies, ICMP errors
//
// Packets are IP datagrams starting at the IP header (no link-layer
// header); the version nibble tells IPv4 from IPv6.
package firewall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/host"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/pipeline"
	"github.com/nfgo/nfgo/ruleset"
)

// Config describes the firewall: its rules and the host it guards.
type Config struct {
	// Rules4 and Rules6 are rulesets in iptables-save / iptables-restore
	// form; nil: no rules for that family (every packet accepted, but
	// still tracked).
	Rules4, Rules6 io.Reader
	// Host is the host's interfaces, addresses, routes, neighbours and
	// sysctls, as host.Load reads them from a snapshot directory. The
	// conntrack tunables come from its sysctls.
	Host *host.Host
	// Router replaces Host when the stack does its own routing. It also
	// answers the extensions' questions (addrtype, MASQUERADE's address
	// when it implements nat.Addresses). Ignored when Host is set.
	Router pipeline.Router
	// Clock gives each packet its timestamp, the clock of conntrack
	// timeouts, rate limits and reassembly; default time.Now.
	Clock func() time.Time
	// Log receives each LOG (and TRACE) line as dmesg shows it after the
	// timestamp.
	Log func(line string)
	// Events receives each conntrack event as `conntrack -E` prints it.
	Events func(line string)
}

// Verdict says what the stack does with a packet.
type Verdict uint8

const (
	// Drop: the packet goes no further (a rule, a policy, routing,
	// conntrack or a queue without a listener). Decision.Reason says why.
	Drop Verdict = iota
	// Deliver: a received packet passed INPUT; the local transport
	// layer takes it.
	Deliver
	// Forward: a received packet passed FORWARD and POSTROUTING; it
	// leaves by OutIface towards NextHop.
	Forward
	// Send: a locally generated packet passed OUTPUT and POSTROUTING; it
	// leaves by OutIface towards NextHop. Out "lo" it comes back in: the
	// copy INPUT accepted is in Generated with Deliver.
	Send
	// Hold: a fragment kept until its datagram is complete (conntrack
	// needs whole datagrams); the Decision for the last fragment carries
	// the reassembled datagram.
	Hold
)

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

var verdictNames = [...]string{"drop", "deliver", "forward", "send", "hold"}

// Decision is what the firewall made of a packet.
type Decision struct {
	Verdict Verdict
	// Packet is the packet after NAT and mangling. It is the caller's
	// slice, rewritten in place, unless the packet changed size beyond
	// its capacity or was reassembled: then it is a new slice, the
	// caller's to keep. A reassembled datagram stays whole; fragmenting
	// for the egress MTU is the stack's business.
	Packet []byte
	// OutIface and NextHop are the route of a forwarded or sent packet
	// (NextHop is the destination itself when it is on link).
	OutIface string
	NextHop  netip.Addr
	// Generated lists the packets the host makes in answer (REJECT's
	// replies, ICMP errors, redirects) and packets looped back through
	// lo, each after its own pass through the hooks. Those dropped on
	// the way are left out.
	Generated []Generated
	// Result is the engine's account: fate, deciding hook, table,
	// chain and rule.
	Result pipeline.Result
}

// Reason is the packet's fate as nfgo trace prints it ("delivered
// locally", "dropped by policy: filter INPUT DROP", "rejected by filter
// INPUT rule 3"). It is built on demand: the hot path makes no text.
func (d *Decision) Reason() string { return d.Result.String() }

// Generated is a packet the firewall wants the stack to handle: put on
// the wire (Send, out OutIface towards NextHop) or delivered locally
// (Deliver, as received on lo).
type Generated struct {
	Verdict  Verdict
	Packet   []byte // the caller's to keep
	OutIface string
	NextHop  netip.Addr
}

// Errors of Inbound and Outbound for packets that cannot be taken.
var (
	ErrNotIP        = errors.New("firewall: not an IPv4 or IPv6 packet")
	ErrUnknownIface = errors.New("firewall: unknown interface")
)

// Firewall runs packets through the netfilter hooks.
//
// It is safe for concurrent use: one mutex serialises the packets,
// because the netfilter path is one state machine (conntrack entries,
// counters, limits, reassembly queues, NAT bindings) that every packet
// reads and writes, and the order in which packets meet it is part of
// the outcome. The Config callbacks run with the mutex held and must not
// call back into the Firewall.
type Firewall struct {
	mu      sync.Mutex
	engine  *pipeline.Engine
	rules   [2]*ruleset.Ruleset
	ct      *conntrack.Table
	router  pipeline.Router
	host    *host.Host
	clock   func() time.Time
	log     func(string)
	events  func(string)
	pkt     packet.Packet  // reused: the engine keeps no reference past a call
	pending *packet.Packet // last packet confirmed, not yet known to be generated
	final   *packet.Packet // the current packet as it passed its last hook
	gen     []Generated
	lineBuf bytes.Buffer
}

// New compiles the rulesets and sets up connection tracking.
func New(cfg Config) (*Firewall, error) {
	f := &Firewall{host: cfg.Host, router: cfg.Router, clock: cfg.Clock, log: cfg.Log, events: cfg.Events}
	if f.clock == nil {
		f.clock = time.Now
	}
	ctCfg := conntrack.DefaultConfig()
	var addrs nat.Addresses
	if cfg.Host != nil {
		f.router = cfg.Host
		addrs = cfg.Host
		var err error
		if ctCfg, err = conntrack.ConfigFrom(cfg.Host.Sysctl); err != nil {
			return nil, fmt.Errorf("firewall: host sysctls: %w", err)
		}
	} else if a, ok := cfg.Router.(nat.Addresses); ok {
		addrs = a
	}
	if f.router == nil {
		return nil, errors.New("firewall: a Host or a Router is required")
	}
	for i, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		r := cfg.Rules4
		if fam == nf.IPv6 {
			r = cfg.Rules6
		}
		rs := ruleset.New(fam)
		if r != nil {
			if err := rs.Restore(r, ruleset.RestoreOptions{File: fam.Program() + " rules", Counters: true}); err != nil {
				return nil, fmt.Errorf("firewall: %w", err)
			}
		}
		f.rules[i] = rs
	}
	f.ct = conntrack.New(ctCfg)
	f.ct.Log = f.logLine
	if f.events != nil {
		f.ct.OnEvent = func(ev conntrack.Event) { f.events(conntrack.FormatEvent(ev)) }
	}
	if usesMatch(f.rules[0], "connbytes") || usesMatch(f.rules[1], "connbytes") {
		f.ct.EnableAcct()
	}
	var err error
	f.engine, err = pipeline.New(pipeline.Config{
		Rules4:    f.rules[0],
		Rules6:    f.rules[1],
		Router:    f.router,
		Tracker:   tracker{&conntrack.Tracker{T: f.ct, Addrs: addrs}, f},
		Log:       f.logLine,
		Generated: f.generated,
	})
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	return f, nil
}

func (f *Firewall) logLine(_ uint8, line string) {
	if f.log != nil {
		f.log(line)
	}
}

// generated collects what the engine made while handling the current
// packet. A packet sent out lo is collected when it comes back in.
func (f *Firewall) generated(p *packet.Packet, r pipeline.Result) {
	if f.pending == p {
		f.pending = nil
	}
	var v Verdict
	switch r.Fate {
	case pipeline.Delivered:
		v = Deliver
	case pipeline.Sent, pipeline.Forwarded:
		if r.OutDev == "lo" {
			return
		}
		v = Send
	default:
		return
	}
	f.gen = append(f.gen, Generated{Verdict: v, Packet: append([]byte(nil), p.Data...), OutIface: r.OutDev, NextHop: r.Next})
}

// Inbound runs a packet received on iface (IP header first) through
// PREROUTING, the routing decision, and INPUT, or FORWARD and
// POSTROUTING. The firewall may rewrite pkt in place (NAT, TTL, mangle
// targets), within its capacity.
func (f *Firewall) Inbound(pkt []byte, iface string) (Decision, error) {
	return f.run(pkt, iface, false)
}

// Outbound runs a packet the local stack generated (IP header first)
// through the routing decision, OUTPUT and POSTROUTING. The firewall may
// rewrite pkt in place.
func (f *Firewall) Outbound(pkt []byte) (Decision, error) {
	return f.run(pkt, "", true)
}

func (f *Firewall) run(pkt []byte, iface string, local bool) (Decision, error) {
	fam, err := family(pkt)
	if err != nil {
		return Decision{}, err
	}
	inIndex := 0
	if !local && f.host != nil {
		ifc := f.host.Iface(iface)
		if ifc == nil {
			return Decision{}, fmt.Errorf("%w %q", ErrUnknownIface, iface)
		}
		inIndex = ifc.Index
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &f.pkt
	*p = packet.Packet{Family: fam, Data: pkt, InDev: iface, InIndex: inIndex,
		Timestamp: f.clock().UnixNano(), Local: local}
	if err := p.Parse(); err != nil {
		return Decision{}, fmt.Errorf("firewall: %w", err)
	}
	f.gen, f.pending, f.final = nil, nil, nil
	var r pipeline.Result
	if local {
		r = f.engine.Output(p)
	} else {
		r = f.engine.Receive(p)
	}
	d := Decision{Result: r, Generated: f.gen}
	data := p.Data
	f.gen, p.Data = nil, nil // keep no reference to the caller's bytes
	switch r.Fate {
	case pipeline.Delivered:
		d.Verdict = Deliver
	case pipeline.Forwarded:
		d.Verdict = Forward
	case pipeline.Sent:
		d.Verdict = Send
	case pipeline.Held:
		d.Verdict = Hold
	default:
		d.Verdict = Drop
	}
	if d.Verdict == Hold || d.Verdict == Drop {
		f.pending, f.final = nil, nil
		return d, nil
	}
	d.OutIface, d.NextHop = r.OutDev, r.Next
	if f.pending != nil {
		f.final = f.pending
	}
	// The engine may have put another packet in the caller's place (a
	// datagram reassembled from fragments) or grown its bytes past the
	// caller's capacity; both are fresh allocations.
	d.Packet = data
	if f.final != nil && f.final != p {
		d.Packet = f.final.Data
	}
	f.pending, f.final = nil, nil
	return d, nil
}

// tracker is conntrack's Tracker (its NAT and Suspend promoted, so the
// engine finds them) with Confirm noting which packet reached the end of
// INPUT or POSTROUTING: after reassembly that is not the packet handed
// to the engine.
type tracker struct {
	*conntrack.Tracker
	f *Firewall
}

// Confirm is called once per packet that passed its last hook. Packets
// the host makes pass theirs either before the current packet (ICMP
// errors from forwarding, each reported through Generated before the
// next confirmation) or after it (REJECT replies, loopback): a pending
// packet not claimed by Generated when the next one confirms, or when
// the engine returns, is the current packet.
func (t tracker) Confirm(env *ext.Env) (bool, string) {
	f := t.f
	if f.pending != nil {
		f.final = f.pending
	}
	f.pending = env.Pkt
	return t.Tracker.Confirm(env)
}

// family reads the IP version of a packet.
func family(pkt []byte) (nf.Family, error) {
	if len(pkt) == 0 {
		return 0, ErrNotIP
	}
	switch pkt[0] >> 4 {
	case 4:
		return nf.IPv4, nil
	case 6:
		return nf.IPv6, nil
	}
	return 0, ErrNotIP
}

// Conntrack lists the connection tracking table as `conntrack -L` does,
// one line per connection, at the current clock.
func (f *Firewall) Conntrack() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lineBuf.Reset()
	f.ct.WriteList(&f.lineBuf, f.clock().UnixNano())
	s := strings.TrimSuffix(f.lineBuf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Counters writes the rulesets with their packet and byte counters as
// `iptables-save -c` (then `ip6tables-save -c`) prints them.
func (f *Firewall) Counters() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, rs := range f.rules {
		if hasTables(rs) {
			rs.Save(&b, ruleset.SaveOptions{Counters: true})
		}
	}
	return b.String()
}

func hasTables(rs *ruleset.Ruleset) bool {
	for _, t := range rs.Tables {
		if t != nil {
			return true
		}
	}
	return false
}

// usesMatch reports whether any rule of rs has the match name.
func usesMatch(rs *ruleset.Ruleset, name string) bool {
	for _, t := range rs.Tables {
		if t == nil {
			continue
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					if m.Def != nil && m.Def.Name == name {
						return true
					}
				}
			}
		}
	}
	return false
}
