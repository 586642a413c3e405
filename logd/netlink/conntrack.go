package nlsource

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// ctnetlink message and attribute numbers
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtNew    = 0
	ipctnlMsgCtDelete = 2

	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaTimeout       = 7
	ctaMark          = 8
	ctaCountersOrig  = 9
	ctaCountersReply = 10
	ctaID            = 12
	ctaZone          = 18
	ctaTimestamp     = 20

	ctaTupleIP    = 1
	ctaTupleProto = 2

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum       = 1
	ctaProtoSrcPort   = 2
	ctaProtoDstPort   = 3
	ctaProtoICMPID    = 4
	ctaProtoICMPType  = 5
	ctaProtoICMPCode  = 6
	ctaProtoICMPv6ID  = 7
	ctaProtoICMPv6Typ = 8
	ctaProtoICMPv6Cod = 9

	ctaProtoinfoTCP      = 1
	ctaProtoinfoTCPState = 1

	ctaCountersPackets = 1
	ctaCountersBytes   = 2

	ctaTimestampStart = 1
	ctaTimestampStop  = 2

	// NFNLGRP_CONNTRACK_*
	groupNew     = 1
	groupUpdate  = 2
	groupDestroy = 3

	nlmFCreateExcl = unix.NLM_F_CREATE | unix.NLM_F_EXCL
)

// tcpStates are the TCP conntrack state names as conntrack(8) prints
// them, indexed by TCP_CONNTRACK_*.
var tcpStates = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// Event kinds to subscribe to.
const (
	EventNew = 1 << iota
	EventUpdate
	EventDestroy

	EventAll = EventNew | EventUpdate | EventDestroy
)

// ConntrackConfig configures a conntrack event source.
type ConntrackConfig struct {
	// Name of the source ("conntrack" when empty).
	Name string
	// Events is a mask of EventNew, EventUpdate and EventDestroy (0:
	// EventAll).
	Events int
	// ReadBuffer and NetNS are as in NFLogConfig. Busy hosts need a large
	// buffer: events are multicast and lost when it is full.
	ReadBuffer int
	NetNS      string
}

// Conntrack is a logd.Source of the kernel's conntrack events.
type Conntrack struct {
	name string
	s    *sock
}

// NewConntrack opens a ctnetlink socket subscribed to the chosen event
// groups; events from then on are read by Run. The kernel generates
// events only while nf_conntrack_events allows (sysctl, default on when
// someone listens).
func NewConntrack(cfg ConntrackConfig) (*Conntrack, error) {
	ev := cfg.Events
	if ev == 0 {
		ev = EventAll
	}
	if ev&^EventAll != 0 {
		return nil, fmt.Errorf("conntrack: event mask %#x", cfg.Events)
	}
	var groups uint32
	for i, g := range []uint32{groupNew, groupUpdate, groupDestroy} {
		if ev&(1<<i) != 0 {
			groups |= 1 << (g - 1)
		}
	}
	s, err := dial(dialConfig{family: unix.NETLINK_NETFILTER, groups: groups, netNS: cfg.NetNS, readBuffer: cfg.ReadBuffer})
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	c := &Conntrack{name: cfg.Name, s: s}
	if c.name == "" {
		c.name = "conntrack"
	}
	return c, nil
}

// Name implements logd.Source.
func (c *Conntrack) Name() string { return c.name }

// Run implements logd.Source. It closes the socket when it returns.
func (c *Conntrack) Run(ctx context.Context, out chan<- logd.Record) error {
	return c.s.run(ctx, out, func(m netlink.Message) (logd.Record, bool) {
		f, err := parseFlow(m)
		if err != nil {
			c.s.errs.Add(1)
			return logd.Record{}, false
		}
		if f == nil {
			return logd.Record{}, false
		}
		f.Time = time.Now()
		return logd.Record{Flow: f}, true
	})
}

// Stats implements logd.Source.
func (c *Conntrack) Stats() logd.SourceStats { return c.s.stats() }

// Close releases the socket; Run returns if it is running.
func (c *Conntrack) Close() error { return c.s.close() }

// parseFlow decodes an IPCTNL_MSG_CT_NEW or _DELETE event; other
// messages give nil, nil. Time is left for the caller.
func parseFlow(m netlink.Message) (*logd.FlowEvent, error) {
	subsys, typ, family, _, b, ok := nfMsg(m)
	if !ok {
		return nil, fmt.Errorf("conntrack: message of %d bytes", len(m.Data))
	}
	if subsys != subsysCtnetlink {
		return nil, nil
	}
	f := &logd.FlowEvent{Source: "kernel"}
	switch {
	case typ == ipctnlMsgCtDelete:
		f.Type = "DESTROY"
	case typ == ipctnlMsgCtNew && m.Header.Flags&nlmFCreateExcl == nlmFCreateExcl:
		f.Type = "NEW"
	case typ == ipctnlMsgCtNew:
		f.Type = "UPDATE"
	default:
		return nil, nil
	}
	switch family {
	case unix.AF_INET:
		f.Family = nf.IPv4
	case unix.AF_INET6:
		f.Family = nf.IPv6
	}
	var seenOrig bool
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ctaTupleOrig:
			t, err := parseTuple(a.val)
			if err != nil {
				return nil, fmt.Errorf("conntrack: original tuple: %w", err)
			}
			f.Proto = t.proto
			f.OrigSrc, f.OrigDst, f.OrigSport, f.OrigDport = t.src, t.dst, t.sport, t.dport
			seenOrig = true
		case ctaTupleReply:
			t, err := parseTuple(a.val)
			if err != nil {
				return nil, fmt.Errorf("conntrack: reply tuple: %w", err)
			}
			f.ReplSrc, f.ReplDst, f.ReplSport, f.ReplDport = t.src, t.dst, t.sport, t.dport
		case ctaStatus:
			f.Status, _ = a.u32()
		case ctaTimeout:
			f.Timeout, _ = a.u32()
		case ctaMark:
			f.Mark, _ = a.u32()
		case ctaZone:
			f.Zone, _ = a.u16()
		case ctaID:
			f.ID, _ = a.u32()
		case ctaProtoinfo:
			st, err := parseProtoinfo(a.val)
			if err != nil {
				return nil, fmt.Errorf("conntrack: protoinfo: %w", err)
			}
			f.State = st
		case ctaCountersOrig, ctaCountersReply:
			d := 0
			if a.typ == ctaCountersReply {
				d = 1
			}
			if err := parseCounters(a.val, &f.Packets[d], &f.Bytes[d]); err != nil {
				return nil, fmt.Errorf("conntrack: counters: %w", err)
			}
		case ctaTimestamp:
			if err := parseTimestamp(a.val, &f.Start, &f.Stop); err != nil {
				return nil, fmt.Errorf("conntrack: timestamp: %w", err)
			}
		}
	}
	if a.err != nil {
		return nil, fmt.Errorf("conntrack: %w", a.err)
	}
	if !seenOrig {
		return nil, fmt.Errorf("conntrack: event without original tuple")
	}
	return f, nil
}

type tuple struct {
	proto        uint8
	src, dst     netip.Addr
	sport, dport uint16
}

// parseTuple decodes a CTA_TUPLE_* nest. ICMP id, type and code go into
// the ports as logd.FlowEvent documents.
func parseTuple(b []byte) (tuple, error) {
	var t tuple
	var icmpType, icmpCode uint8
	var isICMP bool
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ctaTupleIP:
			n := attrs{b: a.val}
			for n.next() {
				switch n.typ {
				case ctaIPv4Src, ctaIPv4Dst, ctaIPv6Src, ctaIPv6Dst:
					want := 4
					if n.typ >= ctaIPv6Src {
						want = 16
					}
					if len(n.val) != want {
						return t, fmt.Errorf("address of %d bytes", len(n.val))
					}
					ad, _ := netip.AddrFromSlice(n.val)
					if n.typ == ctaIPv4Src || n.typ == ctaIPv6Src {
						t.src = ad
					} else {
						t.dst = ad
					}
				}
			}
			if n.err != nil {
				return t, n.err
			}
		case ctaTupleProto:
			n := attrs{b: a.val}
			for n.next() {
				switch n.typ {
				case ctaProtoNum:
					t.proto, _ = n.u8()
				case ctaProtoSrcPort, ctaProtoICMPID, ctaProtoICMPv6ID:
					t.sport, _ = n.u16()
				case ctaProtoDstPort:
					t.dport, _ = n.u16()
				case ctaProtoICMPType, ctaProtoICMPv6Typ:
					icmpType, _ = n.u8()
					isICMP = true
				case ctaProtoICMPCode, ctaProtoICMPv6Cod:
					icmpCode, _ = n.u8()
					isICMP = true
				}
			}
			if n.err != nil {
				return t, n.err
			}
		}
	}
	if a.err != nil {
		return t, a.err
	}
	if isICMP {
		t.dport = uint16(icmpType)<<8 | uint16(icmpCode)
	}
	return t, nil
}

// parseProtoinfo returns the TCP state name; other protocols give "".
func parseProtoinfo(b []byte) (string, error) {
	a := attrs{b: b}
	for a.next() {
		if a.typ != ctaProtoinfoTCP {
			continue
		}
		n := attrs{b: a.val}
		for n.next() {
			if n.typ != ctaProtoinfoTCPState {
				continue
			}
			st, ok := n.u8()
			if !ok {
				return "", n.err
			}
			if int(st) < len(tcpStates) {
				return tcpStates[st], nil
			}
			return "UNKNOWN", nil
		}
		if n.err != nil {
			return "", n.err
		}
	}
	return "", a.err
}

func parseCounters(b []byte, packets, bytes *uint64) error {
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ctaCountersPackets:
			*packets, _ = a.u64()
		case ctaCountersBytes:
			*bytes, _ = a.u64()
		}
	}
	return a.err
}

func parseTimestamp(b []byte, start, stop *time.Time) error {
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ctaTimestampStart, ctaTimestampStop:
			ns, ok := a.u64()
			if !ok || ns == 0 {
				continue
			}
			t := time.Unix(0, int64(ns))
			if a.typ == ctaTimestampStart {
				*start = t
			} else {
				*stop = t
			}
		}
	}
	return a.err
}
