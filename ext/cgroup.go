package ext

import "github.com/nfgo/nfgo/nf"

// cgroup: -m cgroup (libxt_cgroup revision 2, xt_cgroup.c): the cgroup
// (v2 path or net_cls class id) of the sending socket.
//
// The kernel refuses paths that name no cgroup; nfgo has no cgroup tree and
// accepts any path.
type cgroupMatch struct {
	Path       string
	HasPath    bool
	InvPath    bool
	ClassID    uint32
	HasClassID bool
	InvClassID bool
}

const cgroupPathMax = 4096 // XT_CGROUP_PATH_MAX

func init() {
	Register(&Def{
		Name: "cgroup", Kind: MatchKind,
		Options: []Option{
			{Name: "path", Arg: NeedArg, Invert: true},
			{Name: "cgroup", Arg: NeedArg, Invert: true},
		},
		Hooks: nf.Hooks(nf.LocalOut, nf.PostRouting, nf.LocalIn),
		New:   func() Ext { return &cgroupMatch{} },
	})
}

func (m *cgroupMatch) Parse(u *Use) error {
	if u.Opt.Name == "path" {
		if len(u.Arg) >= cgroupPathMax {
			return Errorf("cgroup path too long (%d bytes, at most %d)", len(u.Arg), cgroupPathMax-1)
		}
		m.Path, m.HasPath, m.InvPath = u.Arg, true, u.Invert
		return nil
	}
	v, ok := ParseUint(u.Arg, 0, 0xffffffff)
	if !ok {
		return Errorf("bad value for option \"--cgroup\" `%s': expected a class id 0-4294967295", u.Arg)
	}
	m.ClassID, m.HasClassID, m.InvClassID = uint32(v), true, u.Invert
	return nil
}

func (m *cgroupMatch) Final(*RuleInfo) error { return nil }

// Check applies xt_cgroup's checkentry: exactly one of path and class id.
func (m *cgroupMatch) Check(*CheckCtx) error {
	if !m.HasPath && !m.HasClassID {
		return Errorf("no path or classid specified: give --path or --cgroup")
	}
	if m.HasPath && m.HasClassID {
		return Errorf("path and classid specified: give only one of --path and --cgroup")
	}
	return nil
}

func (m *cgroupMatch) Save(b *Buf) {
	if m.HasPath {
		b.OptQ(m.InvPath, "path", m.Path)
	}
	if m.HasClassID {
		b.Opt(m.InvClassID, "cgroup", Itoa(m.ClassID))
	}
}

func (m *cgroupMatch) Print(b *Buf, _ bool) {
	b.S(" cgroup")
	if m.HasPath {
		b.S(" ").S(m3Inv(m.InvPath))
		if m.InvPath {
			b.S(" ")
		}
		b.S(m.Path)
	}
	if m.HasClassID {
		b.S(" ").S(m3Inv(m.InvClassID))
		if m.InvClassID {
			b.S(" ")
		}
		b.U(uint64(m.ClassID))
	}
}
