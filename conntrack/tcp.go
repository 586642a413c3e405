package conntrack

// The TCP tracker: the per-connection state machine and window tracking of
// the kernel's nf_conntrack_proto_tcp.c (Linux 6.12), fed one packet at a
// time by the connection tracking core.

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/packet"
)

// TCP connection states (enum tcp_conntrack), in the kernel's numbering.
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

// TCPNumStates is the number of states (TCP_CONNTRACK_MAX).
const TCPNumStates = 10

// Indexes into TCPConfig.Timeouts beyond the states.
const (
	TCPTimeoutRetrans = TCPNumStates     // nf_conntrack_tcp_timeout_max_retrans
	TCPTimeoutUnack   = TCPNumStates + 1 // nf_conntrack_tcp_timeout_unacknowledged
)

// Pseudo-states of the transition table: sIV and sIG.
const (
	tcpInvalidState = TCPNumStates     // TCP_CONNTRACK_MAX
	tcpIgnoreState  = TCPNumStates + 1 // TCP_CONNTRACK_IGNORE
)

// Packet classes (enum tcp_bit_set): the second index of the transition
// table, kept in TCPState.LastIndex.
const (
	TCPIndexSyn uint8 = iota
	TCPIndexSynAck
	TCPIndexFin
	TCPIndexAck
	TCPIndexRst
	TCPIndexNone
)

// Per-direction flags (TCPSeen.Flags, IP_CT_TCP_FLAG_*) and the flags kept
// in TCPState.LastFlags.
const (
	TCPFlagWindowScale        uint8 = 0x01
	TCPFlagSackPerm           uint8 = 0x02
	TCPFlagCloseInit          uint8 = 0x04
	TCPFlagBeLiberal          uint8 = 0x08
	TCPFlagDataUnacknowledged uint8 = 0x10
	TCPFlagMaxAckSet          uint8 = 0x20
	TCPFlagChallengeAck       uint8 = 0x40 // IP_CT_EXP_CHALLENGE_ACK, in LastFlags
	TCPFlagSimultaneousOpen   uint8 = 0x80 // IP_CT_TCP_SIMULTANEOUS_OPEN, in LastFlags
)

// The event bits the tracker reports (IPCT_ASSURED, IPCT_PROTOINFO).
const (
	tcpEvAssured   uint32 = 1 << 4
	tcpEvProtoinfo uint32 = 1 << 5
)

// TCPKeepTimeout in TCPCall.Timeout means: leave the connection's timeout
// as it is.
const TCPKeepTimeout int64 = -1

const tcpMaxWscale = 14

// TCPSeen is what the tracker knows of one direction (struct ip_ct_tcp_state).
type TCPSeen struct {
	End    uint32 // td_end: highest seq + len sent
	MaxEnd uint32 // td_maxend: highest ack + window the peer allowed
	MaxWin uint32 // td_maxwin: largest window advertised (scaled)
	MaxAck uint32 // td_maxack: highest ack sent
	Scale  uint8  // td_scale: window scale factor
	Flags  uint8  // TCPFlag*
}

// TCPState is the per-connection state of the TCP tracker (struct ip_ct_tcp).
type TCPState struct {
	State        uint8
	Seen         [2]TCPSeen // by direction: 0 original, 1 reply
	LastDir      uint8
	LastIndex    uint8
	LastSeq      uint32
	LastAck      uint32
	LastEnd      uint32
	LastWin      uint16
	LastWscale   uint8
	LastFlags    uint8
	RetransCount uint8
}

// TCPConfig holds the TCP sysctls (net.netfilter.nf_conntrack_tcp_*).
type TCPConfig struct {
	// Timeouts in ns by state; [TCPNone] is the SYN_SENT one (the kernel's
	// "new" timeout); [TCPTimeoutRetrans] and [TCPTimeoutUnack] follow the
	// states.
	Timeouts         [TCPNumStates + 2]int64
	Loose            bool // nf_conntrack_tcp_loose: pick up connections mid-stream
	BeLiberal        bool // nf_conntrack_tcp_be_liberal: only out-of-window RSTs are INVALID
	IgnoreInvalidRST bool // nf_conntrack_tcp_ignore_invalid_rst
	MaxRetrans       uint8
}

const tcpSecond = int64(1e9)

// DefaultTCPConfig returns the kernel's defaults (nf_conntrack_tcp_init_net).
func DefaultTCPConfig() TCPConfig {
	var c TCPConfig
	min := 60 * tcpSecond
	c.Timeouts = [TCPNumStates + 2]int64{
		TCPNone:           2 * min,
		TCPSynSent:        2 * min,
		TCPSynRecv:        60 * tcpSecond,
		TCPEstablished:    5 * 24 * 60 * min,
		TCPFinWait:        2 * min,
		TCPCloseWait:      60 * tcpSecond,
		TCPLastAck:        30 * tcpSecond,
		TCPTimeWait:       2 * min,
		TCPClose:          10 * tcpSecond,
		TCPSynSent2:       2 * min,
		TCPTimeoutRetrans: 5 * min,
		TCPTimeoutUnack:   5 * min,
	}
	c.Loose = true
	c.MaxRetrans = 3
	return c
}

var tcpDefaultConfig = DefaultTCPConfig()

// The timeout sysctls by the index they set.
var tcpTimeoutSysctls = map[string]int{
	"nf_conntrack_tcp_timeout_syn_sent":       int(TCPSynSent),
	"nf_conntrack_tcp_timeout_syn_recv":       int(TCPSynRecv),
	"nf_conntrack_tcp_timeout_established":    int(TCPEstablished),
	"nf_conntrack_tcp_timeout_fin_wait":       int(TCPFinWait),
	"nf_conntrack_tcp_timeout_close_wait":     int(TCPCloseWait),
	"nf_conntrack_tcp_timeout_last_ack":       int(TCPLastAck),
	"nf_conntrack_tcp_timeout_time_wait":      int(TCPTimeWait),
	"nf_conntrack_tcp_timeout_close":          int(TCPClose),
	"nf_conntrack_tcp_timeout_max_retrans":    TCPTimeoutRetrans,
	"nf_conntrack_tcp_timeout_unacknowledged": TCPTimeoutUnack,
}

// tcpMaxTimeoutSecs is INT_MAX / HZ for HZ=250, the largest value
// proc_dointvec_jiffies takes on a Debian kernel.
const tcpMaxTimeoutSecs = 2147483647 / 250

// SetSysctl sets one sysctl; key is without the "net.netfilter." prefix
// (dots or slashes are both accepted after it). known is false for a key
// that is not a TCP tracker sysctl.
func (c *TCPConfig) SetSysctl(key, value string) (known bool, err error) {
	key = strings.TrimPrefix(strings.ReplaceAll(key, "/", "."), "net.netfilter.")
	v := strings.TrimSpace(value)
	if i, ok := tcpTimeoutSysctls[key]; ok {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 || n > tcpMaxTimeoutSecs {
			return true, fmt.Errorf("sysctl %s: invalid argument %q", key, value)
		}
		c.Timeouts[i] = n * tcpSecond
		if i == int(TCPSynSent) {
			// The kernel's sysctl table points the "new" slot at the
			// SYN_SENT value as well.
			c.Timeouts[TCPNone] = c.Timeouts[i]
		}
		return true, nil
	}
	var b *bool
	switch key {
	case "nf_conntrack_tcp_loose":
		b = &c.Loose
	case "nf_conntrack_tcp_be_liberal":
		b = &c.BeLiberal
	case "nf_conntrack_tcp_ignore_invalid_rst":
		b = &c.IgnoreInvalidRST
	case "nf_conntrack_tcp_max_retrans":
		n, perr := strconv.ParseUint(v, 10, 8)
		if perr != nil {
			return true, fmt.Errorf("sysctl %s: invalid argument %q", key, value)
		}
		c.MaxRetrans = uint8(n)
		return true, nil
	default:
		return false, nil
	}
	switch v {
	case "0":
		*b = false
	case "1":
		*b = true
	default:
		return true, fmt.Errorf("sysctl %s: invalid argument %q (0 or 1)", key, value)
	}
	return true, nil
}

// TCPCall carries a packet's context in and the tracker's decisions out.
type TCPCall struct {
	Reply  bool   // packet in the reply direction
	Status uint32 // the connection's IPS_* bits before this packet (ext.CTStatus*)
	Now    int64  // ns
	// Deadline is when the connection times out as things stand (ns, the
	// clock of Now); the tracker may shorten it for an INVALID FIN or RST
	// of an assured connection.
	Deadline int64
	// CheckSum asks for the TCP checksum to be verified, in the kernel's
	// order of checks: set it when nf_conntrack_checksum is on and the
	// packet is at PREROUTING.
	CheckSum bool
	Cfg      *TCPConfig // nil: the defaults
	// Adj is the connection's NAT sequence adjustment (nil: none): an
	// acknowledgment is taken back by the other direction's offset
	// before the window checks, as tcp_in_window does.
	Adj *nat.SeqAdjust

	// out:
	Timeout int64  // ns from Now: the connection's new timeout; TCPKeepTimeout: unchanged
	Assure  bool   // set IPS_ASSURED now (core emits IPCT_ASSURED)
	Events  uint32 // IPCT_* bits to report (IPCT_PROTOINFO on state change, IPCT_ASSURED)
	// Invalid says why the packet is INVALID, for nf_conntrack_log_invalid
	// ("" for the cases the kernel does not log).
	Invalid string
	// Info is what the kernel logs (like Invalid) for a packet that stays
	// valid: one it lets through without tracking it ("packet (index 0)
	// in dir 0 ignored, state ESTABLISHED", "challenge-ack ignored", a
	// window overshoot), or, after Invalid, "lowered timeout to UNACK".
	Info string
	// Kill: destroy the connection after this packet (a RST before any
	// reply was seen); the packet itself stays valid.
	Kill bool
}

// TCPResult is the outcome of TCPState.Packet.
type TCPResult uint8

const (
	TCPAccept  TCPResult = iota // the packet belongs to the connection
	TCPInvalid                  // the packet is INVALID; the connection is unchanged
	TCPRepeat                   // destroy the connection and look the packet up again
)

var tcpStateNames = [TCPNumStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
}

// TCPStateName returns the state's name as /proc and conntrack print it.
func TCPStateName(s uint8) string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "UNKNOWN"
}

// The state transition table tcp_conntracks[dir][index][old state].
var tcpConntracks = func() [2][6][TCPNumStates]uint8 {
	const (
		sNO = TCPNone
		sSS = TCPSynSent
		sSR = TCPSynRecv
		sES = TCPEstablished
		sFW = TCPFinWait
		sCW = TCPCloseWait
		sLA = TCPLastAck
		sTW = TCPTimeWait
		sCL = TCPClose
		sS2 = TCPSynSent2
		sIV = tcpInvalidState
		sIG = tcpIgnoreState
	)
	return [2][6][TCPNumStates]uint8{
		{ // original
			//        sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2
			/*syn*/ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
			/*synack*/ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
			/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
			/*ack*/ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
			/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
			/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
		},
		{ // reply
			/*syn*/ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
			/*synack*/ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
			/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
			/*ack*/ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
			/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
			/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
		},
	}
}()

// The table-driven messages, built once so that logging them allocates
// nothing: [index][dir][state].
var tcpIgnoredMsg, tcpInvalidMsg [6][2][TCPNumStates]string

func init() {
	for i := range 6 {
		for d := range 2 {
			for s := range TCPNumStates {
				tcpIgnoredMsg[i][d][s] = fmt.Sprintf("packet (index %d) in dir %d ignored, state %s", i, d, tcpStateNames[s])
				tcpInvalidMsg[i][d][s] = fmt.Sprintf("packet (index %d) in dir %d invalid, state %s", i, d, tcpStateNames[s])
			}
		}
	}
}

// tcpIndex classifies a packet by its flags (get_conntrack_index).
func tcpIndex(flags uint8) uint8 {
	switch {
	case flags&packet.TCPRst != 0:
		return TCPIndexRst
	case flags&packet.TCPSyn != 0:
		if flags&packet.TCPAck != 0 {
			return TCPIndexSynAck
		}
		return TCPIndexSyn
	case flags&packet.TCPFin != 0:
		return TCPIndexFin
	case flags&packet.TCPAck != 0:
		return TCPIndexAck
	}
	return TCPIndexNone
}

// Sequence number comparisons modulo 2^32.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }
func seqAfter(a, b uint32) bool  { return seqBefore(b, a) }

// tcpEnd is seq + payload length, plus one for SYN and for FIN
// (segment_seq_plus_len). seg is the TCP header and payload.
func tcpEnd(th packet.TCP, seg []byte) uint32 {
	end := th.Seq() + uint32(len(seg)-th.DataOff())
	f := th.Flags()
	if f&packet.TCPSyn != 0 {
		end++
	}
	if f&packet.TCPFin != 0 {
		end++
	}
	return end
}

// tcpMaxAckWindow is MAXACKWINDOW(sender).
func tcpMaxAckWindow(s *TCPSeen) uint32 {
	if s.MaxWin > 66000 {
		return s.MaxWin
	}
	return 66000
}

// tcpOptions reads window scale and SACK-permitted into s (tcp_options).
// A header without options leaves s alone.
func tcpOptions(opts []byte, s *TCPSeen) {
	if len(opts) == 0 {
		return
	}
	s.Scale = 0
	s.Flags &= TCPFlagBeLiberal
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of list
			return
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return
		}
		size := int(opts[1])
		if size < 2 || size > len(opts) {
			return
		}
		switch {
		case opts[0] == 4 && size == 2:
			s.Flags |= TCPFlagSackPerm
		case opts[0] == 3 && size == 3:
			s.Scale = min(opts[2], tcpMaxWscale)
			s.Flags |= TCPFlagWindowScale
		}
		opts = opts[size:]
	}
}

// tcpSack raises *sack to the highest right edge of the first SACK option's
// blocks (tcp_sack).
func tcpSack(opts []byte, sack *uint32) {
	if len(opts) == 0 {
		return
	}
	// The common timestamp-only layout.
	if len(opts) == 12 && binary.BigEndian.Uint32(opts) == 0x0101080a {
		return
	}
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return
		}
		size := int(opts[1])
		if size < 2 || size > len(opts) {
			return
		}
		if opts[0] == 5 && size >= 10 && (size-2)%8 == 0 {
			for i := 2; i < size; i += 8 {
				if r := binary.BigEndian.Uint32(opts[i+4:]); seqAfter(r, *sack) {
					*sack = r
				}
			}
			return
		}
		opts = opts[size:]
	}
}

// tcpValidFlags lists the valid combinations of FIN, SYN, RST, ACK and URG
// (PSH, ECE and CWR are always allowed).
var tcpValidFlags = func() (v [64]bool) {
	const fin, syn, rst, ack, urg = 0x01, 0x02, 0x04, 0x10, 0x20
	for _, f := range []int{syn, syn | urg, syn | ack, rst, rst | ack, fin | ack, fin | ack | urg, ack, ack | urg} {
		v[f] = true
	}
	return v
}()

// tcpError is tcp_error: a message when the header is unusable.
func tcpError(p *packet.Packet, seg []byte, c *TCPCall) string {
	th := packet.TCP(seg)
	if th.DataOff() < 20 || len(seg) < th.DataOff() {
		return "truncated packet"
	}
	if c.CheckSum && packet.Fold(packet.Sum(seg, packet.PseudoSum(p.Src(), p.Dst(), packet.ProtoTCP, len(seg)))) != 0xffff {
		return "bad checksum"
	}
	if !tcpValidFlags[th.Flags()&^(packet.TCPEce|packet.TCPCwr|packet.TCPPsh)] {
		return "invalid tcp flag combination"
	}
	return ""
}

func (c *TCPCall) reset() {
	c.Timeout, c.Assure, c.Events, c.Invalid, c.Info, c.Kill = TCPKeepTimeout, false, 0, "", "", false
}

func (c *TCPCall) cfg() *TCPConfig {
	if c.Cfg != nil {
		return c.Cfg
	}
	return &tcpDefaultConfig
}

// New is tcp_new, preceded by tcp_error's checks: whether a connection may
// be created for this first packet of one (false: the packet is INVALID
// and no connection is created; c.Invalid says why, "" when the kernel is
// silent). It initialises st. The core then calls Packet with the same
// packet, as the kernel runs the rest of nf_conntrack_tcp_packet.
func (st *TCPState) New(p *packet.Packet, c *TCPCall) bool {
	c.reset()
	seg := p.L4()
	if p.TCP() == nil {
		return false
	}
	if msg := tcpError(p, seg, c); msg != "" {
		c.Invalid = msg
		return false
	}
	th := packet.TCP(seg)
	newState := tcpConntracks[0][tcpIndex(th.Flags())][TCPNone]
	if newState >= TCPNumStates {
		c.Invalid = "invalid new"
		return false
	}
	if newState != TCPSynSent && !c.cfg().Loose {
		return false
	}
	*st = TCPState{}
	s := &st.Seen[0]
	s.End = tcpEnd(th, seg)
	s.MaxWin = max(uint32(th.Window()), 1)
	if newState == TCPSynSent {
		s.MaxEnd = s.End
		tcpOptions(th.Options(), s)
	} else {
		// Mid-stream pickup: the history is lost, guess from this packet
		// and be liberal, since window scaling is unknown.
		s.MaxEnd = s.End + s.MaxWin
		st.Seen[0].Flags = TCPFlagSackPerm | TCPFlagBeLiberal
		st.Seen[1].Flags = TCPFlagSackPerm | TCPFlagBeLiberal
	}
	st.LastIndex = TCPIndexNone
	return true
}

// Packet is nf_conntrack_tcp_packet for a packet of an existing connection
// (or of one New has just initialised). It leaves TCPAccept,
// TCPInvalid (the packet is INVALID; st may have learnt window data, as in
// the kernel) or TCPRepeat (SYN reopening a closed connection: destroy it
// and look the packet up again) and fills c's outputs.
func (st *TCPState) Packet(p *packet.Packet, c *TCPCall) TCPResult {
	c.reset()
	if p.TCP() == nil {
		return TCPInvalid
	}
	seg := p.L4()
	if msg := tcpError(p, seg, c); msg != "" {
		c.Invalid = msg
		return TCPInvalid
	}
	th := packet.TCP(seg)
	cfg := c.cfg()
	var dir uint8
	if c.Reply {
		dir = 1
	}
	oldState := st.State
	if oldState >= TCPNumStates {
		return TCPInvalid
	}
	index := tcpIndex(th.Flags())
	newState := tcpConntracks[dir][index][oldState]
	skipWindow := false

	switch newState {
	case TCPSynSent, tcpIgnoreState:
		if newState == TCPSynSent {
			if oldState < TCPTimeWait {
				break
			}
			// RFC 1122 reopening from TIME_WAIT, or the client aborted
			// and starts anew: destroy and look up again.
			if (st.Seen[dir].Flags|st.Seen[1-dir].Flags)&TCPFlagCloseInit != 0 ||
				(st.LastDir == dir && st.LastIndex == TCPIndexRst) {
				return TCPRepeat
			}
		}
		if index == TCPIndexSynAck && st.LastIndex == TCPIndexSyn && st.LastDir != dir && th.Ack() == st.LastEnd {
			// The SYN/ACK answers a SYN we ignored: both ends are in
			// sync, we are not. Resynchronise from what we noted.
			oldState, newState = TCPSynSent, TCPSynRecv
			ls := &st.Seen[st.LastDir]
			ls.End = st.LastEnd
			ls.MaxEnd = st.LastEnd
			ls.MaxWin = max(uint32(st.LastWin), 1)
			ls.Scale = st.LastWscale
			st.LastFlags &^= TCPFlagChallengeAck
			ls.Flags = st.LastFlags
			s := &st.Seen[dir]
			s.End, s.MaxEnd, s.MaxWin, s.MaxAck, s.Scale = 0, 0, 0, 0, 0
			s.Flags &= TCPFlagBeLiberal
			break
		}
		st.LastIndex = index
		st.LastDir = dir
		st.LastSeq = th.Seq()
		st.LastEnd = tcpEnd(th, seg)
		st.LastWin = th.Window()
		if index == TCPIndexSyn && dir == 0 {
			// Note the options of a SYN that may be valid for the peers:
			// if the server answers it, we resynchronise above.
			var seen TCPSeen
			st.LastFlags, st.LastWscale = 0, 0
			tcpOptions(th.Options(), &seen)
			if seen.Flags&TCPFlagWindowScale != 0 {
				st.LastFlags |= TCPFlagWindowScale
				st.LastWscale = seen.Scale
			}
			if seen.Flags&TCPFlagSackPerm != 0 {
				st.LastFlags |= TCPFlagSackPerm
			}
			// An RFC 5961 challenge ACK may follow; in LAST_ACK it
			// would look like the last ACK.
			if oldState == TCPLastAck {
				st.LastFlags |= TCPFlagChallengeAck
			}
		}
		if oldState == TCPSynSent && index == TCPIndexAck && dir == 1 {
			// Possibly a challenge ACK answering the SYN.
			st.LastAck = th.Ack()
		}
		c.Info = tcpIgnoredMsg[index][dir][oldState]
		return TCPAccept
	case tcpInvalidState:
		c.Invalid = tcpInvalidMsg[index][dir][oldState]
		return TCPInvalid
	case TCPTimeWait:
		if oldState == TCPLastAck && index == TCPIndexAck && st.LastDir != dir &&
			st.LastIndex == TCPIndexSyn && st.LastFlags&TCPFlagChallengeAck != 0 {
			// An RFC 5961 challenge ACK, not the last ACK.
			st.LastFlags &^= TCPFlagChallengeAck
			c.Info = "challenge-ack ignored"
			return TCPAccept
		}
	case TCPSynSent2:
		// The table alone cannot follow a simultaneous open.
		st.LastFlags |= TCPFlagSimultaneousOpen
	case TCPSynRecv:
		if dir == 1 && index == TCPIndexAck && st.LastFlags&TCPFlagSimultaneousOpen != 0 {
			newState = TCPEstablished
		}
	case TCPClose:
		if index != TCPIndexRst {
			break
		}
		if tcpCanEarlyDrop(oldState) {
			// Closing already: the tuple may have been reused, the
			// sequence data is stale.
			skipWindow = true
			break
		}
		established := oldState == TCPEstablished && c.Status&ext.CTStatusAssured != 0
		peer := &st.Seen[1-dir]
		if peer.Flags&TCPFlagMaxAckSet != 0 && st.LastIndex != TCPIndexSyn {
			seq := th.Seq()
			if seq == 0 && !established {
				// Most likely the answer to a SYN we let through.
				break
			}
			if seqBefore(seq, peer.MaxAck) && !cfg.IgnoreInvalidRST {
				c.Invalid = "invalid rst"
				return TCPInvalid
			}
			if !established || seq == peer.MaxAck {
				break
			}
			// A RST right after this direction's data ("RST train").
			if st.LastIndex == TCPIndexAck && st.LastDir == dir && seq == st.LastEnd {
				break
			}
			// Not the exact next sequence number: keep the state, the
			// receiver may send a challenge ACK.
			newState = oldState
		}
		if ((c.Status&ext.CTStatusSeenReply != 0 && st.LastIndex == TCPIndexSyn && st.LastDir != dir) ||
			(c.Status&ext.CTStatusAssured == 0 && st.LastIndex == TCPIndexAck)) &&
			th.Ack() == st.LastEnd {
			// RST answering a SYN or ACK we let through while out of
			// sync; it may acknowledge data we ignored.
			skipWindow = true
			break
		}
		if oldState == TCPSynSent && st.LastIndex == TCPIndexAck && st.LastDir == 1 && th.Seq() == st.LastAck {
			// RST answering a challenge ACK we let through.
			skipWindow = true
		}
	}

	if !skipWindow {
		res, msg, val := st.inWindow(dir, index, th, seg, cfg, c.Adj)
		switch res {
		case tcpActIgnore:
			c.Info = tcpWindowMsg(msg, val)
			return TCPAccept
		case tcpActInvalid:
			c.Invalid = tcpWindowMsg(msg, val)
			if st.handleInvalid(dir, index, c, cfg) {
				c.Timeout = cfg.Timeouts[TCPTimeoutUnack]
				c.Info = "lowered timeout to UNACK"
			}
			return TCPInvalid
		}
	}

	// In-window from here on.
	st.LastIndex = index
	st.LastDir = dir
	st.State = newState
	if oldState != newState && newState == TCPFinWait {
		st.Seen[dir].Flags |= TCPFlagCloseInit
	}
	to := &cfg.Timeouts
	var timeout int64
	switch {
	case st.RetransCount >= cfg.MaxRetrans && to[newState] > to[TCPTimeoutRetrans]:
		timeout = to[TCPTimeoutRetrans]
	case index == TCPIndexRst && newState == TCPEstablished:
		// A RST that left ESTABLISHED (not the exact sequence number)
		// gets the CLOSE timeout, whatever the ESTABLISHED one: what
		// Linux 6.18 does (6.12 lowered it to the unacknowledged
		// timeout only).
		timeout = to[TCPClose]
	case (st.Seen[0].Flags|st.Seen[1].Flags)&TCPFlagDataUnacknowledged != 0 && to[newState] > to[TCPTimeoutUnack]:
		timeout = to[TCPTimeoutUnack]
	case st.LastWin == 0 && to[newState] > to[TCPTimeoutRetrans]:
		timeout = to[TCPTimeoutRetrans]
	default:
		timeout = to[newState]
	}
	if newState != oldState {
		c.Events |= tcpEvProtoinfo
	}
	if c.Status&ext.CTStatusSeenReply == 0 {
		if th.Flags()&packet.TCPRst != 0 {
			// The only answer is a RST: no connection to keep.
			c.Kill = true
			return TCPAccept
		}
		if index == TCPIndexSyn && oldState == TCPSynSent {
			// A retransmitted SYN does not extend the timeout, or port
			// reuse could keep the entry alive for ever.
			return TCPAccept
		}
		// Picked up mid-stream without a reply yet: no long timeout.
		if newState == TCPEstablished && timeout > to[TCPTimeoutUnack] {
			timeout = to[TCPTimeoutUnack]
		}
	} else if c.Status&ext.CTStatusAssured == 0 && (oldState == TCPSynRecv || oldState == TCPEstablished) &&
		newState == TCPEstablished {
		// A valid ACK after SYN_RECV, or an answer to a picked-up
		// connection.
		c.Assure = true
		c.Events |= tcpEvAssured
	}
	if c.Status&ext.CTStatusFixedTimeout == 0 {
		c.Timeout = timeout
	}
	return TCPAccept
}

// SetClosing is nf_conntrack_tcp_set_closing, for a connection the host
// resets itself (REJECT --reject-with tcp-reset): the state becomes CLOSE
// with its timeout. confirmed says whether the connection is in the table;
// the kernel leaves unconfirmed ones alone.
func (st *TCPState) SetClosing(confirmed bool, c *TCPCall) {
	c.reset()
	if !confirmed {
		return
	}
	old := st.State
	st.State = TCPClose
	if old == TCPClose || c.Status&ext.CTStatusFixedTimeout != 0 {
		return
	}
	c.Timeout = c.cfg().Timeouts[TCPClose]
	c.Events |= tcpEvProtoinfo
}

// tcpCanEarlyDrop is tcp_can_early_drop: the closing states.
func tcpCanEarlyDrop(s uint8) bool {
	switch s {
	case TCPFinWait, TCPLastAck, TCPTimeWait, TCPClose, TCPCloseWait:
		return true
	}
	return false
}

// Outcomes of the window check (enum nf_ct_tcp_action).
const (
	tcpActIgnore = iota
	tcpActInvalid
	tcpActAccept
)

// Window check messages (enum nf_tcp_invalid_log_type).
const (
	tcpLogNone = iota
	tcpLogOvershot
	tcpLogSeqOver
	tcpLogAckOver
	tcpLogSeqUnder
	tcpLogAckUnder
)

// tcpWindowMsg is nf_tcp_log_invalid's text. It allocates, but only for
// packets outside the window.
func tcpWindowMsg(kind int, v uint32) string {
	switch kind {
	case tcpLogOvershot:
		return fmt.Sprintf("%d bytes more than expected", v)
	case tcpLogSeqOver:
		return fmt.Sprintf("SEQ is over upper bound %d (over the window of the receiver)", v)
	case tcpLogAckOver:
		return fmt.Sprintf("ACK is over upper bound %d (ACKed data not seen yet)", v)
	case tcpLogSeqUnder:
		return fmt.Sprintf("SEQ is under lower bound %d (already ACKed data retransmitted)", v)
	case tcpLogAckUnder:
		return fmt.Sprintf("ignored ACK under lower bound %d (possible overly delayed)", v)
	}
	return ""
}

// initSender sets up a direction from its SYN or SYN/ACK (tcp_init_sender).
func (st *TCPState) initSender(dir uint8, th packet.TCP, end, win uint32) {
	sender, receiver := &st.Seen[dir], &st.Seen[1-dir]
	sender.End = end
	sender.MaxEnd = end
	sender.MaxWin = max(win, 1)
	tcpOptions(th.Options(), sender)
	// RFC 1323: scaling only when both ends offer it.
	if dir == 1 && !(sender.Flags&TCPFlagWindowScale != 0 && receiver.Flags&TCPFlagWindowScale != 0) {
		sender.Scale = 0
		receiver.Scale = 0
	}
}

// storeInvalid is nf_tcp_store_invalid: be_liberal turns a failed check
// into acceptance.
func (st *TCPState) storeInvalid(sender *TCPSeen, cfg *TCPConfig, act, kind int, v uint32) (int, int, uint32) {
	if sender.Flags&TCPFlagBeLiberal != 0 || cfg.BeLiberal {
		return tcpActAccept, tcpLogNone, 0
	}
	return act, kind, v
}

// inWindow is tcp_in_window; adj is the connection's NAT sequence
// adjustment, nil for none.
func (st *TCPState) inWindow(dir, index uint8, th packet.TCP, seg []byte, cfg *TCPConfig, adj *nat.SeqAdjust) (int, int, uint32) {
	sender, receiver := &st.Seen[dir], &st.Seen[1-dir]
	flags := th.Flags()
	syn, ackf, rst := flags&packet.TCPSyn != 0, flags&packet.TCPAck != 0, flags&packet.TCPRst != 0
	seq := th.Seq()
	ack := th.Ack()
	sack := ack
	winRaw := th.Window()
	win := uint32(winRaw)
	end := tcpEnd(th, seg)

	if receiver.Flags&TCPFlagSackPerm != 0 {
		tcpSack(th.Options(), &sack)
	}
	if adj != nil {
		// NAT's sequence number mangling of the other direction.
		off := uint32(adj.Offset(int(1-dir), ack-1))
		ack -= off
		sack -= off
	}

	if sender.MaxWin == 0 {
		if syn {
			st.initSender(dir, th, end, win)
			if !ackf {
				// Simultaneous open.
				return tcpActAccept, tcpLogNone, 0
			}
		} else {
			// Mid-stream: the history is lost, guess from this packet.
			sender.End = end
			swin := win << sender.Scale
			sender.MaxWin = max(swin, 1)
			sender.MaxEnd = end + sender.MaxWin
			if receiver.MaxWin == 0 {
				// Nothing seen the other way yet: make the ack checks
				// pass until something is.
				receiver.End = sack
				receiver.MaxEnd = sack
			} else if sack == receiver.End+1 {
				// Likely a reply to a keepalive.
				receiver.End++
			}
		}
	} else if syn && seqAfter(end, sender.End) && (st.State == TCPSynSent || st.State == TCPSynRecv) {
		// RFC 793: a reinitialised TCP uses higher sequence numbers;
		// start this direction over as for its first SYN.
		st.initSender(dir, th, end, win)
		if dir == 1 && !ackf {
			return tcpActAccept, tcpLogNone, 0
		}
	}

	if !ackf {
		// No ACK: pretend it acknowledged everything.
		ack = receiver.End
		sack = ack
	} else if rst && ack == 0 {
		// Broken stacks set ACK with a zero ack number in RSTs.
		ack = receiver.End
		sack = ack
	}

	if rst && seq == 0 && st.State == TCPSynSent {
		// RST answering a SYN.
		seq = sender.End
		end = sender.End
	}

	if !seqBefore(seq, sender.MaxEnd+1) {
		overshot := end - sender.MaxEnd + 1
		ackOK := seqAfter(sack, receiver.End-tcpMaxAckWindow(sender)-1)
		inRecvWin := receiver.MaxWin != 0 && seqAfter(end, sender.End-receiver.MaxWin-1)
		if inRecvWin && ackOK && overshot <= receiver.MaxWin && seqBefore(sack, receiver.End+1) {
			// A sender exceeding the receive window: note its data so
			// that the ACK for it is not over the bound later.
			sender.End = end
			sender.Flags |= TCPFlagDataUnacknowledged
			return st.storeInvalid(sender, cfg, tcpActIgnore, tcpLogOvershot, overshot)
		}
		return st.storeInvalid(sender, cfg, tcpActInvalid, tcpLogSeqOver, sender.MaxEnd+1)
	}
	if !seqBefore(sack, receiver.End+1) {
		return st.storeInvalid(sender, cfg, tcpActInvalid, tcpLogAckOver, receiver.End+1)
	}
	if receiver.MaxWin != 0 && !seqAfter(end, sender.End-receiver.MaxWin-1) {
		return st.storeInvalid(sender, cfg, tcpActIgnore, tcpLogSeqUnder, sender.End-receiver.MaxWin-1)
	}
	if !seqAfter(sack, receiver.End-tcpMaxAckWindow(sender)-1) {
		return st.storeInvalid(sender, cfg, tcpActIgnore, tcpLogAckUnder, receiver.End-tcpMaxAckWindow(sender)-1)
	}

	if !syn {
		win <<= sender.Scale
	}
	// Sender data.
	if swin := win + (sack - ack); sender.MaxWin < swin {
		sender.MaxWin = swin
	}
	if seqAfter(end, sender.End) {
		sender.End = end
		sender.Flags |= TCPFlagDataUnacknowledged
	}
	if ackf {
		if sender.Flags&TCPFlagMaxAckSet == 0 {
			sender.MaxAck = ack
			sender.Flags |= TCPFlagMaxAckSet
		} else if seqAfter(ack, sender.MaxAck) {
			sender.MaxAck = ack
		}
	}
	// Receiver data.
	if receiver.MaxWin != 0 && seqAfter(end, sender.MaxEnd) {
		receiver.MaxWin += end - sender.MaxEnd
	}
	if seqAfter(sack+win, receiver.MaxEnd-1) {
		receiver.MaxEnd = sack + win
		if win == 0 {
			receiver.MaxEnd++
		}
	}
	if ack == receiver.End {
		receiver.Flags &^= TCPFlagDataUnacknowledged
	}
	// Retransmissions.
	if index == TCPIndexAck {
		if st.LastDir == dir && st.LastSeq == seq && st.LastAck == ack && st.LastEnd == end && st.LastWin == winRaw {
			st.RetransCount++
		} else {
			st.LastDir = dir
			st.LastSeq = seq
			st.LastAck = ack
			st.LastEnd = end
			st.LastWin = winRaw
			st.RetransCount = 0
		}
	}
	return tcpActAccept, tcpLogNone, 0
}

// handleInvalid is nf_tcp_handle_invalid: an out-of-window FIN or RST
// answering one from the other side shortens an assured connection's
// timeout to the unacknowledged one. It reports whether it did.
func (st *TCPState) handleInvalid(dir, index uint8, c *TCPCall, cfg *TCPConfig) bool {
	if c.Status&ext.CTStatusAssured == 0 || c.Status&ext.CTStatusFixedTimeout != 0 {
		return false
	}
	if index != TCPIndexRst && index != TCPIndexFin {
		return false
	}
	if st.LastDir != dir && (st.LastIndex == TCPIndexFin || st.LastIndex == TCPIndexRst) {
		expires := max(c.Deadline-c.Now, 0)
		if expires < 120*tcpSecond {
			return false
		}
		return expires > cfg.Timeouts[TCPTimeoutUnack]
	}
	st.LastIndex = index
	st.LastDir = dir
	return false
}
