package ext

import "sync"

// quota: -m quota (libxt_quota, xt_quota.c).

type quotaMatch struct {
	Quota  uint64 // bytes
	Invert bool
	set    bool
	st     quotaState
}

// quotaState is xt_quota_priv: the bytes left, shared by every packet the
// rule sees.
type quotaState struct {
	mu      sync.Mutex
	started bool
	left    uint64
}

func init() {
	Register(&Def{
		Name: "quota", Kind: MatchKind,
		Options: []Option{{Name: "quota", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &quotaMatch{} },
	})
}

func (m *quotaMatch) Parse(u *Use) error {
	v, ok := ParseUint(u.Arg, 0, ^uint64(0))
	if !ok {
		return Errorf("bad value for option \"--quota\", or out of range (0-18446744073709551615)")
	}
	m.Quota, m.Invert, m.set = v, u.Invert, true
	return nil
}

func (m *quotaMatch) Final(*RuleInfo) error {
	if !m.set {
		return Errorf("option \"--quota\" must be specified")
	}
	return nil
}

func (m *quotaMatch) Save(b *Buf) { b.Opt(m.Invert, "quota", Itoa(m.Quota)) }

func (m *quotaMatch) Print(b *Buf, _ bool) { b.S(" quota: ").U(m.Quota).S(" bytes") }

// Match counts the packet's length (skb->len, from the network header)
// down from the quota; once a packet does not fit, the quota drops to 0
// so that no later packet, however small, fits either (xt_quota.c).
func (m *quotaMatch) Match(e *Env) bool {
	s := &m.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started, s.left = true, m.Quota
	}
	n := uint64(len(e.Pkt.Data))
	if s.left >= n {
		s.left -= n
		return !m.Invert
	}
	s.left = 0
	return m.Invert
}
