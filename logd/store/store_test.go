package store

import (
	"context"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)

// logged builds a logged packet from a packet line.
func logged(t testing.TB, line string) *logd.Packet {
	t.Helper()
	l, err := packet.ParseLine(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	p, err := l.Packet()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return &logd.Packet{Source: "nfgo", Family: p.Family, InDev: p.InDev, OutDev: p.OutDev,
		Mark: p.Mark, MAC: p.MAC, Data: p.Data, OrigLen: len(p.Data)}
}

// testPackets are written in this order; their times are not in order.
func testPackets(t testing.TB) []*logd.Packet {
	p0 := logged(t, "in eth0 from 52:54:00:12:34:56 tcp 198.51.100.7:51000 > 10.0.0.5:22 syn")
	p0.Time, p0.Prefix, p0.Group, p0.Hook, p0.HasHook, p0.InIndex = t0.Add(1*time.Second), "DROP_IN", 1, nf.LocalIn, true, 2

	p1 := logged(t, "out eth0 local udp 10.0.0.5:5353 > 224.0.0.251:5353 len 20")
	p1.Time, p1.Prefix, p1.Hook, p1.HasHook = t0.Add(2*time.Second), "ACCEPT_OUT", nf.LocalOut, true
	p1.UID, p1.GID, p1.HasUID, p1.HasGID, p1.Source = 1000, 100, true, true, "kernel"

	p2 := logged(t, "in eth1 icmp 192.0.2.1 > 10.0.0.5 type 8 code 0 id 7 seq 1")
	p2.Time, p2.Prefix, p2.Hook, p2.HasHook, p2.Mark = t0.Add(3*time.Second), "DROP_IN", nf.PreRouting, true, 0x42

	// Cut by the copy range after 60 of its bytes, as NFLOG --nflog-size does.
	p3 := logged(t, `in eth0 out eth1 tcp [2001:db8::1]:4000 > [2001:db8::5]:22 ack payload "hello, world, and more bytes"`)
	p3.Time, p3.Prefix, p3.Group = t0.Add(4*time.Second), "FWD_v6", 5
	p3.Data = p3.Data[:60]

	p4 := logged(t, "in eth0 udp 10.1.2.3:53 > 10.0.0.5:40000 len 30")
	p4.Time, p4.Prefix = t0.Add(500*time.Millisecond), "DNS"
	return []*logd.Packet{p0, p1, p2, p3, p4}
}

func testFlows() []*logd.FlowEvent {
	a := netip.MustParseAddr
	f0 := &logd.FlowEvent{Time: t0.Add(time.Second), Source: "kernel", Type: "NEW", Family: nf.IPv4, Proto: 6,
		OrigSrc: a("198.51.100.7"), OrigDst: a("10.0.0.5"), OrigSport: 51000, OrigDport: 22,
		ReplSrc: a("10.0.0.5"), ReplDst: a("198.51.100.7"), ReplSport: 22, ReplDport: 51000,
		State: "SYN_SENT", Timeout: 120, ID: 77}
	f1 := &logd.FlowEvent{Time: t0.Add(5 * time.Second), Source: "kernel", Type: "DESTROY", Family: nf.IPv4, Proto: 6,
		OrigSrc: a("198.51.100.7"), OrigDst: a("10.0.0.5"), OrigSport: 51000, OrigDport: 22,
		ReplSrc: a("10.0.0.5"), ReplDst: a("198.51.100.7"), ReplSport: 22, ReplDport: 51000,
		Status: 0xe, Mark: 3, Zone: 9, ID: 77, Packets: [2]uint64{10, 8}, Bytes: [2]uint64{1000, 5000},
		Start: t0.Add(time.Second), Stop: t0.Add(5 * time.Second)}
	f2 := &logd.FlowEvent{Time: t0.Add(3 * time.Second), Source: "nfgo", Type: "NEW", Family: nf.IPv6, Proto: 17,
		OrigSrc: a("2001:db8::1"), OrigDst: a("2001:db8::5"), OrigSport: 4000, OrigDport: 53,
		ReplSrc: a("2001:db8::5"), ReplDst: a("2001:db8::1"), ReplSport: 53, ReplDport: 4000, Timeout: 30}
	return []*logd.FlowEvent{f0, f1, f2}
}

func writeAll(t testing.TB, s *Store, ps []*logd.Packet, fs []*logd.FlowEvent) {
	t.Helper()
	for _, p := range ps {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if err := s.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t testing.TB, s *Store, f Filter) []logd.Record {
	t.Helper()
	var out []logd.Record
	for r, err := range Query(context.Background(), s, f) {
		if err != nil {
			t.Fatalf("query %+v: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

// samePacket compares records field by field; times by instant.
func samePacket(a, b *logd.Packet) bool {
	x, y := *a, *b
	if !x.Time.Equal(y.Time) {
		return false
	}
	x.Time, y.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

func sameFlow(a, b *logd.FlowEvent) bool {
	x, y := *a, *b
	for _, p := range [][2]*time.Time{{&x.Time, &y.Time}, {&x.Start, &y.Start}, {&x.Stop, &y.Stop}} {
		if !p[0].Equal(*p[1]) {
			return false
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	return reflect.DeepEqual(x, y)
}

// roundTrip writes the test records to a fresh store at dsn and checks
// what every filter returns. Both databases run it.
func roundTrip(t *testing.T, dsn string) {
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{BatchSize: 2, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ps, fs := testPackets(t), testFlows()
	writeAll(t, s, ps, fs)
	// Batches of two: eight records, four commits, nothing held.
	if n := s.Pending(); n != 0 {
		t.Fatalf("pending %d after 8 writes in batches of 2, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Durable: a fresh handle reads everything back.
	r, err := Open(ctx, dsn, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	byTime := []int{4, 0, 1, 2, 3} // the packets' indexes in time order
	pick := func(idx ...int) []*logd.Packet {
		var out []*logd.Packet
		for _, i := range idx {
			out = append(out, ps[i])
		}
		return out
	}
	cases := []struct {
		name string
		f    Filter
		want []*logd.Packet
	}{
		{"all", Filter{}, pick(byTime...)},
		{"from", Filter{From: t0.Add(2 * time.Second)}, pick(1, 2, 3)},
		{"to exclusive", Filter{To: t0.Add(2 * time.Second)}, pick(4, 0)},
		{"from to", Filter{From: t0.Add(time.Second), To: t0.Add(3*time.Second + 1)}, pick(0, 1, 2)},
		{"prefix exact", Filter{Prefix: "DROP_IN"}, pick(0, 2)},
		{"prefix exact is not a pattern", Filter{Prefix: "DROP"}, nil},
		{"prefix like", Filter{Prefix: "%_IN"}, pick(0, 2)},
		{"prefix like case", Filter{Prefix: "drop%"}, nil},
		{"prefix like any", Filter{Prefix: "%"}, pick(byTime...)},
		{"addr src", Filter{Addr: netip.MustParsePrefix("198.51.100.7/32")}, pick(0)},
		{"addr src or dst", Filter{Addr: netip.MustParsePrefix("10.0.0.5/32")}, pick(4, 0, 1, 2)},
		{"addr dst", Filter{Addr: netip.MustParsePrefix("224.0.0.251/32")}, pick(1)},
		{"addr net", Filter{Addr: netip.MustParsePrefix("10.0.0.0/8")}, pick(4, 0, 1, 2)},
		{"addr net limit", Filter{Addr: netip.MustParsePrefix("10.0.0.0/8"), Limit: 2}, pick(4, 0)},
		{"addr v6 net", Filter{Addr: netip.MustParsePrefix("2001:db8::/64")}, pick(3)},
		{"addr v6 cut packet", Filter{Addr: netip.MustParsePrefix("2001:db8::5/128")}, pick(3)},
		{"port dport", Filter{Port: 22}, pick(0, 3)},
		{"port sport", Filter{Port: 53}, pick(4)},
		{"port both", Filter{Port: 5353}, pick(1)},
		{"proto tcp", Filter{Proto: 6}, pick(0, 3)},
		{"proto icmp", Filter{Proto: 1}, pick(2)},
		{"proto and addr", Filter{Proto: 17, Addr: netip.MustParsePrefix("10.0.0.5/32")}, pick(4, 1)},
		{"limit", Filter{Limit: 3}, pick(4, 0, 1)},
		{"nothing", Filter{Addr: netip.MustParsePrefix("203.0.113.0/24")}, nil},
	}
	for _, c := range cases {
		got := collect(t, r, c.f)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d packets, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i := range got {
			if got[i].Packet == nil || !samePacket(got[i].Packet, c.want[i]) {
				t.Errorf("%s: record %d:\n got %+v\nwant %+v", c.name, i, got[i].Packet, c.want[i])
			}
		}
	}

	flowCases := []struct {
		name string
		f    Filter
		want []int
	}{
		{"flows", Filter{Flows: true}, []int{0, 2, 1}},
		{"flows addr", Filter{Flows: true, Addr: netip.MustParsePrefix("2001:db8::/32")}, []int{2}},
		{"flows port", Filter{Flows: true, Port: 22}, []int{0, 1}},
		{"flows proto", Filter{Flows: true, Proto: 17}, []int{2}},
		{"flows from", Filter{Flows: true, From: t0.Add(2 * time.Second)}, []int{2, 1}},
	}
	for _, c := range flowCases {
		got := collect(t, r, c.f)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d flows, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i, w := range c.want {
			if got[i].Flow == nil || !sameFlow(got[i].Flow, fs[w]) {
				t.Errorf("%s: record %d:\n got %+v\nwant %+v", c.name, i, got[i].Flow, fs[w])
			}
		}
	}
	for _, err := range Query(ctx, r, Filter{Flows: true, Prefix: "x"}) {
		if err == nil {
			t.Error("a prefix with flows: no error")
		}
	}
}

func TestSQLiteRoundTrip(t *testing.T) {
	roundTrip(t, "sqlite:"+filepath.Join(t.TempDir(), "log.db"))
}

// count is the number of rows a table holds, read through a fresh handle.
func count(t *testing.T, dsn string, flows bool) int {
	t.Helper()
	r, err := Open(context.Background(), dsn, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return len(collect(t, r, Filter{Flows: flows}))
}

func TestSQLiteBatches(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "log.db")
	s, err := Open(context.Background(), dsn, Options{BatchSize: 3, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p := testPackets(t)[0]
	for i := range 7 {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		if want := (i + 1) / 3 * 3; count(t, dsn, false) != want {
			t.Fatalf("after %d writes: %d committed, want %d", i+1, count(t, dsn, false), want)
		}
	}
	if s.Pending() != 1 {
		t.Fatalf("pending %d, want 1", s.Pending())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dsn, false); n != 7 || s.Pending() != 0 {
		t.Fatalf("after Flush: %d committed, %d pending", n, s.Pending())
	}
	// Close commits what is held.
	if err := s.WriteFlow(testFlows()[0]); err != nil {
		t.Fatal(err)
	}
	if count(t, dsn, true) != 0 {
		t.Fatal("flow committed before its batch was due")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dsn, true); n != 1 {
		t.Fatalf("after Close: %d flows, want 1", n)
	}
}

func TestSQLiteFlushInterval(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "log.db")
	s, err := Open(context.Background(), dsn, Options{BatchSize: 1000, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := testPackets(t)[0]
	s.WritePacket(p)
	time.Sleep(60 * time.Millisecond)
	s.WritePacket(p)
	if n := count(t, dsn, false); n != 2 {
		t.Fatalf("%d committed after the interval passed, want 2", n)
	}
	s.WritePacket(p)
	if n := count(t, dsn, false); n != 2 {
		t.Fatalf("%d committed before the interval passed, want 2", n)
	}
}

// A failing commit keeps the batch, refuses records once it is full, and
// commits everything once the database works again.
func TestSQLiteFailedCommitKeepsBatch(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "log.db")
	s, err := Open(context.Background(), dsn, Options{BatchSize: 4, FlushInterval: time.Hour, RetryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Break the database under the store: its table disappears.
	if _, err := s.db.Exec("DROP TABLE packets"); err != nil {
		t.Fatal(err)
	}
	ps := testPackets(t)
	for i := range 4 {
		if err := s.WritePacket(ps[i]); err != nil {
			t.Fatalf("write %d: %v (a record joining the batch is taken)", i, err)
		}
	}
	if err := s.WritePacket(ps[4]); err == nil || !strings.Contains(err.Error(), "4 records not committed") {
		t.Fatalf("write to a full batch that cannot commit: %v", err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush without a table: no error")
	}
	if s.Pending() != 4 {
		t.Fatalf("pending %d after failures, want 4", s.Pending())
	}
	if _, err := s.db.Exec(schemaFor(false)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	got := collect(t, s, Filter{})
	if len(got) != 4 {
		t.Fatalf("%d packets after recovery, want 4", len(got))
	}
	// The refused record can be written now.
	if err := s.WritePacket(ps[4]); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "/tmp/x.db"} {
		if _, err := Open(ctx, dsn, Options{}); err == nil {
			t.Errorf("Open(%q): no error", dsn)
		}
	}
	if _, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "absent.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of an absent file: no error")
	}
}

func TestDecode(t *testing.T) {
	ps := testPackets(t)
	cases := []struct {
		p    *logd.Packet
		want Headers
	}{
		{ps[0], Headers{Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("10.0.0.5"),
			Proto: 6, HasProto: true, Sport: 51000, Dport: 22, HasPorts: true, TTL: 64, HasTTL: true,
			TCPFlags: packet.TCPSyn, HasTCPFlags: true}},
		{ps[2], Headers{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.5"),
			Proto: 1, HasProto: true, TTL: 64, HasTTL: true, ICMPType: 8, HasICMP: true}},
		// Cut short: the TCP header is whole, the payload is not.
		{ps[3], Headers{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::5"),
			Proto: 6, HasProto: true, Sport: 4000, Dport: 22, HasPorts: true, TTL: 64, HasTTL: true,
			TCPFlags: packet.TCPAck, HasTCPFlags: true}},
		{&logd.Packet{Family: nf.IPv4, Data: ps[0].Data[:19]}, Headers{}},
	}
	for i, c := range cases {
		if got := Decode(c.p.Family, c.p.Data); got != c.want {
			t.Errorf("%d: got %+v\nwant %+v", i, got, c.want)
		}
	}
	// Decoding does not touch the bytes.
	before := append([]byte{}, ps[3].Data...)
	Decode(nf.IPv6, ps[3].Data)
	if string(before) != string(ps[3].Data) {
		t.Error("Decode changed the packet")
	}
}

func TestText(t *testing.T) {
	ps := testPackets(t)
	line := string(AppendText(nil, logd.Record{Packet: ps[0]}))
	for _, want := range []string{
		"2026-12-02T10:00:01.123456Z DROP_IN IN=eth0 OUT= MAC=",
		":52:54:00:12:34:56:08:00 SRC=198.51.100.7 DST=10.0.0.5 ",
		" PROTO=TCP SPT=51000 DPT=22 ",
		" SYN ",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	line = string(AppendText(nil, logd.Record{Packet: ps[2]}))
	if !strings.Contains(line, " PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 MARK=0x42") {
		t.Errorf("ICMP line %q", line)
	}
	// Without a hook, interfaces decide what the line shows.
	line = string(AppendText(nil, logd.Record{Packet: ps[3]}))
	if !strings.Contains(line, "FWD_v6 IN=eth0 OUT=eth1 ") {
		t.Errorf("forwarded line %q", line)
	}
	fl := string(AppendText(nil, logd.Record{Flow: testFlows()[1]}))
	// The time, then the line conntrack -E prints for the event.
	want := "2026-12-02T10:00:05.123456Z [DESTROY] tcp      6 src=198.51.100.7 dst=10.0.0.5 sport=51000 dport=22 packets=10 bytes=1000 " +
		"src=10.0.0.5 dst=198.51.100.7 sport=22 dport=51000 packets=8 bytes=5000 [ASSURED] mark=3 zone=9 delta-time=4"
	if fl != want {
		t.Errorf("flow line\n got %q\nwant %q", fl, want)
	}
}

func TestJSON(t *testing.T) {
	ps := testPackets(t)
	b, err := AppendJSON(nil, logd.Record{Packet: ps[1]})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"prefix":"ACCEPT_OUT"`, `"hook":"OUTPUT"`, `"uid":1000`, `"src":"10.0.0.5"`,
		`"dst":"224.0.0.251"`, `"proto":17`, `"sport":5353`, `"dport":5353`, `"out":"eth0"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"tcp_flags"`) || strings.Contains(string(b), `"mac"`) {
		t.Errorf("%s has fields a local UDP packet lacks", b)
	}
	b, err = AppendJSON(nil, logd.Record{Flow: testFlows()[1]})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"packets":[10,8]`) || !strings.Contains(string(b), `"type":"DESTROY"`) {
		t.Errorf("flow JSON %s", b)
	}
}
