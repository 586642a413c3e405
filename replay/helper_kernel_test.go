package replay_test

import (
	"bytes"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/kerneltest"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/replay"
	"github.com/nfgo/nfgo/ruleset"
)

// TestHelpersAgainstKernel runs an FTP control connection (a PORT
// command and its active data connection, a 227 reply and its passive
// data connection, then a PORT command cut short) and a TFTP read request
// answered from another server port through a forwarding DUT whose raw
// table attaches the ftp and tftp helpers, and through nfgo replay of
// the same frames. The expectation lists, the RELATED classification
// (counted in FORWARD), conntrack -L, conntrack -E, conntrack -E expect,
// the helper's log line for the dropped command and the counters must
// agree.
func TestHelpersAgainstKernel(t *testing.T) {
	const (
		dut0, peer0 = "02:00:00:00:01:01", "02:00:00:00:01:02"
		dut1, peer1 = "02:00:00:00:02:01", "02:00:00:00:02:02"
	)
	rules := "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A PREROUTING -p tcp --dport 21 -j CT --helper ftp\n" +
		"-A PREROUTING -p udp --dport 69 -j CT --helper tftp\nCOMMIT\n" +
		"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A FORWARD -m conntrack --ctstate RELATED\n" +
		"-A FORWARD -m conntrack --ctstate NEW\n" +
		"-A FORWARD -m conntrack --ctstate ESTABLISHED\n" +
		"-A FORWARD -m helper --helper ftp\nCOMMIT\n"
	lab := kerneltest.NewLab(t, kerneltest.LabConfig{
		Ifaces: []kerneltest.LabIface{
			{Name: "eth0", MAC: dut0, PeerMAC: peer0, Addrs: []string{"192.0.2.1/24"}},
			{Name: "eth1", MAC: dut1, PeerMAC: peer1, Addrs: []string{"198.51.100.1/24"}},
		},
		Neigh:   []string{"192.0.2.2 lladdr " + peer0 + " dev eth0", "198.51.100.2 lladdr " + peer1 + " dev eth1"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Rules4:  rules,
	})
	snap := t.TempDir()
	if err := lab.Snapshot(snap); err != nil {
		t.Fatal(err)
	}
	var nEv, nExpEv, nLog []string
	s, err := replay.Open(replay.Options{HostDir: snap, Log: func(l string) { nLog = append(nLog, l) }})
	if err != nil {
		t.Fatal(err)
	}
	s.CT.OnEvent = func(ev conntrack.Event) { nEv = append(nEv, conntrack.FormatEvent(ev)) }
	s.CT.OnExpEvent = func(ev conntrack.ExpEvent) { nExpEv = append(nExpEv, conntrack.FormatExpEvent(ev)) }

	// Two event listeners in the DUT, started before any traffic.
	if err := lab.StartConntrackEvents(); err != nil {
		t.Fatal(err)
	}
	expEv, err := startExpectEvents(lab)
	if err != nil {
		t.Fatal(err)
	}

	cli, srv := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.2")
	macs := map[string][2]string{"eth0": {dut0, peer0}, "eth1": {dut1, peer1}}
	var fates []string
	// send injects frames into the DUT and replays the same frames in nfgo.
	send := func(specs ...packet.Spec) {
		t.Helper()
		var buf bytes.Buffer
		w := capture.NewPcapngWriter(&buf)
		ids := map[string]int{}
		for _, sp := range specs {
			in := "eth0"
			if sp.Src == srv {
				in = "eth1"
			}
			p, err := packet.Build(&sp)
			if err != nil {
				t.Fatal(err)
			}
			var dst, src [6]byte
			d, _ := net.ParseMAC(macs[in][0])
			sm, _ := net.ParseMAC(macs[in][1])
			copy(dst[:], d)
			copy(src[:], sm)
			frame := packet.EncodeEthernet(dst, src, nf.IPv4, p.Data, nil)
			id, ok := ids[in]
			if !ok {
				if id, err = w.Interface(in, packet.LinkEthernet); err != nil {
					t.Fatal(err)
				}
				ids[in] = id
			}
			if err := lab.Inject(in, frame); err != nil {
				t.Fatal(err)
			}
			if err := w.WritePacket(id, time.Now().UnixNano(), frame); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		lab.Settle()
		if _, err := s.Replay(bytes.NewReader(buf.Bytes()), "", func(r *replay.Report) error {
			fates = append(fates, r.Packet+": "+r.Fate.Text)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tcp := func(from string, sport, dport uint16, flags uint8, seq, ack uint32, data string) packet.Spec {
		sp := packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoTCP, SrcPort: sport, DstPort: dport,
			Flags: flags, Seq: seq, Ack: ack, Payload: []byte(data)}
		if from == "s" {
			sp.Src, sp.Dst = srv, cli
		}
		return sp
	}
	const pa = packet.TCPPsh | packet.TCPAck
	expectList := func(what string) {
		t.Helper()
		r := lab.Run("conntrack", "-L", "expect")
		var b bytes.Buffer
		s.CT.WriteExpectList(&b, time.Now().UnixNano())
		kerneltest.CompareConntrack(t, what+": conntrack -L expect", kerneltest.Lines(r.Stdout), kerneltest.Lines(b.String()), true)
		r = lab.Run("cat", "/proc/net/nf_conntrack_expect")
		b.Reset()
		s.CT.WriteExpectProc(&b, time.Now().UnixNano())
		kerneltest.CompareConntrack(t, what+": /proc/net/nf_conntrack_expect", kerneltest.Lines(r.Stdout), kerneltest.Lines(b.String()), true)
	}

	// The control connection: handshake, greeting, USER (the first
	// command is never parsed: the helper only reads after a newline it
	// has seen), then PORT.
	send(tcp("c", 40000, 21, packet.TCPSyn, 1000, 0, ""),
		tcp("s", 21, 40000, packet.TCPSyn|packet.TCPAck, 5000, 1001, ""),
		tcp("c", 40000, 21, packet.TCPAck, 1001, 5001, ""),
		tcp("s", 21, 40000, pa, 5001, 1001, "220 hi\r\n"),
		tcp("c", 40000, 21, pa, 1001, 5009, "USER x\r\n"),
		tcp("s", 21, 40000, pa, 5009, 1009, "331 ok\r\n"),
		tcp("c", 40000, 21, pa, 1009, 5017, "PORT 192,0,2,2,4,1\r\n"),
		tcp("s", 21, 40000, pa, 5017, 1029, "200 ok\r\n"))
	expectList("after PORT")
	// The active data connection from the server's port 20.
	send(tcp("s", 20, 1025, packet.TCPSyn, 9000, 0, ""))
	expectList("after the active data connection")
	// PASV and the 227 reply, then the passive data connection.
	send(tcp("c", 40000, 21, pa, 1029, 5025, "PASV\r\n"),
		tcp("s", 21, 40000, pa, 5025, 1035, "227 Entering Passive Mode (198,51,100,2,4,2)\r\n"))
	expectList("after 227")
	send(tcp("c", 40001, 1026, packet.TCPSyn, 7000, 0, ""))
	// Another PORT, then one cut short: the helper drops it.
	send(tcp("c", 40000, 21, pa, 1035, 5071, "PORT 192,0,2,2,4,3\r\n"),
		tcp("c", 40000, 21, pa, 1055, 5071, "PORT 192,0,2,2,4"))
	expectList("after the second PORT")
	// TFTP: a read request, answered from another server port.
	send(packet.Spec{Src: cli, Dst: srv, Proto: packet.ProtoUDP, SrcPort: 40002, DstPort: 69, Payload: []byte("\x00\x01file\x00octet\x00")})
	expectList("after the TFTP request")
	send(packet.Spec{Src: srv, Dst: cli, Proto: packet.ProtoUDP, SrcPort: 40003, DstPort: 40002, Payload: []byte("\x00\x03\x00\x01data")})
	expectList("after the TFTP answer")
	t.Logf("nfgo fates:\n%s", strings.Join(fates, "\n"))

	kList, err := lab.Conntrack()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	s.CT.WriteList(&b, time.Now().UnixNano())
	kerneltest.CompareConntrack(t, "conntrack -L", kList, kerneltest.Lines(b.String()), true)

	kProc, err := lab.ProcConntrack()
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	s.CT.WriteProc(&b, time.Now().UnixNano())
	kerneltest.CompareConntrack(t, "/proc/net/nf_conntrack", kProc, kerneltest.Lines(b.String()), true)
	if k := lab.LogLines("nf_ct_"); strings.Join(k, "\n") != strings.Join(nLog, "\n") {
		t.Errorf("helper log lines differ\nkernel:\n%s\nnfgo:\n%s", strings.Join(k, "\n"), strings.Join(nLog, "\n"))
	}

	want, err := lab.Save(nf.IPv4, true)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	s.Rules4.Save(&b, ruleset.SaveOptions{Counters: true})
	if got := kerneltest.StripComments(b.String()); got != kerneltest.StripComments(want) {
		t.Errorf("counters differ\nnfgo:\n%s\nkernel:\n%s", got, want)
	}
	if !strings.Contains(want, "[3:") || !regexp.MustCompile(`\[3:\d+\] -A FORWARD -m conntrack --ctstate RELATED`).MatchString(want) {
		t.Errorf("the kernel did not see three RELATED connections:\n%s", want)
	}

	kerneltest.CompareConntrack(t, "conntrack -E", lab.ConntrackEvents(), nEv, false)
	kerneltest.CompareConntrack(t, "conntrack -E expect", expEv.stop(), nExpEv, false)
}

// expEvents is a running `conntrack -E expect` in the DUT.
type expEvents struct {
	cmd *exec.Cmd
	out *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func startExpectEvents(lab *kerneltest.Lab) (*expEvents, error) {
	e := &expEvents{out: &syncBuf{}}
	e.cmd = exec.Command("ip", "netns", "exec", lab.DUT.Name, "stdbuf", "-oL", "conntrack", "-E", "expect")
	e.cmd.Stdout = e.out
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	time.Sleep(200 * time.Millisecond)
	return e, nil
}

func (e *expEvents) stop() []string {
	time.Sleep(200 * time.Millisecond)
	e.cmd.Process.Signal(syscall.SIGINT)
	e.cmd.Wait()
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	return kerneltest.Lines(e.out.b.String())
}
