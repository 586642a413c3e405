package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// TCPOPTSTRIP: -j TCPOPTSTRIP [--strip-options LIST] (libxt_TCPOPTSTRIP.c,
// xt_TCPOPTSTRIP.c): mangle table, -p tcp.
type tcpoptstripTarget struct {
	Strip [256]bool // TCP option kinds to replace by NOPs
}

var tcpOptNames = []struct {
	name string
	kind uint8
}{{"wscale", 3}, {"mss", 2}, {"sack-permitted", 4}, {"sack", 5}, {"timestamp", 8}, {"md5", 19}}

func init() {
	Register(&Def{
		Name: "TCPOPTSTRIP", Kind: TargetKind,
		Options: []Option{{Name: "strip-options", Arg: NeedArg}},
		New:     func() Ext { return &tcpoptstripTarget{} },
		Tables:  []string{"mangle"},
		Proto:   nf.ProtoTCP,
	})
}

func (t *tcpoptstripTarget) Parse(u *Use) error {
	for _, w := range strings.Split(u.Arg, ",") {
		opt := uint64(0)
		for _, n := range tcpOptNames {
			if n.name == w {
				opt = uint64(n.kind)
				break
			}
		}
		if opt == 0 {
			v, ok := ParseUint(w, 0, 255)
			if !ok {
				return Errorf("Bad TCP option value \"%s\": expected a number 2-255 or wscale, mss, sack-permitted, sack, timestamp, md5", w)
			}
			opt = v
		}
		if opt < 2 {
			return Errorf("Option value may not be 0 or 1")
		}
		if t.Strip[opt] {
			return Errorf("Option \"%s\" already specified", w)
		}
		t.Strip[opt] = true
	}
	return nil
}

func (t *tcpoptstripTarget) Final(*RuleInfo) error { return nil }

func (t *tcpoptstripTarget) list(numeric bool) string {
	var parts []string
	for i, on := range t.Strip {
		if !on {
			continue
		}
		name := ""
		if !numeric {
			for _, n := range tcpOptNames {
				if int(n.kind) == i {
					name = n.name
				}
			}
		}
		if name == "" {
			name = Itoa(i)
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ",")
}

func (t *tcpoptstripTarget) Save(b *Buf) {
	if s := t.list(true); s != "" {
		b.S(" --strip-options ").S(s)
	}
}

func (t *tcpoptstripTarget) Print(b *Buf, numeric bool) {
	if s := t.list(numeric); s != "" {
		b.S(" TCPOPTSTRIP options ").S(s)
	}
}
