package conntrack

import (
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// tftpMaster creates a TFTP read request connection with the tftp helper
// attached and confirmed; the helper registers its expectation.
func tftpMaster(t *testing.T, tr *Tracker, sport uint16, ts int64) *Entry {
	t.Helper()
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: sport, DstPort: 69,
		Payload: []byte("\x00\x01f\x00octet\x00")}, ts)
	env := &ext.Env{Pkt: p, Family: p.Family, CtTemplate: &ext.CtTemplate{Helper: "tftp"}}
	if !tr.In(env, nf.PreRouting) {
		t.Fatal("request dropped")
	}
	if ok, why := tr.Confirm(env); !ok {
		t.Fatalf("request dropped by the helper: %s", why)
	}
	e := env.Conn.(*Entry)
	if e.Status()&ext.CTStatusHelper == 0 || e.Helper() != "tftp" {
		t.Fatalf("helper not attached: status %#x helper %q", e.Status(), e.Helper())
	}
	return e
}

func TestExpectationLifecycle(t *testing.T) {
	tab := NewTable()
	var exp []string
	tab.OnExpEvent = func(ev ExpEvent) { exp = append(exp, FormatExpEvent(ev)) }
	tr := &Tracker{T: tab}
	s := int64(1e9)
	m := tftpMaster(t, tr, 40000, 10*s)
	m.SetMark(7)
	tr.Confirm(&ext.Env{Pkt: build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 69}, 10*s), Conn: m})
	if n := tab.ExpectCount(); n != 1 {
		t.Fatalf("%d expectations after the request, want 1", n)
	}
	// A second request on the same connection replaces the expectation
	// (the same tuple from the same master).
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 69, Payload: []byte("\x00\x01g\x00octet\x00")}, 11*s)
	env := &ext.Env{Pkt: p, Family: p.Family}
	tr.In(env, nf.PreRouting)
	tr.Confirm(env)
	if n := tab.ExpectCount(); n != 1 || len(exp) != 3 {
		t.Fatalf("after a repeated request: %d expectations, events %q", n, exp)
	}
	// The answer from another port is RELATED, expected, with the master's mark.
	ans := build(t, packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 50000, DstPort: 40000, Payload: []byte("\x00\x03\x00\x01")}, 12*s)
	env = &ext.Env{Pkt: ans, Family: ans.Family}
	tr.In(env, nf.PreRouting)
	c, _ := env.Conn.(*Entry)
	if env.CtState != ext.CtStateRelated || c == nil || c.Status()&ext.CTStatusExpected == 0 || c.Mark() != 7 {
		t.Fatalf("answer: state %d conn %v", env.CtState, env.Conn)
	}
	if c.Master() != ext.Conn(m) || c.Helper() != "" {
		t.Fatalf("answer: master %v helper %q", c.Master(), c.Helper())
	}
	tr.Confirm(env)
	if tab.ExpectCount() != 0 {
		t.Fatal("the expectation was not used up")
	}
	if m.Master() != nil {
		t.Fatal("master has a master")
	}
	// The master goes; the child still sees it until it goes itself.
	tab.Remove(m, 13*s)
	if c.Master() == nil || c.MasterEntry().Helper() != "tftp" {
		t.Fatal("the destroyed master is gone from under its expected connection")
	}
	if tab.Remove(m, 13*s) {
		t.Fatal("a destroyed master was removed twice")
	}
	tab.Remove(c, 14*s)
	if n := len(tab.refs); n != 0 {
		t.Fatalf("%d master references left", n)
	}
}

func TestExpectationTimeoutAndMasterDestroy(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	s := int64(1e9)
	m := tftpMaster(t, tr, 40001, 10*s)
	if got := tab.Expectations()[0].Expires(10 * s); got != 300 {
		t.Fatalf("expectation timeout %d, want 300", got)
	}
	tab.expectGC(309 * s) // the master itself times out at 40 s; only the expectations here
	if tab.ExpectCount() != 1 {
		t.Fatal("the expectation went before its timeout")
	}
	tab.expectGC(311 * s)
	if tab.ExpectCount() != 0 {
		t.Fatal("the expectation outlived its timeout")
	}
	if m.Helper() != "tftp" {
		t.Fatal("master lost its helper")
	}
	m2 := tftpMaster(t, tr, 40002, 400*s)
	tab.Remove(m2, 401*s)
	if tab.ExpectCount() != 0 {
		t.Fatal("the expectation outlived its master")
	}
}

func TestZoneFromMarkAndAcct(t *testing.T) {
	tab := NewTable()
	tr := &Tracker{T: tab}
	p := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}, 1)
	p.Mark = 0x12345
	env := &ext.Env{Pkt: p, Family: p.Family, CtTemplate: &ext.CtTemplate{Zone: 9, ZoneFromMark: true}}
	tr.In(env, nf.PreRouting)
	tr.Confirm(env)
	if z := env.Conn.Zone(); z != 0x2345 {
		t.Fatalf("zone %#x, want 0x2345", z)
	}
	tab.EnableAcct()
	q := build(t, packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 3, DstPort: 4}, 2)
	env = pass(tr, q)
	if pk, by := env.Conn.Counters(false); pk != 1 || by != uint64(len(q.Data)) {
		t.Fatalf("counters %d %d after EnableAcct", pk, by)
	}
}
