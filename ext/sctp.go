package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// sctp: -m sctp --sport/--dport/--chunk-types (libxt_sctp, xt_sctp.c);
// needs -p sctp.
type sctpMatch struct {
	Src, Dst       PortRange
	Chunks         bool      // --chunk-types given
	InvChunks      bool      // ! --chunk-types
	ChunkMatch     uint8     // m1SCTPAny, m1SCTPAll or m1SCTPOnly
	ChunkMap       [8]uint32 // bit per chunk type, as the kernel's chunkmap
	Flags          []m1SCTPFlag
	srcSet, dstSet bool
}

// m1SCTPFlag is a chunk flag test. Like iptables 1.8.9 it records the
// chunk's index in the name table (which equals the chunk type only for
// types 0-14), so flags given for later chunk types never take effect.
type m1SCTPFlag struct {
	ChunkType uint8
	Flag      uint8
	Mask      uint8
}

const (
	m1SCTPAny  = 1 // SCTP_CHUNK_MATCH_ANY
	m1SCTPAll  = 2 // SCTP_CHUNK_MATCH_ALL
	m1SCTPOnly = 4 // SCTP_CHUNK_MATCH_ONLY
)

var m1SCTPChunks = []struct {
	Name  string
	Type  uint8
	Flags string // valid flag letters, bit 7 first
}{
	{"DATA", 0, "----IUBE"}, {"INIT", 1, "--------"}, {"INIT_ACK", 2, "--------"},
	{"SACK", 3, "--------"}, {"HEARTBEAT", 4, "--------"}, {"HEARTBEAT_ACK", 5, "--------"},
	{"ABORT", 6, "-------T"}, {"SHUTDOWN", 7, "--------"}, {"SHUTDOWN_ACK", 8, "--------"},
	{"ERROR", 9, "--------"}, {"COOKIE_ECHO", 10, "--------"}, {"COOKIE_ACK", 11, "--------"},
	{"ECN_ECNE", 12, "--------"}, {"ECN_CWR", 13, "--------"}, {"SHUTDOWN_COMPLETE", 14, "-------T"},
	{"I_DATA", 64, "----IUBE"}, {"RE_CONFIG", 130, "--------"}, {"PAD", 132, "--------"},
	{"ASCONF", 193, "--------"}, {"ASCONF_ACK", 128, "--------"}, {"FORWARD_TSN", 192, "--------"},
	{"I_FORWARD_TSN", 194, "--------"},
}

func init() {
	Register(&Def{
		Name: "sctp", Kind: MatchKind, Proto: nf.ProtoSCTP,
		Options: []Option{
			{Name: "source-port", Arg: NeedArg, Invert: true},
			{Name: "sport", Arg: NeedArg, Invert: true},
			{Name: "destination-port", Arg: NeedArg, Invert: true},
			{Name: "dport", Arg: NeedArg, Invert: true},
			{Name: "chunk-types", Arg: NeedArg, Invert: true, Extra: 1},
		},
		New: func() Ext { return &sctpMatch{} },
	})
}

func (m *sctpMatch) set(t uint8)      { m.ChunkMap[t/32] |= 1 << (t % 32) }
func (m *sctpMatch) isSet(t int) bool { return m.ChunkMap[t/32]&(1<<(t%32)) != 0 }
func (m *sctpMatch) clear() bool      { return m.ChunkMap == [8]uint32{} }
func (m *sctpMatch) all() bool {
	return m.ChunkMap == [8]uint32{^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)}
}
func (m *sctpMatch) HasChunk(t uint8) bool { return m.isSet(int(t)) }

func (m *sctpMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "source-port", "sport":
		if m.srcSet {
			return Errorf("only one `--source-port' allowed")
		}
		m.srcSet = true
		return m.Src.Parse(u, "sctp")
	case "destination-port", "dport":
		if m.dstSet {
			return Errorf("only one `--destination-port' allowed")
		}
		m.dstSet = true
		return m.Dst.Parse(u, "sctp")
	}
	if m.Chunks {
		return Errorf("only one `--chunk-types' allowed")
	}
	list := u.Args[0]
	if list == "" || list[0] == '-' || list[0] == '!' {
		return Errorf("--chunk-types requires two args: MATCHTYPE (all, any, only) and a chunk list")
	}
	switch strings.ToUpper(u.Arg) {
	case "ANY":
		m.ChunkMatch = m1SCTPAny
	case "ALL":
		m.ChunkMatch = m1SCTPAll
	case "ONLY":
		m.ChunkMatch = m1SCTPOnly
	default:
		return Errorf("match type has to be one of \"ALL\", \"ANY\" or \"ONLY\" (got `%s')", u.Arg)
	}
	m.Chunks, m.InvChunks = true, u.Invert
	switch strings.ToUpper(list) {
	case "ALL":
		for i := range m.ChunkMap {
			m.ChunkMap[i] = ^uint32(0)
		}
		return nil
	case "NONE":
		return nil
	}
	for _, part := range strings.Split(list, ",") {
		if part == "" {
			continue // strtok skips empty tokens
		}
		name, flags, hasFlags := strings.Cut(part, ":")
		idx := -1
		for i, c := range m1SCTPChunks {
			if strings.EqualFold(c.Name, name) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return Errorf("unknown sctp chunk `%s'", name)
		}
		m.set(m1SCTPChunks[idx].Type)
		if !hasFlags {
			continue
		}
		for _, f := range []byte(flags) {
			up := f
			if f >= 'a' && f <= 'z' {
				up = f - 'a' + 'A'
			}
			p := strings.IndexByte(m1SCTPChunks[idx].Flags, up)
			if up == '-' || p < 0 {
				return Errorf("invalid flags for chunk type %d: `%c' is not a flag of %s", idx, f, m1SCTPChunks[idx].Name)
			}
			if err := m.addFlag(uint8(idx), uint8(7-p), f == up); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *sctpMatch) addFlag(chunk, bit uint8, set bool) error {
	for i := range m.Flags {
		if m.Flags[i].ChunkType == chunk {
			m.Flags[i].Mask |= 1 << bit
			if set {
				m.Flags[i].Flag |= 1 << bit
			}
			return nil
		}
	}
	if len(m.Flags) == 4 {
		return Errorf("number of chunk types with flags exceeds the limit of 4")
	}
	f := m1SCTPFlag{ChunkType: chunk, Mask: 1 << bit}
	if set {
		f.Flag = 1 << bit
	}
	m.Flags = append(m.Flags, f)
	return nil
}

func (m *sctpMatch) Final(*RuleInfo) error { return nil }

func (m *sctpMatch) chunks(b *Buf, numeric bool) {
	switch m.ChunkMatch {
	case m1SCTPAny:
		b.S(" any")
	case m1SCTPAll:
		b.S(" all")
	case m1SCTPOnly:
		b.S(" only")
	}
	if m.clear() {
		b.S(" NONE")
		return
	}
	if m.all() {
		b.S(" ALL")
		return
	}
	first := true
	for t := 0; t < 256; t++ {
		if !m.isSet(t) {
			continue
		}
		if first {
			b.S(" ")
		} else {
			b.S(",")
		}
		first = false
		if numeric {
			const digits = "0123456789ABCDEF"
			b.S("0x00").S(string([]byte{digits[t>>4], digits[t&15]}))
		} else {
			for _, c := range m1SCTPChunks {
				if int(c.Type) == t {
					b.S(c.Name)
				}
			}
		}
		for _, f := range m.Flags {
			if int(f.ChunkType) != t || f.Mask == 0 {
				continue
			}
			b.S(":")
			for i := 7; i >= 0; i-- {
				if f.Mask&(1<<i) == 0 {
					continue
				}
				c := m1SCTPChunks[t].Flags[7-i]
				if f.Flag&(1<<i) == 0 {
					c = c - 'A' + 'a'
				}
				b.B = append(b.B, c)
			}
		}
	}
}

func (m *sctpMatch) Save(b *Buf) {
	if m.srcSet {
		b.Opt(m.Src.Inv, "sport", m1RangeString(uint64(m.Src.Lo), uint64(m.Src.Hi)))
	}
	if m.dstSet {
		b.Opt(m.Dst.Inv, "dport", m1RangeString(uint64(m.Dst.Lo), uint64(m.Dst.Hi)))
	}
	if m.Chunks {
		b.Opt(m.InvChunks, "chunk-types")
		m.chunks(b, false)
	}
}

func (m *sctpMatch) Print(b *Buf, numeric bool) {
	b.S(" sctp")
	if m.srcSet {
		m.Src.Print(b, "spt", "sctp", numeric)
	}
	if m.dstSet {
		m.Dst.Print(b, "dpt", "sctp", numeric)
	}
	if m.Chunks {
		b.Not(m.InvChunks)
		m.chunks(b, numeric)
	}
}

// Match is xt_sctp.c's sctp_mt: ports, then the chunk walk of
// match_packet for --chunk-types.
func (m *sctpMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	off := thoff(p)
	sh := hdrAt(p, off, 12)
	if sh == nil {
		e.HotDrop = true
		return false
	}
	if !m.Src.Match(be16(sh)) || !m.Dst.Match(be16(sh[2:])) {
		return false
	}
	if !m.Chunks {
		return true
	}
	return m.chunksMatch(e, off+12) != m.InvChunks
}

func (m *sctpMatch) chunksMatch(e *Env, off int) bool {
	p := e.Pkt
	var left [8]uint32 // chunk types ALL still waits for
	if m.ChunkMatch == m1SCTPAll {
		left = m.ChunkMap
	}
	for {
		ch := hdrAt(p, off, 4)
		if ch == nil || be16(ch[2:]) == 0 {
			e.HotDrop = true
			return false
		}
		typ, flags := ch[0], ch[1]
		off += (int(be16(ch[2:])) + 3) &^ 3
		if m.isSet(int(typ)) {
			switch m.ChunkMatch {
			case m1SCTPAny:
				if m.flagsMatch(typ, flags) {
					return true
				}
			case m1SCTPAll:
				if m.flagsMatch(typ, flags) {
					left[typ/32] &^= 1 << (typ % 32)
				}
			case m1SCTPOnly:
				if !m.flagsMatch(typ, flags) {
					return false
				}
			}
		} else if m.ChunkMatch == m1SCTPOnly {
			return false
		}
		if off >= len(p.Data) {
			break
		}
	}
	switch m.ChunkMatch {
	case m1SCTPAll:
		return left == [8]uint32{}
	case m1SCTPOnly:
		return true
	}
	return false
}

// flagsMatch is match_flags: the first flag rule for the chunk type decides.
func (m *sctpMatch) flagsMatch(typ, flags uint8) bool {
	for _, f := range m.Flags {
		if f.ChunkType == typ {
			return flags&f.Mask == f.Flag
		}
	}
	return true
}
