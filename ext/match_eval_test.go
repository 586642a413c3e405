package ext_test

import (
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// Boundary cases with outcomes worked out from the kernel sources, for
// what the namespace comparison cannot send (owner, physdev, loopback
// packet type, local packets without a MAC header).
func TestMatchBoundaries(t *testing.T) {
	tcp := func(dport uint16) pk {
		return pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 6, l4: hdrTcpSeg(1000, dport, 0x02)}
	}
	cases := []struct {
		fam   nf.Family
		hook  nf.Hook
		rule  string
		pkt   pk
		local bool // no MAC header
		want  bool
		hot   bool
	}{
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport --dports 22,80:90", tcp(79), false, false, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport --dports 22,80:90", tcp(80), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport --dports 22,80:90", tcp(90), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport --dports 22,80:90", tcp(91), false, false, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport ! --dports 22,80:90", tcp(91), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p tcp -m multiport --ports 1000", tcp(5), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m length --length 40", tcp(1), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m length --length 41:", tcp(1), false, false, false},
		{nf.IPv6, nf.LocalIn, "-A INPUT -m length --length 60", pk{v6: true, src: "::1", dst: "::1", proto: 6, l4: hdrTcpSeg(1, 2, 0)}, false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m mac --mac-source 02:00:00:00:00:0a", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), srcMAC: macA}, false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m mac ! --mac-source 02:00:00:00:00:0b", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0)}, true, false, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner --uid-owner 1000-1999", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), owner: true, uid: 1999}, true, true, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner --uid-owner 1000-1999", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), owner: true, uid: 2000}, true, false, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner ! --uid-owner 0", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0)}, true, true, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner ! --uid-owner 0 --socket-exists", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0)}, true, false, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner ! --socket-exists", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), owner: true}, true, false, false},
		{nf.IPv4, nf.LocalOut, "-A OUTPUT -m owner --gid-owner 5 ! --uid-owner 0", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), owner: true, uid: 1, gid: 5}, true, true, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev --physdev-in eth+", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), physIn: "eth3"}, false, true, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev --physdev-in eth", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), physIn: "eth3"}, false, false, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev ! --physdev-is-bridged", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), physIn: "eth3"}, false, true, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev --physdev-is-bridged", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), physIn: "eth3", physOut: "eth4"}, false, true, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev --physdev-out eth4", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0), physIn: "eth3"}, false, false, false},
		{nf.IPv4, nf.Forward, "-A FORWARD -m physdev ! --physdev-in eth3", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, l4: hdrUdpDgram(1, 2, 0)}, false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m pkttype --pkt-type multicast", pk{src: "127.0.0.1", dst: "224.0.0.1", proto: 17, l4: hdrUdpDgram(1, 2, 0), pktType: 5}, true, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m pkttype --pkt-type broadcast", pk{src: "127.0.0.1", dst: "127.0.0.1", proto: 17, l4: hdrUdpDgram(1, 2, 0), pktType: 5}, true, true, false},
		{nf.IPv6, nf.LocalIn, "-A INPUT -m pkttype --pkt-type multicast", pk{v6: true, src: "::1", dst: "::1", proto: 17, l4: hdrUdpDgram(1, 2, 0), pktType: 5}, true, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m tos --tos Minimize-Delay", pk{src: "10.0.0.1", dst: "10.0.0.2", tos: 0xd0, proto: 17, l4: hdrUdpDgram(1, 2, 0)}, false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m tos --tos Minimize-Delay", pk{src: "10.0.0.1", dst: "10.0.0.2", tos: 0x18, proto: 17, l4: hdrUdpDgram(1, 2, 0)}, false, false, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -p icmp -m icmp --icmp-type any", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: 1, l4: []byte{1, 2, 3, 4, 5, 6, 7}}, false, false, true},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 10.0.0.1-10.0.0.1", tcp(1), false, true, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m iprange --src-range 10.0.0.2-10.0.0.9", tcp(1), false, false, false},
		{nf.IPv4, nf.LocalIn, "-A INPUT -m comment --comment x", tcp(1), false, true, false},
	}
	for _, c := range cases {
		r := loadRules(t, c.fam, "filter", []string{c.rule})[0]
		p := c.pkt.packet(t, "eth0")
		if c.local {
			p.MAC = nil
		}
		env := &ext.Env{Pkt: p, Family: c.fam, Hook: c.hook, Host: netHost{}}
		got, hot := evalRule(t, r, env)
		if got != c.want || hot != c.hot {
			t.Errorf("%s: match %v hotdrop %v, want %v %v", c.rule, got, hot, c.want, c.hot)
		}
	}
}

// Matches that need state nfgo does not have say so instead of guessing.
func TestMatchesThatCannotEvaluate(t *testing.T) {
	rules := []string{
		"-A INPUT -m devgroup --src-group 1",
		"-A INPUT -m realm --realm 1",
		"-A INPUT -m cpu --cpu 0",
		"-A INPUT -m socket",
		"-A INPUT -p tcp -m osf --genre Linux",
		"-A OUTPUT -m owner --gid-owner 1 --suppl-groups",
	}
	for _, s := range rules {
		r := loadRules(t, nf.IPv4, "filter", []string{s})[0]
		pe, ok := r.Matches[0].Ext.(ext.Partial)
		if !ok {
			t.Errorf("%s: no CanEval", s)
			continue
		}
		if can, why := pe.CanEval(); can || why == "" {
			t.Errorf("%s: CanEval = %v %q, want false with a reason", s, can, why)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	rules := []string{
		"-A INPUT -p tcp -m multiport --dports 22,80:90",
		"-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9",
		"-A INPUT -m length --length 40:60",
		"-A INPUT -m tos --tos 0x10/0x3f",
		"-A INPUT -m dscp --dscp 0x2e",
		"-A INPUT -p tcp -m ecn --ecn-tcp-ece --ecn-ip-ect 1",
		"-A INPUT -m mac --mac-source 02:00:00:00:00:0a",
		"-A INPUT -m mark --mark 1/1",
		"-A INPUT -m addrtype --dst-type LOCAL",
		"-A INPUT -m pkttype --pkt-type unicast",
		"-A INPUT -p tcp -m tcpmss --mss 1000:1460",
		"-A PREROUTING -m rpfilter",
		"-A INPUT -m policy --dir in --pol none",
	}
	k := pk{src: "10.9.0.1", dst: "10.9.0.2", proto: 6, srcMAC: macA, l4: hdrTcpSeg(1000, 80, 0xc2, 2, 4, 5, 0xb4)}
	p := k.packet(t, "vb")
	for _, s := range rules {
		tbl := "filter"
		if s[3] == 'P' {
			tbl = "raw"
		}
		r := loadRules(t, nf.IPv4, tbl, []string{s})[0]
		m := r.Matches[0].Ext.(ext.Matcher)
		env := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.LocalIn, Host: netHost{}}
		if n := testing.AllocsPerRun(100, func() { m.Match(env) }); n != 0 {
			t.Errorf("%s: %v allocations per Match", s, n)
		}
	}
	k6 := pk{v6: true, src: "fd00::1", dst: "fd00::2", firstNH: 0, ext: cat(hdrExt6(0, 43, 1, 4), []byte{44, 2, 0, 1, 0, 0, 0, 0}, addr16("fd00::5"), hdrExt6(44, 6, 0, 1, 0, 0, 0, 5)), proto: 6, l4: hdrTcpSeg(1, 80, 2)}
	p6 := k6.packet(t, "vb")
	for _, s := range []string{"-m rt --rt-type 0 --rt-0-addrs fd00::5 --rt-segsleft 1", "-m hbh --hbh-opts 1:4", "-m frag --fragfirst", "-m ipv6header --header hop-by-hop,route,frag,prot"} {
		r := loadRules(t, nf.IPv6, "filter", []string{"-A INPUT " + s})[0]
		m := r.Matches[0].Ext.(ext.Matcher)
		env := &ext.Env{Pkt: p6, Family: nf.IPv6, Hook: nf.LocalIn}
		if !m.Match(env) {
			t.Errorf("%s: does not match %x", s, p6.Data)
		}
		if n := testing.AllocsPerRun(100, func() { m.Match(env) }); n != 0 {
			t.Errorf("%s: %v allocations per Match", s, n)
		}
	}
}
