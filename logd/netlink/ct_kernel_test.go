package nlsource

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/logd"
)

// ctLine is a `conntrack -E -o id` line parsed into a FlowEvent.
func ctLine(t *testing.T, l string) (logd.FlowEvent, bool) {
	t.Helper()
	var f logd.FlowEvent
	fs := strings.Fields(l)
	if len(fs) < 3 || !strings.HasPrefix(fs[0], "[") {
		t.Errorf("conntrack -E line %q", l)
		return f, false
	}
	f.Type = strings.Trim(fs[0], "[]")
	n, _ := strconv.Atoi(fs[2])
	f.Proto = uint8(n)
	dir := -1
	for _, w := range fs[3:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			switch {
			case w == "[UNREPLIED]":
				f.Status |= 1 << 30 // marker checked against !SEEN_REPLY
			case w == "[ASSURED]":
				f.Status |= 1 << 2
			case strings.HasPrefix(w, "["):
			case w[0] >= '0' && w[0] <= '9':
				to, _ := strconv.Atoi(w)
				f.Timeout = uint32(to)
			default:
				f.State = w
			}
			continue
		}
		u, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "src":
			dir++
			if dir == 0 {
				f.OrigSrc = netip.MustParseAddr(v)
			} else {
				f.ReplSrc = netip.MustParseAddr(v)
			}
		case "dst":
			if dir == 0 {
				f.OrigDst = netip.MustParseAddr(v)
			} else {
				f.ReplDst = netip.MustParseAddr(v)
			}
		case "sport":
			if dir == 0 {
				f.OrigSport = uint16(u)
			} else {
				f.ReplSport = uint16(u)
			}
		case "dport":
			if dir == 0 {
				f.OrigDport = uint16(u)
			} else {
				f.ReplDport = uint16(u)
			}
		case "packets":
			f.Packets[dir] = u
		case "bytes":
			f.Bytes[dir] = u
		case "mark":
			f.Mark = uint32(u)
		case "zone":
			f.Zone = uint16(u)
		case "id":
			f.ID = uint32(u)
		}
	}
	return f, true
}

func TestKernelConntrackEvents(t *testing.T) {
	p := newPair(t)
	p.restore(p.a, 4, `*mangle
-A PREROUTING -p udp --dport 7777 -j CONNMARK --set-mark 7
COMMIT
*filter
-A INPUT -m conntrack --ctstate NEW,ESTABLISHED,RELATED -j ACCEPT
COMMIT
`)
	p.run(p.a, "sysctl -q -w net.netfilter.nf_conntrack_acct=1", "sysctl -q -w net.netfilter.nf_conntrack_timestamp=1")

	src, err := NewConntrack(ConntrackConfig{NetNS: "/run/netns/" + p.a, ReadBuffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := collect(src)
	cmd := exec.Command("ip", "netns", "exec", p.a, "conntrack", "-E", "-o", "id")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string)
	go func() {
		var ls []string
		s := bufio.NewScanner(out)
		for s.Scan() {
			ls = append(ls, s.Text())
		}
		io.Copy(io.Discard, out)
		lines <- ls
	}()
	// conntrack subscribes right after it starts.
	time.Sleep(300 * time.Millisecond)

	// UDP request and reply.
	ua := udpConn(t, p.a, "10.77.0.1:7777")
	ub := udpConn(t, p.b, "10.77.0.2:5555")
	if _, err := ub.WriteToUDP([]byte("ping"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.77.0.1:7777"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	ua.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, from, err := ua.ReadFromUDP(buf); err != nil {
		t.Fatal(err)
	} else if _, err := ua.WriteToUDP([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	ub.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := ub.ReadFromUDP(buf); err != nil {
		t.Fatal(err)
	}

	// A TCP connection from B, through its states to TIME_WAIT.
	var ln net.Listener
	inNS(t, p.a, func() { ln, err = net.Listen("tcp4", "10.77.0.1:8080") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, s)
			s.Close()
		}
		accepted <- err
	}()
	var conn net.Conn
	inNS(t, p.b, func() { conn, err = net.DialTimeout("tcp4", "10.77.0.1:8080", 3*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("hello"))
	conn.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	// Flushing the table destroys both entries.
	p.run(p.a, "conntrack -F")
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	var want []string
	select {
	case want = <-lines:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("conntrack -E did not stop")
	}
	cmd.Wait()
	recs := c.wait(len(want), 3*time.Second)
	c.finish(t)

	if len(want) < 8 {
		t.Fatalf("conntrack -E printed only %d events:\n%s", len(want), strings.Join(want, "\n"))
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, conntrack -E printed %d:\n%s", len(recs), len(want), strings.Join(want, "\n"))
	}
	states := map[string]bool{}
	var destroys int
	for i, l := range want {
		k, ok := ctLine(t, l)
		if !ok {
			continue
		}
		g := recs[i].Flow
		if g == nil {
			t.Fatalf("record %d without flow", i)
		}
		if g.Type != k.Type || g.Proto != k.Proto || g.OrigSrc != k.OrigSrc || g.OrigDst != k.OrigDst ||
			g.OrigSport != k.OrigSport || g.OrigDport != k.OrigDport || g.ReplSrc != k.ReplSrc || g.ReplDst != k.ReplDst ||
			g.ReplSport != k.ReplSport || g.ReplDport != k.ReplDport || g.State != k.State || g.Timeout != k.Timeout ||
			g.Mark != k.Mark || g.Zone != k.Zone || g.ID != k.ID || g.Packets != k.Packets || g.Bytes != k.Bytes ||
			(g.Status&2 == 0) != (k.Status&(1<<30) != 0) || (g.Status&4 != 0) != (k.Status&4 != 0) {
			t.Errorf("event %d:\n conntrack: %s\n      got: %+v", i, l, *g)
		}
		if g.State != "" {
			states[g.State] = true
		}
		if g.Type == "DESTROY" {
			destroys++
			if g.Start.IsZero() || g.Stop.Before(g.Start) || time.Since(g.Start) > time.Minute {
				t.Errorf("destroy timestamps %v .. %v", g.Start, g.Stop)
			}
		}
	}
	for _, s := range []string{"SYN_SENT", "SYN_RECV", "ESTABLISHED", "TIME_WAIT"} {
		if !states[s] {
			t.Errorf("no event in state %s:\n%s", s, strings.Join(want, "\n"))
		}
	}
	if destroys != 2 {
		t.Errorf("%d DESTROY events, want 2", destroys)
	}
	if st := src.Stats(); st.Received != uint64(len(want)) || st.Overruns != 0 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
	if testing.Verbose() {
		t.Log("\n" + string(bytes.Join(func() [][]byte {
			var b [][]byte
			for _, l := range want {
				b = append(b, []byte(l))
			}
			return b
		}(), []byte("\n"))))
	}
}

// TestKernelConntrackDestroyOnly subscribes to DESTROY events alone.
func TestKernelConntrackDestroyOnly(t *testing.T) {
	p := newPair(t)
	p.restore(p.a, 4, "*filter\n-A INPUT -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n")
	src, err := NewConntrack(ConntrackConfig{NetNS: "/run/netns/" + p.a, Events: EventDestroy})
	if err != nil {
		t.Fatal(err)
	}
	c := collect(src)
	ub := udpConn(t, p.b, "10.77.0.2:5556")
	for _, port := range []int{7001, 7002} {
		if _, err := ub.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	p.run(p.a, "conntrack -D -p udp --dport 7001")
	recs := c.wait(2, 2*time.Second)
	c.finish(t)
	if len(recs) != 1 {
		t.Fatalf("%d records, want the one DESTROY: %+v", len(recs), recs)
	}
	f := recs[0].Flow
	if f.Type != "DESTROY" || f.Proto != 17 || f.OrigDport != 7001 || f.OrigSport != 5556 ||
		f.OrigSrc != netip.MustParseAddr("10.77.0.2") || f.ReplSrc != netip.MustParseAddr("10.77.0.1") || f.ReplDport != 5556 {
		t.Errorf("got %+v", *f)
	}
}

// TestKernelCloseStopsRun: Close unblocks a running source, which returns nil.
func TestKernelCloseStopsRun(t *testing.T) {
	p := newPair(t)
	src, err := NewConntrack(ConntrackConfig{NetNS: "/run/netns/" + p.a})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- src.Run(context.Background(), make(chan logd.Record)) }()
	time.Sleep(50 * time.Millisecond)
	src.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
