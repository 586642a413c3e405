package ext_test

import (
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// clJiffy is jiffy n at HZ=250.
func clJiffy(n int64) int64 { return n * 4e6 }

// The counts follow nf_conncount: a list is walked (dead and closed
// entries dropped, duplicates found) when the packet's connection is
// confirmed but not assured, or when the list was not walked in this
// jiffy; an assured connection is not added again and the list is only
// collected.
func TestConnlimitCounting(t *testing.T) {
	m := matchOf(t, nf.IPv4, "-A INPUT -p tcp --syn -m connlimit --connlimit-above 2 --connlimit-mask 24")
	tbl := fakeTable{}
	conn := func(src string, sport uint16) *fakeConn { return newConn(src, "10.9.9.9", sport, 80, 6) }
	count := func(step string, c *fakeConn, ts int64, want int) {
		t.Helper()
		p := tcpPkt(t, c.orig.Src.String(), "10.9.9.9", c.orig.SrcPort, 80)
		p.Timestamp = ts
		e := &ext.Env{Pkt: p, Family: nf.IPv4, Conn: c, CtState: ext.CtStateNew, CtTable: tbl}
		if got := ext.ConnlimitCount(m, e); got != want {
			t.Errorf("%s: count %d, want %d", step, got, want)
		}
	}
	c1, c2, c3, c4, c5, c6 := conn("10.0.0.1", 1001), conn("10.0.0.2", 1002), conn("10.0.0.3", 1003), conn("10.0.0.4", 1004), conn("10.0.0.5", 1005), conn("10.0.0.6", 1006)
	count("first", c1, clJiffy(10), 1)
	tbl.add(c1)
	count("second", c2, clJiffy(10), 2)
	tbl.add(c2)
	count("third, never confirmed", c3, clJiffy(10), 3)
	count("next jiffy: the unconfirmed one is gone", c4, clJiffy(11), 3)
	c1.tcp = 7 // TIME_WAIT
	count("closed TCP no longer counts", c5, clJiffy(12), 2)
	tbl.add(c5)
	count("retransmitted SYN of a counted connection", c2, clJiffy(13), 2)
	c5.status |= ext.CTStatusAssured
	count("assured: not added again", c5, clJiffy(13), 2)
	tbl.del(c2)
	count("same jiffy: no walk, the dead entry still counts", c6, clJiffy(13), 3)
	count("next jiffy: collected", c5, clJiffy(14), 1)
	count("another /24", conn("10.0.1.1", 1), clJiffy(14), 1)
	z := conn("10.0.0.7", 7)
	z.zone = 1
	count("another zone", z, clJiffy(14), 1)

	// A packet without a connection counts by its own tuple, and by its
	// connection's when conntrack holds one.
	untracked := tcpPkt(t, "10.0.0.9", "10.9.9.9", 2000, 80)
	untracked.Timestamp = clJiffy(20)
	e := &ext.Env{Pkt: untracked, Family: nf.IPv4, CtState: ext.CtStateUntracked, CtTable: tbl}
	if got := ext.ConnlimitCount(m, e); got != 2 {
		t.Errorf("untracked packet: count %d, want 2", got)
	}
	again := tcpPkt(t, "10.0.0.5", "10.9.9.9", 1005, 80)
	again.Timestamp = clJiffy(30)
	e = &ext.Env{Pkt: again, Family: nf.IPv4, CtState: ext.CtStateUntracked, CtTable: tbl}
	if got := ext.ConnlimitCount(m, e); got != 1 {
		t.Errorf("packet of an assured connection without its entry: count %d, want 1", got)
	}

	// No tuple can be taken from a truncated ICMP header: hotdrop.
	icmp := (&pk{src: "10.0.0.1", dst: "10.9.9.9", proto: 1, l4: []byte{8, 0, 0, 0}}).packet(t, "eth0")
	mi := matchOf(t, nf.IPv4, "-A INPUT -m connlimit --connlimit-above 0")
	e = &ext.Env{Pkt: icmp, Family: nf.IPv4, CtState: ext.CtStateInvalid, CtTable: tbl}
	if mi.Match(e) || !e.HotDrop {
		t.Errorf("truncated ICMP: hotdrop %v, want a hotdrop", e.HotDrop)
	}
}

func TestConnlimitUptoDaddr(t *testing.T) {
	m := matchOf(t, nf.IPv4, "-A INPUT -m connlimit --connlimit-upto 1 --connlimit-daddr")
	tbl := fakeTable{}
	for i, want := range []bool{true, false, false} {
		c := newConn("10.0.0.1", "10.9.9.9", uint16(100+i), 80, 6)
		p := tcpPkt(t, "10.0.0.1", "10.9.9.9", uint16(100+i), 80)
		p.Timestamp = clJiffy(int64(i))
		if got := m.Match(&ext.Env{Pkt: p, Family: nf.IPv4, Conn: c, CtTable: tbl}); got != want {
			t.Errorf("connection %d to the same destination: %v, want %v", i+1, got, want)
		}
		tbl.add(c)
	}
	// Another destination, same source: a group of its own.
	c := newConn("10.0.0.1", "10.9.9.8", 100, 80, 6)
	p := tcpPkt(t, "10.0.0.1", "10.9.9.8", 100, 80)
	if !m.Match(&ext.Env{Pkt: p, Family: nf.IPv4, Conn: c, CtTable: tbl}) {
		t.Errorf("first connection to another destination: no match")
	}
}

func TestConntrackMatchAllocs(t *testing.T) {
	c := newConn("10.0.0.1", "10.0.0.2", 1, 80, 6)
	c.status = ext.CTStatusConfirmed | ext.CTStatusAssured
	c.mark = 5
	tbl := fakeTable{}
	tbl.add(c)
	p := tcpPkt(t, "10.0.0.1", "10.0.0.2", 1, 80)
	for _, rule := range []string{
		"-m state --state ESTABLISHED,RELATED",
		"-m conntrack --ctstate ESTABLISHED",
		"-m conntrack --ctstate SNAT ! --ctorigsrc 10.0.0.0/8 --ctorigdstport 80 --ctstatus ASSURED --ctexpire 0:10 --ctdir ORIGINAL",
		"-m connmark --mark 5",
		"-m connlabel --label 1",
		"-m connbytes --connbytes 1: --connbytes-dir both --connbytes-mode avgpkt",
		"-m helper --helper ftp",
		"-m connlimit --connlimit-above 10",
		"-m cluster --cluster-total-nodes 2 --cluster-local-node 1 --cluster-hash-seed 1",
	} {
		m := matchOf(t, nf.IPv4, "-A INPUT "+rule)
		e := &ext.Env{Pkt: p, Family: nf.IPv4, Conn: c, CtState: ext.CtStateEstablished, CtTable: tbl}
		m.Match(e)
		if n := testing.AllocsPerRun(100, func() { m.Match(e) }); n != 0 {
			t.Errorf("%s: %v allocations per Match", rule, n)
		}
	}
	r := loadRules(t, nf.IPv4, "raw", []string{"-A PREROUTING -j CT --zone 3", "-A PREROUTING -j CONNMARK --set-xmark 1/3"})
	for _, x := range r {
		tg := x.Target.Ext.(ext.Targeter)
		e := &ext.Env{Pkt: p, Family: nf.IPv4}
		f := func() {
			e.Conn, e.CtTemplate, e.CtState = c, nil, 0
			if x.Target.Name == "CT" {
				e.Conn = nil
			}
			tg.Target(e)
		}
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per Target", x.Target.Name, n)
		}
	}
}
