package conntrack

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/packet"
)

// The endpoints of the test connections: the client opens, so its
// packets are the original direction.
const (
	tcpTestClient = "10.0.1.2:40000"
	tcpTestServer = "10.0.2.2:80"
)

// tcpStep is one segment of a scenario and what must follow from it.
type tcpStep struct {
	from  byte   // 'c' client, 's' server
	seg   string // packet line keywords: flags, seq, ack, win, len, options
	state string // the entry's state afterwards; "-" for no entry
	inv   bool   // the packet is INVALID
	to    int64  // the entry's timeout in seconds afterwards; 0: not checked
	flags string // entry flags: "A" assured, "U" unreplied, "-" neither; "" not checked
}

type tcpScenario struct {
	name    string
	sysctls map[string]string
	steps   []tcpStep
}

// tcpLine turns a step into a packet line.
func tcpLine(s tcpStep) string {
	src, dst := tcpTestClient, tcpTestServer
	if s.from == 's' {
		src, dst = dst, src
	}
	return fmt.Sprintf("tcp %s > %s %s", src, dst, s.seg)
}

func tcpPacket(t testing.TB, line string) *packet.Packet {
	t.Helper()
	l, err := packet.ParseLine(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	p, err := l.Packet()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return p
}

// tcpSim is a minimal connection tracking core around the TCP tracker for
// one flow: lookup by direction, creation, confirmation, SEEN_REPLY and
// ASSURED, timeouts, kills and repeats, as nf_conntrack_in does them.
type tcpSim struct {
	cfg      TCPConfig
	exists   bool
	client   string // the original direction's source, "addr:port"
	st       TCPState
	status   uint32
	deadline int64
	now      int64
	logs     []string
}

// feed runs one packet through the simulated core; it reports whether the
// packet was INVALID.
func (s *tcpSim) feed(p *packet.Packet) bool {
	src := fmt.Sprintf("%s:%d", p.Src(), p.TCP().SrcPort())
	c := TCPCall{Now: s.now, Cfg: &s.cfg}
	for {
		if !s.exists {
			var st TCPState
			if !st.New(p, &c) {
				s.log(c.Invalid)
				return true
			}
			c.Reply, c.Status = false, 0
			if r := st.Packet(p, &c); r != TCPAccept {
				s.log(c.Invalid)
				return true
			}
			s.log(c.Info)
			s.exists, s.client, s.st, s.status = true, src, st, ext.CTStatusConfirmed
			s.deadline = s.now + c.Timeout
			if c.Kill {
				s.exists = false
			}
			return false
		}
		c.Reply = src != s.client
		c.Status = s.status
		c.Deadline = s.deadline
		switch s.st.Packet(p, &c) {
		case TCPRepeat:
			s.exists = false
			continue
		case TCPInvalid:
			s.log(c.Invalid)
			s.log(c.Info)
			if c.Timeout != TCPKeepTimeout {
				s.deadline = s.now + c.Timeout
			}
			return true
		}
		s.log(c.Info)
		if c.Timeout != TCPKeepTimeout {
			s.deadline = s.now + c.Timeout
		}
		if c.Assure {
			s.status |= ext.CTStatusAssured
		}
		if c.Reply {
			s.status |= ext.CTStatusSeenReply
		}
		if c.Kill {
			s.exists = false
		}
		return false
	}
}

func (s *tcpSim) log(m string) {
	if m != "" {
		s.logs = append(s.logs, m)
	}
}

// view is what `conntrack -L` shows of the entry: state, timeout in
// seconds (rounded as the kernel does, down), ASSURED and UNREPLIED.
func (s *tcpSim) view() (state string, to int64, flags string) {
	if !s.exists {
		return "-", 0, ""
	}
	if s.status&ext.CTStatusAssured != 0 {
		flags += "A"
	}
	if s.status&ext.CTStatusSeenReply == 0 {
		flags += "U"
	}
	return TCPStateName(s.st.State), (s.deadline - s.now) / tcpSecond, flags
}

func (s *tcpSim) apply(t *testing.T, sysctls map[string]string) {
	s.cfg = DefaultTCPConfig()
	for k, v := range sysctls {
		if known, err := s.cfg.SetSysctl(k, v); !known || err != nil {
			t.Fatalf("SetSysctl(%s, %s): %v %v", k, v, known, err)
		}
	}
}

// The handshake most scenarios start with: client ISN 1000, server ISN
// 5000, no window scaling (the server does not offer it).
var tcpHandshake = []tcpStep{
	{from: 'c', seg: "syn seq 1000 win 65535 mss 1460 sackok wscale 8", state: "SYN_SENT", to: 120, flags: "U"},
	{from: 's', seg: "syn,ack seq 5000 ack 1001 win 65535 mss 1460", state: "SYN_RECV", to: 60, flags: "-"},
	{from: 'c', seg: "ack seq 1001 ack 5001 win 65535", state: "ESTABLISHED", to: 432000, flags: "A"},
}

// tcpWithData adds 3000 bytes from the server, acknowledged.
var tcpWithData = append(append([]tcpStep{}, tcpHandshake...), []tcpStep{
	{from: 's', seg: "ack seq 5001 ack 1001 win 65535 len 1000", state: "ESTABLISHED", to: 300},
	{from: 's', seg: "ack seq 6001 ack 1001 win 65535 len 1000", state: "ESTABLISHED", to: 300},
	{from: 's', seg: "ack seq 7001 ack 1001 win 65535 len 1000", state: "ESTABLISHED", to: 300},
	{from: 'c', seg: "ack seq 1001 ack 6001 win 65535", state: "ESTABLISHED", to: 300},
	{from: 'c', seg: "ack seq 1001 ack 7001 win 65535", state: "ESTABLISHED", to: 300},
	{from: 'c', seg: "ack seq 1001 ack 8001 win 65535", state: "ESTABLISHED", to: 432000},
}...)

func tcpSteps(parts ...[]tcpStep) []tcpStep {
	var all []tcpStep
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// tcpScenarios are the kernel's conntrack packetdrill tests retold with
// absolute sequence numbers, and more.
var tcpScenarios = []tcpScenario{
	{name: "handshake and orderly close", steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 'c', seg: "fin,ack seq 1001 ack 8001 win 65535", state: "FIN_WAIT", to: 120},
		{from: 's', seg: "ack seq 8001 ack 1002 win 65535", state: "CLOSE_WAIT", to: 60},
		{from: 's', seg: "fin,ack seq 8001 ack 1002 win 65535", state: "LAST_ACK", to: 30},
		{from: 'c', seg: "ack seq 1002 ack 8002 win 65535", state: "TIME_WAIT", to: 120},
		// SYN reuse in TIME_WAIT: a new connection.
		{from: 'c', seg: "syn seq 90000 win 65535 mss 1460", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 70000 ack 90001 win 65535 mss 1460", state: "SYN_RECV", to: 60},
		{from: 'c', seg: "ack seq 90001 ack 70001 win 65535", state: "ESTABLISHED", to: 432000, flags: "A"},
	})},
	// conntrack_rst_invalid.pkt: out-of-window RSTs are INVALID and leave
	// ESTABLISHED; the exact one closes.
	{name: "rst invalid", steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 's', seg: "rst seq 0 win 0", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 's', seg: "rst seq 1000000 win 0", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 's', seg: "rst seq 5042 win 0", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 'c', seg: "psh,ack seq 1001 ack 8001 win 65535 len 1000", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "ack seq 8001 ack 2001 win 65535", state: "ESTABLISHED", to: 432000},
		{from: 's', seg: "rst,ack seq 8000 ack 2001 win 0", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 's', seg: "rst,ack seq 8001 ack 2001 win 0", state: "CLOSE", to: 10},
	})},
	// An in-window RST above the exact sequence keeps ESTABLISHED, for a
	// challenge ACK, with the CLOSE timeout.
	{name: "inexact rst in window", steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 's', seg: "rst seq 8100 win 0", state: "ESTABLISHED", to: 10},
		// The RST's sequence counts as unacknowledged data.
		{from: 'c', seg: "ack seq 1001 ack 8001 win 65535", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "rst seq 8001 win 0", state: "CLOSE", to: 10},
	})},
	{name: "inexact rst timeouts", sysctls: map[string]string{
		"nf_conntrack_tcp_timeout_close": "7", "nf_conntrack_tcp_timeout_unacknowledged": "250", "nf_conntrack_tcp_timeout_max_retrans": "200",
	}, steps: tcpSteps(tcpHandshake, []tcpStep{
		{from: 's', seg: "rst seq 5100 win 0", state: "ESTABLISHED", to: 7},
		{from: 'c', seg: "ack seq 1001 ack 5001 win 65535", state: "ESTABLISHED", to: 250},
		{from: 's', seg: "rst,ack seq 5300 ack 1001 win 0", state: "ESTABLISHED", to: 7},
	})},
	{name: "inexact rst short established", sysctls: map[string]string{
		"nf_conntrack_tcp_timeout_close": "150", "nf_conntrack_tcp_timeout_established": "100",
	}, steps: tcpSteps(tcpHandshake[:2], []tcpStep{
		{from: 'c', seg: "ack seq 1001 ack 5001 win 65535", state: "ESTABLISHED", to: 100, flags: "A"},
		{from: 's', seg: "rst seq 5100 win 0", state: "ESTABLISHED", to: 150},
	})},
	{name: "inexact rst after retransmissions", sysctls: map[string]string{
		"nf_conntrack_tcp_timeout_close": "7", "nf_conntrack_tcp_timeout_max_retrans": "200",
	}, steps: tcpSteps(tcpHandshake, []tcpStep{
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 200},
		{from: 's', seg: "rst seq 5100 win 0", state: "ESTABLISHED", to: 200},
	})},
	// conntrack_inexact_rst.pkt: after FIN the state closes on RST, and a
	// late RST is not INVALID.
	{name: "fin then late rst", steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 'c', seg: "psh,ack seq 1001 ack 8001 win 65535 len 1000", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "fin,ack seq 8001 ack 2001 win 65535", state: "FIN_WAIT", to: 120},
		{from: 'c', seg: "ack seq 2001 ack 8002 win 65535", state: "CLOSE_WAIT", to: 60},
		{from: 'c', seg: "rst,ack seq 2001 ack 8002 win 65535", state: "CLOSE", to: 10},
		{from: 's', seg: "rst seq 7001 win 0", state: "CLOSE", to: 10},
	})},
	// conntrack_synack_reuse.pkt: a SYN in ESTABLISHED is ignored, the
	// challenge ACK passes, the client's RST closes, its SYN reopens.
	{name: "syn reuse after rst", steps: tcpSteps(tcpHandshake, []tcpStep{
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 257 len 100", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "ack seq 5001 ack 1101 win 256", state: "ESTABLISHED", to: 432000},
		{from: 'c', seg: "syn seq 2000 win 32792 mss 1000 wscale 7", state: "ESTABLISHED", to: 432000},
		{from: 's', seg: "ack seq 5001 ack 1101 win 256", state: "ESTABLISHED", to: 432000},
		{from: 'c', seg: "rst,ack seq 1101 ack 5001 win 257", state: "CLOSE", to: 10},
		{from: 'c', seg: "syn seq 2000 win 32792 mss 1000 wscale 0", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 9000 ack 2001 win 65535 mss 1460", state: "SYN_RECV", to: 60},
	})},
	// conntrack_synack_old.pkt: a SYN/ACK of an old incarnation is
	// INVALID, the right one after the retransmitted SYN is not.
	{name: "old synack", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535 mss 1460 sackok wscale 8", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 145824453 ack 643160523 win 240 mss 1440 wscale 0", state: "SYN_SENT", inv: true, to: 120, flags: "U"},
		{from: 'c', seg: "syn seq 1000 win 65535 mss 1460 sackok wscale 8", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 145758918 ack 1001 win 250 mss 1460 wscale 0", state: "SYN_RECV", to: 60, flags: ""},
		{from: 'c', seg: "ack seq 1001 ack 145758919 win 256", state: "ESTABLISHED", to: 432000, flags: "A"},
		{from: 'c', seg: "psh,ack seq 1001 ack 145758919 win 256 len 1", state: "ESTABLISHED", to: 300, flags: "A"},
	}},
	// conntrack_syn_challenge_ack.pkt: the SYN meets a challenge ACK of an
	// old incarnation; the client's RST answers it, the new SYN opens.
	{name: "syn challenge ack", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535 mss 1460 sackok wscale 8", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "ack seq 145824453 ack 643160523 win 240", state: "SYN_SENT", to: 120, flags: "-"},
		{from: 'c', seg: "rst seq 643160523 win 0", state: "CLOSE", to: 10},
		{from: 'c', seg: "syn seq 1000 win 65535 mss 1460 sackok wscale 8", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 5000 ack 1001 win 250 mss 1460 wscale 0", state: "SYN_RECV", to: 60},
		{from: 'c', seg: "ack seq 1001 ack 5001 win 256", state: "ESTABLISHED", to: 432000, flags: "A"},
	}},
	// A RST answering the SYN (connection refused) kills the entry.
	{name: "rst in syn sent", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "rst,ack seq 0 ack 1001 win 0", state: "-"},
	}},
	// An RST with a wrong ack in SYN_SENT: out of window.
	{name: "rst in syn sent bad ack", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "rst,ack seq 0 ack 77777 win 0", state: "SYN_SENT", inv: true, to: 120, flags: "U"},
	}},
	// Simultaneous open.
	{name: "simultaneous open", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn seq 5000 win 65535", state: "SYN_SENT2", to: 120},
		{from: 'c', seg: "syn,ack seq 1000 ack 5001 win 65535", state: "SYN_RECV", to: 60},
		{from: 's', seg: "syn,ack seq 5000 ack 1001 win 65535", state: "SYN_RECV", to: 60},
		{from: 's', seg: "ack seq 5001 ack 1001 win 65535", state: "ESTABLISHED", to: 432000, flags: "A"},
	}},
	// Invalid first packets and flag combinations.
	{name: "invalid new", steps: []tcpStep{
		{from: 'c', seg: "syn,ack seq 1000 ack 5 win 65535", state: "-", inv: true},
		{from: 'c', seg: "fin,ack seq 1000 ack 5 win 65535", state: "-", inv: true},
		{from: 'c', seg: "rst seq 1000 win 65535", state: "-", inv: true},
		{from: 'c', seg: "syn,fin seq 1000 win 65535", state: "-", inv: true},
		{from: 'c', seg: "seq 1000 win 65535", state: "-", inv: true},
		{from: 'c', seg: "fin seq 1000 win 65535", state: "-", inv: true},
		{from: 'c', seg: "syn seq 1000 win 65535", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 'c', seg: "syn,rst seq 1000 win 65535", state: "SYN_SENT", inv: true, to: 120},
		{from: 'c', seg: "ack seq 1001 ack 1 win 65535", state: "SYN_SENT", inv: true, to: 120},
	}},
	// Mid-stream pickup (nf_conntrack_tcp_loose=1).
	{name: "loose pickup", steps: []tcpStep{
		{from: 'c', seg: "ack seq 1000 ack 5000 win 502 len 100", state: "ESTABLISHED", to: 300, flags: "U"},
		// Still no SEEN_REPLY while the first reply is tracked.
		{from: 's', seg: "ack seq 5000 ack 1100 win 509", state: "ESTABLISHED", to: 300, flags: "-"},
		{from: 'c', seg: "ack seq 1100 ack 5000 win 502", state: "ESTABLISHED", to: 432000, flags: "A"},
	}},
	{name: "no pickup without loose", sysctls: map[string]string{"nf_conntrack_tcp_loose": "0"}, steps: []tcpStep{
		{from: 'c', seg: "ack seq 1000 ack 5000 win 502 len 100", state: "-", inv: true},
	}},
	// Window scaling and SACK: the client's window is 200<<7.
	{name: "window scaling and sack", steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 1000 mss 1460 sackok wscale 7", state: "SYN_SENT", to: 120, flags: "U"},
		{from: 's', seg: "syn,ack seq 5000 ack 1001 win 65535 mss 1460 sackok wscale 7", state: "SYN_RECV", to: 60, flags: "-"},
		{from: 'c', seg: "ack seq 1001 ack 5001 win 200", state: "ESTABLISHED", to: 432000, flags: "A"},
		{from: 's', seg: "ack seq 5001 ack 1001 win 512 len 1000", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "ack seq 25001 ack 1001 win 512 len 100", state: "ESTABLISHED", to: 300},
		// SACK of 25001-25101: the highest right edge is the ack checked.
		{from: 'c', seg: "ack seq 1001 ack 6001 win 200 tcpopt hex:0101050a000061a90000620d", state: "ESTABLISHED", to: 300},
		// A SACK edge beyond what was sent.
		{from: 'c', seg: "ack seq 1001 ack 6001 win 200 tcpopt hex:0101050a000061a900009c40", state: "ESTABLISHED", inv: true, to: 300},
		// The right edge is now 25101 + (200<<7) = 50701; 400 bytes
		// beyond it are let through, not INVALID.
		{from: 's', seg: "ack seq 51000 ack 1001 win 512 len 100", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "ack seq 200000 ack 1001 win 512 len 10", state: "ESTABLISHED", inv: true, to: 300},
		{from: 'c', seg: "ack seq 1001 ack 51100 win 200", state: "ESTABLISHED", to: 432000},
	}},
	// Data beyond the window and acks of unseen data.
	{name: "window checks", steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 's', seg: "ack seq 200000 ack 1001 win 65535 len 10", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 'c', seg: "ack seq 1001 ack 9000 win 65535", state: "ESTABLISHED", inv: true, to: 432000},
		{from: 'c', seg: "ack seq 1001 ack 8001 win 65535", state: "ESTABLISHED", to: 432000},
	})},
	{name: "liberal window", sysctls: map[string]string{"nf_conntrack_tcp_be_liberal": "1"}, steps: tcpSteps(tcpWithData, []tcpStep{
		// Accepted, but without learning from it.
		{from: 's', seg: "ack seq 200000 ack 1001 win 65535 len 10", state: "ESTABLISHED", to: 432000},
		{from: 's', seg: "rst seq 5042 win 0", state: "ESTABLISHED", inv: true, to: 432000},
	})},
	{name: "ignore invalid rst", sysctls: map[string]string{"nf_conntrack_tcp_ignore_invalid_rst": "1"}, steps: tcpSteps(tcpWithData, []tcpStep{
		{from: 's', seg: "rst seq 5042 win 0", state: "ESTABLISHED", to: 10},
	})},
	// Retransmissions beyond nf_conntrack_tcp_max_retrans shorten the
	// timeout.
	{name: "retransmissions", steps: tcpSteps(tcpHandshake, []tcpStep{
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 300},
		{from: 'c', seg: "psh,ack seq 1001 ack 5001 win 65535 len 100", state: "ESTABLISHED", to: 200},
		{from: 's', seg: "ack seq 5001 ack 1101 win 65535", state: "ESTABLISHED", to: 432000},
	}), sysctls: map[string]string{"nf_conntrack_tcp_timeout_max_retrans": "200"}},
	// A zero window: the retrans timeout.
	{name: "zero window", steps: tcpSteps(tcpHandshake, []tcpStep{
		{from: 's', seg: "ack seq 5001 ack 1001 win 0", state: "ESTABLISHED", to: 300},
		{from: 's', seg: "ack seq 5001 ack 1001 win 10", state: "ESTABLISHED", to: 432000},
	})},
	// Sysctl timeouts.
	{name: "configured timeouts", sysctls: map[string]string{
		"nf_conntrack_tcp_timeout_syn_sent": "7", "nf_conntrack_tcp_timeout_syn_recv": "8",
		"nf_conntrack_tcp_timeout_established": "999", "nf_conntrack_tcp_timeout_unacknowledged": "500",
	}, steps: []tcpStep{
		{from: 'c', seg: "syn seq 1000 win 65535", state: "SYN_SENT", to: 7, flags: "U"},
		{from: 's', seg: "syn,ack seq 5000 ack 1001 win 65535", state: "SYN_RECV", to: 8},
		{from: 'c', seg: "ack seq 1001 ack 5001 win 65535", state: "ESTABLISHED", to: 999, flags: "A"},
		{from: 'c', seg: "ack seq 1001 ack 5001 win 65535 len 5", state: "ESTABLISHED", to: 500},
	}},
}

func TestTCPScenarios(t *testing.T) {
	for _, sc := range tcpScenarios {
		t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) {
			var sim tcpSim
			sim.apply(t, sc.sysctls)
			for i, s := range sc.steps {
				sim.now += 1e6
				inv := sim.feed(tcpPacket(t, tcpLine(s)))
				state, to, flags := sim.view()
				if inv != s.inv || state != s.state || (s.to != 0 && to != s.to-1 && to != s.to) ||
					(s.flags != "" && flags != strings.Trim(s.flags, "-")) {
					t.Errorf("step %d %c %q: got invalid=%v %s to=%d flags=%q, want invalid=%v %s to=%d flags=%q; log %q",
						i+1, s.from, s.seg, inv, state, to, flags, s.inv, s.state, s.to, s.flags, sim.logs)
				}
			}
		})
	}
}

// A connection's packets, in window, allocate nothing.
func TestTCPAllocs(t *testing.T) {
	steps := tcpSteps(tcpHandshake, []tcpStep{
		{from: 's', seg: "ack seq 5001 ack 1001 win 65535 len 1000"},
		{from: 'c', seg: "ack seq 1001 ack 6001 win 65535"},
	})
	var pkts []*packetAndDir
	for _, s := range steps {
		pkts = append(pkts, &packetAndDir{tcpPacket(t, tcpLine(s)), s.from == 's'})
	}
	cfg := DefaultTCPConfig()
	var st TCPState
	c := TCPCall{Cfg: &cfg}
	allocs := testing.AllocsPerRun(100, func() {
		st.New(pkts[0].p, &c)
		status := uint32(0)
		for _, pd := range pkts {
			c.Reply, c.Status = pd.reply, status
			if st.Packet(pd.p, &c) != TCPAccept {
				t.Fatal("not accepted")
			}
			if pd.reply {
				status |= ext.CTStatusSeenReply
			}
			if c.Assure {
				status |= ext.CTStatusAssured
			}
		}
		// An ignored SYN logs a message without allocating.
		c.Status = status
		st.Packet(pkts[0].p, &c)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per connection", allocs)
	}
	if c.Info != "packet (index 0) in dir 0 ignored, state ESTABLISHED" {
		t.Errorf("Info = %q", c.Info)
	}
}

type packetAndDir struct {
	p     *packet.Packet
	reply bool
}

// The outputs of the handshake: PROTOINFO on each state change, ASSURED
// once, after SYN_RECV.
func TestTCPEvents(t *testing.T) {
	var st TCPState
	c := TCPCall{}
	p := tcpPacket(t, tcpLine(tcpHandshake[0]))
	if !st.New(p, &c) || st.Packet(p, &c) != TCPAccept || c.Events != tcpEvProtoinfo || c.Assure {
		t.Fatalf("SYN: events %#x assure %v", c.Events, c.Assure)
	}
	c.Reply = true
	if st.Packet(tcpPacket(t, tcpLine(tcpHandshake[1])), &c) != TCPAccept || c.Events != tcpEvProtoinfo || c.Assure {
		t.Fatalf("SYN/ACK: events %#x assure %v", c.Events, c.Assure)
	}
	c.Reply, c.Status = false, ext.CTStatusSeenReply
	if st.Packet(tcpPacket(t, tcpLine(tcpHandshake[2])), &c) != TCPAccept || c.Events != tcpEvProtoinfo|tcpEvAssured || !c.Assure {
		t.Fatalf("ACK: events %#x assure %v", c.Events, c.Assure)
	}
	c.Status |= ext.CTStatusAssured
	if st.Packet(tcpPacket(t, tcpLine(tcpHandshake[2])), &c) != TCPAccept || c.Events != 0 || c.Assure {
		t.Fatalf("second ACK: events %#x assure %v", c.Events, c.Assure)
	}
	// A fixed timeout is left alone.
	c.Status |= ext.CTStatusFixedTimeout
	if st.Packet(tcpPacket(t, tcpLine(tcpHandshake[2])), &c) != TCPAccept || c.Timeout != TCPKeepTimeout {
		t.Fatalf("fixed timeout: Timeout %d", c.Timeout)
	}
	// REJECT's reset: CLOSE with its timeout.
	st.SetClosing(true, &TCPCall{})
	if st.State != TCPClose {
		t.Fatalf("SetClosing: state %s", TCPStateName(st.State))
	}
}

func TestTCPSysctl(t *testing.T) {
	c := DefaultTCPConfig()
	for _, tc := range []struct {
		key, value string
		known, ok  bool
	}{
		{"nf_conntrack_tcp_timeout_syn_sent", "7", true, true},
		{"net.netfilter.nf_conntrack_tcp_timeout_unacknowledged", "9\n", true, true},
		{"nf_conntrack_tcp_be_liberal", "1", true, true},
		{"nf_conntrack_tcp_loose", "2", true, false},
		{"nf_conntrack_tcp_max_retrans", "256", true, false},
		{"nf_conntrack_tcp_max_retrans", "5", true, true},
		{"nf_conntrack_tcp_timeout_close", "-1", true, false},
		{"nf_conntrack_tcp_timeout_close", "x", true, false},
		{"nf_conntrack_udp_timeout", "5", false, true},
	} {
		known, err := c.SetSysctl(tc.key, tc.value)
		if known != tc.known || (err == nil) != tc.ok {
			t.Errorf("SetSysctl(%q, %q) = %v, %v", tc.key, tc.value, known, err)
		}
	}
	if c.Timeouts[TCPSynSent] != 7e9 || c.Timeouts[TCPNone] != 7e9 || c.Timeouts[TCPTimeoutUnack] != 9e9 ||
		!c.BeLiberal || !c.Loose || c.MaxRetrans != 5 || c.Timeouts[TCPClose] != 10e9 {
		t.Errorf("config %+v", c)
	}
	for s := uint8(0); s < TCPNumStates; s++ {
		if TCPStateName(s) == "UNKNOWN" {
			t.Errorf("state %d has no name", s)
		}
	}
}

// tcp_error: header length and checksum, before the flags.
func TestTCPError(t *testing.T) {
	p := tcpPacket(t, tcpLine(tcpStep{from: 'c', seg: "syn,fin seq 1 win 100"}))
	var st TCPState
	c := TCPCall{CheckSum: true}
	if st.New(p, &c) || c.Invalid != "invalid tcp flag combination" {
		t.Errorf("SYN,FIN: %q", c.Invalid)
	}
	p.TCP()[17] ^= 0xff // checksum
	if st.New(p, &c) || c.Invalid != "bad checksum" {
		t.Errorf("bad checksum: %q", c.Invalid)
	}
	p.TCP()[12] = 0xf0 // a 60-byte header in 20 bytes
	if st.New(p, &c) || c.Invalid != "truncated packet" {
		t.Errorf("truncated: %q", c.Invalid)
	}
	if st.Packet(p, &c) != TCPInvalid || c.Invalid != "truncated packet" {
		t.Errorf("truncated (Packet): %q", c.Invalid)
	}
}
