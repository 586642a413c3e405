package sink

import (
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// TextTime is the layout of the Text sink's time stamps: RFC 3339 with
// microseconds, fixed width so that lines sort by time.
const TextTime = "2006-01-02T15:04:05.000000Z07:00"

// Text writes one line per record:
//
//	TIME PREFIXIN=eth0 OUT= MAC=... SRC=... (the kernel LOG target's text)
//	TIME    [NEW] tcp      6 120 SYN_SENT src=... (conntrack -E's line)
//
// TIME is the record's time in TextTime's layout. A packet's text is what
// the LOG target prints with the flags LogFlags (ext.LogTCPSeq, ...; 0 is
// a plain -j LOG) after the prefix, as the prefix is written: NFLOG
// prefixes usually lack LOG's trailing space.
type Text struct {
	fl       *file
	LogFlags uint8          // XT_LOG_* flags of the packet text
	Location *time.Location // time zone of the time stamps; time.Local by default
	buf      []byte
	pkt      packet.Packet
	env      ext.Env
}

// NewText opens (appending) or creates the file path.
func NewText(path string, o Options) (*Text, error) {
	fl, err := openFile(path, o)
	if err != nil {
		return nil, err
	}
	return &Text{fl: fl, Location: time.Local, buf: make([]byte, 0, 1024)}, nil
}

// Name is "text".
func (s *Text) Name() string { return "text" }

func (s *Text) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	loc := s.Location
	if loc == nil {
		loc = time.Local
	}
	b = t.In(loc).AppendFormat(b, TextTime)
	return append(b, ' ')
}

// WritePacket writes the packet's LOG line.
func (s *Text) WritePacket(p *logd.Packet) error {
	b := s.appendTime(s.buf[:0], p.Time)
	b = AppendLogText(b, p, s.LogFlags, &s.pkt, &s.env)
	s.buf = append(b, '\n')
	return s.fl.write(s.buf)
}

// AppendLogText appends the prefix and the LOG target's text for p with
// the XT_LOG_* flags logFlags. pkt and env are scratch space (reused, so
// that nothing is allocated); either may be nil.
func AppendLogText(b []byte, p *logd.Packet, logFlags uint8, pkt *packet.Packet, env *ext.Env) []byte {
	if pkt == nil {
		pkt = new(packet.Packet)
	}
	if env == nil {
		env = new(ext.Env)
	}
	*pkt = packet.Packet{Family: p.Family, Data: p.Data, MAC: p.MAC, InDev: p.InDev, OutDev: p.OutDev,
		PhysIn: p.PhysIn, PhysOut: p.PhysOut, Mark: p.Mark, UID: p.UID, GID: p.GID,
		HasOwner: p.HasUID && p.HasGID}
	hook := p.Hook
	if !p.HasHook {
		// Print the devices the record has: FORWARD shows both.
		hook = nf.Forward
	}
	*env = ext.Env{Pkt: pkt, Family: p.Family, Hook: hook}
	start := len(b)
	b = append(b, p.Prefix...)
	// The kernel's line limit counts from the prefix on, not from the
	// time stamp.
	line := ext.AppendLogPacket(b[start:], env, logFlags)
	b = append(b[:start], line...)
	env.Pkt = nil
	pkt.Data, pkt.MAC = nil, nil
	return b
}

// WriteFlow writes the event's conntrack -E line.
func (s *Text) WriteFlow(f *logd.FlowEvent) error {
	b := s.appendTime(s.buf[:0], f.Time)
	ev := FlowToEvent(f)
	b = conntrack.AppendEvent(b, &ev)
	s.buf = append(b, '\n')
	return s.fl.write(s.buf)
}

// FlowToEvent converts a flow record to the conntrack event conntrack -E
// would have printed for it.
func FlowToEvent(f *logd.FlowEvent) conntrack.Event {
	ev := conntrack.Event{Time: f.Time.UnixNano()}
	switch f.Type {
	case "NEW":
		ev.Type, ev.Bits = conntrack.EventNew, conntrack.EvNew
	case "DESTROY":
		ev.Type, ev.Bits = conntrack.EventDestroy, conntrack.EvDestroy
	default:
		ev.Type = conntrack.EventUpdate
	}
	s := &ev.Conn
	v6 := f.Family == nf.IPv6
	s.Orig = tuple(f.OrigSrc, f.OrigDst, f.OrigSport, f.OrigDport, f.Proto, v6)
	s.Reply = tuple(f.ReplSrc, f.ReplDst, f.ReplSport, f.ReplDport, f.Proto, v6)
	s.Status, s.Mark, s.Zone, s.Timeout = f.Status, f.Mark, f.Zone, int64(f.Timeout)
	if f.State != "" {
		for i := uint8(0); i < conntrack.TCPNumStates; i++ {
			if conntrack.TCPStateName(i) == f.State {
				s.TCPState, s.HasTCP = i, true
				break
			}
		}
		if ev.Type != conntrack.EventDestroy {
			// ctnetlink sends the protocol info with every other event.
			ev.Bits |= conntrack.EvProtoInfo
		}
	}
	if f.Packets != [2]uint64{} || f.Bytes != [2]uint64{} {
		s.Acct = true
		s.Counters = [4]uint64{f.Packets[0], f.Bytes[0], f.Packets[1], f.Bytes[1]}
	}
	if !f.Start.IsZero() {
		s.Timestamp = true
		s.Start = f.Start.UnixNano()
		if !f.Stop.IsZero() {
			s.Stop = f.Stop.UnixNano()
		}
	}
	return ev
}

func tuple(src, dst netip.Addr, sport, dport uint16, proto uint8, v6 bool) conntrack.Tuple {
	t := conntrack.Tuple{SrcPort: sport, DstPort: dport, Proto: proto, V6: v6}
	s, d := src.As16(), dst.As16()
	if v6 {
		t.Src, t.Dst = s, d
	} else {
		// IPv4 addresses sit in the first four bytes.
		copy(t.Src[:4], s[12:])
		copy(t.Dst[:4], d[12:])
	}
	return t
}

// Flush writes out what is buffered and syncs the file.
func (s *Text) Flush() error { return s.fl.flush() }

// Reopen opens the path anew (after rotation: SIGHUP).
func (s *Text) Reopen() error { return s.fl.reopen() }

// Close flushes and closes the file.
func (s *Text) Close() error { return s.fl.close() }
