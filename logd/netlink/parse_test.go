package nlsource

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/nf"
)

type fakeRes map[uint32]string

func (f fakeRes) name(idx uint32, _ time.Time) string { return f[idx] }

func enc(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nflogMsg(t *testing.T, family uint8, group uint16, fn func(ae *netlink.AttributeEncoder)) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysULog<<8 | nfulnlMsgPacket)},
		Data:   append(nfHeader(family, group), enc(t, fn)...),
	}
}

func TestParsePacket(t *testing.T) {
	ip := []byte{0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1}
	mac := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 0}
	hw := make([]byte, 12)
	binary.BigEndian.PutUint16(hw, 6)
	copy(hw[4:], mac[6:12])
	ts := make([]byte, 16)
	binary.BigEndian.PutUint64(ts, 1700000000)
	binary.BigEndian.PutUint64(ts[8:], 123456)
	m := nflogMsg(t, unix.AF_INET, 5, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(nfulaPacketHdr, []byte{8, 0, 1, 0})
		ae.Bytes(nfulaPrefix, []byte("p1\x00"))
		ae.Uint32(nfulaIfindexIndev, 7)
		ae.Uint32(nfulaIfindexPhysIn, 9)
		ae.Uint32(nfulaMark, 0x2a)
		ae.Bytes(nfulaHwaddr, hw)
		ae.Uint16(nfulaHwtype, 1)
		ae.Uint16(nfulaHwlen, 14)
		ae.Bytes(nfulaHwheader, mac)
		ae.Bytes(nfulaTimestamp, ts)
		ae.Uint32(nfulaUID, 1000)
		ae.Uint32(nfulaGID, 100)
		ae.Uint32(nfulaSeq, 3)
		ae.Uint32(nfulaSeqGlobal, 4)
		ae.Bytes(nfulaPayload, ip)
	})
	p, err := parsePacket(m, fakeRes{7: "eth0", 9: "port1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Group != 5 || p.Prefix != "p1" || p.Family != nf.IPv4 || !p.HasHook || p.Hook != nf.LocalIn ||
		p.HWProtocol != 0x0800 || p.InIndex != 7 || p.InDev != "eth0" || p.PhysIn != "port1" || p.OutDev != "" ||
		p.Mark != 0x2a || p.HWType != 1 || !bytes.Equal(p.MAC, mac) || !bytes.Equal(p.HWAddr, mac[6:12]) ||
		!p.Time.Equal(time.Unix(1700000000, 123456000)) || p.UID != 1000 || !p.HasUID || p.GID != 100 || !p.HasGID ||
		p.Seq != 3 || !p.HasSeq || p.SeqGlobal != 4 || !p.HasSeqGlobal || !bytes.Equal(p.Data, ip) || p.OrigLen != 84 {
		t.Errorf("parsed %+v", p)
	}
}

func ctMsg(t *testing.T, typ uint8, flags netlink.HeaderFlags, fn func(ae *netlink.AttributeEncoder)) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCtnetlink<<8 | uint16(typ)), Flags: flags},
		Data:   append(nfHeader(unix.AF_INET6, 0), enc(t, fn)...),
	}
}

func TestParseFlow(t *testing.T) {
	a1, a2 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	tup := func(src, dst netip.Addr) func(*netlink.AttributeEncoder) error {
		return func(ae *netlink.AttributeEncoder) error {
			ae.Nested(ctaTupleIP, func(n *netlink.AttributeEncoder) error {
				n.Bytes(ctaIPv6Src, src.AsSlice())
				n.Bytes(ctaIPv6Dst, dst.AsSlice())
				return nil
			})
			ae.Nested(ctaTupleProto, func(n *netlink.AttributeEncoder) error {
				n.Uint8(ctaProtoNum, 58)
				n.Uint16(ctaProtoICMPv6ID, 77)
				n.Uint8(ctaProtoICMPv6Typ, 128)
				n.Uint8(ctaProtoICMPv6Cod, 0)
				return nil
			})
			return nil
		}
	}
	body := func(ae *netlink.AttributeEncoder) {
		ae.Nested(ctaTupleOrig, tup(a1, a2))
		ae.Nested(ctaTupleReply, tup(a2, a1))
		ae.Uint32(ctaStatus, 0x8)
		ae.Uint32(ctaTimeout, 30)
		ae.Uint32(ctaMark, 9)
		ae.Uint16(ctaZone, 2)
		ae.Uint32(ctaID, 0xdeadbeef)
		ae.Nested(ctaProtoinfo, func(n *netlink.AttributeEncoder) error {
			n.Nested(ctaProtoinfoTCP, func(m *netlink.AttributeEncoder) error {
				m.Uint8(ctaProtoinfoTCPState, 3)
				return nil
			})
			return nil
		})
		ae.Nested(ctaCountersReply, func(n *netlink.AttributeEncoder) error {
			n.Uint64(ctaCountersPackets, 5)
			n.Uint64(ctaCountersBytes, 500)
			return nil
		})
		ae.Nested(ctaTimestamp, func(n *netlink.AttributeEncoder) error {
			n.Uint64(ctaTimestampStart, 1e18)
			return nil
		})
	}
	for _, c := range []struct {
		typ   uint8
		flags netlink.HeaderFlags
		want  string
	}{
		{ipctnlMsgCtNew, netlink.Create | netlink.Excl, "NEW"},
		{ipctnlMsgCtNew, 0, "UPDATE"},
		{ipctnlMsgCtDelete, 0, "DESTROY"},
	} {
		f, err := parseFlow(ctMsg(t, c.typ, c.flags, body))
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != c.want || f.Family != nf.IPv6 || f.Proto != 58 || f.OrigSrc != a1 || f.OrigDst != a2 ||
			f.ReplSrc != a2 || f.ReplDst != a1 || f.OrigSport != 77 || f.OrigDport != 128<<8 ||
			f.Status != 8 || f.Timeout != 30 || f.Mark != 9 || f.Zone != 2 || f.ID != 0xdeadbeef ||
			f.State != "ESTABLISHED" || f.Packets != [2]uint64{0, 5} || f.Bytes != [2]uint64{0, 500} ||
			!f.Start.Equal(time.Unix(0, 1e18)) || !f.Stop.IsZero() {
			t.Errorf("%s: parsed %+v", c.want, f)
		}
	}
}

// TestMalformed cuts and corrupts valid messages: every result is an
// error or a record, never a panic.
func TestMalformed(t *testing.T) {
	good := []netlink.Message{
		nflogMsg(t, unix.AF_INET, 1, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfulaPacketHdr, []byte{8, 0, 1, 0})
			ae.Bytes(nfulaHwaddr, make([]byte, 12))
			ae.Bytes(nfulaTimestamp, make([]byte, 16))
			ae.Uint32(nfulaMark, 1)
			ae.Bytes(nfulaPayload, make([]byte, 40))
		}),
	}
	f := ctMsg(t, ipctnlMsgCtNew, 0, func(ae *netlink.AttributeEncoder) {
		ae.Nested(ctaTupleOrig, func(n *netlink.AttributeEncoder) error {
			n.Nested(ctaTupleIP, func(m *netlink.AttributeEncoder) error {
				m.Bytes(ctaIPv4Src, []byte{1, 2, 3, 4})
				return nil
			})
			return nil
		})
		ae.Uint32(ctaStatus, 1)
	})
	good = append(good, f)
	rng := rand.New(rand.NewPCG(1, 2))
	bad := 0
	for i := 0; i < 20000; i++ {
		g := good[i%len(good)]
		d := append([]byte(nil), g.Data...)
		switch i % 3 {
		case 0:
			d = d[:rng.IntN(len(d)+1)]
		default:
			for k := 0; k < 1+rng.IntN(3); k++ {
				d[rng.IntN(len(d))] = byte(rng.Uint32())
			}
		}
		m := netlink.Message{Header: g.Header, Data: d}
		_, err1 := parsePacket(m, fakeRes{})
		_, err2 := parseFlow(m)
		if err1 != nil || err2 != nil {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("no corrupted message was rejected")
	}
	// Specific cases: a short mark, a hardware address longer than its
	// attribute, a tuple address of the wrong size.
	for _, m := range []netlink.Message{
		nflogMsg(t, unix.AF_INET, 1, func(ae *netlink.AttributeEncoder) { ae.Uint16(nfulaMark, 1) }),
		nflogMsg(t, unix.AF_INET, 1, func(ae *netlink.AttributeEncoder) { ae.Bytes(nfulaHwaddr, []byte{0, 20, 0, 0, 1}) }),
		nflogMsg(t, unix.AF_INET, 1, func(ae *netlink.AttributeEncoder) { ae.Bytes(nfulaPacketHdr, []byte{8}) }),
	} {
		if _, err := parsePacket(m, nil); err == nil {
			t.Errorf("accepted %x", m.Data)
		}
	}
	if _, err := parseFlow(ctMsg(t, ipctnlMsgCtNew, 0, func(ae *netlink.AttributeEncoder) {
		ae.Nested(ctaTupleOrig, func(n *netlink.AttributeEncoder) error {
			n.Nested(ctaTupleIP, func(m *netlink.AttributeEncoder) error {
				m.Bytes(ctaIPv4Src, []byte{1, 2, 3})
				return nil
			})
			return nil
		})
	})); err == nil {
		t.Error("accepted a 3-byte address")
	}
}

func TestParseAllocs(t *testing.T) {
	m := nflogMsg(t, unix.AF_INET, 5, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(nfulaPacketHdr, []byte{8, 0, 1, 0})
		ae.Bytes(nfulaPrefix, []byte("\x00"))
		ae.Uint32(nfulaMark, 1)
		ae.Bytes(nfulaPayload, make([]byte, 60))
	})
	var res resolver = fakeRes{}
	// One allocation: the record itself.
	if n := testing.AllocsPerRun(100, func() { parsePacket(m, res) }); n > 1 {
		t.Errorf("%v allocations per packet", n)
	}
}

// Sequence numbers count what the kernel dropped: the numbers missing
// before the first packet and between packets, per group, across the
// 32-bit wrap.
func TestCountSeq(t *testing.T) {
	l := &NFLog{seq: true, next: map[uint16]uint32{}, s: &sock{}}
	for _, c := range []struct {
		group uint16
		seq   uint32
	}{{1, 3}, {1, 4}, {2, 0}, {1, 10}, {2, 1}, {1, 11}} {
		l.countSeq(c.group, c.seq)
	}
	if got := l.Stats(); !got.LostKnown || got.Lost != 3+5 {
		t.Errorf("lost %d (known %v), want 8", got.Lost, got.LostKnown)
	}
	l.next[3] = 0xfffffffe
	l.countSeq(3, 1) // 0xfffffffe, 0xffffffff and 0 lost
	if got := l.Stats().Lost; got != 8+3 {
		t.Errorf("across the wrap: lost %d, want 11", got)
	}
	if st := (&NFLog{s: &sock{}}).Stats(); st.LostKnown {
		t.Error("without sequence numbers the loss is not known")
	}
}
