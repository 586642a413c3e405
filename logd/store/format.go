package store

import (
	"encoding/hex"
	"encoding/json"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/logd/sink"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// TimeLayout is how text lines print a record's time: RFC 3339 with
// microseconds, as syslog's high-precision timestamps are.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// AppendText appends r's text line (no newline). A packet's line is the
// time, the prefix and what the kernel's LOG target prints after its
// prefix (with nf_log's default flags: TCP sequence numbers and options,
// IP options, socket owner), so that tools reading kernel logs read it.
// A flow's line is the time and conntrack -E's event line.
func AppendText(dst []byte, r logd.Record) []byte {
	switch {
	case r.Packet != nil:
		return appendPacketText(dst, r.Packet)
	case r.Flow != nil:
		return appendFlowText(dst, r.Flow)
	}
	return dst
}

func appendPacketText(dst []byte, p *logd.Packet) []byte {
	dst = p.Time.AppendFormat(dst, TimeLayout)
	dst = append(dst, ' ')
	// LOG prefixes carry their own trailing space; NFLOG prefixes are
	// usually bare words, which ulogd separates from IN= with a space.
	dst = append(dst, p.Prefix...)
	if p.Prefix != "" && p.Prefix[len(p.Prefix)-1] != ' ' {
		dst = append(dst, ' ')
	}
	pkt := packet.Packet{
		Family: p.Family, Data: p.Data, MAC: p.MAC,
		InDev: p.InDev, OutDev: p.OutDev, PhysIn: p.PhysIn, PhysOut: p.PhysOut,
		Mark: p.Mark, UID: p.UID, GID: p.GID, HasOwner: p.HasUID,
	}
	e := ext.Env{Pkt: &pkt, Family: p.Family, Hook: hookOf(p)}
	return ext.AppendLogPacket(dst, &e, ext.LogDefaultFlags)
}

// hookOf is the packet's hook, or the one its interfaces imply when the
// source did not say (AppendLogPacket prints the interfaces the hook has).
func hookOf(p *logd.Packet) nf.Hook {
	switch {
	case p.HasHook:
		return p.Hook
	case p.InDev != "" && p.OutDev != "":
		return nf.Forward
	case p.OutDev != "":
		return nf.LocalOut
	}
	return nf.LocalIn
}

// appendFlowText prints a flow as the text sink does: the time, then the
// conntrack -E line.
func appendFlowText(dst []byte, f *logd.FlowEvent) []byte {
	dst = f.Time.AppendFormat(dst, TimeLayout)
	dst = append(dst, ' ')
	ev := sink.FlowToEvent(f)
	return conntrack.AppendEvent(dst, &ev)
}

// PacketJSON is a packet's JSON object: the record's fields and the
// headers decoded from its bytes. Absent values are left out.
type PacketJSON struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Group    uint16    `json:"group"`
	Prefix   string    `json:"prefix"`
	Family   string    `json:"family"`
	Hook     string    `json:"hook,omitempty"`
	In       string    `json:"in,omitempty"`
	Out      string    `json:"out,omitempty"`
	PhysIn   string    `json:"physin,omitempty"`
	PhysOut  string    `json:"physout,omitempty"`
	Mark     uint32    `json:"mark"`
	UID      *uint32   `json:"uid,omitempty"`
	GID      *uint32   `json:"gid,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	Src      string    `json:"src,omitempty"`
	Dst      string    `json:"dst,omitempty"`
	Proto    *uint8    `json:"proto,omitempty"`
	Sport    *uint16   `json:"sport,omitempty"`
	Dport    *uint16   `json:"dport,omitempty"`
	Len      int       `json:"len"`
	TTL      *uint8    `json:"ttl,omitempty"`
	TCPFlags *uint8    `json:"tcp_flags,omitempty"`
	ICMPType *uint8    `json:"icmp_type,omitempty"`
	ICMPCode *uint8    `json:"icmp_code,omitempty"`
	Payload  string    `json:"payload"` // hex, from the network header
}

// FlowJSON is a flow event's JSON object.
type FlowJSON struct {
	Time      time.Time  `json:"time"`
	Source    string     `json:"source"`
	Type      string     `json:"type"`
	Family    string     `json:"family"`
	Proto     uint8      `json:"proto"`
	OrigSrc   string     `json:"orig_src"`
	OrigDst   string     `json:"orig_dst"`
	OrigSport uint16     `json:"orig_sport"`
	OrigDport uint16     `json:"orig_dport"`
	ReplSrc   string     `json:"repl_src"`
	ReplDst   string     `json:"repl_dst"`
	ReplSport uint16     `json:"repl_sport"`
	ReplDport uint16     `json:"repl_dport"`
	State     string     `json:"state,omitempty"`
	Status    uint32     `json:"status"`
	Mark      uint32     `json:"mark"`
	Zone      uint16     `json:"zone"`
	Timeout   uint32     `json:"timeout"`
	ID        uint32     `json:"id,omitempty"`
	Packets   [2]uint64  `json:"packets"`
	Bytes     [2]uint64  `json:"bytes"`
	Start     *time.Time `json:"start,omitempty"`
	Stop      *time.Time `json:"stop,omitempty"`
}

// AppendJSON appends r as one JSON object (no newline).
func AppendJSON(dst []byte, r logd.Record) ([]byte, error) {
	var v any
	switch {
	case r.Packet != nil:
		v = packetJSON(r.Packet)
	case r.Flow != nil:
		v = flowJSON(r.Flow)
	default:
		return dst, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func packetJSON(p *logd.Packet) *PacketJSON {
	h := Decode(p.Family, p.Data)
	j := &PacketJSON{
		Time: p.Time, Source: p.Source, Group: p.Group, Prefix: p.Prefix,
		Family: p.Family.String(), In: p.InDev, Out: p.OutDev,
		PhysIn: p.PhysIn, PhysOut: p.PhysOut, Mark: p.Mark,
		Len: p.OrigLen, Payload: hex.EncodeToString(p.Data),
	}
	if j.Len == 0 {
		j.Len = len(p.Data)
	}
	if p.HasHook {
		j.Hook = p.Hook.String()
	}
	if p.HasUID {
		j.UID = &p.UID
	}
	if p.HasGID {
		j.GID = &p.GID
	}
	if len(p.MAC) > 0 {
		j.MAC = macString(p.MAC)
	}
	if h.Src.IsValid() {
		j.Src, j.Dst = h.Src.String(), h.Dst.String()
	}
	if h.HasProto {
		j.Proto = &h.Proto
	}
	if h.HasPorts {
		j.Sport, j.Dport = &h.Sport, &h.Dport
	}
	if h.HasTTL {
		j.TTL = &h.TTL
	}
	if h.HasTCPFlags {
		j.TCPFlags = &h.TCPFlags
	}
	if h.HasICMP {
		j.ICMPType, j.ICMPCode = &h.ICMPType, &h.ICMPCode
	}
	return j
}

func macString(b []byte) string {
	s := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			s = append(s, ':')
		}
		s = hex.AppendEncode(s, []byte{c})
	}
	return string(s)
}

func flowJSON(f *logd.FlowEvent) *FlowJSON {
	j := &FlowJSON{
		Time: f.Time, Source: f.Source, Type: f.Type, Family: f.Family.String(), Proto: f.Proto,
		OrigSrc: addrText(f.OrigSrc), OrigDst: addrText(f.OrigDst),
		OrigSport: f.OrigSport, OrigDport: f.OrigDport,
		ReplSrc: addrText(f.ReplSrc), ReplDst: addrText(f.ReplDst),
		ReplSport: f.ReplSport, ReplDport: f.ReplDport,
		State: f.State, Status: f.Status, Mark: f.Mark, Zone: f.Zone,
		Timeout: f.Timeout, ID: f.ID, Packets: f.Packets, Bytes: f.Bytes,
	}
	if !f.Start.IsZero() {
		j.Start = &f.Start
	}
	if !f.Stop.IsZero() {
		j.Stop = &f.Stop
	}
	return j
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
