package conntrack

// Placeholder TCP tracker: a minimal state machine driven by the TCP
// flags only, with the API of the real tracker (window tracking, the
// kernel's full state table and its sysctls) so that the core builds and
// runs until that tracker replaces this file.

import (
	"fmt"
	"strconv"

	"github.com/nfgo/nfgo/packet"
)

// TCP tracker states (TCP_CONNTRACK_*).
const (
	TCPNone uint8 = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
)

// TCPNumStates is the number of TCP tracker states.
const TCPNumStates = 10

// TCPState is the per-connection state of the TCP tracker.
type TCPState struct {
	State              uint8
	Seen               [2]TCPSeen
	LastDir, LastIndex uint8
	LastSeq, LastAck   uint32
	LastEnd            uint32
	LastWin            uint16
	LastWscale         uint8
	LastFlags          uint8
	RetransCount       uint8
}

// TCPSeen is what the tracker saw of one direction.
type TCPSeen struct {
	End, MaxEnd, MaxWin uint32
	Scale, Flags        uint8
}

// TCPConfig holds the TCP sysctls.
type TCPConfig struct {
	Timeouts         [TCPNumStates + 2]int64 // ns
	Loose, BeLiberal bool
	IgnoreInvalidRST bool
	MaxRetrans       uint8
}

var tcpTimeoutNames = [TCPNumStates + 2]string{"", "syn_sent", "syn_recv", "established", "fin_wait",
	"close_wait", "last_ack", "time_wait", "close", "syn_sent2", "max_retrans", "unacknowledged"}

// DefaultTCPConfig returns the kernel's defaults.
func DefaultTCPConfig() TCPConfig {
	const s = int64(1e9)
	return TCPConfig{
		Timeouts: [TCPNumStates + 2]int64{0, 120 * s, 60 * s, 5 * 86400 * s, 120 * s, 60 * s,
			30 * s, 120 * s, 10 * s, 120 * s, 300 * s, 300 * s},
		Loose:      true,
		MaxRetrans: 3,
	}
}

// SetSysctl sets one net.netfilter.nf_conntrack_tcp_* key (without the
// "net.netfilter." prefix).
func (c *TCPConfig) SetSysctl(key, value string) (bool, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	for i, name := range tcpTimeoutNames {
		if name != "" && key == "nf_conntrack_tcp_timeout_"+name {
			if err != nil {
				return true, fmt.Errorf("%s: %w", key, err)
			}
			c.Timeouts[i] = n * 1e9
			return true, nil
		}
	}
	switch key {
	case "nf_conntrack_tcp_loose", "nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_ignore_invalid_rst", "nf_conntrack_tcp_max_retrans":
		if err != nil {
			return true, fmt.Errorf("%s: %w", key, err)
		}
	default:
		return false, nil
	}
	switch key {
	case "nf_conntrack_tcp_loose":
		c.Loose = n != 0
	case "nf_conntrack_tcp_be_liberal":
		c.BeLiberal = n != 0
	case "nf_conntrack_tcp_ignore_invalid_rst":
		c.IgnoreInvalidRST = n != 0
	case "nf_conntrack_tcp_max_retrans":
		c.MaxRetrans = uint8(n)
	}
	return true, nil
}

// TCPCall carries a packet's context in and the tracker's decisions out.
type TCPCall struct {
	Reply  bool
	Status uint32
	Now    int64
	Cfg    *TCPConfig
	// out
	Timeout int64
	Assure  bool
	Events  uint32
	Invalid string
}

// TCPResult is the outcome of Packet.
type TCPResult uint8

const (
	TCPAccept TCPResult = iota
	TCPInvalid
	TCPRepeat
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// New decides whether a first packet may create a connection.
func (st *TCPState) New(p *packet.Packet, c *TCPCall) bool {
	l4 := p.L4()
	if len(l4) < 20 {
		c.Invalid = "short packet"
		return false
	}
	f := l4[13]
	*st = TCPState{}
	switch {
	case f&tcpRST != 0:
	case f&tcpSYN != 0 && f&tcpACK == 0:
		return true
	case f&(tcpSYN|tcpFIN) == 0 && f&tcpACK != 0 && c.Cfg.Loose:
		return true
	}
	c.Invalid = "invalid new"
	return false
}

// Packet advances the state for a packet of the connection.
func (st *TCPState) Packet(p *packet.Packet, c *TCPCall) TCPResult {
	l4 := p.L4()
	if len(l4) < 20 {
		c.Invalid = "short packet"
		return TCPInvalid
	}
	f := l4[13]
	old := st.State
	ns := old
	switch {
	case f&tcpRST != 0:
		ns = TCPClose
	case f&tcpSYN != 0 && f&tcpACK == 0:
		switch {
		case old == TCPNone || old == TCPSynSent:
			ns = TCPSynSent
			if c.Reply {
				ns = TCPSynSent2
			}
		case (old == TCPTimeWait || old == TCPClose) && !c.Reply:
			return TCPRepeat
		}
	case f&tcpSYN != 0:
		if c.Reply && (old == TCPSynSent || old == TCPSynSent2) {
			ns = TCPSynRecv
		}
	case f&tcpFIN != 0:
		switch old {
		case TCPEstablished, TCPSynRecv:
			ns = TCPFinWait
		case TCPFinWait, TCPCloseWait:
			ns = TCPLastAck
		}
	case f&tcpACK != 0:
		switch old {
		case TCPNone, TCPSynRecv:
			ns = TCPEstablished
		case TCPFinWait:
			ns = TCPCloseWait
		case TCPLastAck:
			ns = TCPTimeWait
		}
	}
	st.State = ns
	st.LastFlags = f
	if ns != old {
		c.Events |= EvProtoInfo
	}
	if ns == TCPEstablished && c.Status&statusAssured == 0 {
		c.Assure = true
	}
	c.Timeout = c.Cfg.Timeouts[ns]
	return TCPAccept
}

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// TCPStateName is a state's name as /proc and conntrack print it.
func TCPStateName(s uint8) string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "NONE"
}
