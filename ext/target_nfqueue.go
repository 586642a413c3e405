package ext

import (
	"encoding/binary"
	"github.com/nfgo/nfgo/internal/jhash"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// NFQUEUE: -j NFQUEUE (libxt_NFQUEUE revision 3, xt_NFQUEUE.c).

// NFQUEUE flags (NFQ_FLAG_*).
const (
	NFQBypass    = 0x01
	NFQCPUFanout = 0x02
)

type nfqueueTarget struct {
	QueueNum    uint16
	QueuesTotal uint16 // 1 without --queue-balance; wraps to 0 for 0:65535 as in C
	Flags       uint8  // NFQBypass | NFQCPUFanout
	numSet      bool
	balanceSet  bool
	fanoutSet   bool
}

func init() {
	Register(&Def{
		Name: "NFQUEUE", Kind: TargetKind,
		Options: []Option{
			{Name: "queue-num", Arg: NeedArg},
			{Name: "queue-balance", Arg: NeedArg},
			{Name: "queue-bypass"},
			{Name: "queue-cpu-fanout"},
		},
		New: func() Ext { return &nfqueueTarget{QueuesTotal: 1} },
	})
}

// t1Range16 parses "lo:hi" with missing parts 0 and 65535 (xtables'
// UINT16RC type). It returns the values given.
func t1Range16(u *Use) ([]uint16, error) {
	parts := strings.Split(u.Arg, ":")
	if len(parts) > 2 {
		return nil, Errorf("too many components for option \"--%s\" (max: 2)", u.Opt.Name)
	}
	var out []uint16
	for i, p := range parts {
		if p == "" {
			out = append(out, [2]uint16{0, 0xffff}[i])
			continue
		}
		v, rest, ok := t1PrefixUint(p, 0xffff)
		if !ok {
			return nil, Errorf("bad value for option \"--%s\" near \"%s\", or out of range (0-65535)", u.Opt.Name, p)
		}
		if rest != "" {
			return nil, Errorf("argument to \"--%s\" has unexpected characters near \"%s\"", u.Opt.Name, rest)
		}
		out = append(out, uint16(v))
	}
	return out, nil
}

func (t *nfqueueTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "queue-num":
		if t.balanceSet {
			return Errorf("option \"--queue-num\" cannot be used together with \"--queue-balance\"")
		}
		v, err := t1Uint(u, 0, 0xffff)
		if err != nil {
			return err
		}
		t.QueueNum, t.numSet = uint16(v), true
	case "queue-balance":
		if t.numSet {
			return Errorf("option \"--queue-balance\" cannot be used together with \"--queue-num\"")
		}
		r, err := t1Range16(u)
		if err != nil {
			return err
		}
		if len(r) != 2 {
			return Errorf("bad range \"%s\": expected FIRST:LAST", u.Arg)
		}
		if r[0] >= r[1] {
			return Errorf("%d should be less than %d", r[0], r[1])
		}
		t.QueueNum, t.QueuesTotal, t.balanceSet = r[0], r[1]-r[0]+1, true
	case "queue-bypass":
		t.Flags |= NFQBypass
	case "queue-cpu-fanout":
		t.Flags |= NFQCPUFanout
		t.fanoutSet = true
	}
	return nil
}

func (t *nfqueueTarget) Final(*RuleInfo) error {
	if t.fanoutSet && !t.balanceSet {
		return Errorf("option \"--queue-cpu-fanout\" also requires \"--queue-balance\"")
	}
	return nil
}

// Check is the kernel's checkentry.
func (t *nfqueueTarget) Check(*CheckCtx) error {
	if t.QueuesTotal == 0 {
		return Errorf("the number of queues is 0 (a --queue-balance range of 65536 queues wraps around)")
	}
	return nil
}

func (t *nfqueueTarget) out(b *Buf, dash, num, balance string) {
	if t.QueuesTotal > 1 {
		b.S(" " + dash + balance + " ").U(uint64(t.QueueNum)).S(":").U(uint64(t.QueueNum) + uint64(t.QueuesTotal) - 1)
	} else {
		b.S(" " + dash + num + " ").U(uint64(t.QueueNum))
	}
}

func (t *nfqueueTarget) Save(b *Buf) {
	t.out(b, "--", "queue-num", "queue-balance")
	if t.Flags&NFQBypass != 0 {
		b.S(" --queue-bypass")
	}
	if t.Flags&NFQCPUFanout != 0 {
		b.S(" --queue-cpu-fanout")
	}
}

func (t *nfqueueTarget) Print(b *Buf, _ bool) {
	b.S(" NFQUEUE")
	t.out(b, "", "num", "balance")
	if t.Flags&NFQBypass != 0 {
		b.S(" bypass")
	}
	if t.Flags&NFQCPUFanout != 0 {
		b.S(" cpu-fanout")
	}
}

// NFQueueSeed is the jhash initval --queue-balance hashes with. The kernel
// draws it at random when the first NFQUEUE rule is loaded, so which queue
// of a range a flow lands in differs between boots; nfgo fixes it so runs
// are reproducible. Set it to reproduce a particular kernel's choice.
var NFQueueSeed uint32 = 0x5eed5eed

// NFQueueCPU is the CPU --queue-cpu-fanout takes as the one processing the
// packet (raw_smp_processor_id); nfgo runs everything on "CPU 0".
var NFQueueCPU uint32

// Target is nfqueue_tg_v3: the queue number, spread over a --queue-balance
// range by CPU or by a hash of the addresses, and the bypass flag.
func (t *nfqueueTarget) Target(e *Env) Verdict {
	q := uint32(t.QueueNum)
	if t.QueuesTotal > 1 {
		if t.Flags&NFQCPUFanout != 0 {
			q += NFQueueCPU % uint32(t.QueuesTotal)
		} else {
			q += uint32(uint64(nfqueueHash(e.Pkt.Family, e.Pkt.Data, NFQueueSeed)) * uint64(t.QueuesTotal) >> 32)
		}
	}
	e.QueueNum = uint16(q)
	e.Bypass = t.Flags&NFQBypass != 0
	return VerdictQueue
}

// nfqueueHash is hash_v4/hash_v6 of nf_queue.h: a jhash of the addresses,
// ordered so both directions of a flow hash alike. The kernel reads the
// address words in host byte order; the values here are those of a
// little-endian machine (x86, arm64).
func nfqueueHash(fam nf.Family, d []byte, seed uint32) uint32 {
	le := binary.LittleEndian.Uint32
	if fam == nf.IPv6 {
		if len(d) < 40 {
			return 0
		}
		s3, d3 := le(d[8+12:]), le(d[24+12:])
		s1, d1 := le(d[8+4:]), le(d[24+4:])
		a, b := d3, s3
		if s3 < d3 {
			a, b = s3, d3
		}
		c := d1
		if s1 < d1 {
			c = s1
		}
		return jhash.ThreeWords(a, b, c, seed)
	}
	if len(d) < 20 {
		return 0
	}
	s, dst := le(d[12:]), le(d[16:])
	if s < dst {
		return jhash.ThreeWords(s, dst, uint32(d[9]), seed)
	}
	return jhash.ThreeWords(dst, s, uint32(d[9]), seed)
}
