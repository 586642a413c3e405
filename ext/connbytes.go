package ext

// connbytes: -m connbytes (libxt_connbytes, xt_connbytes.c).

// What is counted (XT_CONNBYTES_*).
const (
	ConnbytesPkts   = 0
	ConnbytesBytes  = 1
	ConnbytesAvgPkt = 2
)

// Direction (XT_CONNBYTES_DIR_*).
const (
	ConnbytesDirOriginal = 0
	ConnbytesDirReply    = 1
	ConnbytesDirBoth     = 2
)

type connbytesMatch struct {
	// From > To means inverted: match outside [To, From].
	From, To  uint64
	What      uint8
	Direction uint8
	seen      uint8
}

func init() {
	Register(&Def{
		Name: "connbytes", Kind: MatchKind,
		Options: []Option{
			{Name: "connbytes", Arg: NeedArg, Invert: true},
			{Name: "connbytes-dir", Arg: NeedArg},
			{Name: "connbytes-mode", Arg: NeedArg},
		},
		New: func() Ext { return &connbytesMatch{} },
	})
}

var connbytesModes = []string{"packets", "bytes", "avgpkt"}
var connbytesDirs = []string{"original", "reply", "both"}

func (m *connbytesMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "connbytes":
		lo, hi, err := m2ParseUintRange(u.Arg, ^uint64(0))
		if err != nil {
			return Errorf("--connbytes: %v", err)
		}
		if len(u.Arg) > 0 && !containsColon(u.Arg) {
			hi = ^uint64(0)
		}
		if hi < lo {
			return Errorf("%d should be less than %d", lo, hi)
		}
		m.From, m.To = lo, hi
		if u.Invert {
			m.From, m.To = hi, lo
		}
		m.seen |= 1
	case "connbytes-dir":
		i := indexOf(connbytesDirs, u.Arg)
		if i < 0 {
			return Errorf("Unknown --connbytes-dir `%s': expected original, reply or both", u.Arg)
		}
		m.Direction = uint8(i)
		m.seen |= 2
	case "connbytes-mode":
		i := indexOf(connbytesModes, u.Arg)
		if i < 0 {
			return Errorf("Unknown --connbytes-mode `%s': expected packets, bytes or avgpkt", u.Arg)
		}
		m.What = uint8(i)
		m.seen |= 4
	}
	return nil
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func (m *connbytesMatch) Final(*RuleInfo) error {
	for i, n := range []string{"connbytes", "connbytes-dir", "connbytes-mode"} {
		if m.seen&(1<<i) == 0 {
			return Errorf("option \"--%s\" must be specified", n)
		}
	}
	return nil
}

func (m *connbytesMatch) fromTo(b *Buf, prefix string) {
	from, to := m.From, m.To
	if from > to {
		b.S(" !")
		from, to = to, from
	}
	b.S(" ").S(prefix).S("connbytes ").U(from)
	if to != 0 && to < ^uint64(0) {
		b.S(":").U(to)
	}
}

func (m *connbytesMatch) Save(b *Buf) {
	m.fromTo(b, "--")
	b.S(" --connbytes-mode ").S(connbytesModes[m.What]).S(" --connbytes-dir ").S(connbytesDirs[m.Direction])
}

func (m *connbytesMatch) Print(b *Buf, _ bool) {
	m.fromTo(b, "")
	b.S(" connbytes mode ").S(connbytesModes[m.What]).S(" connbytes direction ").S(connbytesDirs[m.Direction])
}

// Match is connbytes_mt over the connection's accounting counters, which
// include the current packet (conntrack counts it on entry). Without a
// connection it does not match. The kernel also fails the match for a
// connection without an accounting extension; loading a connbytes rule
// turns net.netfilter.nf_conntrack_acct on ("Forcing CT accounting to
// be enabled"), so only connections created before that lack one.
func (m *connbytesMatch) Match(e *Env) bool {
	ct := e.Conn
	if ct == nil {
		return false
	}
	var pkts, bytes uint64
	if m.Direction != ConnbytesDirReply {
		pkts, bytes = ct.Counters(false)
	}
	if m.Direction != ConnbytesDirOriginal {
		p, b := ct.Counters(true)
		pkts += p
		bytes += b
	}
	var what uint64
	switch m.What {
	case ConnbytesPkts:
		what = pkts
	case ConnbytesBytes:
		what = bytes
	case ConnbytesAvgPkt:
		if pkts != 0 {
			what = bytes / pkts
		}
	}
	if m.To >= m.From {
		return what >= m.From && what <= m.To
	}
	// Inverted: From and To are stored swapped.
	return what < m.To || what > m.From
}
