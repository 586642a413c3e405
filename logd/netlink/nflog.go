package nlsource

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// nfnetlink_log message and attribute numbers
// (include/uapi/linux/netfilter/nfnetlink_log.h).
const (
	nfulnlMsgPacket = 0
	nfulnlMsgConfig = 1

	nfulaPacketHdr     = 1
	nfulaMark          = 2
	nfulaTimestamp     = 3
	nfulaIfindexIndev  = 4
	nfulaIfindexOutdev = 5
	nfulaIfindexPhysIn = 6
	nfulaIfindexPhysOu = 7
	nfulaHwaddr        = 8
	nfulaPayload       = 9
	nfulaPrefix        = 10
	nfulaUID           = 11
	nfulaSeq           = 12
	nfulaSeqGlobal     = 13
	nfulaGID           = 14
	nfulaHwtype        = 15
	nfulaHwheader      = 16
	nfulaHwlen         = 17

	nfulaCfgCmd      = 1
	nfulaCfgMode     = 2
	nfulaCfgNlbufsiz = 3
	nfulaCfgTimeout  = 4
	nfulaCfgQthresh  = 5
	nfulaCfgFlags    = 6

	nfulnlCfgCmdBind   = 1
	nfulnlCfgCmdPFBind = 3

	nfulnlCopyPacket = 2
)

// NFLOG instance flags (NFULNL_CFG_F_*) for NFLogConfig.Flags.
const (
	FlagSeq       = 0x0001 // number packets per group (logd.Packet.Seq)
	FlagSeqGlobal = 0x0002 // number packets across groups (SeqGlobal)
	FlagConntrack = 0x0004 // attach conntrack data (not decoded)
)

var (
	_ logd.Source = (*NFLog)(nil)
	_ logd.Source = (*Conntrack)(nil)
)

// DefaultCopyRange is the copy range asked for when none is configured:
// whole packets, as ulogd does.
const DefaultCopyRange = 0xffff

// NFLogConfig configures an NFLOG source.
type NFLogConfig struct {
	// Name of the source ("nflog" when empty).
	Name string
	// Groups are the NFLOG groups (--nflog-group) to read; at least one.
	// A group has one reader per namespace: binding a group another
	// socket holds fails with EBUSY.
	Groups []uint16
	// CopyRange is how many bytes of each packet to copy (0 means
	// DefaultCopyRange). A rule's --nflog-size, when smaller, wins.
	CopyRange uint32
	// QThreshold batches this many packets per netlink message (0: the
	// kernel's default, 1).
	QThreshold uint32
	// Timeout flushes an incomplete batch after this long (0: the
	// kernel's default, 1 s); the kernel counts in hundredths of a second.
	Timeout time.Duration
	// NLBufSize is the kernel's batch buffer size in bytes (0: default).
	NLBufSize uint32
	// Flags are NFULNL_CFG_F_* bits: FlagSeq, FlagSeqGlobal (sequence
	// numbers in each packet), FlagConntrack (conntrack data attached;
	// needs nf_conntrack_netlink, and is not decoded).
	Flags uint16
	// ReadBuffer sets the socket's receive buffer in bytes (0: system
	// default). SO_RCVBUFFORCE is used when permitted, else SO_RCVBUF,
	// which net.core.rmem_max caps.
	ReadBuffer int
	// NetNS is the path of a network namespace (/run/netns/NAME,
	// /proc/PID/ns/net) to log from; "" is the calling thread's.
	NetNS string
}

// NFLog is a logd.Source of packets logged by the kernel's NFLOG target.
type NFLog struct {
	name string
	s    *sock
	// seq says the instances number their packets (FlagSeq); next is
	// each group's next expected number, used by the receive goroutine
	// only, and lost counts the numbers that never arrived.
	seq  bool
	next map[uint16]uint32
	lost atomic.Uint64
}

// NewNFLog opens a netlink socket, binds the groups and sets the copy
// mode; packets logged from then on are read by Run. Close releases the
// socket if Run is never called.
func NewNFLog(cfg NFLogConfig) (*NFLog, error) {
	if len(cfg.Groups) == 0 {
		return nil, fmt.Errorf("nflog: no group")
	}
	s, err := dial(dialConfig{family: unix.NETLINK_NETFILTER, netNS: cfg.NetNS, readBuffer: cfg.ReadBuffer})
	if err != nil {
		return nil, fmt.Errorf("nflog: %w", err)
	}
	l := &NFLog{name: cfg.Name, s: s, seq: cfg.Flags&FlagSeq != 0, next: make(map[uint16]uint32, len(cfg.Groups))}
	if l.name == "" {
		l.name = "nflog"
	}
	if err := l.configure(cfg); err != nil {
		s.close()
		return nil, fmt.Errorf("nflog: %w", err)
	}
	return l, nil
}

func (l *NFLog) configure(cfg NFLogConfig) error {
	// Make nfnetlink_log the logger of both families. Linux binds it on
	// first use nowadays; older kernels need this, and it is harmless.
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		l.s.request(configMsg(fam, 0, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfulaCfgCmd, []byte{nfulnlCfgCmdPFBind})
		}))
	}
	rng := cfg.CopyRange
	if rng == 0 {
		rng = DefaultCopyRange
	}
	mode := make([]byte, 6)
	be.PutUint32(mode, rng)
	mode[4] = nfulnlCopyPacket
	for _, g := range cfg.Groups {
		// The instance of a group is shared by all families.
		if err := l.s.request(configMsg(unix.AF_UNSPEC, g, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfulaCfgCmd, []byte{nfulnlCfgCmdBind})
		})); err != nil {
			return fmt.Errorf("bind group %d: %w", g, err)
		}
		if err := l.s.request(configMsg(unix.AF_UNSPEC, g, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfulaCfgMode, mode)
			if cfg.QThreshold != 0 {
				ae.Uint32(nfulaCfgQthresh, cfg.QThreshold)
			}
			if cfg.Timeout != 0 {
				ae.Uint32(nfulaCfgTimeout, uint32(max(cfg.Timeout/(10*time.Millisecond), 1)))
			}
			if cfg.NLBufSize != 0 {
				ae.Uint32(nfulaCfgNlbufsiz, cfg.NLBufSize)
			}
			if cfg.Flags != 0 {
				ae.Uint16(nfulaCfgFlags, cfg.Flags)
			}
		})); err != nil {
			return fmt.Errorf("configure group %d: %w", g, err)
		}
	}
	return nil
}

func configMsg(family uint8, group uint16, fn func(ae *netlink.AttributeEncoder)) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = be
	fn(ae)
	b, _ := ae.Encode() // only fixed-size values: cannot fail
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysULog<<8 | nfulnlMsgConfig)},
		Data:   append(nfHeader(family, group), b...),
	}
}

// Name implements logd.Source.
func (l *NFLog) Name() string { return l.name }

// Run implements logd.Source. It closes the socket when it returns; a
// source runs once.
func (l *NFLog) Run(ctx context.Context, out chan<- logd.Record) error {
	return l.s.run(ctx, out, func(m netlink.Message) (logd.Record, bool) {
		p, err := parsePacket(m, l.s.ifn)
		if err != nil {
			l.s.errs.Add(1)
			return logd.Record{}, false
		}
		if p == nil {
			return logd.Record{}, false
		}
		if p.HasSeq {
			l.countSeq(p.Group, p.Seq)
		}
		return logd.Record{Packet: p}, true
	})
}

// countSeq counts the packets of group g the kernel numbered before seq
// but never delivered. A bound group's instance is new and numbers from 0,
// so numbers missing before the first packet are lost too.
func (l *NFLog) countSeq(g uint16, seq uint32) {
	if gap := seq - l.next[g]; gap != 0 && gap < 1<<31 {
		l.lost.Add(uint64(gap))
	}
	l.next[g] = seq + 1
}

// Stats implements logd.Source. With FlagSeq, Lost is exact: the kernel's
// sequence numbers that never arrived (packets lost after the last one
// received are only seen when another one arrives).
func (l *NFLog) Stats() logd.SourceStats {
	st := l.s.stats()
	if l.seq {
		st.Lost, st.LostKnown = l.lost.Load(), true
	}
	return st
}

// Close releases the socket; Run returns if it is running.
func (l *NFLog) Close() error { return l.s.close() }

// resolver names interfaces; nil leaves names empty.
type resolver interface {
	name(idx uint32, now time.Time) string
}

// parsePacket decodes an NFULNL_MSG_PACKET. It returns nil, nil for other
// messages of the subsystem. Data, MAC and HWAddr alias m.Data.
func parsePacket(m netlink.Message, res resolver) (*logd.Packet, error) {
	subsys, typ, family, group, b, ok := nfMsg(m)
	if !ok {
		return nil, fmt.Errorf("nflog: message of %d bytes", len(m.Data))
	}
	if subsys != subsysULog || typ != nfulnlMsgPacket {
		return nil, nil
	}
	p := &logd.Packet{Source: "kernel", Group: group}
	switch family {
	case unix.AF_INET:
		p.Family = nf.IPv4
	case unix.AF_INET6:
		p.Family = nf.IPv6
	}
	var in, out, physIn, physOut uint32
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case nfulaPacketHdr:
			if len(a.val) < 3 {
				return nil, fmt.Errorf("nflog: packet header of %d bytes", len(a.val))
			}
			p.HWProtocol = be.Uint16(a.val)
			p.Hook, p.HasHook = nf.Hook(a.val[2]), true
		case nfulaMark:
			p.Mark, _ = a.u32()
		case nfulaTimestamp:
			if len(a.val) != 16 {
				return nil, fmt.Errorf("nflog: timestamp of %d bytes", len(a.val))
			}
			sec, usec := be.Uint64(a.val), be.Uint64(a.val[8:])
			p.Time = time.Unix(int64(sec), int64(usec)*1000)
		case nfulaIfindexIndev:
			in, _ = a.u32()
		case nfulaIfindexOutdev:
			out, _ = a.u32()
		case nfulaIfindexPhysIn:
			physIn, _ = a.u32()
		case nfulaIfindexPhysOu:
			physOut, _ = a.u32()
		case nfulaHwaddr:
			// struct nfulnl_msg_packet_hw: be16 length, pad, 8 bytes.
			if len(a.val) < 4 {
				return nil, fmt.Errorf("nflog: hardware address of %d bytes", len(a.val))
			}
			n := int(be.Uint16(a.val))
			if n > len(a.val)-4 {
				return nil, fmt.Errorf("nflog: hardware address length %d", n)
			}
			p.HWAddr = a.val[4 : 4+n : 4+n]
		case nfulaPayload:
			p.Data = a.val[:len(a.val):len(a.val)]
		case nfulaPrefix:
			p.Prefix = cstring(a.val)
		case nfulaUID:
			p.UID, p.HasUID = a.u32()
		case nfulaGID:
			p.GID, p.HasGID = a.u32()
		case nfulaSeq:
			p.Seq, p.HasSeq = a.u32()
		case nfulaSeqGlobal:
			p.SeqGlobal, p.HasSeqGlobal = a.u32()
		case nfulaHwtype:
			p.HWType, _ = a.u16()
		case nfulaHwheader:
			p.MAC = a.val[:len(a.val):len(a.val)]
		case nfulaHwlen:
			// hard_header_len: the length of NFULA_HWHEADER, which follows.
			a.u16()
		}
	}
	if a.err != nil {
		return nil, fmt.Errorf("nflog: %w", a.err)
	}
	if len(p.MAC) == 0 {
		p.MAC = nil
	}
	p.OrigLen = origLen(p.Family, p.Data)
	now := time.Now()
	if p.Time.IsZero() {
		// The kernel stamps only packets seen at PREROUTING, INPUT and
		// FORWARD.
		p.Time = now
	}
	p.InIndex, p.OutIndex = int(in), int(out)
	if res != nil {
		p.InDev = res.name(in, now)
		p.OutDev = res.name(out, now)
		p.PhysIn = res.name(physIn, now)
		p.PhysOut = res.name(physOut, now)
	}
	return p, nil
}

// origLen is the packet's length from its IP header (the payload may be
// cut by the copy range), or len(data) when the header does not say.
func origLen(fam nf.Family, data []byte) int {
	switch {
	case fam == nf.IPv4 && len(data) >= 4 && data[0]>>4 == 4:
		return int(be.Uint16(data[2:]))
	case fam == nf.IPv6 && len(data) >= 6 && data[0]>>4 == 6:
		if n := int(be.Uint16(data[4:])); n != 0 {
			return 40 + n
		}
	}
	return len(data)
}
