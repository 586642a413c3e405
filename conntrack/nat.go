package conntrack

import (
	"errors"
	"math/rand/v2"
	"net/netip"

	"github.com/nfgo/nfgo/conntrack/helper"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// NAT on the conntrack table (nf_nat_core.c): the Tracker implements the
// NAT targets' ext.NATSetup and the pipeline's NAT hooks. A mapping is set
// up on a connection's first packet, before it is confirmed: the reply
// tuple is replaced by the translated one (the entry is not in the hash
// yet, so nothing is rehashed), IPS_SRC_NAT/IPS_DST_NAT tell that the
// tuple changed and IPS_*_NAT_DONE that the manip type was decided.

const (
	statusSrcNAT     = ext.CTStatusSrcNAT
	statusDstNAT     = ext.CTStatusDstNAT
	statusSrcNATDone = ext.CTStatusSrcNATDone
	statusDstNATDone = ext.CTStatusDstNATDone
	statusSeqAdjust  = ext.CTStatusSeqAdjust
	statusNATMask    = statusSrcNAT | statusDstNAT
)

// bySrcKey is what nf_nat_bysource is hashed and compared by: the
// original tuple's protocol, source address and port, and the zone.
type bySrcKey struct {
	src   [16]byte
	port  uint16
	proto uint8
	v6    bool
	zone  uint16
}

func bySrc(e *Entry) bySrcKey {
	o := &e.tuple[0]
	return bySrcKey{src: o.Src, port: o.SrcPort, proto: o.Proto, v6: o.V6, zone: zoneID(e.zone, e.zoneDir, 0)}
}

// addBySource records a source mapping (nf_nat_setup_info's
// nf_nat_bysource list), most recent last.
func (t *Table) addBySource(e *Entry) {
	if t.bysource == nil {
		t.bysource = make(map[bySrcKey][]int32)
	}
	k := bySrc(e)
	t.bysource[k] = append(t.bysource[k], e.idx)
}

// natCleanup is nf_nat_cleanup_conntrack and the seqadj extension going
// with the entry.
func (t *Table) natCleanup(e *Entry) {
	if e.status&statusSrcNATDone != 0 && t.bysource != nil {
		k := bySrc(e)
		l := t.bysource[k]
		for i, x := range l {
			if x == e.idx {
				l = append(l[:i], l[i+1:]...)
				break
			}
		}
		if len(l) == 0 {
			delete(t.bysource, k)
		} else {
			t.bysource[k] = l
		}
	}
	if t.seqadj != nil {
		delete(t.seqadj, e.idx)
	}
	if t.masq != nil {
		delete(t.masq, e.idx)
	}
}

// SeqAdjust returns the connection's NAT sequence adjustment, nil when
// its payload was never resized.
func (t *Table) SeqAdjust(e *Entry) *nat.SeqAdjust { return t.seqadj[e.idx] }

func (t *Table) seqAdjFor(e *Entry) *nat.SeqAdjust {
	if t.seqadj == nil {
		t.seqadj = make(map[int32]*nat.SeqAdjust)
	}
	a := t.seqadj[e.idx]
	if a == nil {
		a = new(nat.SeqAdjust)
		t.seqadj[e.idx] = a
	}
	return a
}

// natView is the table as tuple selection sees it for one connection
// being set up (nat.Table).
type natView struct {
	t *Table
	e *Entry
}

// TupleTaken is nf_conntrack_tuple_taken: another connection has t as
// one of its tuples; one with the same original tuple does not count
// (the same flow; confirmation resolves it).
func (v *natView) TupleTaken(ct ext.CtTuple, zone uint16) bool {
	tu := TupleFromExt(ct)
	for {
		x, _ := v.t.find(&tu, zone, v.e.zoneDir)
		if x == nil || x == v.e {
			return false
		}
		if x.expired(v.t.clock) {
			v.t.destroy(x, v.t.clock)
			continue
		}
		return !(x.tuple[0] == v.e.tuple[0] && x.zone == v.e.zone)
	}
}

// SameSource walks the source mappings of connections from orig's source,
// most recent first (find_appropriate_src).
func (v *natView) SameSource(orig ext.CtTuple, _ uint16, fn func(reply ext.CtTuple) bool) {
	if len(v.t.bysource) == 0 {
		return
	}
	tu := TupleFromExt(orig)
	// The key's zone as addBySource takes it: the original direction's.
	l := v.t.bysource[bySrcKey{src: tu.Src, port: tu.SrcPort, proto: tu.Proto, v6: tu.V6, zone: zoneID(v.e.zone, v.e.zoneDir, 0)}]
	for i := len(l) - 1; i >= 0; i-- {
		x := v.t.entry(l[i])
		if x == v.e || x.status&statusDying != 0 {
			continue
		}
		if fn(x.tuple[1].Ext()) {
			return
		}
	}
}

// noAddrs answers for a tracker without host data: no interface has an
// address (MASQUERADE and REDIRECT drop).
type noAddrs struct{}

func (noAddrs) MasqueradeAddr(nf.Family, string, netip.Addr) (netip.Addr, bool) {
	return netip.Addr{}, false
}
func (noAddrs) RedirectAddr(nf.Family, string, uint8) (netip.Addr, bool) { return netip.Addr{}, false }

func natKind(kind string) (nat.Kind, bool) {
	switch kind {
	case "SNAT":
		return nat.KindSNAT, true
	case "DNAT":
		return nat.KindDNAT, true
	case "MASQUERADE":
		return nat.KindMasquerade, true
	case "REDIRECT":
		return nat.KindRedirect, true
	case "NETMAP":
		return nat.KindNetmap, true
	}
	return 0, false
}

func natDone(m nat.Manip) uint32 {
	if m == nat.ManipSrc {
		return statusSrcNATDone
	}
	return statusDstNATDone
}

// SetupNAT is the NAT targets' nf_nat_setup_info (ext.NATSetup): the
// target's range resolved for the packet (MASQUERADE's and REDIRECT's
// address, NETMAP's mapped address), then the mapping.
func (tr *Tracker) SetupNAT(env *ext.Env, kind string, r ext.NATRange) ext.Verdict {
	e, ok := env.Conn.(*Entry)
	if !ok || e == nil {
		return ext.VerdictAccept
	}
	k, ok := natKind(kind)
	if !ok {
		return ext.VerdictDrop
	}
	rule := nat.Rule{Kind: k, Range: nat.Range{Flags: r.Flags, MinAddr: r.MinAddr, MaxAddr: r.MaxAddr,
		MinProto: r.MinPort, MaxProto: r.MaxPort, BaseProto: r.BasePort}}
	p := env.Pkt
	q := nat.Request{Family: p.Family, Hook: env.Hook, Src: p.Src(), Dst: p.Dst(),
		OrigSrc: e.tuple[0].SrcAddr(), InDev: p.InDev, OutDev: p.OutDev, NextHop: tr.nexthop}
	var addrs nat.Addresses = noAddrs{}
	if tr.Addrs != nil {
		addrs = tr.Addrs
	}
	rng, m, skip, err := rule.Resolve(&q, addrs)
	if err != nil {
		return ext.VerdictDrop
	}
	if skip {
		return ext.VerdictAccept
	}
	if k == nat.KindMasquerade && e.status&statusConfirmed == 0 {
		// nat->masq_index: later packets must leave by the same
		// interface.
		t := tr.T
		if t.masq == nil {
			t.masq = make(map[int32]string)
		}
		t.masq[e.idx] = p.OutDev
	}
	if !tr.setupInfo(e, &rng, m) {
		return ext.VerdictDrop
	}
	return ext.VerdictAccept
}

// setupInfo is nf_nat_setup_info. It returns false when the kernel
// drops the packet (the manip type already set up).
func (tr *Tracker) setupInfo(e *Entry, r *nat.Range, m nat.Manip) bool {
	if e.status&statusConfirmed != 0 {
		return true
	}
	if e.status&natDone(m) != 0 {
		return false
	}
	t := tr.T
	curr := nat.Invert(e.tuple[1].Ext())
	c := nat.Conn{Zone: e.zone, Status: e.status, Master: e.master != 0}
	if e.tcp != nil && e.tcp.State == TCPSynSent {
		c.SynSent, c.SeqEnd = true, e.tcp.Seen[0].End
	}
	tr.view = natView{t: t, e: e}
	tr.sel.Table = &tr.view
	nt := tr.sel.Unique(curr, r, m, &c)
	tr.view = natView{}
	if nt != curr {
		e.tuple[1] = TupleFromExt(nat.Invert(nt))
		if m == nat.ManipSrc {
			e.status |= statusSrcNAT
		} else {
			e.status |= statusDstNAT
		}
	}
	if m == nat.ManipSrc {
		t.addBySource(e)
	}
	e.status |= natDone(m)
	return true
}

// nullBinding is nf_nat_alloc_null_binding: a mapping to the addresses
// the connection already has, which still moves its source port when the
// tuple clashes with another connection's.
func (tr *Tracker) nullBinding(e *Entry, m nat.Manip) bool {
	a := e.tuple[1].DstAddr()
	if m == nat.ManipDst {
		a = e.tuple[1].SrcAddr()
	}
	r := nat.Range{Flags: nat.MapIPs, MinAddr: a, MaxAddr: a}
	return tr.setupInfo(e, &r, m)
}

// followMaster is nf_nat_follow_master for a connection expected by a
// helper of a translated connection: its source is where the master
// sends to, its destination the address and port the helper's command
// named before NAT rewrote it.
func (tr *Tracker) followMaster(e *Entry, x *Expectation) {
	m := x.master
	d := &m.tuple[1-x.natDir]
	a := d.DstAddr()
	r := nat.Range{Flags: nat.MapIPs, MinAddr: a, MaxAddr: a}
	tr.setupInfo(e, &r, nat.ManipSrc)
	a = d.SrcAddr()
	r = nat.Range{Flags: nat.MapIPs | nat.ProtoSpecified, MinAddr: a, MaxAddr: a,
		MinProto: x.savedPort, MaxProto: x.savedPort}
	tr.setupInfo(e, &r, nat.ManipDst)
}

// icmpErrorRelated: an ICMP error RELATED to a connection, which NAT
// translates without consulting the nat table (nf_nat_ipv4_fn,
// nf_nat_ipv6_fn).
func icmpErrorRelated(env *ext.Env) bool {
	if env.CtState != ext.CtStateRelated {
		return false
	}
	p := env.Pkt
	return (p.Family == nf.IPv4 && p.Proto == packet.ProtoICMP) || (p.Family == nf.IPv6 && p.Proto == packet.ProtoICMPv6)
}

// NATTable reports whether the nat table runs for the packet at hook
// (nf_nat_inet_fn: a NEW or RELATED packet whose connection has no
// mapping of the hook's manip type yet).
func (tr *Tracker) NATTable(env *ext.Env, hook nf.Hook, nexthop netip.Addr) bool {
	tr.nexthop = nexthop
	tr.ranNAT = false
	e, ok := env.Conn.(*Entry)
	if !ok || e == nil || icmpErrorRelated(env) {
		return false
	}
	if env.CtState != ext.CtStateNew && env.CtState != ext.CtStateRelated {
		return false
	}
	tr.ranNAT = e.status&natDone(nat.HookManip(hook)) == 0
	return tr.ranNAT
}

// NATHook is the rest of the NAT hook: the null binding for a new
// connection the table gave no mapping, then the packet's translation
// (nf_nat_packet), or an ICMP error's (nf_nat_icmp_reply_translation).
func (tr *Tracker) NATHook(env *ext.Env, hook nf.Hook) string {
	e, ok := env.Conn.(*Entry)
	if !ok || e == nil {
		return ""
	}
	m := nat.HookManip(hook)
	p := env.Pkt
	if icmpErrorRelated(env) {
		if err := nat.TranslateICMPError(p, e, env.CtReply, m); err != nil {
			return "nat ICMP error: " + err.Error()
		}
		return ""
	}
	if (env.CtState == ext.CtStateNew || env.CtState == ext.CtStateRelated) && e.status&natDone(m) == 0 {
		if !tr.nullBinding(e, m) {
			return "nat: mapping already set up"
		}
	} else if hook == nf.PostRouting && !env.CtReply && !tr.ranNAT && len(tr.T.masq) > 0 {
		// nf_nat_oif_changed: a masqueraded connection's packet
		// leaving by another interface ends the connection.
		if dev, ok := tr.T.masq[e.idx]; ok && dev != p.OutDev {
			if e.status&statusConfirmed != 0 && e.status&statusDying == 0 {
				tr.T.destroy(e, p.Timestamp)
			}
			return "nat MASQUERADE: out interface changed from " + dev + " to " + p.OutDev
		}
	}
	tr.ranNAT = false
	if e.status&statusNATMask == 0 {
		return ""
	}
	if err := nat.NATPacket(p, e, env.CtReply, m); err != nil {
		return "nat: " + err.Error()
	}
	return ""
}

// natFTP is nf_nat_ftp: the expectation registered with a port free on
// the translated address, the command rewritten to name that address and
// port, and the data connection set to follow the master's mapping. It
// returns why the packet is dropped, "" to let it pass.
func (tr *Tracker) natFTP(env *ext.Env, e *Entry, x *helper.Expect, now int64) string {
	t := tr.T
	dir := 0
	if env.CtReply {
		dir = 1
	}
	saved := x.DstPort
	var reg *Expectation
	port := nat.ExpectPort(saved, func(port uint16) (bool, bool) {
		x.DstPort = port
		y, err := t.ExpectRelated(e, x, now)
		if err == nil {
			reg = y
			return true, false
		}
		return false, errors.Is(err, ErrExpectClash)
	}, rand.Uint32N)
	if port == 0 {
		tr.helperLog(env, "ftp", "all ports in use")
		return "conntrack helper ftp: all ports in use"
	}
	reg.natFollow, reg.natDir, reg.savedPort = true, uint8(1-dir), saved
	newAddr := e.tuple[1-dir].DstAddr()
	need, err := nat.FTP(env.Pkt, x.Type, x.MatchOff, x.MatchLen, newAddr, port, t.seqAdjFor(e), dir)
	if err != nil {
		tr.helperLog(env, "ftp", "cannot mangle packet")
		t.unlinkExpect(reg, now)
		return "conntrack helper ftp: cannot mangle packet"
	}
	if need {
		e.status |= statusSeqAdjust
	}
	return ""
}

// natTFTP is nf_nat_tftp: the answer, from any port of the server, is
// expected back at the translated address and follows the master's
// mapping to the client's own port.
func (tr *Tracker) natTFTP(env *ext.Env, e *Entry, x *helper.Expect, now int64) string {
	reg, err := tr.T.ExpectRelated(e, x, now)
	if err != nil {
		tr.helperLog(env, "tftp", "cannot add expectation")
		return "conntrack helper tftp: cannot add expectation: " + err.Error()
	}
	reg.natFollow, reg.natDir, reg.savedPort = true, 1, e.tuple[0].SrcPort
	return ""
}

// seqAdjust is nf_confirm's nf_ct_seq_adjust for a TCP packet of a
// connection whose payload NAT resized. It returns why the packet is
// dropped, "" to let it pass.
func (tr *Tracker) seqAdjust(env *ext.Env, e *Entry) string {
	p := env.Pkt
	if e.status&statusSeqAdjust == 0 || p.Proto != packet.ProtoTCP || e.tuple[0].Proto != packet.ProtoTCP ||
		p.InDev == "lo" || p.OutDev == "lo" || p.L4Off < 0 {
		return ""
	}
	adj := tr.T.seqadj[e.idx]
	if adj == nil {
		return ""
	}
	dir := 0
	if env.CtReply {
		dir = 1
	}
	if err := adj.Adjust(p, dir); err != nil {
		tr.T.Stats.Drop++
		return "conntrack sequence adjustment: " + err.Error()
	}
	return ""
}
