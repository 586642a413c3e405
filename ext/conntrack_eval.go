package ext

// Evaluation of -m state and -m conntrack --ctstate from the packet's
// conntrack classification (Env.CtState). The options that read the
// connection itself (tuples, status, expiry) need the connection's entry.

// ctStateBits maps Env.CtState to the XT_CONNTRACK_STATE bits the match
// stores (INVALID 1, ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 1<<8).
func ctStateBits(s uint8) uint32 {
	var b uint32
	if s&CtStateInvalid != 0 {
		b |= CTStateInvalid
	}
	if s&CtStateEstablished != 0 {
		b |= CTStateEstablished
	}
	if s&CtStateRelated != 0 {
		b |= CTStateRelated
	}
	if s&CtStateNew != 0 {
		b |= CTStateNew
	}
	if s&CtStateUntracked != 0 {
		b |= CTStateUntracked
	}
	if s == 0 {
		b = CTStateInvalid
	}
	return b
}

// Match implements -m state and the --ctstate part of -m conntrack.
func (m *conntrackMatch) Match(e *Env) bool {
	if m.MatchFlags&CTFlagState != 0 {
		hit := ctStateBits(e.CtState)&m.StateMask != 0
		if hit == (m.InvertFlags&CTFlagState != 0) {
			return false
		}
	}
	return true
}

// CanEval reports whether every option can be evaluated: so far only the
// state part is.
func (m *conntrackMatch) CanEval() (bool, string) {
	if m.MatchFlags&^(CTFlagState|CTFlagStateAlias) != 0 {
		return false, "conntrack options other than --ctstate"
	}
	return true, ""
}
