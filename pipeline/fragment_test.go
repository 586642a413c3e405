package pipeline

import (
	"bytes"
	"testing"

	"github.com/nfgo/nfgo/packet"
)

// TestFragmentOptions checks ip_do_fragment's rules on a datagram with
// Record Route (copy bit clear) and Stream ID (copy bit set).
func TestFragmentOptions(t *testing.T) {
	pl, err := packet.ParseLine("udp 198.51.100.7:1 > 10.14.0.7:2 len 1372 id 4243 ipopt hex:070b0400000000000000008804123400")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pl.Packet()
	if err != nil {
		t.Fatal(err)
	}
	var frags [][]byte
	fragment(p, 1000, func(f []byte) { frags = append(frags, append([]byte(nil), f...)) })
	if len(frags) != 2 {
		t.Fatalf("%d fragments, want 2", len(frags))
	}
	payload := p.Data[36:]
	got := 0
	for i, f := range frags {
		h := packet.IPv4(f)
		if h.ID() != 4243 || int(h.TotalLen()) != len(f) || len(f) > 1000 {
			t.Errorf("fragment %d: id %d len %d/%d", i, h.ID(), h.TotalLen(), len(f))
		}
		if h.MoreFragments() != (i == 0) || int(h.FragOffset())*8 != got {
			t.Errorf("fragment %d: MF %v offset %d, want %v %d", i, h.MoreFragments(), h.FragOffset()*8, i == 0, got)
		}
		c := h.Checksum()
		h.UpdateChecksum()
		if h.Checksum() != c {
			t.Errorf("fragment %d: checksum %#04x, want %#04x", i, c, h.Checksum())
		}
		if !bytes.Equal(f[36:], payload[got:got+len(f)-36]) {
			t.Errorf("fragment %d: payload differs", i)
		}
		got += len(f) - 36
	}
	if got != len(payload) {
		t.Errorf("fragments carry %d bytes, want %d", got, len(payload))
	}
	if !bytes.Equal(frags[0][20:36], p.Data[20:36]) {
		t.Errorf("first fragment's options % x, want them all", frags[0][20:36])
	}
	want := append(bytes.Repeat([]byte{optNop}, 11), 0x88, 0x04, 0x12, 0x34, 0x00)
	if !bytes.Equal(frags[1][20:36], want) {
		t.Errorf("later fragment's options % x, want % x", frags[1][20:36], want)
	}
}
