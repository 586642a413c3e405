package ext

import "github.com/nfgo/nfgo/nf"

// owner: -m owner (libxt_owner revision 1, xt_owner.c). Valid in OUTPUT
// and POSTROUTING only.
type ownerMatch struct {
	UID, GID       bool // --uid-owner / --gid-owner given
	UIDMin, UIDMax uint32
	GIDMin, GIDMax uint32
	InvUID, InvGID bool
	SocketExists   bool
	InvSocket      bool
	SupplGroups    bool // also match the socket owner's supplementary groups
}

func init() {
	Register(&Def{
		Name: "owner", Kind: MatchKind,
		Options: []Option{
			{Name: "uid-owner", Arg: NeedArg, Invert: true},
			{Name: "gid-owner", Arg: NeedArg, Invert: true},
			{Name: "socket-exists", Arg: NoArg, Invert: true},
			{Name: "suppl-groups", Arg: NoArg},
		},
		Hooks: nf.Hooks(nf.LocalOut, nf.PostRouting),
		New:   func() Ext { return &ownerMatch{} },
	})
}

// parseOwnerRange reads "ID", "ID-ID" or "ID:ID" (ids 0..2^32-2).
func parseOwnerRange(s, opt string) (lo, hi uint32, err error) {
	bad := Errorf("Bad value for \"--%s\" option: \"%s\" (expected a name, an id or an id range like 100-200)", opt, s)
	v, n, ok := m3Strtoul(s, 0)
	if n == 0 || !ok || v > 0xfffffffe {
		return 0, 0, bad
	}
	lo, hi = uint32(v), uint32(v)
	rest := s[n:]
	if rest != "" && (rest[0] == '-' || rest[0] == ':') {
		v, n, ok = m3Strtoul(rest[1:], 0)
		if n == 0 || !ok || v > 0xfffffffe {
			return 0, 0, bad
		}
		hi = uint32(v)
		rest = rest[1+n:]
	}
	if rest != "" {
		return 0, 0, bad
	}
	return lo, hi, nil
}

func (m *ownerMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "uid-owner":
		if id, ok := m3LookupID("/etc/passwd", u.Arg); ok {
			m.UIDMin, m.UIDMax = id, id
		} else {
			lo, hi, err := parseOwnerRange(u.Arg, "uid-owner")
			if err != nil {
				return err
			}
			m.UIDMin, m.UIDMax = lo, hi
		}
		m.UID, m.InvUID = true, u.Invert
	case "gid-owner":
		if id, ok := m3LookupID("/etc/group", u.Arg); ok {
			m.GIDMin, m.GIDMax = id, id
		} else {
			lo, hi, err := parseOwnerRange(u.Arg, "gid-owner")
			if err != nil {
				return err
			}
			m.GIDMin, m.GIDMax = lo, hi
		}
		m.GID, m.InvGID = true, u.Invert
	case "socket-exists":
		m.SocketExists, m.InvSocket = true, u.Invert
	case "suppl-groups":
		if !m.GID {
			return Errorf("Bad value for \"--suppl-groups\" option: you need to use --gid-owner first")
		}
		m.SupplGroups = true
	}
	return nil
}

func (m *ownerMatch) Final(*RuleInfo) error {
	if !m.UID && !m.GID && !m.SocketExists {
		return Errorf("At least one of --uid-owner, --gid-owner or --socket-exists is required")
	}
	return nil
}

// Check applies xt_owner's checkentry: ranges must not be reversed.
func (m *ownerMatch) Check(*CheckCtx) error {
	if m.UID && m.UIDMin > m.UIDMax {
		return Errorf("uid range %d-%d is reversed", m.UIDMin, m.UIDMax)
	}
	if m.GID && m.GIDMin > m.GIDMax {
		return Errorf("gid range %d-%d is reversed", m.GIDMin, m.GIDMax)
	}
	return nil
}

func ownerID(lo, hi uint32, file string, numeric bool) string {
	if lo != hi {
		return Itoa(lo) + "-" + Itoa(hi)
	}
	if !numeric {
		if n := m3LookupName(file, lo); n != "" {
			return n
		}
	}
	return Itoa(lo)
}

func (m *ownerMatch) out(b *Buf, numeric bool, labels [4]string) {
	if m.SocketExists {
		b.Not(m.InvSocket).S(" ").S(labels[0])
	}
	if m.UID {
		b.Not(m.InvUID).S(" ").S(labels[1]).S(" ").S(ownerID(m.UIDMin, m.UIDMax, "/etc/passwd", numeric))
	}
	if m.GID {
		b.Not(m.InvGID).S(" ").S(labels[2]).S(" ").S(ownerID(m.GIDMin, m.GIDMax, "/etc/group", numeric))
	}
	if m.SupplGroups {
		b.S(" ").S(labels[3])
	}
}

func (m *ownerMatch) Save(b *Buf) {
	m.out(b, true, [4]string{"--socket-exists", "--uid-owner", "--gid-owner", "--suppl-groups"})
}

func (m *ownerMatch) Print(b *Buf, numeric bool) {
	m.out(b, numeric, [4]string{"owner socket exists", "owner UID match", "owner GID match", "incl. suppl. groups"})
}

// Match is xt_owner.c's owner_mt: without a socket only inverted options
// can hold; with one the file owner's uid and gid are compared.
func (m *ownerMatch) Match(e *Env) bool {
	p := e.Pkt
	if !p.HasOwner {
		return (!m.UID || m.InvUID) && (!m.GID || m.InvGID) && (!m.SocketExists || m.InvSocket)
	}
	if m.SocketExists && m.InvSocket {
		return false
	}
	if m.UID && (p.UID >= m.UIDMin && p.UID <= m.UIDMax) == m.InvUID {
		return false
	}
	if m.GID && (p.GID >= m.GIDMin && p.GID <= m.GIDMax) == m.InvGID {
		return false
	}
	return true
}

// CanEval refuses --suppl-groups: a packet carries only its socket's
// primary group, not the supplementary ones.
func (m *ownerMatch) CanEval() (bool, string) {
	if m.GID && m.SupplGroups {
		return false, "--suppl-groups needs the socket owner's supplementary groups"
	}
	return true, ""
}
