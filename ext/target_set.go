package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// SET: -j SET --add-set|--del-set|--map-set NAME DIRS ... (libxt_SET.c
// revision 3, xt_set.c). nfgo has no ipset model yet: any set name is
// accepted (the kernel refuses sets that do not exist, iptables even
// before it sends the rule).
type setTarget struct {
	Add, Del, Map t2SetRef
	Exist         bool
	Timeout       uint32 // 0xffffffff when not given
	MapMark       bool
	MapPrio       bool
	MapQueue      bool
	given         map[string]bool
}

// t2SetRef is an ipset reference with its direction list: Dirs[i] is
// true for "src", false for "dst".
type t2SetRef struct {
	Name string
	Dirs []bool
}

func (r *t2SetRef) parse(opt, name, dirs string) error {
	if r.Name != "" {
		return Errorf("--%s can be specified only once", opt)
	}
	if dirs == "" || dirs[0] == '-' || dirs[0] == '!' {
		return Errorf("--%s requires two args: a set name and a comma-separated list of src/dst", opt)
	}
	if len(name) > 31 {
		return Errorf("setname `%s' too long, max 31 characters.", name)
	}
	if name == "" {
		return Errorf("--%s needs a set name", opt)
	}
	parts := strings.Split(dirs, ",")
	if len(parts) > 6 {
		return Errorf("Can't be more src/dst options than 6.")
	}
	var d []bool
	for _, p := range parts {
		switch {
		case strings.HasPrefix(p, "src"):
			d = append(d, true)
		case strings.HasPrefix(p, "dst"):
			d = append(d, false)
		default:
			return Errorf("You must specify (the comma separated list of) 'src' or 'dst'.")
		}
	}
	r.Name, r.Dirs = name, d
	return nil
}

func (r *t2SetRef) out(b *Buf, prefix string) {
	if r.Name == "" {
		return
	}
	b.S(" ").S(prefix).S(" ").S(r.Name)
	for i, src := range r.Dirs {
		if i == 0 {
			b.S(" ")
		} else {
			b.S(",")
		}
		if src {
			b.S("src")
		} else {
			b.S("dst")
		}
	}
}

func init() {
	Register(&Def{
		Name: "SET", Kind: TargetKind,
		Options: []Option{
			{Name: "add-set", Arg: NeedArg, Extra: 1},
			{Name: "del-set", Arg: NeedArg, Extra: 1},
			{Name: "exist", Arg: NoArg},
			{Name: "timeout", Arg: NeedArg},
			{Name: "map-set", Arg: NeedArg, Extra: 1},
			{Name: "map-mark", Arg: NoArg},
			{Name: "map-prio", Arg: NoArg},
			{Name: "map-queue", Arg: NoArg},
		},
		New: func() Ext { return &setTarget{Timeout: 0xffffffff, given: map[string]bool{}} },
	})
}

func (t *setTarget) Parse(u *Use) error {
	t.given[u.Opt.Name] = true
	switch u.Opt.Name {
	case "add-set":
		return t.Add.parse(u.Opt.Name, u.Arg, u.Args[0])
	case "del-set":
		return t.Del.parse(u.Opt.Name, u.Arg, u.Args[0])
	case "map-set":
		return t.Map.parse(u.Opt.Name, u.Arg, u.Args[0])
	case "exist":
		t.Exist = true
	case "timeout":
		v, ok := ParseUint(u.Arg, 0, 0xfffffffe)
		if !ok {
			return Errorf("Invalid value for option --timeout or out of range 0-%d", uint32(0xfffffffe))
		}
		t.Timeout = uint32(v)
	case "map-mark":
		t.MapMark = true
	case "map-prio":
		t.MapPrio = true
	case "map-queue":
		t.MapQueue = true
	}
	return nil
}

func (t *setTarget) Final(*RuleInfo) error {
	g := t.given
	switch {
	case !g["add-set"] && !g["del-set"] && !g["map-set"]:
		return Errorf("You must specify either `--add-set' or `--del-set' or `--map-set'")
	case !g["add-set"] && g["exist"]:
		return Errorf("Flag `--exist' can be used with `--add-set' only")
	case !g["add-set"] && g["timeout"]:
		return Errorf("Option `--timeout' can be used with `--add-set' only")
	case !g["map-set"] && g["map-mark"]:
		return Errorf("Flag `--map-mark' can be used with `--map-set' only")
	case !g["map-set"] && g["map-prio"]:
		return Errorf("Flag `--map-prio' can be used with `--map-set' only")
	case !g["map-set"] && g["map-queue"]:
		return Errorf("Flag `--map-queue' can be used with `--map-set' only")
	case g["map-set"] && !g["map-mark"] && !g["map-prio"] && !g["map-queue"]:
		return Errorf("You must specify flags `--map-mark' or '--map-prio` or `--map-queue'")
	}
	return nil
}

// Check mirrors set_target_v3_checkentry's table and hook rules for --map-set.
func (t *setTarget) Check(c *CheckCtx) error {
	if t.Map.Name == "" {
		return nil
	}
	if c.Rule.Table != "mangle" {
		return Errorf("--map-set only usable from mangle table")
	}
	if (t.MapPrio || t.MapQueue) && c.Hooks&^nf.Hooks(nf.Forward, nf.LocalOut, nf.PostRouting) != 0 {
		return Errorf("mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains")
	}
	return nil
}

func (t *setTarget) out(b *Buf, pfx string) {
	t.Add.out(b, pfx+"add-set")
	if t.Exist {
		b.S(" ").S(pfx).S("exist")
	}
	if t.Timeout != 0xffffffff {
		b.S(" ").S(pfx).S("timeout ").S(Itoa(t.Timeout))
	}
	t.Del.out(b, pfx+"del-set")
	t.Map.out(b, pfx+"map-set")
	if t.MapMark {
		b.S(" ").S(pfx).S("map-mark")
	}
	if t.MapPrio {
		b.S(" ").S(pfx).S("map-prio")
	}
	if t.MapQueue {
		b.S(" ").S(pfx).S("map-queue")
	}
}

func (t *setTarget) Save(b *Buf) { t.out(b, "--") }

func (t *setTarget) Print(b *Buf, _ bool) { t.out(b, "") }
