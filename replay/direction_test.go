package replay_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/replay"
)

// sll2 frames a packet as tcpdump -i any records it (LINKTYPE_LINUX_SLL2).
func sll2(t *testing.T, line string, ifindex uint32, pkttype uint8) []byte {
	t.Helper()
	pl, err := packet.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pl.Packet()
	if err != nil {
		t.Fatal(err)
	}
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], 0x0800)
	binary.BigEndian.PutUint32(h[4:], ifindex)
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10], h[11] = pkttype, 6
	copy(h[12:], []byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff})
	return append(h, p.Data...)
}

// A capture of both directions (tcpdump -i any): the host's own outgoing
// packets enter OUTPUT, outgoing forwarded ones are skipped, incoming ones
// are received on the interface the SLL2 index names.
func TestReplayCookedCaptureDirections(t *testing.T) {
	var buf bytes.Buffer
	w := capture.NewPcapWriter(&buf, packet.LinkLinuxSLL2)
	frames := [][]byte{
		sll2(t, "tcp 203.0.113.50:51234 > 172.16.0.10:22 syn seq 100", 2, packet.PacketHost),
		sll2(t, "tcp 172.16.0.10:22 > 203.0.113.50:51234 syn,ack seq 900 ack 101", 2, packet.PacketOutgoing),
		sll2(t, "tcp 203.0.113.50:51234 > 172.16.0.10:22 ack seq 101 ack 901", 2, packet.PacketHost),
		sll2(t, "udp 198.51.100.9:53 > 203.0.113.50:5353 len 10", 2, packet.PacketOutgoing),
	}
	for i, f := range frames {
		if err := w.WritePacket(0, int64(1_800_000_000+i)*1e9, f); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	s, err := replay.Open(replay.Options{HostDir: "../examples/ssh-trace"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	skipped, err := s.Replay(&buf, "", func(r *replay.Report) error {
		got = append(got, r.Dir+" "+r.In+": "+r.Fate.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"in eth0: delivered locally", "local : sent out eth0", "in eth0: delivered locally"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if skipped.Forwarded != 1 || skipped.NotIP != 0 {
		t.Errorf("skipped %+v, want the forwarded frame", skipped)
	}
	// The handshake went through conntrack in both directions: the
	// third packet is ESTABLISHED, so filter INPUT's state rule took it.
	var b strings.Builder
	s.Counters(&b)
	if !strings.Contains(b.String(), "[1:40] -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT") {
		t.Errorf("counters:\n%s", b.String())
	}
}

// A plain Ethernet capture on one interface has no direction: a frame
// whose source address is the interface's own was sent by the host.
func TestReplayEthernetCaptureOwnMAC(t *testing.T) {
	own := [6]byte{0x00, 0x16, 0x3e, 0x0c, 0x35, 0x51} // eth0 in the example
	gw := [6]byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame := func(line string, dst, src [6]byte) []byte {
		pl, err := packet.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := pl.Packet()
		return packet.EncodeEthernet(dst, src, p.Family, p.Data, nil)
	}
	var buf bytes.Buffer
	w := capture.NewPcapWriter(&buf, packet.LinkEthernet)
	w.WritePacket(0, 1e18, frame("tcp 203.0.113.50:51234 > 172.16.0.10:22 syn seq 100", own, gw))
	w.WritePacket(0, 1e18+1, frame("tcp 172.16.0.10:22 > 203.0.113.50:51234 syn,ack seq 900 ack 101", gw, own))
	w.Close()
	s, err := replay.Open(replay.Options{HostDir: "../examples/ssh-trace"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := s.Replay(&buf, "eth0", func(r *replay.Report) error {
		got = append(got, r.Dir+": "+r.Fate.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "; ") != "in: delivered locally; local: sent out eth0" {
		t.Errorf("got %q", got)
	}
}
