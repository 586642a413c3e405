package nat

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/packet"
)

func TestFTPText(t *testing.T) {
	cases := []struct {
		typ  int
		addr string
		port uint16
		want string
	}{
		{FTPPort, "198.51.100.1", 0x1234, "198,51,100,1,18,52"},
		{FTPPasv, "10.0.0.5", 21000, "10,0,0,5,82,8"},
		{FTPEprt, "198.51.100.1", 1025, "|1|198.51.100.1|1025|"},
		{FTPEprt, "2001:db8::1", 1025, "|2|2001:0db8:0000:0000:0000:0000:0000:0001|1025|"},
		{FTPEpsv, "2001:db8::1", 65535, "|||65535|"},
	}
	for _, c := range cases {
		if got := string(FTPText(nil, c.typ, a(c.addr), c.port)); got != c.want {
			t.Errorf("%d %s: %q, want %q", c.typ, c.addr, got, c.want)
		}
	}
}

func ftpPacket(t *testing.T, src, dst string, seq uint32, payload string) *packet.Packet {
	return build(t, &packet.Spec{Src: a(src), Dst: a(dst), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 21,
		Flags: 0x18, Seq: seq, Ack: 1000, Payload: []byte(payload)})
}

// A PORT command from a client behind SNAT grows when the address is
// rewritten; later packets have their sequence numbers moved and the
// server's acknowledgments moved back.
func TestFTPMangleAndSeqAdjust(t *testing.T) {
	cmd := "PORT 192,0,2,2,156,64\r\n"
	p := ftpPacket(t, "192.0.2.2", "203.0.113.9", 5000, cmd)
	var adj SeqAdjust
	off := strings.Index(cmd, "192")
	n := len("192,0,2,2,156,64")
	need, err := FTP(p, FTPPort, off, n, a("198.51.100.100"), 40000, &adj, 0)
	if err != nil || !need {
		t.Fatalf("need %v err %v", need, err)
	}
	want := "PORT 198,51,100,100,156,64\r\n"
	if got := string(p.TCP().Payload()); got != want {
		t.Errorf("payload %q", got)
	}
	checkSums(t, p)
	if int(packet.IPv4(p.Data).TotalLen()) != len(p.Data) || len(p.Data) != 40+len(want) {
		t.Errorf("length %d", len(p.Data))
	}
	delta := int32(len(want) - len(cmd))
	if adj[0] != (SeqAdj{CorrectionPos: 5000, OffsetBefore: 0, OffsetAfter: delta}) {
		t.Errorf("seqadj %+v", adj[0])
	}
	// The mangled packet itself keeps its sequence number.
	if err := adj.Adjust(p, 0); err != nil || p.TCP().Seq() != 5000 {
		t.Errorf("seq %d %v", p.TCP().Seq(), err)
	}
	checkSums(t, p)
	// The next one moves.
	q := ftpPacket(t, "192.0.2.2", "203.0.113.9", 5000+uint32(len(cmd)), "LIST\r\n")
	if err := adj.Adjust(q, 0); err != nil || q.TCP().Seq() != 5000+uint32(len(want)) {
		t.Errorf("seq %d %v", q.TCP().Seq(), err)
	}
	checkSums(t, q)
	// The server acknowledges the grown stream; the client sees its own.
	r := build(t, &packet.Spec{Src: a("203.0.113.9"), Dst: a("192.0.2.2"), Proto: packet.ProtoTCP, SrcPort: 21, DstPort: 40000,
		Flags: 0x10, Seq: 1000, Ack: 5000 + uint32(len(want)), TCPOpts: sackOpt(5000+uint32(len(want)), 5000+uint32(len(want))+6)})
	if err := adj.Adjust(r, 1); err != nil {
		t.Fatal(err)
	}
	if r.TCP().Ack() != 5000+uint32(len(cmd)) || r.TCP().Seq() != 1000 {
		t.Errorf("ack %d seq %d", r.TCP().Ack(), r.TCP().Seq())
	}
	opts := r.TCP().Options()
	i := bytes.IndexByte(opts, 5)
	if s, e := binary.BigEndian.Uint32(opts[i+2:]), binary.BigEndian.Uint32(opts[i+6:]); s != 5000+uint32(len(cmd)) || e != s+6 {
		t.Errorf("sack %d-%d", s, e)
	}
	checkSums(t, r)
	// An acknowledgment of data before the correction is moved by the
	// old offset (none).
	r2 := build(t, &packet.Spec{Src: a("203.0.113.9"), Dst: a("192.0.2.2"), Proto: packet.ProtoTCP, SrcPort: 21, DstPort: 40000,
		Flags: 0x10, Seq: 1000, Ack: 4990})
	adj.Adjust(r2, 1)
	if r2.TCP().Ack() != 4990 {
		t.Errorf("old ack %d", r2.TCP().Ack())
	}
	// Options cut in the middle: dropped.
	bad := build(t, &packet.Spec{Src: a("203.0.113.9"), Dst: a("192.0.2.2"), Proto: packet.ProtoTCP, Flags: 0x10, TCPOpts: []byte{1, 1, 5, 10}})
	if err := adj.Adjust(bad, 1); err == nil {
		t.Error("partial option accepted")
	}
}

// sackOpt is NOP NOP SACK with one block, padded to 12 bytes.
func sackOpt(start, end uint32) []byte {
	o := []byte{1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(o[4:], start)
	binary.BigEndian.PutUint32(o[8:], end)
	return o
}

func TestFTPShrinkIPv6(t *testing.T) {
	cmd := "229 Entering Extended Passive Mode (|||50000|)\r\n"
	p := build(t, &packet.Spec{Src: a("2001:db8:3::9"), Dst: a("2001:db8:1::2"), Proto: packet.ProtoTCP, SrcPort: 21, DstPort: 40000,
		Flags: 0x18, Seq: 77, Ack: 1, Payload: []byte(cmd)})
	var adj SeqAdjust
	off := strings.Index(cmd, "|||")
	need, err := FTP(p, FTPEpsv, off, len("|||50000|"), a("2001:db8:2::1"), 21, &adj, 1)
	if err != nil || !need {
		t.Fatal(need, err)
	}
	if got := string(p.TCP().Payload()); got != "229 Entering Extended Passive Mode (|||21|)\r\n" {
		t.Errorf("%q", got)
	}
	if int(packet.IPv6(p.Data).PayloadLen()) != len(p.Data)-40 {
		t.Error("payload length")
	}
	checkSums(t, p)
	if adj[1].OffsetAfter != -3 || adj[1].CorrectionPos != 77 {
		t.Errorf("%+v", adj[1])
	}
}

func TestSeqAdjSetRetransmission(t *testing.T) {
	var s SeqAdjust
	s.Set(0, 100, 5)
	s.Set(0, 200, 3) // a later packet: the correction moves
	if s[0] != (SeqAdj{CorrectionPos: 200, OffsetBefore: 5, OffsetAfter: 8}) {
		t.Errorf("%+v", s[0])
	}
	s.Set(0, 100, 5) // the first packet again: nothing changes
	if s[0] != (SeqAdj{CorrectionPos: 200, OffsetBefore: 5, OffsetAfter: 8}) {
		t.Errorf("retransmission: %+v", s[0])
	}
	if s.Offset(0, 150) != 5 || s.Offset(0, 250) != 8 {
		t.Error("offset")
	}
}

func TestExpectPort(t *testing.T) {
	busy := map[uint16]bool{5000: true, 5007: true}
	got := ExpectPort(5000, func(p uint16) (bool, bool) { return !busy[p], busy[p] }, func(n uint32) uint32 { return 7 % n })
	if got != 0 {
		// 5000 busy, then 5000+7 busy, then 5007 again... all busy.
		t.Errorf("got %d", got)
	}
	got = ExpectPort(5000, func(p uint16) (bool, bool) { return !busy[p], busy[p] }, func(n uint32) uint32 { return 3 })
	if got != 5003 {
		t.Errorf("got %d", got)
	}
}
