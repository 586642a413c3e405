package conntrack

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/nfgo/nfgo/conntrack/helper"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Tracker implements the pipeline's connection tracking over a Table:
// In classifies a packet at PREROUTING or OUTPUT, Confirm inserts the
// connection the packet created when it leaves the last hook and delivers
// the events it caused.
type Tracker struct {
	T *Table

	pend    *Entry // unconfirmed entry of the current packet
	info    string // what the TCP tracker noted about a valid packet, for log_invalid
	logBuf  []byte
	rlStart int64 // table full message rate limit window
	rlCount int
	call    helper.Call

	// Addrs answers MASQUERADE's and REDIRECT's questions about the
	// host's interfaces; nil: no addresses (those targets drop).
	Addrs   nat.Addresses
	nexthop netip.Addr // the route's next hop at POSTROUTING
	sel     nat.Selector
	view    natView
	ranNAT  bool // the nat table ran for the packet at the current hook
}

// Suspend sets aside what the tracker holds about the packet in hand
// (its unconfirmed entry, the NAT state of the hook), so that a packet
// the host makes meanwhile (an ICMP redirect) can pass the hooks, and
// returns what restores it.
func (tr *Tracker) Suspend() (resume func()) {
	pend, info, nexthop, view, ranNAT := tr.pend, tr.info, tr.nexthop, tr.view, tr.ranNAT
	tr.pend = nil
	return func() {
		if tr.pend != nil {
			tr.T.release(tr.pend)
		}
		tr.pend, tr.info, tr.nexthop, tr.view, tr.ranNAT = pend, info, nexthop, view, ranNAT
	}
}

// gcInterval is how often (clock time) the tracker sweeps the table for
// timed-out connections; an expired one met by a lookup goes at once.
const gcInterval = second

func (t *Table) advance(now int64) {
	if now >= t.lastGC+gcInterval || now < t.lastGC {
		t.GC(now)
	}
}

// In classifies the packet and sets env.Conn, env.CtState, env.CtReply
// and env.CtTable. It returns false when the packet must be dropped
// (table full).
func (tr *Tracker) In(env *ext.Env, hook nf.Hook) bool {
	t := tr.T
	if tr.pend != nil {
		// The previous packet died before confirmation: its entry
		// never existed.
		t.release(tr.pend)
		tr.pend = nil
	}
	env.CtTable = t
	p := env.Pkt
	now := p.Timestamp
	t.clock = now
	t.advance(now)
	tmpl := env.CtTemplate
	if tmpl != nil && tmpl.NoTrack {
		env.Conn, env.CtState, env.CtReply = nil, ext.CtStateUntracked, false
		return true
	}
	env.Conn, env.CtState, env.CtReply = nil, ext.CtStateInvalid, false
	var zone uint16
	zdir := ZoneDirBoth
	if tmpl != nil {
		zone = tmpl.Zone
		if tmpl.ZoneFromMark {
			// nf_ct_zone_tmpl with NF_CT_FLAG_MARK: the zone is the
			// packet's mark (its low 16 bits) at lookup.
			zone = uint16(p.Mark)
		}
		if tmpl.ZoneDir != 0 {
			zdir = tmpl.ZoneDir
		}
	}
	fam := p.Family
	// get_l4proto: later fragments and packets without a reachable
	// transport header are not tracked.
	if p.FragOff != 0 || (p.L4Off < 0 && !(fam == nf.IPv6 && p.Proto == 59)) {
		t.Stats.Invalid++
		return true
	}
	l4 := p.L4()
	proto := p.Proto
	if (proto == packet.ProtoICMP && fam == nf.IPv4) || (proto == packet.ProtoICMPv6 && fam == nf.IPv6) {
		done, ok := tr.icmpError(env, hook, l4, zone, zdir)
		if !ok {
			t.Stats.Error++
			return true
		}
		if done {
			return true
		}
	}
	var tu Tuple
	if !tupleOf(&tu, p, proto, l4) {
		t.Stats.Invalid++
		return true
	}
repeat:
	e, dir := t.find(&tu, zone, zdir)
	if e != nil && e.expired(now) {
		t.destroy(e, now)
		e = nil
	}
	created := false
	if e == nil {
		var inv Tuple
		if !invert(&inv, &tu) {
			t.Stats.Invalid++
			return true
		}
		if t.Cfg.Max > 0 && t.count+1 > t.Cfg.Max && !t.earlyDrop(now) {
			t.Stats.Drop++
			tr.tableFull(now)
			return false
		}
		e = t.alloc()
		e.tuple[0], e.tuple[1] = tu, inv
		e.zone, e.zoneDir = zone, zdir
		if zone == 0 {
			e.zoneDir = ZoneDirBoth
		}
		switch {
		case tmpl != nil && (tmpl.Events != 0 || tmpl.ExpEvents != 0):
			// nf_ct_ecache_ext_add: the template's masks as given,
			// whatever nf_conntrack_events says.
			e.evmask, e.expmask = uint16(tmpl.Events), uint8(tmpl.ExpEvents)
		case !t.Cfg.Events:
			e.evmask, e.expmask = 0, 0
		}
		var x *Expectation
		if len(t.exps) > 0 {
			x = t.findExpectation(&tu, zone, now)
		}
		if x != nil {
			// An expected connection: RELATED to the master, whose
			// mark it inherits (init_conntrack).
			m := x.master
			e.status |= statusExpected
			e.master = m.idx + 1
			t.ref(m)
			e.mark = m.mark
			if x.natFollow {
				tr.followMaster(e, x)
			}
		} else if tmpl != nil && tmpl.Helper != "" {
			// __nf_ct_try_assign_helper: only the CT target's helper;
			// assignment by port went with Linux 6.0.
			e.helper = t.helperIndex(tmpl.Helper)
			e.status |= statusHelper
		}
		dir = 0
		created = true
		tr.pend = e
	} else {
		t.Stats.Found++
	}
	reply := dir == 1
	tr.info = ""
	res, why := tr.packet(e, p, hook, l4, reply, now)
	if tr.info != "" {
		tr.logInvalid(env, proto, tr.info)
	}
	switch res {
	case resRepeat:
		if !created {
			t.destroy(e, now)
		}
		goto repeat
	case resInvalid:
		if created {
			t.release(e)
			tr.pend = nil
		}
		t.Stats.Invalid++
		if why != "" {
			tr.logInvalid(env, proto, why)
		}
		return true
	}
	if reply && e.status&statusSeenReply == 0 {
		e.status |= statusSeenReply
		e.cache |= uint16(EvReply)
	}
	env.Conn = e
	env.CtReply = reply
	switch {
	case reply || e.status&statusSeenReply != 0:
		env.CtState = ext.CtStateEstablished
	case e.status&statusExpected != 0:
		env.CtState = ext.CtStateRelated
	default:
		env.CtState = ext.CtStateNew
	}
	return true
}

const (
	resAccept = iota
	resInvalid
	resRepeat
)

// packet runs the protocol tracker for a packet of e (nf_conntrack_handle_packet).
func (tr *Tracker) packet(e *Entry, p *packet.Packet, hook nf.Hook, l4 []byte, reply bool, now int64) (int, string) {
	t := tr.T
	cfg := &t.Cfg
	var timeout int64
	switch e.tuple[0].Proto {
	case packet.ProtoTCP:
		if e.tcp == nil {
			e.tcp = new(TCPState)
		}
		c := TCPCall{Reply: reply, Status: e.status, Now: now, Cfg: &cfg.TCP, Deadline: e.deadline,
			CheckSum: cfg.Checksum && hook == nf.PreRouting}
		if e.status&statusSeqAdjust != 0 {
			c.Adj = t.seqadj[e.idx]
		}
		if e.status&statusConfirmed == 0 && !e.tcp.New(p, &c) {
			return resInvalid, c.Invalid
		}
		res := e.tcp.Packet(p, &c)
		tr.info = c.Info
		switch res {
		case TCPInvalid:
			if c.Timeout != TCPKeepTimeout && e.status&ext.CTStatusFixedTimeout == 0 {
				// nf_tcp_handle_invalid lowers an assured entry's
				// timeout even though the packet is INVALID.
				e.deadline = now + c.Timeout
			}
			return resInvalid, c.Invalid
		case TCPRepeat:
			return resRepeat, ""
		}
		e.cache |= uint16(c.Events)
		if c.Assure && e.status&statusAssured == 0 {
			e.status |= statusAssured
			e.cache |= uint16(EvAssured)
		}
		if c.Kill {
			// The connection is over (a reply RST to a SYN); the
			// packet itself is still valid. It goes at the next look.
			e.deadline = now
			tr.acct(e, p, reply)
			return resAccept, ""
		}
		if c.Timeout == TCPKeepTimeout {
			tr.acct(e, p, reply)
			return resAccept, ""
		}
		timeout = c.Timeout
	case packet.ProtoUDP, packet.ProtoUDPLite:
		if why := udpError(p, hook, l4, cfg.Checksum); why != "" {
			return resInvalid, why
		}
		if e.status&statusConfirmed == 0 {
			e.aux = now + 2*second
		}
		timeout = cfg.UDPTimeout
		if e.status&statusSeenReply != 0 {
			stream := false
			if now > e.aux {
				timeout = cfg.UDPStreamTimeout
				stream = e.status&statusAssured == 0
			}
			if stream && e.status&statusNATClash == 0 {
				e.status |= statusAssured
				e.cache |= uint16(EvAssured)
			}
		}
	case packet.ProtoICMP:
		if p.Family != nf.IPv4 || !icmpValidNew(e.tuple[0].DstPort>>8) {
			return resInvalid, ""
		}
		timeout = cfg.ICMPTimeout
	case packet.ProtoICMPv6:
		if p.Family != nf.IPv6 {
			return resInvalid, ""
		}
		if ty := e.tuple[0].DstPort >> 8; e.status&statusConfirmed == 0 && ty != 128 && ty != 139 {
			return resInvalid, ""
		}
		timeout = cfg.ICMPv6Timeout
	case packet.ProtoGRE:
		// nf_conntrack_proto_gre: 30 s until the reply, then the
		// stream timeout and ASSURED. (Keys are 0 but for PPTP's
		// enhanced GRE, which needs the PPTP helper's key map.)
		timeout = cfg.GRETimeout
		if e.status&statusSeenReply != 0 || reply {
			timeout = cfg.GREStreamTimeout
			if e.status&statusAssured == 0 {
				e.status |= statusAssured
				e.cache |= uint16(EvAssured)
			}
		}
	default:
		timeout = cfg.GenericTimeout
	}
	// nf_ct_refresh_acct
	if e.status&ext.CTStatusFixedTimeout == 0 {
		e.deadline = now + timeout
	}
	tr.acct(e, p, reply)
	return resAccept, ""
}

// acct counts the packet in its direction when accounting is on.
func (tr *Tracker) acct(e *Entry, p *packet.Packet, reply bool) {
	if a := e.acct(); a != nil {
		d := 0
		if reply {
			d = 2
		}
		a[d]++
		a[d+1] += uint64(len(p.Data))
	}
}

func icmpValidNew(ty uint16) bool { return ty == 8 || ty == 13 || ty == 15 || ty == 17 }

// udpError is udp_error: header and checksum checks.
func udpError(p *packet.Packet, hook nf.Hook, l4 []byte, checksum bool) string {
	if len(l4) < 8 {
		return "short packet"
	}
	ulen := int(binary.BigEndian.Uint16(l4[4:]))
	if ulen > len(l4) || ulen < 8 {
		return "truncated/malformed packet"
	}
	ck := binary.BigEndian.Uint16(l4[6:])
	if ck == 0 {
		return ""
	}
	if hook == nf.PreRouting && checksum && !l4ChecksumOK(p, l4) {
		return "bad checksum"
	}
	return ""
}

func l4ChecksumOK(p *packet.Packet, l4 []byte) bool {
	s := packet.PseudoSum(p.Src(), p.Dst(), p.Proto, len(l4))
	return packet.Fold(packet.Sum(l4, s)) == 0xffff
}

// tupleOf is nf_ct_get_tuple for the packet's own headers.
func tupleOf(tu *Tuple, p *packet.Packet, proto uint8, l4 []byte) bool {
	*tu = Tuple{Proto: proto, V6: p.Family == nf.IPv6}
	d := p.Data
	if tu.V6 {
		copy(tu.Src[:], d[8:24])
		copy(tu.Dst[:], d[24:40])
	} else {
		copy(tu.Src[:4], d[12:16])
		copy(tu.Dst[:4], d[16:20])
	}
	return l4Tuple(tu, proto, l4)
}

func l4Tuple(tu *Tuple, proto uint8, l4 []byte) bool {
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		if len(l4) < 4 {
			return false
		}
		tu.SrcPort, tu.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if len(l4) < 8 {
			return false
		}
		tu.DstPort = uint16(l4[0])<<8 | uint16(l4[1])
		tu.SrcPort = binary.BigEndian.Uint16(l4[4:])
	}
	return true
}

// invert is nf_ct_invert_tuple: the tuple of the other direction, false
// for ICMP types that have no answer.
func invert(r, t *Tuple) bool {
	*r = Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto, V6: t.V6}
	switch t.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		ty := uint8(t.DstPort >> 8)
		var inv uint8
		ok := true
		if t.Proto == packet.ProtoICMP {
			switch ty {
			case 8, 13, 15, 17, 0, 14, 16, 18:
				inv = map4[ty]
			default:
				ok = false
			}
		} else {
			switch ty {
			case 128, 129, 139, 140:
				inv = map6(ty)
			default:
				ok = false
			}
		}
		if !ok {
			return false
		}
		r.SrcPort, r.DstPort = t.SrcPort, uint16(inv)<<8|t.DstPort&0xff
	}
	return true
}

var map4 = [19]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}

func map6(ty uint8) uint8 {
	switch ty {
	case 128:
		return 129
	case 129:
		return 128
	case 139:
		return 140
	}
	return 139
}

// icmpError handles ICMP and ICMPv6 messages before the normal lookup
// (nf_conntrack_icmpv4_error, nf_conntrack_icmpv6_error): errors quoting
// a tracked connection are RELATED to it. done reports that the packet is
// classified; ok false means INVALID (counted as error).
func (tr *Tracker) icmpError(env *ext.Env, hook nf.Hook, l4 []byte, zone uint16, zdir uint8) (done, ok bool) {
	t := tr.T
	p := env.Pkt
	proto := p.Proto
	if len(l4) < 8 {
		tr.logInvalid(env, proto, "short packet")
		return true, false
	}
	if t.Cfg.Checksum && hook == nf.PreRouting {
		var bad bool
		if proto == packet.ProtoICMP {
			bad = packet.Fold(packet.Sum(l4, 0)) != 0xffff
		} else {
			bad = !l4ChecksumOK(p, l4)
		}
		if bad {
			if proto == packet.ProtoICMP {
				tr.logInvalid(env, proto, "bad hw icmp checksum")
			} else {
				tr.logInvalid(env, proto, "ICMPv6 checksum failed")
			}
			return true, false
		}
	}
	ty := l4[0]
	if proto == packet.ProtoICMP {
		if ty > 18 {
			tr.logInvalid(env, proto, "invalid icmp type")
			return true, false
		}
		switch ty {
		case 3, 4, 5, 11, 12:
		default:
			return false, true
		}
	} else {
		switch ty {
		case 130, 131, 132, 133, 134, 135, 136, 143:
			// Neighbour discovery and MLD are never tracked.
			env.CtState = ext.CtStateUntracked
			return true, true
		case 137:
			// Redirects quote after options nfgo does not walk.
			return true, false
		}
		if ty >= 128 {
			return false, true
		}
	}
	// nf_conntrack_inet_error: the quoted packet's tuple, inverted.
	var inner Tuple
	if !innerTuple(&inner, l4[8:], p.Family) {
		return true, false
	}
	var look Tuple
	if !invert(&look, &inner) {
		return true, false
	}
	e, dir := t.find(&look, zone, zdir)
	if e == nil || e.expired(p.Timestamp) {
		return true, false
	}
	var outer [16]byte
	if p.Family == nf.IPv6 {
		copy(outer[:], p.Data[24:40])
	} else {
		copy(outer[:4], p.Data[16:20])
	}
	if outer != e.tuple[dir].Dst {
		d := &e.tuple[dir]
		tr.logInvalid(env, proto, "outer daddr "+fmtInvalidAddr(p.Dst().String(), p.Family)+" != inner "+fmtInvalidAddr(d.DstAddr().String(), p.Family))
		return true, false
	}
	env.Conn, env.CtState, env.CtReply = e, ext.CtStateRelated, dir == 1
	return true, true
}

func fmtInvalidAddr(s string, fam nf.Family) string { return s }

// innerTuple parses the packet an ICMP error quotes (nf_ct_get_tuplepr).
func innerTuple(tu *Tuple, b []byte, fam nf.Family) bool {
	*tu = Tuple{V6: fam == nf.IPv6}
	var proto uint8
	var off int
	if fam == nf.IPv4 {
		if len(b) < 20 {
			return false
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
			return false
		}
		proto = b[9]
		copy(tu.Src[:4], b[12:16])
		copy(tu.Dst[:4], b[16:20])
		off = ihl
	} else {
		if len(b) < 40 {
			return false
		}
		copy(tu.Src[:], b[8:24])
		copy(tu.Dst[:], b[24:40])
		proto, off = b[6], 40
	walk:
		for {
			switch proto {
			case 0, 43, 60, 51, 44:
				if off+8 > len(b) {
					return false
				}
				n := b[off]
				switch proto {
				case 51:
					off += (int(b[off+1]) + 2) * 4
				case 44:
					if binary.BigEndian.Uint16(b[off+2:])&^7 != 0 {
						return false
					}
					off += 8
				default:
					off += (int(b[off+1]) + 1) * 8
				}
				proto = n
			default:
				break walk
			}
		}
	}
	if off > len(b) {
		return false
	}
	tu.Proto = proto
	return l4Tuple(tu, proto, b[off:])
}

// tableFull logs the kernel's message, at most 10 times in 5 seconds
// (net_warn_ratelimited).
func (tr *Tracker) tableFull(now int64) {
	if now-tr.rlStart >= 5*second || now < tr.rlStart {
		tr.rlStart, tr.rlCount = now, 0
	}
	tr.rlCount++
	if tr.rlCount <= 10 && tr.T.Log != nil {
		tr.T.Log(4, "nf_conntrack: nf_conntrack: table full, dropping packet")
	}
}

// logInvalid is nf_l4proto_log_invalid: with nf_conntrack_log_invalid set
// to the protocol (or 255), the packet is logged like LOG with the
// default flags at level 5 and the prefix "nf_ct_proto_N: reason ".
func (tr *Tracker) logInvalid(env *ext.Env, proto uint8, why string) {
	li := tr.T.Cfg.LogInvalid
	if li == 0 || (li != proto && li != 255) || env.Sink == nil {
		return
	}
	b := append(tr.logBuf[:0], "nf_ct_proto_"...)
	b = strconv.AppendUint(b, uint64(proto), 10)
	b = append(b, ": "...)
	b = append(b, why...)
	b = append(b, ' ')
	b = ext.AppendLogPacket(b, env, 0x0f)
	env.Sink.Log(5, string(b))
	tr.logBuf = b
}

// Confirm runs the connection's helper on the packet, then inserts the
// connection the packet created (when it passed INPUT or POSTROUTING)
// and delivers the events cached for the packet's connection (nf_confirm).
// ok false means the helper dropped the packet; why says so as the fate
// line shows it ("conntrack helper ftp: partial matching of `PORT'").
func (tr *Tracker) Confirm(env *ext.Env) (ok bool, why string) {
	e, isEntry := env.Conn.(*Entry)
	if !isEntry || e == nil {
		return true, ""
	}
	t := tr.T
	now := env.Pkt.Timestamp
	if e.helper != 0 {
		if reason := tr.help(env, e, now); reason != "" {
			if e == tr.pend {
				t.release(e)
				tr.pend = nil
			}
			return false, reason
		}
	}
	if e.status&statusSeqAdjust != 0 && !icmpErrorRelated(env) {
		if reason := tr.seqAdjust(env, e); reason != "" {
			if e == tr.pend {
				t.release(e)
				tr.pend = nil
			}
			return false, reason
		}
	}
	if e == tr.pend {
		tr.pend = nil
		e.status |= statusConfirmed
		if ts := e.tstamp(); ts != nil {
			*ts = now
		}
		t.insert(e)
		t.Stats.Insert++
		if e.status&statusExpected != 0 {
			e.cache |= uint16(EvRelated)
		} else {
			e.cache |= uint16(EvNew)
		}
	}
	if e.cache != 0 && e.status&statusConfirmed != 0 {
		bits := uint32(e.cache)
		e.cache = 0
		t.deliver(e, bits, now)
	}
	return true, ""
}

// help calls the connection's helper for the packet and registers the
// expectation it announces. It returns why the packet is dropped, ""
// to let it pass.
func (tr *Tracker) help(env *ext.Env, e *Entry, now int64) string {
	t := tr.T
	name := e.Helper()
	def := helper.Defs[name]
	p := env.Pkt
	// helper->help() is not given ICMP errors of the reply direction;
	// nfgo gives it no ICMP errors at all (the FTP and TFTP helpers find
	// nothing in them) nor later fragments.
	if def == nil || p.L4Off < 0 || p.FragOff != 0 || p.Proto != e.tuple[0].Proto {
		return ""
	}
	l4 := p.L4()
	c := &tr.call
	*c = helper.Call{Family: p.Family, Proto: p.Proto,
		Established: env.CtState == ext.CtStateEstablished}
	if env.CtReply {
		c.Dir = 1
	}
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) < 20 {
			return ""
		}
		off := int(l4[12]>>4) * 4
		if off >= len(l4) {
			c.Payload = nil
		} else {
			c.Payload = l4[off:]
		}
		c.Seq = binary.BigEndian.Uint32(l4[4:])
	case packet.ProtoUDP:
		if len(l4) < 8 {
			return ""
		}
		c.Payload = l4[8:]
	default:
		return ""
	}
	for d := 0; d < 2; d++ {
		c.Src[d], c.Dst[d] = e.tuple[d].SrcAddr(), e.tuple[d].DstAddr()
		c.SrcPort[d], c.DstPort[d] = e.tuple[d].SrcPort, e.tuple[d].DstPort
	}
	st := t.helpState[e.idx]
	if st == nil {
		if t.helpState == nil {
			t.helpState = make(map[int32]helper.State)
		}
		st = def.New()
		t.helpState[e.idx] = st
	}
	x, v, reason := st.Help(c)
	if v == helper.Drop {
		tr.helperLog(env, name, reason)
		return "conntrack helper " + name + ": " + reason
	}
	if x != nil && e.status&statusNATMask != 0 {
		switch name {
		case "ftp":
			return tr.natFTP(env, e, x, now)
		case "tftp":
			return tr.natTFTP(env, e, x, now)
		}
	}
	if x != nil {
		if _, err := t.ExpectRelated(e, x, now); err != nil {
			tr.helperLog(env, name, "cannot add expectation")
			return "conntrack helper " + name + ": cannot add expectation: " + err.Error()
		}
	}
	return ""
}

// helperLog is nf_ct_helper_log: the dropped packet logged like LOG with
// the default flags at level 5, prefixed "nf_ct_NAME: dropping packet: WHY ".
func (tr *Tracker) helperLog(env *ext.Env, name, why string) {
	if env.Sink == nil {
		return
	}
	b := append(tr.logBuf[:0], "nf_ct_"...)
	b = append(b, name...)
	b = append(b, ": dropping packet: "...)
	b = append(b, why...)
	b = append(b, ' ')
	// The helper logs without devices: "IN= OUT=" and no MAC.
	le := *env
	le.Hook = nf.Hook(0xff)
	b = ext.AppendLogPacket(b, &le, 0x0f)
	env.Sink.Log(5, string(b))
	tr.logBuf = b
}

// IsNew reports whether the packet created its connection (not confirmed
// yet), so the nat table is consulted.
func (tr *Tracker) IsNew(env *ext.Env) bool {
	return tr.pend != nil && env.Conn == ext.Conn(tr.pend)
}

func (t *Table) helperIndex(name string) uint8 {
	for i, h := range t.helpers {
		if h == name {
			return uint8(i)
		}
	}
	if len(t.helpers) >= 255 {
		return 0
	}
	t.helpers = append(t.helpers, name)
	return uint8(len(t.helpers) - 1)
}
