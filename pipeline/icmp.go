package pipeline

import (
	"net/netip"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// The ICMP errors the host's own IP layer sends (ip_forward, ip_error)
// and the per-destination rate limits every host-made ICMPv4 error is
// subject to (icmpv4_xrlim_allow, ip_error's token bucket).

type icmpKind uint8

const (
	icmpTimeExceeded icmpKind = iota // TTL / hop limit exceeded in transit
	icmpTooBig                       // fragmentation needed / packet too big; info is the MTU
	icmpUnreachable                  // destination unreachable; info is the IPv4 code
	icmpFragTime                     // fragment reassembly time exceeded
)

// sendICMPError queues the ICMP error about p that the kernel's IP layer
// sends; the Sink applies the rate limits.
func (e *Engine) sendICMPError(p *packet.Packet, kind icmpKind, info uint32) {
	env := e.env
	env.Pkt = p
	var r []byte
	if p.Family == nf.IPv6 {
		switch kind {
		case icmpTimeExceeded:
			r = ext.ICMPError6(&env, 3, 0, 0)
		case icmpFragTime:
			r = ext.ICMPError6(&env, 3, 1, 0)
		case icmpTooBig:
			r = ext.ICMPError6(&env, 2, 0, info)
		case icmpUnreachable:
			code := uint8(0) // ICMPV6_NOROUTE
			if info == 13 {
				code = 1 // ICMPV6_ADM_PROHIBITED
			}
			r = ext.ICMPError6(&env, 1, code, 0)
		}
	} else {
		switch kind {
		case icmpTimeExceeded:
			r = ext.ICMPError4(&env, 11, 0, 0)
		case icmpFragTime:
			r = ext.ICMPError4(&env, 11, 1, 0)
		case icmpTooBig:
			r = ext.ICMPError4(&env, 3, 4, info&0xffff)
		case icmpUnreachable:
			r = ext.ICMPError4(&env, 3, uint8(info), 0)
		}
	}
	if r == nil {
		return
	}
	q := &packet.Packet{Family: p.Family, Data: r, Local: true, Timestamp: p.Timestamp}
	if q.Parse() != nil {
		return
	}
	e.sink.Send(q)
}

// mustNotFragment: IPv4 with DF set, or any IPv6 packet (routers never
// fragment IPv6).
func mustNotFragment(p *packet.Packet) bool {
	if p.Family == nf.IPv6 {
		return true
	}
	return packet.IPv4(p.Data).DontFragment()
}

// peer is the kernel's inet_peer rate state for one remote address.
type peer struct {
	tokens    int64 // jiffies
	last      int64 // jiffies
	redirects int   // redirects sent since the source was last quiet
}

func (e *Engine) peerOf(a netip.Addr, now int64) *peer {
	if e.peers == nil {
		e.peers = map[netip.Addr]*peer{}
	}
	pr := e.peers[a]
	if pr == nil {
		// inet_getpeer starts a peer a minute in the past: full buckets.
		pr = &peer{last: now - 60*ext.KernelHZ}
		e.peers[a] = pr
	}
	return pr
}

// ipErrorAllowed is ip_error's limit on answering unroutable packets from
// one source: a bucket of 5 s refilled at 1 token per jiffy, a second per
// answer (ip_rt_error_burst, ip_rt_error_cost).
func (e *Engine) ipErrorAllowed(p *packet.Packet) bool {
	if p.Family != nf.IPv4 {
		return true
	}
	now := int64(ext.Jiffies(p.Timestamp))
	pr := e.peerOf(p.Src(), now)
	pr.tokens += now - pr.last
	if pr.tokens > 5*ext.KernelHZ {
		pr.tokens = 5 * ext.KernelHZ
	}
	pr.last = now
	if pr.tokens >= ext.KernelHZ {
		pr.tokens -= ext.KernelHZ
		return true
	}
	return false
}

// icmpRateLimited applies icmpv4_xrlim_allow to a host-made ICMPv4 error
// about to leave: types in net.ipv4.icmp_ratemask (destination
// unreachable except "fragmentation needed", source quench, time
// exceeded, parameter problem by default) to a non-local destination are
// allowed one per net.ipv4.icmp_ratelimit (1000 ms) per destination, with
// a burst of six.
func (e *Engine) icmpRateLimited(q *packet.Packet) bool {
	if q.Family != nf.IPv4 || q.Proto != packet.ProtoICMP {
		return false
	}
	ic := packet.ICMP(q.L4())
	if len(ic) < 2 {
		return false
	}
	typ, code := ic.Type(), ic.Code()
	if typ > 18 || (typ == 3 && code == 4) {
		return false
	}
	if e.sysctl("net.ipv4.icmp_ratemask", 6168)&(1<<typ) == 0 {
		return false
	}
	dst := q.Dst()
	if e.cfg.Router.AddrType(dst, "") == 2 {
		return false // looped back: no limit
	}
	timeout := int64(e.sysctl("net.ipv4.icmp_ratelimit", 1000)) * ext.KernelHZ / 1000
	now := int64(ext.Jiffies(q.Timestamp))
	pr := e.peerOf(dst, now)
	token := pr.tokens + now - pr.last
	pr.last = now
	if token > 6*timeout {
		token = 6 * timeout
	}
	allowed := false
	if token >= timeout {
		token -= timeout
		allowed = true
	}
	pr.tokens = token
	return !allowed
}

// Redirect rate limit (route.c): after ip_rt_redirect_number redirects
// unanswered by the source the host stops; between them it waits
// ip_rt_redirect_load jiffies doubled per redirect sent; a source quiet
// for ip_rt_redirect_silence starts over.
const (
	redirectNumber  = 9
	redirectLoad    = ext.KernelHZ / 50
	redirectSilence = redirectLoad << (redirectNumber + 1)
)

// sendRedirect is ip_rt_send_redirect: the ICMP host redirect to p's
// source naming the route's next hop, sent at once (before the packet
// goes on to FORWARD, as ip_forward does it), through OUTPUT and
// POSTROUTING.
func (e *Engine) sendRedirect(p *packet.Packet, rt Route) {
	now := int64(ext.Jiffies(p.Timestamp))
	pr := e.peerOf(p.Src(), now)
	if now-pr.last > redirectSilence {
		pr.tokens, pr.redirects = 0, 0
	}
	if pr.redirects >= redirectNumber {
		pr.last = now
		return
	}
	if pr.redirects != 0 && now-pr.last <= redirectLoad<<pr.redirects {
		return
	}
	gw := rt.Gateway
	if !gw.IsValid() {
		gw = p.Dst()
	}
	env := e.env
	env.Pkt = p
	a := gw.As4()
	r := ext.ICMPError4(&env, 5, 1, uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]))
	pr.last = now
	pr.redirects++
	if r == nil {
		return
	}
	q := &packet.Packet{Family: nf.IPv4, Data: r, Local: true, Timestamp: p.Timestamp}
	if q.Parse() != nil {
		return
	}
	e.sendNow(q)
}

// Suspender is implemented by a Tracker that keeps state about the
// packet it is handling: Suspend sets it aside, so that another packet
// can pass the hooks meanwhile, and returns what brings it back.
type Suspender interface {
	Suspend() (resume func())
}

// sendNow runs a packet the host makes while another is on its way
// (icmp_send from ip_forward) through the output path at once, as the
// kernel does, and comes back to the first.
func (e *Engine) sendNow(q *packet.Packet) {
	env, tracked, nexthop, rrSlot := e.env, e.tracked, e.nexthop, e.rrSlot
	if s, ok := e.cfg.Tracker.(Suspender); ok {
		defer s.Suspend()()
	}
	if e.st.tracer != nil {
		e.st.event(Event{Kind: EvGenerated, Text: "generated packet"})
	}
	r := e.output(q)
	if e.cfg.Generated != nil {
		e.cfg.Generated(q, r)
	}
	e.env, e.tracked, e.nexthop, e.rrSlot = env, tracked, nexthop, rrSlot
}

// hasSourceRoute reports whether an IPv4 packet carries a loose or
// strict source route option (no redirect for those).
func hasSourceRoute(p *packet.Packet) bool {
	h := packet.IPv4(p.Data)
	ihl := h.HeaderLen()
	for i := 20; i < ihl && i < len(p.Data); {
		t := p.Data[i]
		if t == optEnd {
			break
		}
		if t == optNop {
			i++
			continue
		}
		if t == optLSRR || t == optSSRR {
			return true
		}
		if i+1 >= ihl || p.Data[i+1] < 2 {
			break
		}
		i += int(p.Data[i+1])
	}
	return false
}
