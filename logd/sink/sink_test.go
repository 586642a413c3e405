package sink

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

var testTime = time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)

// mkPacket builds a logged packet from a packet line.
func mkPacket(t testing.TB, line string) *logd.Packet {
	t.Helper()
	ln, err := packet.ParseLine(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	p, err := ln.Packet()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	hook := nf.PreRouting
	if p.Local {
		hook = nf.LocalOut
	}
	return &logd.Packet{Time: testTime, Source: "nfgo", Group: 3, Prefix: "pfx", Family: p.Family,
		Hook: hook, HasHook: true, InDev: p.InDev, OutDev: p.OutDev, Mark: p.Mark,
		MAC: p.MAC, Data: p.Data, OrigLen: len(p.Data)}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLOGEMULines(t *testing.T) {
	s := &LOGEMU{Hostname: "gw", Location: time.FixedZone("X", 3600)}
	head := "Mar  5 08:08:09 gw "
	for _, c := range []struct {
		line string
		edit func(p *logd.Packet)
		want string
	}{
		// printpkt.c: TCP flags URG ACK PSH RST SYN FIN, no RES=, no
		// options, URGP only from an urgent segment, MARK always.
		{"in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 tcp 192.0.2.2:1000 > 192.0.2.1:22 syn,ece seq 7 win 1000 mss 1460 tos 0x10 urgptr 9 mark 0x1f", nil,
			"pfx IN=eth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=192.0.2.2 DST=192.0.2.1 LEN=44 TOS=10 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=1000 DPT=22 SEQ=7 ACK=0 WINDOW=1000 SYN URGP=0 MARK=0x1f \n"},
		// OUTPUT: no input device, hence no MAC; the owner is printed.
		{"out eth1 local udp 10.0.0.1:53 > 10.0.0.2:5353 len 2", func(p *logd.Packet) {
			p.InDev, p.UID, p.GID, p.HasUID, p.HasGID, p.Prefix = "eth9", 1000, 100, true, true, ""
		}, " IN= OUT=eth1 MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=30 TOS=00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=53 DPT=5353 LEN=10 UID=1000 GID=100 MARK=0x0 \n"},
		// Echo request: code 0 is ICMP_ECHOREPLY's number, so ID/SEQ show.
		{"in lo icmp 127.0.0.1 > 127.0.0.1 type 8 code 0 id 9 seq 2", func(p *logd.Packet) { p.MAC = nil; p.Hook = nf.LocalIn },
			"pfx IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.1 DST=127.0.0.1 LEN=28 TOS=00 PREC=0x00 TTL=64 ID=0 PROTO=ICMP TYPE=8 CODE=0 ID=9 SEQ=2 MARK=0x0 \n"},
		// A TCP header cut by the copy range.
		{"out eth1 local tcp 10.0.0.1:1 > 10.0.0.2:2 syn", func(p *logd.Packet) { p.Data = p.Data[:30] },
			"pfx IN= OUT=eth1 MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=00 PREC=0x00 TTL=64 ID=0 PROTO=TCP INCOMPLETEMARK=0x0 \n"},
		// IPv6 ESP: BASE stops before setting ip.protocol, which PRINTPKT
		// reads to tell ESP from AH.
		{"out eth1 local proto 50 2001:db8::1 > 2001:db8::2 len 16", nil,
			"pfx IN= OUT=eth1 MAC= SRC=2001:db8::1 DST=2001:db8::2 LEN=56 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=AH INCOMPLETEMARK=0x0 \n"},
		// glibc's inet_ntop for an IPv4-compatible address.
		{"out eth1 local proto 59 ::10.1.2.3 > 2001:db8::2", nil,
			"pfx IN= OUT=eth1 MAC= SRC=::10.1.2.3 DST=2001:db8::2 LEN=40 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=59 MARK=0x0 \n"},
	} {
		p := mkPacket(t, c.line)
		if c.edit != nil {
			c.edit(p)
		}
		got := string(AppendPrintPkt(s.appendHead(nil, p.Time), p))
		if got != head+c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.line, got, head+c.want)
		}
	}

	f := &logd.FlowEvent{Type: "DESTROY", Family: nf.IPv4, Proto: 1,
		OrigSrc: netip.MustParseAddr("192.0.2.1"), OrigDst: netip.MustParseAddr("192.0.2.2"), OrigSport: 7, OrigDport: 8 << 8,
		ReplSrc: netip.MustParseAddr("192.0.2.2"), ReplDst: netip.MustParseAddr("192.0.2.1"), ReplSport: 7,
		Packets: [2]uint64{1, 1}, Bytes: [2]uint64{84, 84}}
	want := "[DESTROY] ORIG: SRC=192.0.2.1 DST=192.0.2.2 PROTO=ICMP TYPE=0 CODE=8 PKTS=1 BYTES=84 , REPLY: SRC=192.0.2.2 DST=192.0.2.1 PROTO=ICMP TYPE=0 CODE=8 PKTS=1 BYTES=84 \n"
	if got := string(AppendPrintFlow(nil, f)); got != want {
		t.Errorf("flow:\n got %q\nwant %q", got, want)
	}
}

func TestIPv6Text(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2001:db8::1", "2001:db8::1"}, {"::", "::"}, {"::1", "::1"}, {"1::", "1::"},
		{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"}, {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
		{"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"}, {"::ffff:1.2.3.4", "::ffff:1.2.3.4"}, {"::1.2.3.4", "::1.2.3.4"},
	} {
		a := netip.MustParseAddr(c.in).As16()
		if got := string(appendIPv6(nil, a[:])); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
}

// rotate checks that lines go to the file until Close, that Reopen after
// a rename starts a new file, and that Close writes out what was buffered.
func rotate(t *testing.T, open func(path string) (logd.Sink, error), countLines func(string) int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := mkPacket(t, "in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 udp 192.0.2.2:1 > 192.0.2.1:2 len 4")
	for i := 0; i < 2; i++ {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(readFile(t, path)); n != 2 {
		t.Fatalf("after Flush: %d records, want 2", n)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePacket(p); err != nil { // still the old file
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if n := countLines(readFile(t, path+".1")); n != 3 {
		t.Errorf("rotated file: %d records, want 3", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(readFile(t, path)); n != 4 {
		t.Errorf("new file after Close: %d records, want 4", n)
	}
	if err := s.WritePacket(p); err == nil {
		t.Error("WritePacket after Close succeeded")
	}
}

func lineCount(s string) int { return strings.Count(s, "\n") }

func TestRotation(t *testing.T) {
	t.Run("logemu", func(t *testing.T) {
		rotate(t, func(p string) (logd.Sink, error) { return NewLOGEMU(p, Options{}) }, lineCount)
	})
	t.Run("text", func(t *testing.T) {
		rotate(t, func(p string) (logd.Sink, error) { return NewText(p, Options{}) }, lineCount)
	})
	t.Run("json", func(t *testing.T) {
		rotate(t, func(p string) (logd.Sink, error) { return NewJSON(p, Options{}) }, lineCount)
	})
	t.Run("pcap", func(t *testing.T) {
		rotate(t, func(p string) (logd.Sink, error) { return NewPcap(p, Options{}) }, func(s string) int {
			r, err := capture.Open(strings.NewReader(s))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var rec capture.Record
			for r.Next(&rec) == nil {
				n++
			}
			return n
		})
	})
}

func TestSyncWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	s, err := NewLOGEMU(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WritePacket(mkPacket(t, "in eth0 udp 192.0.2.2:1 > 192.0.2.1:2")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); !strings.Contains(got, " pfx IN=eth0 OUT= MAC=") {
		t.Errorf("with Sync the line is not in the file at once: %q", got)
	}
}

func TestTextLines(t *testing.T) {
	p := mkPacket(t, "in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 tcp 192.0.2.2:1000 > 192.0.2.1:22 syn win 512 id 5 df")
	p.Prefix = "nfx: "
	s := &Text{Location: time.UTC}
	b := s.appendTime(nil, p.Time)
	b = AppendLogText(b, p, 0, nil, nil)
	// The kernel's LOG text (nf_log_syslog.c dump_ipv4_packet).
	want := "2024-03-05T07:08:09.123456Z nfx: IN=eth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=192.0.2.2 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=5 DF PROTO=TCP SPT=1000 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0 "
	if string(b) != want {
		t.Errorf("text:\n got %q\nwant %q", b, want)
	}

	f := &logd.FlowEvent{Type: "NEW", Family: nf.IPv4, Proto: 6, State: "SYN_SENT", Timeout: 120,
		OrigSrc: netip.MustParseAddr("192.0.2.2"), OrigDst: netip.MustParseAddr("192.0.2.1"), OrigSport: 1000, OrigDport: 22,
		ReplSrc: netip.MustParseAddr("192.0.2.1"), ReplDst: netip.MustParseAddr("192.0.2.2"), ReplSport: 22, ReplDport: 1000}
	path := filepath.Join(t.TempDir(), "t")
	ts, err := NewText(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Location = time.UTC
	f.Time = testTime
	if err := ts.WriteFlow(f); err != nil {
		t.Fatal(err)
	}
	f.Type, f.State, f.Status, f.Timeout = "DESTROY", "CLOSE", 0xe, 0
	if err := ts.WriteFlow(f); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	// conntrack -E's lines (libnetfilter_conntrack's default output).
	want = "2024-03-05T07:08:09.123456Z     [NEW] tcp      6 120 SYN_SENT src=192.0.2.2 dst=192.0.2.1 sport=1000 dport=22 [UNREPLIED] src=192.0.2.1 dst=192.0.2.2 sport=22 dport=1000\n" +
		"2024-03-05T07:08:09.123456Z [DESTROY] tcp      6 CLOSE src=192.0.2.2 dst=192.0.2.1 sport=1000 dport=22 src=192.0.2.1 dst=192.0.2.2 sport=22 dport=1000 [ASSURED]\n"
	if got := readFile(t, path); got != want {
		t.Errorf("flows:\n got %q\nwant %q", got, want)
	}
}

func TestJSON(t *testing.T) {
	p := mkPacket(t, "in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 tcp [2001:db8::2]:1000 > [2001:db8::1]:22 syn,ack payload \"hello\" hl 9")
	p.Prefix = "a\"b\x01\xff"
	p.UID, p.HasUID = 7, true
	var m map[string]any
	line := AppendPacketJSON(nil, p)
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	want := map[string]any{"time": "2024-03-05T07:08:09.123456789Z", "source": "nfgo", "group": 3.0, "prefix": "a\"b\x01\ufffd",
		"family": "ipv6", "hook": "PREROUTING", "in": "eth0", "out": "", "mark": 0.0, "uid": 7.0,
		"mac": "02:00:00:00:00:01:02:00:00:00:00:02:86:dd", "src": "2001:db8::2", "dst": "2001:db8::1", "proto": 6.0,
		"sport": 1000.0, "dport": 22.0, "len": 65.0, "ttl": 9.0, "tcp_flags": "ACK,SYN", "payload_len": 5.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("fields %v, want %v", m, want)
	}

	icmp := mkPacket(t, "out eth1 local icmp 10.0.0.1 > 10.0.0.2 type 3 code 4 quote udp 10.0.0.2:1 > 10.0.0.1:2 len 8")
	m = nil
	if err := json.Unmarshal(AppendPacketJSON(nil, icmp), &m); err != nil {
		t.Fatal(err)
	}
	if m["icmp_type"] != 3.0 || m["icmp_code"] != 4.0 || m["payload_len"] != 36.0 || m["sport"] != nil {
		t.Errorf("ICMP error: %v", m)
	}

	f := &logd.FlowEvent{Time: testTime, Source: "kernel", Type: "DESTROY", Family: nf.IPv4, Proto: 17,
		OrigSrc: netip.MustParseAddr("192.0.2.2"), OrigDst: netip.MustParseAddr("192.0.2.1"), OrigSport: 5, OrigDport: 53,
		ReplSrc: netip.MustParseAddr("192.0.2.1"), ReplDst: netip.MustParseAddr("192.0.2.2"), ReplSport: 53, ReplDport: 5,
		Status: 0xe, Packets: [2]uint64{2, 1}, Bytes: [2]uint64{120, 80}, Start: testTime.Add(-time.Second)}
	var fl struct {
		Type, State, Source string
		Proto, Status       int
		Orig, Reply         struct {
			Src, Dst     string
			Sport, Dport int
		}
		Packets, Bytes [2]int
		Start, Stop    string
	}
	if err := json.Unmarshal(AppendFlowJSON(nil, f), &fl); err != nil {
		t.Fatal(err)
	}
	if fl.Type != "DESTROY" || fl.Proto != 17 || fl.Orig.Src != "192.0.2.2" || fl.Reply.Sport != 53 || fl.Orig.Dport != 53 ||
		fl.Packets != [2]int{2, 1} || fl.Bytes != [2]int{120, 80} || fl.Start != "2024-03-05T07:08:08.123456789Z" || fl.Stop != "" || fl.State != "" {
		t.Errorf("flow: %+v", fl)
	}
}

func TestPcap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcapng")
	s, err := NewPcap(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := mkPacket(t, "in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 udp 192.0.2.2:1 > 192.0.2.1:2 len 30")
	in.Data = in.Data[:40] // cut by the copy range
	in.Prefix = "seen"
	out := mkPacket(t, "out eth1 local udp [2001:db8::1]:1 > [2001:db8::2]:2 len 3")
	out.Prefix = ""
	for _, p := range []*logd.Packet{in, out, in} {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	r, err := capture.Open(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var recs []capture.Record
	for {
		var rec capture.Record
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.Data = append([]byte{}, rec.Data...)
		recs = append(recs, rec)
	}
	if len(recs) != 3 {
		t.Fatalf("%d packets, want 3", len(recs))
	}
	if r0 := recs[0]; r0.LinkType != packet.LinkEthernet || r0.IfName != "eth0" || r0.OrigLen != 58+14 ||
		!bytes.Equal(r0.Data, append(append([]byte{}, in.MAC...), in.Data...)) || r0.Timestamp != testTime.UnixNano() {
		t.Errorf("first packet: %+v", r0)
	}
	if r1 := recs[1]; r1.LinkType != packet.LinkIPv6 || r1.IfName != "eth1" || !bytes.Equal(r1.Data, out.Data) || r1.IfIndex != 1 {
		t.Errorf("second packet: %+v", r1)
	}
	if recs[2].IfIndex != 0 {
		t.Errorf("third packet on interface %d, want eth0's 0", recs[2].IfIndex)
	}
	// opt_comment (1), length 4, "seen".
	if n := bytes.Count(raw, []byte("\x01\x00\x04\x00seen")); n != 2 {
		t.Errorf("%d prefix comments, want 2", n)
	}
}

func TestNoAllocs(t *testing.T) {
	dir := t.TempDir()
	p := mkPacket(t, "in eth0 from 02:00:00:00:00:02 to 02:00:00:00:00:01 tcp 192.0.2.2:1000 > 192.0.2.1:22 syn")
	f := &logd.FlowEvent{Time: testTime, Type: "NEW", Family: nf.IPv4, Proto: 6, State: "SYN_SENT",
		OrigSrc: netip.MustParseAddr("192.0.2.2"), OrigDst: netip.MustParseAddr("192.0.2.1"),
		ReplSrc: netip.MustParseAddr("192.0.2.1"), ReplDst: netip.MustParseAddr("192.0.2.2")}
	l, _ := NewLOGEMU(filepath.Join(dir, "l"), Options{})
	x, _ := NewText(filepath.Join(dir, "t"), Options{})
	j, _ := NewJSON(filepath.Join(dir, "j"), Options{})
	c, _ := NewPcap(filepath.Join(dir, "c"), Options{})
	for _, s := range []logd.Sink{l, x, j, c} {
		s.WritePacket(p)
		if n := testing.AllocsPerRun(100, func() { s.WritePacket(p) }); n != 0 {
			t.Errorf("%s: %v allocations per packet", s.Name(), n)
		}
		if n := testing.AllocsPerRun(100, func() { s.WriteFlow(f) }); n != 0 {
			t.Errorf("%s: %v allocations per flow", s.Name(), n)
		}
		s.Close()
	}
}
