package pipeline

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// frag6 builds an IPv6 packet from 2001:db8::1 to 2001:db8::2 made of a
// fragment header at byte offset off*8, whose next header is nh, and 8
// more bytes.
func frag6(off uint16, nh uint8) *packet.Packet {
	b := make([]byte, 40+8+8)
	b[0], b[5], b[6], b[7] = 0x60, 16, 44, 64
	s, d := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	b[40] = nh
	b[42], b[43] = byte(off>>5), byte(off<<3)
	b[48], b[49] = 1, 1 // a later fragment's bytes, or a 16-byte dstopts header
	p := &packet.Packet{Family: nf.IPv6, Data: b, InDev: "eth0"}
	if err := p.Parse(); err != nil {
		panic(err)
	}
	return p
}

// ip6_packet_match: with -p, a later fragment whose fragment header names
// another extension header leaves ipv6_find_hdr with -ENOENT and a zero
// offset, and the packet is dropped on the spot; one naming UDP is
// matched as UDP.
func TestIPv6ProtoAfterFragment(t *testing.T) {
	defer func(old bool) { ext.LegacyXtables = old }(ext.LegacyXtables)
	ext.LegacyXtables = true
	rs := ruleset.New(nf.IPv6)
	if err := rs.Restore(strings.NewReader(`*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING
-A PREROUTING -p udp
-A PREROUTING ! -p tcp
-A PREROUTING -p tcp -m tcp --dport 0:65535
COMMIT
`), ruleset.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Rules6: rs, Router: fakeRouter{}})
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(frag6(1, 17))
	want := "[1:56] -A PREROUTING\n[1:56] -A PREROUTING -p udp\n[1:56] -A PREROUTING ! -p tcp\n[0:0] -A PREROUTING -p tcp -m tcp"
	if got := counters(rs, "raw"); !strings.Contains(got, want) {
		t.Errorf("udp fragment: counters\n%s\nwant\n%s", got, want)
	}
	r := e.Receive(frag6(1, 60))
	if got := r.String(); got != "dropped by raw PREROUTING rule 2 (hotdrop)" {
		t.Errorf("fragment followed by an extension header: %q, want the -p rule's hotdrop", got)
	}
	want = "[2:112] -A PREROUTING\n[1:56] -A PREROUTING -p udp\n[1:56] -A PREROUTING ! -p tcp"
	if got := counters(rs, "raw"); !strings.Contains(got, want) {
		t.Errorf("after the hotdrop: counters\n%s\nwant\n%s", got, want)
	}
	// IPv6's fragoff counts bytes: a TCP fragment at offset 8 is not
	// the IPv4 "fragment at offset 1" that tcp_mt drops.
	r = e.Receive(frag6(1, 6))
	if got := r.String(); strings.Contains(got, "hotdrop") {
		t.Errorf("tcp fragment at offset 8: %q, want no hotdrop", got)
	}
	want = "[3:168] -A PREROUTING\n[1:56] -A PREROUTING -p udp\n[1:56] -A PREROUTING ! -p tcp\n[0:0] -A PREROUTING -p tcp -m tcp"
	if got := counters(rs, "raw"); !strings.Contains(got, want) {
		t.Errorf("tcp fragment: counters\n%s\nwant\n%s", got, want)
	}
}

// iptables-nft: -p is "meta l4proto". A later fragment whose fragment
// header names another extension header leaves the protocol unset, so
// neither -p nor ! -p match and nothing is dropped; the tcp match's
// full port range loads nothing and matches a TCP fragment.
func TestIPv6ProtoAfterFragmentNft(t *testing.T) {
	rs := ruleset.New(nf.IPv6)
	if err := rs.Restore(strings.NewReader(`*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING
-A PREROUTING -p udp
-A PREROUTING ! -p tcp
-A PREROUTING -p tcp -m tcp --dport 0:65535
COMMIT
`), ruleset.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Rules6: rs, Router: fakeRouter{}})
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(frag6(1, 17))
	if r := e.Receive(frag6(1, 60)); strings.Contains(r.String(), "hotdrop") {
		t.Errorf("fragment followed by an extension header: %q, want no drop", r)
	}
	e.Receive(frag6(1, 6))
	want := "[3:168] -A PREROUTING\n[1:56] -A PREROUTING -p udp\n[1:56] -A PREROUTING ! -p tcp\n[1:56] -A PREROUTING -p tcp -m tcp"
	if got := counters(rs, "raw"); !strings.Contains(got, want) {
		t.Errorf("counters\n%s\nwant\n%s", got, want)
	}
}

// ipt_packet_match tests the protocol only when the rule names one: a
// rule with protocol 0 ("all") matches every packet even if inverted.
func TestProtoAllIgnoresInversion(t *testing.T) {
	rs := load(t, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT\nCOMMIT\n")
	rs.Table("filter").Chain("INPUT").Rules[0].InvProto = true
	e, err := New(Config{Rules4: rs, Router: fakeRouter{}})
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(tcp4("203.0.113.9", "10.0.0.1", 1, 2, packet.TCPSyn))
	if c := rs.Table("filter").Chain("INPUT").Rules[0].Counters.Packets; c != 1 {
		t.Errorf("rule counted %d packets, want 1", c)
	}
}
