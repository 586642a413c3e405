package packet

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/nf"
)

func mustBuild(t testing.TB, s *Spec) *Packet {
	t.Helper()
	p, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeEthernet(t *testing.T) {
	ip4 := mustBuild(t, &Spec{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoUDP, SrcPort: 1, DstPort: 2}).Data
	ip6 := mustBuild(t, &Spec{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: ProtoUDP, SrcPort: 1, DstPort: 2}).Data
	dst := [6]byte{0x52, 0x54, 0, 0, 0, 2}
	src := [6]byte{0x52, 0x54, 0, 0, 0, 1}
	var f Frame

	fr := EncodeEthernet(dst, src, nf.IPv4, ip4, nil)
	if err := DecodeFrame(LinkEthernet, fr, &f); err != nil {
		t.Fatal(err)
	}
	if f.Family != nf.IPv4 || !bytes.Equal(f.Net, ip4) || !bytes.Equal(f.MAC, fr[:14]) || f.EtherType != 0x0800 ||
		f.HasVLAN || f.SrcMAC != src || !f.HasSrcMAC || f.PktType != PacketHost || !f.HasPktType {
		t.Errorf("untagged IPv4: %+v", f)
	}
	if &f.Net[0] != &fr[14] {
		t.Error("Net is a copy")
	}

	// 802.1ad outer tag 100, 802.1Q inner tag 200, IPv6.
	tagged := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1,
		0x88, 0xa8, 0x20, 100, 0x81, 0x00, 0, 200, 0x86, 0xdd}, ip6...)
	if err := DecodeFrame(LinkEthernet, tagged, &f); err != nil {
		t.Fatal(err)
	}
	wantMAC := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1, 0x86, 0xdd}
	if f.Family != nf.IPv6 || !bytes.Equal(f.Net, ip6) || !bytes.Equal(f.MAC, wantMAC) || !f.HasVLAN || f.VLAN != 100 ||
		f.PktType != PacketBroadcast || f.EtherType != 0x86dd {
		t.Errorf("double tagged IPv6: %+v", f)
	}
	var p Packet
	f.Fill(&p)
	if p.Family != nf.IPv6 || !bytes.Equal(p.MAC, wantMAC) || p.PktType != PacketBroadcast || p.Parse() != nil || p.Proto != ProtoUDP {
		t.Errorf("Fill: %+v", p)
	}

	// One 802.1Q tag, multicast destination.
	one := append([]byte{0x01, 0, 0x5e, 0, 0, 0xfb, 0x52, 0x54, 0, 0, 0, 1, 0x81, 0x00, 0xe0, 0x05, 0x08, 0x00}, ip4...)
	if err := DecodeFrame(LinkEthernet, one, &f); err != nil {
		t.Fatal(err)
	}
	if f.VLAN != 5 || f.PktType != PacketMulticast || f.MAC[12] != 8 || f.MAC[13] != 0 || !bytes.Equal(f.Net, ip4) {
		t.Errorf("single tag: %+v", f)
	}

	arp := append(append([]byte{}, fr[:12]...), 0x08, 0x06, 0, 1)
	if err := DecodeFrame(LinkEthernet, arp, &f); !errors.Is(err, ErrNotIP) {
		t.Errorf("ARP: %v", err)
	}
	// An IPv4 EtherType over an IPv6 header.
	wrong := EncodeEthernet(dst, src, nf.IPv4, ip6, nil)
	if err := DecodeFrame(LinkEthernet, wrong, &f); !errors.Is(err, ErrVersion) {
		t.Errorf("version mismatch: %v", err)
	}
	if err := DecodeFrame(999, fr, &f); !errors.Is(err, ErrLinkType) {
		t.Errorf("unknown link: %v", err)
	}
}

func TestDecodeCookedAndRaw(t *testing.T) {
	ip4 := mustBuild(t, &Spec{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoICMP, ICMPType: 8}).Data
	ip6 := mustBuild(t, &Spec{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::1"), Proto: ProtoICMPv6, ICMPType: 128}).Data
	mac := []byte{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc}
	var f Frame

	sll := append([]byte{0, 4, 0, 1, 0, 6}, mac...)
	sll = append(append(sll, 0, 0, 0x08, 0x00), ip4...)
	if err := DecodeFrame(LinkLinuxSLL, sll, &f); err != nil {
		t.Fatal(err)
	}
	if f.Family != nf.IPv4 || f.MAC != nil || f.PktType != PacketOutgoing || !f.HasSrcMAC || f.SrcMAC != [6]byte(mac) || !bytes.Equal(f.Net, ip4) {
		t.Errorf("SLL: %+v", f)
	}

	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 7, 0, 1, PacketOtherHost, 6}, mac...)
	sll2 = append(append(sll2, 0, 0), ip6...)
	if err := DecodeFrame(LinkLinuxSLL2, sll2, &f); err != nil {
		t.Fatal(err)
	}
	if f.Family != nf.IPv6 || f.IfIndex != 7 || f.PktType != PacketOtherHost || f.SrcMAC != [6]byte(mac) || !bytes.Equal(f.Net, ip6) {
		t.Errorf("SLL2: %+v", f)
	}
	// Loopback in SLL2: ARPHRD_LOOPBACK, no usable address.
	sll2[8], sll2[9] = 0x03, 0x04
	if err := DecodeFrame(LinkLinuxSLL2, sll2, &f); err != nil || f.HasSrcMAC {
		t.Errorf("SLL2 loopback: %v %+v", err, f)
	}

	for _, c := range []struct {
		link uint32
		data []byte
		fam  nf.Family
		err  error
	}{
		{LinkRaw, ip4, nf.IPv4, nil}, {LinkRaw, ip6, nf.IPv6, nil}, {LinkIPv4, ip4, nf.IPv4, nil},
		{LinkIPv6, ip6, nf.IPv6, nil}, {LinkIPv4, ip6, 0, ErrVersion}, {LinkRaw, []byte{0x10}, 0, ErrNotIP},
		{LinkRaw, nil, 0, ErrTruncated},
	} {
		err := DecodeFrame(c.link, c.data, &f)
		if !errors.Is(err, c.err) || (err == nil && (f.Family != c.fam || !bytes.Equal(f.Net, c.data) || f.HasPktType)) {
			t.Errorf("link %d: %v %+v", c.link, err, f)
		}
	}
}

func TestDecodeTruncated(t *testing.T) {
	ip4 := mustBuild(t, &Spec{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP}).Data
	frames := map[uint32][]byte{
		LinkEthernet:  append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 8, 0}, ip4...),
		LinkLinuxSLL:  append([]byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0}, ip4...),
		LinkLinuxSLL2: append([]byte{8, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}, ip4...),
	}
	for link, fr := range frames {
		var f Frame
		// The link header is DecodeFrame's to check, the IP header Parse's.
		for i := range fr {
			if err := DecodeFrame(link, fr[:i], &f); err == nil {
				var p Packet
				f.Fill(&p)
				if p.Parse() == nil {
					t.Errorf("link %d truncated to %d: no error", link, i)
				}
			}
		}
		if err := DecodeFrame(link, fr, &f); err != nil {
			t.Errorf("link %d: %v", link, err)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	ip := mustBuild(t, &Spec{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP}).Data
	fr := append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0, 0, 2, 8, 0}, ip...)
	var f Frame
	var p Packet
	n := testing.AllocsPerRun(1000, func() {
		if DecodeFrame(LinkEthernet, fr, &f) != nil {
			t.Fatal("decode")
		}
		f.Fill(&p)
		if p.Parse() != nil {
			t.Fatal("parse")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

func BenchmarkDecodeFrameParse(b *testing.B) {
	ip := mustBuild(b, &Spec{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP, Payload: make([]byte, 100)}).Data
	fr := EncodeEthernet([6]byte{1}, [6]byte{2}, nf.IPv4, ip, nil)
	var f Frame
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		DecodeFrame(LinkEthernet, fr, &f)
		f.Fill(&p)
		p.Parse()
	}
}
