// Package nlsource reads the kernel's logging and connection tracking
// event streams over netlink: packets logged by NFLOG rules
// (nfnetlink_log) and conntrack events (ctnetlink), as logd sources.
//
// A source binds its socket when it is created, so that nothing logged
// after the constructor returns is missed, and reads in Run. Overruns (the
// kernel dropping messages because the socket's receive buffer was full)
// are counted, not fatal: the kernel reports them as ENOBUFS on the next
// read and the stream continues.
package nlsource

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/logd"
)

// nfnetlink framing shared by both sources.
const (
	nfgenHdrLen = 4 // struct nfgenmsg
	nfnlV0      = 0 // NFNETLINK_V0

	subsysCtnetlink = 1 // NFNL_SUBSYS_CTNETLINK
	subsysULog      = 4 // NFNL_SUBSYS_ULOG

	nlaTypeMask = 0x3fff // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
	nlaHdrLen   = 4
)

var be = binary.BigEndian

// sock is a netlink socket with the receive loop both sources share.
type sock struct {
	conn *netlink.Conn
	ifn  *ifNames
	// pending holds messages that arrived while configuring, handled
	// first by run.
	pending   []netlink.Message
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	received, overruns, errs atomic.Uint64
}

// dialConfig is what both sources need to open their socket.
type dialConfig struct {
	family     int
	groups     uint32
	netNS      string
	readBuffer int
}

// dial opens a netlink socket, in the namespace at netNS if it is set,
// with the receive buffer sized as asked.
func dial(c dialConfig) (*sock, error) {
	nc := &netlink.Config{Groups: c.groups}
	var nsFile *os.File
	if c.netNS != "" {
		f, err := os.Open(c.netNS)
		if err != nil {
			return nil, fmt.Errorf("network namespace: %w", err)
		}
		nsFile = f
		defer nsFile.Close()
		nc.NetNS = int(f.Fd())
	}
	conn, err := netlink.Dial(c.family, nc)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	s := &sock{conn: conn}
	if c.readBuffer > 0 {
		if err := setReadBuffer(conn, c.readBuffer); err != nil {
			conn.Close()
			return nil, err
		}
	}
	// Interface names are looked up in the namespace the packets were
	// logged in, which is the socket's.
	rc, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: nc.NetNS})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	s.ifn = &ifNames{conn: rc, m: make(map[uint32]ifName)}
	return s, nil
}

// setReadBuffer sets SO_RCVBUFFORCE, which may exceed net.core.rmem_max,
// and falls back to SO_RCVBUF when that is not permitted (no
// CAP_NET_ADMIN).
func setReadBuffer(c *netlink.Conn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	if serr == nil {
		return nil
	}
	if err := c.SetReadBuffer(n); err != nil {
		return fmt.Errorf("receive buffer %d: %w", n, err)
	}
	return nil
}

// close closes both sockets once; a blocked Receive returns.
func (s *sock) close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.conn.Close()
		if err := s.ifn.close(); s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// run reads messages until ctx is done, handing each to handle, which
// returns the record to send or ok=false for a message to skip (errors
// counted by handle itself).
func (s *sock) run(ctx context.Context, out chan<- logd.Record, handle func(m netlink.Message) (logd.Record, bool)) error {
	stop := context.AfterFunc(ctx, func() { s.close() })
	defer stop()
	defer s.close()
	for {
		var msgs []netlink.Message
		var err error
		if s.pending != nil {
			msgs, s.pending = s.pending, nil
		} else {
			msgs, err = s.conn.Receive()
		}
		if err != nil {
			if ctx.Err() != nil || s.closed.Load() {
				// Cancelled, or closed by Close.
				return nil
			}
			switch {
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped messages for us; the socket stays usable.
				s.overruns.Add(1)
				continue
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
				continue
			case isMalformed(err):
				s.errs.Add(1)
				continue
			}
			return fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error || m.Header.Type == netlink.Done ||
				m.Header.Type == netlink.Noop || m.Header.Type == netlink.Overrun {
				continue
			}
			r, ok := handle(m)
			if !ok {
				continue
			}
			select {
			case out <- r:
				s.received.Add(1)
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// request sends a request and waits for its acknowledgement, keeping
// whatever else arrives meanwhile (logged packets, events) for run.
func (s *sock) request(m netlink.Message) error {
	m.Header.Flags |= netlink.Request | netlink.Acknowledge
	req, err := s.conn.Send(m)
	if err != nil {
		return err
	}
	for {
		msgs, err := s.conn.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				s.overruns.Add(1)
				continue
			}
			// Includes the kernel's error reply: requests go one at a time,
			// so it answers this one.
			return err
		}
		for _, r := range msgs {
			if r.Header.Type == netlink.Error && r.Header.Sequence == req.Header.Sequence {
				return nil
			}
			if r.Header.Type != netlink.Error {
				s.pending = append(s.pending, r)
			}
		}
	}
}

// isMalformed tells framing errors of a received datagram (which is then
// skipped) from socket errors.
func isMalformed(err error) bool {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return false
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		// A netlink error message from the kernel, or a socket error.
		return false
	}
	return true
}

func (s *sock) stats() logd.SourceStats {
	return logd.SourceStats{
		Received: s.received.Load(),
		Overruns: s.overruns.Load(),
		Errors:   s.errs.Load(),
	}
}

// nfMsg splits an nfnetlink message into its subsystem, message type,
// family, resource id and attributes.
func nfMsg(m netlink.Message) (subsys, typ uint8, family uint8, resID uint16, attrs []byte, ok bool) {
	if len(m.Data) < nfgenHdrLen {
		return 0, 0, 0, 0, nil, false
	}
	return uint8(m.Header.Type >> 8), uint8(m.Header.Type), m.Data[0], be.Uint16(m.Data[2:4]), m.Data[nfgenHdrLen:], true
}

// nfHeader builds an nfgenmsg.
func nfHeader(family uint8, resID uint16) []byte {
	b := []byte{family, nfnlV0, 0, 0}
	be.PutUint16(b[2:], resID)
	return b
}

// attrs walks netlink attributes without allocating. A truncated or
// overlong attribute ends the walk with err set.
type attrs struct {
	b   []byte
	typ uint16
	val []byte
	err error
}

func (a *attrs) next() bool {
	if a.err != nil || len(a.b) == 0 {
		return false
	}
	if len(a.b) < nlaHdrLen {
		// Trailing bytes shorter than a header: padding at most.
		a.b = nil
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < nlaHdrLen || l > len(a.b) {
		a.err = fmt.Errorf("attribute length %d of %d bytes", l, len(a.b))
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:]) & nlaTypeMask
	a.val = a.b[nlaHdrLen:l]
	al := (l + 3) &^ 3
	if al > len(a.b) {
		al = len(a.b)
	}
	a.b = a.b[al:]
	return true
}

// u8, u16, u32 and u64 read a big-endian value of exactly the right size.
func (a *attrs) u8() (uint8, bool) {
	if len(a.val) != 1 {
		a.err = fmt.Errorf("attribute %d: %d bytes, want 1", a.typ, len(a.val))
		return 0, false
	}
	return a.val[0], true
}

func (a *attrs) u16() (uint16, bool) {
	if len(a.val) != 2 {
		a.err = fmt.Errorf("attribute %d: %d bytes, want 2", a.typ, len(a.val))
		return 0, false
	}
	return be.Uint16(a.val), true
}

func (a *attrs) u32() (uint32, bool) {
	if len(a.val) != 4 {
		a.err = fmt.Errorf("attribute %d: %d bytes, want 4", a.typ, len(a.val))
		return 0, false
	}
	return be.Uint32(a.val), true
}

func (a *attrs) u64() (uint64, bool) {
	if len(a.val) != 8 {
		a.err = fmt.Errorf("attribute %d: %d bytes, want 8", a.typ, len(a.val))
		return 0, false
	}
	return be.Uint64(a.val), true
}

// ifName is a cached interface name.
type ifName struct {
	name string
	at   time.Time
}

// ifNameTTL bounds how long a name is trusted: interfaces are renamed and
// indexes reused, rarely.
const ifNameTTL = 10 * time.Second

// ifNames resolves interface indexes to names over rtnetlink in the
// source's namespace. Only the receive goroutine uses it.
type ifNames struct {
	conn *netlink.Conn
	m    map[uint32]ifName
}

func (c *ifNames) close() error {
	if c == nil || c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// name returns the name of interface idx, "" when there is none.
func (c *ifNames) name(idx uint32, now time.Time) string {
	if idx == 0 {
		return ""
	}
	if e, ok := c.m[idx]; ok && now.Sub(e.at) < ifNameTTL {
		return e.name
	}
	n := c.lookup(idx)
	if len(c.m) > 4096 {
		clear(c.m)
	}
	c.m[idx] = ifName{n, now}
	return n
}

const (
	rtmGetLink = 18 // RTM_GETLINK
	iflaIfname = 3  // IFLA_IFNAME
	ifinfoLen  = 16 // struct ifinfomsg
)

func (c *ifNames) lookup(idx uint32) string {
	req := make([]byte, ifinfoLen)
	binary.NativeEndian.PutUint32(req[4:], idx)
	msgs, err := c.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: rtmGetLink, Flags: netlink.Request},
		Data:   req,
	})
	if err != nil || len(msgs) == 0 || len(msgs[0].Data) < ifinfoLen {
		return ""
	}
	a := attrs{b: msgs[0].Data[ifinfoLen:]}
	for a.next() {
		if a.typ == iflaIfname {
			return cstring(a.val)
		}
	}
	return ""
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
