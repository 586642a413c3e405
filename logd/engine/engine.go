// Package engine is the logging daemon's source for nfgo's own engine: it
// replays a capture through a host snapshot and turns what the NFLOG and
// ULOG rules log, and what connection tracking reports, into records.
package engine

import (
	"context"
	"os"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/replay"
)

// Replay is a source that replays one capture.
type Replay struct {
	Options replay.Options // HostDir and rulesets
	Capture string
	In      string // ingress interface for packets the capture does not place
	Groups  []uint16
	Flows   bool // also conntrack events

	received atomic.Uint64
}

func (r *Replay) Name() string { return "replay " + r.Capture }

func (r *Replay) Stats() logd.SourceStats { return logd.SourceStats{Received: r.received.Load()} }

func (r *Replay) wants(g uint16) bool {
	if len(r.Groups) == 0 {
		return true
	}
	for _, x := range r.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Run replays the capture. The daemon's queue applies back-pressure: the
// replay waits for room rather than losing records.
func (r *Replay) Run(ctx context.Context, out chan<- logd.Record) error {
	o := r.Options
	o.Quiet = true
	var stop error
	send := func(rec logd.Record) {
		if stop != nil {
			return
		}
		select {
		case out <- rec:
			r.received.Add(1)
		case <-ctx.Done():
			stop = ctx.Err()
		}
	}
	o.NFLog = func(group uint16, prefix string, p *packet.Packet, hook nf.Hook) {
		if r.wants(group) {
			send(logd.Record{Packet: PacketRecord(group, prefix, p, hook)})
		}
	}
	if r.Flows {
		o.CtEvents = func(ev conntrack.Event) { send(logd.Record{Flow: FlowRecord(ev)}) }
	}
	s, err := replay.Open(o)
	if err != nil {
		return err
	}
	f, err := os.Open(r.Capture)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = s.Replay(f, r.In, func(*replay.Report) error { return stop })
	if err == ctx.Err() {
		return nil
	}
	return err
}

// PacketRecord copies a packet the engine logged into a record.
func PacketRecord(group uint16, prefix string, p *packet.Packet, hook nf.Hook) *logd.Packet {
	rec := &logd.Packet{
		Time: time.Unix(0, p.Timestamp), Source: "nfgo", Group: group, Prefix: prefix,
		Family: p.Family, Hook: hook, HasHook: true,
		InDev: p.InDev, OutDev: p.OutDev, InIndex: p.InIndex, OutIndex: p.OutIndex,
		PhysIn: p.PhysIn, PhysOut: p.PhysOut, Mark: p.Mark,
		Data: append([]byte(nil), p.Data...), OrigLen: len(p.Data),
	}
	if p.MAC != nil {
		rec.MAC = append([]byte(nil), p.MAC...)
	}
	if p.Local && p.HasOwner {
		rec.UID, rec.GID, rec.HasUID, rec.HasGID = p.UID, p.GID, true, true
	}
	return rec
}

// FlowRecord turns a conntrack event into a record.
func FlowRecord(ev conntrack.Event) *logd.FlowEvent {
	c := &ev.Conn
	o, rp := c.Orig.Ext(), c.Reply.Ext()
	f := &logd.FlowEvent{
		Time: time.Unix(0, ev.Time), Source: "nfgo", Type: eventType(ev.Type),
		Proto:   o.Proto,
		OrigSrc: o.Src, OrigDst: o.Dst, OrigSport: o.SrcPort, OrigDport: o.DstPort,
		ReplSrc: rp.Src, ReplDst: rp.Dst, ReplSport: rp.SrcPort, ReplDport: rp.DstPort,
		Status: c.Status, Mark: c.Mark, Zone: c.Zone, Timeout: uint32(max(c.Timeout, 0)),
	}
	if c.HasTCP {
		f.State = conntrack.TCPStateName(c.TCPState)
	}
	f.Family = nf.IPv4
	if o.Src.Is6() && !o.Src.Is4In6() {
		f.Family = nf.IPv6
	}
	f.Packets = [2]uint64{c.Counters[0], c.Counters[2]}
	f.Bytes = [2]uint64{c.Counters[1], c.Counters[3]}
	if c.Start != 0 {
		f.Start = time.Unix(0, c.Start)
	}
	if c.Stop != 0 {
		f.Stop = time.Unix(0, c.Stop)
	}
	return f
}

func eventType(t conntrack.EventType) string {
	switch t {
	case conntrack.EventNew:
		return "NEW"
	case conntrack.EventDestroy:
		return "DESTROY"
	}
	return "UPDATE"
}
