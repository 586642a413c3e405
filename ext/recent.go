package ext

import (
	"net/netip"
	"strings"
	"sync"

	"github.com/nfgo/nfgo/nf"
)

// recent: -m recent (libxt_recent revision 1, xt_recent.c).

// Flags of check_set.
const (
	RecentCheck  = 1 << 0
	RecentSet    = 1 << 1
	RecentUpdate = 1 << 2
	RecentRemove = 1 << 3
	RecentTTL    = 1 << 4
	RecentReap   = 1 << 5
)

const (
	recentNameLen   = 200
	recentMaxStamps = 65536
	recentAnyOp     = RecentCheck | RecentSet | RecentUpdate | RecentRemove
)

type recentMatch struct {
	Family   nf.Family
	Seconds  uint32
	HitCount uint32
	CheckSet uint8
	Invert   bool
	Name     string
	Dest     bool // --rdest: the destination address is recorded/checked
	Mask     netip.Addr
	tbl      *recentTable // bound at Check or the first packet
}

func init() {
	op := func(n string) Option { return Option{Name: n, Arg: NoArg, Invert: true} }
	flag := func(n string) Option { return Option{Name: n, Arg: NoArg} }
	Register(&Def{
		Name: "recent", Kind: MatchKind,
		Options: []Option{
			op("set"), op("rcheck"), op("update"), op("remove"),
			{Name: "seconds", Arg: NeedArg}, flag("reap"), {Name: "hitcount", Arg: NeedArg}, flag("rttl"),
			{Name: "name", Arg: NeedArg}, flag("rsource"), flag("rdest"), {Name: "mask", Arg: NeedArg},
		},
		New: func() Ext { return &recentMatch{Name: "DEFAULT"} },
	})
}

var recentOpNames = map[uint8]string{RecentSet: "set", RecentCheck: "rcheck", RecentUpdate: "update", RecentRemove: "remove"}

func (m *recentMatch) Parse(u *Use) error {
	m.Family = u.Rule.Family
	var bit uint8
	switch u.Opt.Name {
	case "set":
		bit = RecentSet
	case "rcheck":
		bit = RecentCheck
	case "update":
		bit = RecentUpdate
	case "remove":
		bit = RecentRemove
	case "seconds":
		v, ok := ParseUint(u.Arg, 1, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--seconds\", or out of range (1-4294967295)")
		}
		m.Seconds = uint32(v)
	case "hitcount":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--hitcount\", or out of range (0-4294967295)")
		}
		m.HitCount = uint32(v)
	case "reap":
		m.CheckSet |= RecentReap
	case "rttl":
		if m.CheckSet&(RecentSet|RecentRemove) != 0 {
			return Errorf("option \"--rttl\" cannot be used together with \"--%s\"", recentOpNames[m.CheckSet&(RecentSet|RecentRemove)])
		}
		m.CheckSet |= RecentTTL
	case "name":
		n := u.Arg
		if len(n) > recentNameLen-1 {
			n = n[:recentNameLen-1]
		}
		m.Name = n
	case "rsource":
		m.Dest = false
	case "rdest":
		m.Dest = true
	case "mask":
		a, err := m2ParseHost(m.Family, u.Arg)
		if err != nil {
			return err
		}
		m.Mask = a
	}
	if bit != 0 {
		if op := m.CheckSet & recentAnyOp; op != 0 {
			return Errorf("option \"--%s\" cannot be used together with \"--%s\"", u.Opt.Name, recentOpNames[op])
		}
		if m.CheckSet&RecentTTL != 0 && bit&(RecentSet|RecentRemove) != 0 {
			return Errorf("option \"--%s\" cannot be used together with \"--rttl\"", u.Opt.Name)
		}
		m.CheckSet |= bit
		if u.Invert {
			m.Invert = true
		}
	}
	return nil
}

func (m *recentMatch) Final(r *RuleInfo) error {
	m.Family = r.Family
	if !m.Mask.IsValid() {
		m.Mask = m2PrefixMask(m.Family, m2Bits(m.Family))
	}
	if m.CheckSet&RecentReap != 0 && m.Seconds == 0 {
		return Errorf("option \"--reap\" also requires \"--seconds\"")
	}
	if m.CheckSet&recentAnyOp == 0 {
		return Errorf("you must specify one of `--set', `--rcheck' `--update' or `--remove'")
	}
	return nil
}

// Check applies xt_recent's checkentry rules.
func (m *recentMatch) Check(*CheckCtx) error {
	if m.CheckSet&(RecentSet|RecentRemove) != 0 && (m.Seconds != 0 || m.HitCount != 0 || m.CheckSet&(RecentTTL|RecentReap) != 0) {
		return Errorf("--set and --remove take no --seconds, --hitcount, --rttl or --reap")
	}
	if m.HitCount >= recentMaxStamps {
		return Errorf("hitcount (%d) is larger than allowed maximum (%d)", m.HitCount, recentMaxStamps-1)
	}
	if m.Name == "" || m.Name == "." || m.Name == ".." || strings.Contains(m.Name, "/") {
		return Errorf("invalid recent list name %q: it may not be empty, \".\", \"..\" or contain '/'", m.Name)
	}
	m.tbl = recentBind(m)
	return nil
}

func (m *recentMatch) Save(b *Buf) {
	b.Not(m.Invert)
	for _, x := range []struct {
		bit  uint8
		name string
	}{{RecentSet, " --set"}, {RecentCheck, " --rcheck"}, {RecentUpdate, " --update"}, {RecentRemove, " --remove"}} {
		if m.CheckSet&x.bit != 0 {
			b.S(x.name)
		}
	}
	if m.Seconds != 0 {
		b.S(" --seconds ").S(m2Int32(m.Seconds))
	}
	if m.CheckSet&RecentReap != 0 {
		b.S(" --reap")
	}
	if m.HitCount != 0 {
		b.S(" --hitcount ").S(m2Int32(m.HitCount))
	}
	if m.CheckSet&RecentTTL != 0 {
		b.S(" --rttl")
	}
	b.S(" --name ").S(m.Name)
	b.S(" --mask ").S(m.Mask.String())
	if m.Dest {
		b.S(" --rdest")
	} else {
		b.S(" --rsource")
	}
}

func (m *recentMatch) Print(b *Buf, _ bool) {
	b.Not(m.Invert)
	b.S(" recent:")
	for _, x := range []struct {
		bit  uint8
		name string
	}{{RecentSet, " SET"}, {RecentCheck, " CHECK"}, {RecentUpdate, " UPDATE"}, {RecentRemove, " REMOVE"}} {
		if m.CheckSet&x.bit != 0 {
			b.S(x.name)
		}
	}
	if m.Seconds != 0 {
		b.S(" seconds: ").S(m2Int32(m.Seconds))
	}
	if m.CheckSet&RecentReap != 0 {
		b.S(" reap")
	}
	if m.HitCount != 0 {
		b.S(" hit_count: ").S(m2Int32(m.HitCount))
	}
	if m.CheckSet&RecentTTL != 0 {
		b.S(" TTL-Match")
	}
	b.S(" name: ").S(m.Name)
	if m.Dest {
		b.S(" side: dest")
	} else {
		b.S(" side: source")
	}
	b.S(" mask: ").S(m.Mask.String())
}

// Evaluation (xt_recent.c). Lists are shared by name between every rule of
// either family, as the kernel shares them per network namespace; a list
// keeps the --mask of the rule that created it. One registry serves the
// whole process and keeps lists for its lifetime (the kernel frees a list
// with its last rule). Time stamps are jiffies of the packet clock.

// Module parameters at their defaults: ip_list_tot (addresses per list) and
// ip_pkt_list_tot, 0 since it is kept only for compatibility: the number of
// stamps per address is then the hit count rounded up to a power of two, or
// 32 without --hitcount.
var (
	RecentListTot    = 100
	RecentPktListTot = 0
)

type recentKey struct {
	addr [16]byte
	fam  nf.Family
}

type recentEntry struct {
	key        recentKey
	ttl        uint8
	index      uint16
	nstamps    uint16
	stamps     []uint64
	prev, next *recentEntry // least recently updated first
}

type recentTable struct {
	mask      [16]byte
	stampMask uint32 // nstamps_max_mask
	ents      map[recentKey]*recentEntry
	lru       recentEntry // sentinel of the LRU ring
}

// All lists share one lock, as the kernel's recent_lock.
var recentReg struct {
	sync.Mutex
	m map[string]*recentTable
}

func recentStampMask(hit uint32) uint32 {
	round := func(v uint32) uint32 {
		r := uint32(1)
		for r < v {
			r <<= 1
		}
		return r
	}
	switch {
	case RecentPktListTot != 0 && hit < uint32(RecentPktListTot):
		return round(uint32(RecentPktListTot)) - 1
	case hit != 0:
		return round(hit) - 1
	}
	return 31
}

// recentBind finds or creates m's list (recent_mt_check). A rule needing
// more stamps than the list keeps flushes it and raises the limit.
func recentBind(m *recentMatch) *recentTable {
	recentReg.Lock()
	defer recentReg.Unlock()
	sm := recentStampMask(m.HitCount)
	if t := recentReg.m[m.Name]; t != nil {
		if sm > t.stampMask {
			clear(t.ents)
			t.lru.next, t.lru.prev = &t.lru, &t.lru
			t.stampMask = sm
		}
		return t
	}
	if recentReg.m == nil {
		recentReg.m = map[string]*recentTable{}
	}
	t := &recentTable{stampMask: sm, ents: map[recentKey]*recentEntry{}}
	t.lru.next, t.lru.prev = &t.lru, &t.lru
	if m.Mask.IsValid() {
		b := m.Mask.AsSlice()
		copy(t.mask[:], b) // an IPv4 mask fills the first word only
	} else {
		for i := range t.mask {
			t.mask[i] = 0xff
		}
	}
	recentReg.m[m.Name] = t
	return t
}

func (t *recentTable) unlink(e *recentEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (t *recentTable) pushBack(e *recentEntry) {
	e.prev, e.next = t.lru.prev, &t.lru
	t.lru.prev.next = e
	t.lru.prev = e
}

func (t *recentTable) remove(e *recentEntry) {
	t.unlink(e)
	delete(t.ents, e.key)
}

func (t *recentTable) update(e *recentEntry, now uint64) {
	e.index &= uint16(t.stampMask)
	e.stamps[e.index] = now
	e.index++
	if e.index > e.nstamps {
		e.nstamps = e.index
	}
	t.unlink(e)
	t.pushBack(e)
}

// jiffyAfter is time_after(a, b).
func jiffyAfter(a, b uint64) bool { return int64(b-a) < 0 }

// Match is recent_mt.
func (m *recentMatch) Match(e *Env) bool {
	p := e.Pkt
	var k recentKey
	k.fam = e.Family
	var ttl uint8
	if e.Family == nf.IPv6 {
		if len(p.Data) < 40 {
			return false
		}
		if m.Dest {
			copy(k.addr[:], p.Data[24:40])
		} else {
			copy(k.addr[:], p.Data[8:24])
		}
		ttl = p.Data[7]
	} else {
		if len(p.Data) < 20 {
			return false
		}
		if m.Dest {
			copy(k.addr[:], p.Data[16:20])
		} else {
			copy(k.addr[:], p.Data[12:16])
		}
		ttl = p.Data[8]
	}
	// The TTL as seen before forwarding: on output paths a packet that is
	// not from a local socket has already been decremented.
	if p.OutDev != "" && !p.Local {
		ttl++
	}
	now := Jiffies(p.Timestamp)

	recentReg.Lock()
	defer recentReg.Unlock()
	t := m.tbl
	if t == nil {
		recentReg.Unlock()
		t = recentBind(m)
		recentReg.Lock()
		m.tbl = t
	}
	for i := range k.addr {
		k.addr[i] &= t.mask[i]
	}
	ret := m.Invert
	ent := t.ents[k]
	if ent != nil && m.CheckSet&RecentTTL != 0 && ttl != ent.ttl && ent.ttl != 0 && ttl != 0 {
		ent = nil
	}
	if ent == nil {
		if m.CheckSet&RecentSet == 0 {
			return ret
		}
		if len(t.ents) >= RecentListTot && t.lru.next != &t.lru {
			t.remove(t.lru.next)
		}
		ent = &recentEntry{key: k, ttl: ttl, index: 1, nstamps: 1, stamps: make([]uint64, t.stampMask+1)}
		ent.stamps[0] = now
		t.ents[k] = ent
		t.pushBack(ent)
		return !ret
	}
	switch {
	case m.CheckSet&RecentSet != 0:
		ret = !ret
	case m.CheckSet&RecentRemove != 0:
		t.remove(ent)
		ret = !ret
	case m.CheckSet&(RecentCheck|RecentUpdate) != 0:
		// seconds*HZ is a u32 product in the kernel.
		since := now - uint64(m.Seconds*m2KernelHZ)
		hits := uint32(0)
		for i := 0; i < int(ent.nstamps); i++ {
			if m.Seconds != 0 && jiffyAfter(since, ent.stamps[i]) {
				continue
			}
			hits++
			if m.HitCount == 0 || hits >= m.HitCount {
				ret = !ret
				break
			}
		}
		if m.CheckSet&RecentReap != 0 {
			// Only the least recently updated address is reaped, and
			// not when it is the one about to be updated.
			oldest := t.lru.next
			if oldest != &t.lru && !(oldest == ent && m.CheckSet&RecentUpdate != 0 && ret) &&
				jiffyAfter(since, oldest.stamps[oldest.index-1]) {
				t.remove(oldest)
			}
		}
	}
	if m.CheckSet&RecentSet != 0 || m.CheckSet&RecentUpdate != 0 && ret {
		t.update(ent, now)
		ent.ttl = ttl
	}
	return ret
}
