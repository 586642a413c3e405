package ext

import "strings"

// bpf: -m bpf (libxt_bpf revision 1, xt_bpf.c): a classic BPF program
// (--bytecode, as printed by nfbpf_compile or tcpdump -ddd with commas)
// or a pinned eBPF object (--object-pinned).
//
// The kernel verifies the program; nfgo checks only its syntax and size,
// and does not open pinned objects.
type bpfMatch struct {
	Program []BPFInsn // --bytecode program
	Pinned  string    // --object-pinned path
	Given   int       // number of --bytecode/--object-pinned options
}

// BPFInsn is one classic BPF instruction (struct sock_filter).
type BPFInsn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

const (
	bpfMaxInsns   = 64  // XT_BPF_MAX_NUM_INSTR
	bpfMaxPathLen = 512 // XT_BPF_PATH_MAX
)

func init() {
	Register(&Def{
		Name: "bpf", Kind: MatchKind,
		Options: []Option{
			{Name: "bytecode", Arg: NeedArg},
			{Name: "object-pinned", Arg: NeedArg},
		},
		New: func() Ext { return &bpfMatch{} },
	})
}

// bpfNums reads count unsigned decimal numbers separated by blanks from
// the start of s (trailing text is ignored, as sscanf does).
func bpfNums(s string, count int) ([]uint64, bool) {
	var out []uint64
	for i := 0; i < count; i++ {
		v, n, ok := m3Strtoul(s, 10)
		if n == 0 || !ok {
			return nil, false
		}
		out = append(out, v)
		s = s[n:]
	}
	return out, true
}

func parseBPFProgram(s string) ([]BPFInsn, error) {
	head, _, found := strings.Cut(s, ",")
	n, ok := ParseUintBase(strings.TrimLeft(head, " \t"), 10, 0, 0xffff)
	if !found || !ok {
		return nil, Errorf("bpf: error parsing program length: expected \"N,code jt jf k,...\"")
	}
	if n == 0 {
		return nil, Errorf("bpf: illegal zero length program")
	}
	if n > bpfMaxInsns {
		return nil, Errorf("bpf: number of instructions exceeds maximum (%d > %d)", n, bpfMaxInsns)
	}
	var prog []BPFInsn
	rest := s
	for {
		i := strings.IndexByte(rest, ',')
		if i < 0 || i+1 >= len(rest) {
			break
		}
		rest = rest[i+1:]
		if uint64(len(prog)) >= n {
			return nil, Errorf("bpf: real program length exceeds the encoded length parameter %d", n)
		}
		v, ok := bpfNums(rest, 4)
		if !ok {
			return nil, Errorf("bpf: error at instr %d: expected \"code jt jf k\"", len(prog))
		}
		if v[0] > 0xffff || v[1] > 0xff || v[2] > 0xff || v[3] > 0xffffffff {
			return nil, Errorf("bpf: error at instr %d: value out of range", len(prog))
		}
		prog = append(prog, BPFInsn{uint16(v[0]), uint8(v[1]), uint8(v[2]), uint32(v[3])})
	}
	if uint64(len(prog)) != n {
		return nil, Errorf("bpf: parsed program length %d is less than the encoded length parameter %d", len(prog), n)
	}
	return prog, nil
}

func (m *bpfMatch) Parse(u *Use) error {
	if u.Opt.Name == "bytecode" {
		p, err := parseBPFProgram(u.Arg)
		if err != nil {
			return err
		}
		m.Program = p
	} else {
		if len(u.Arg) >= bpfMaxPathLen {
			return Errorf("bpf: object path too long (at most %d bytes)", bpfMaxPathLen-1)
		}
		m.Pinned = u.Arg
	}
	m.Given++
	return nil
}

func (m *bpfMatch) Final(*RuleInfo) error {
	if m.Given != 1 {
		return Errorf("bpf: one of --bytecode or --pinned is required")
	}
	return nil
}

func (m *bpfMatch) code(b *Buf) {
	for i, in := range m.Program {
		if i > 0 {
			b.S(",")
		}
		b.U(uint64(in.Code)).S(" ").U(uint64(in.Jt)).S(" ").U(uint64(in.Jf)).S(" ").U(uint64(in.K))
	}
}

func (m *bpfMatch) Save(b *Buf) {
	if m.Program == nil {
		b.Opt(false, "object-pinned", m.Pinned)
		return
	}
	b.S(" --bytecode \"").U(uint64(len(m.Program))).S(",")
	m.code(b)
	b.S("\"")
}

// Print reproduces iptables 1.8.9: no leading blank, and the program is
// followed by a NUL byte.
func (m *bpfMatch) Print(b *Buf, _ bool) {
	b.S("match bpf ")
	if m.Program == nil {
		b.S("pinned ").S(m.Pinned)
		return
	}
	m.code(b)
	b.S("\x00")
}
