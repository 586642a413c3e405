package ext

import (
	"encoding/binary"
	"fmt"
	"github.com/nfgo/nfgo/internal/jhash"

	"github.com/nfgo/nfgo/packet"
)

// cluster: -m cluster (libxt_cluster, xt_cluster.c).

const (
	clusterNodesMax = 32
	ClusterInvert   = 1 << 0
)

type clusterMatch struct {
	TotalNodes uint32
	NodeMask   uint32 // bit n-1 set: this host is node n
	HashSeed   uint32
	Flags      uint32
	localOpt   string
	totalSet   bool
	seedSet    bool
}

func init() {
	Register(&Def{
		Name: "cluster", Kind: MatchKind,
		Options: []Option{
			{Name: "cluster-total-nodes", Arg: NeedArg},
			{Name: "cluster-local-node", Arg: NeedArg, Invert: true},
			{Name: "cluster-local-nodemask", Arg: NeedArg, Invert: true},
			{Name: "cluster-hash-seed", Arg: NeedArg},
		},
		New: func() Ext { return &clusterMatch{} },
	})
}

func (m *clusterMatch) Parse(u *Use) error {
	n := u.Opt.Name
	switch n {
	case "cluster-total-nodes", "cluster-local-node", "cluster-local-nodemask":
		v, ok := ParseUint(u.Arg, 1, clusterNodesMax)
		if !ok {
			return Errorf("bad value for option \"--%s\", or out of range (1-%d)", n, clusterNodesMax)
		}
		switch n {
		case "cluster-total-nodes":
			m.TotalNodes, m.totalSet = uint32(v), true
		default:
			if m.localOpt != "" {
				return Errorf("option \"--%s\" cannot be used together with \"--%s\"", n, m.localOpt)
			}
			m.localOpt = n
			if u.Invert {
				m.Flags |= ClusterInvert
			}
			if n == "cluster-local-node" {
				m.NodeMask = 1 << (v - 1)
			} else {
				m.NodeMask = uint32(v)
			}
		}
	case "cluster-hash-seed":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--cluster-hash-seed\", or out of range (0-4294967295)")
		}
		m.HashSeed, m.seedSet = uint32(v), true
	}
	return nil
}

func (m *clusterMatch) Final(*RuleInfo) error {
	if !m.totalSet {
		return Errorf("option \"--cluster-total-nodes\" must be specified")
	}
	if !m.seedSet {
		return Errorf("option \"--cluster-hash-seed\" must be specified")
	}
	if m.localOpt == "" {
		return Errorf("`--cluster-local-node' or `--cluster-local-nodemask' is missing")
	}
	if uint64(m.NodeMask) >= 1<<m.TotalNodes {
		if m.localOpt == "cluster-local-node" {
			return Errorf("`--cluster-local-node' must be <= `--cluster-total-nodes'")
		}
		return Errorf("`--cluster-local-nodemask' too big for `--cluster-total-nodes'")
	}
	return nil
}

func (m *clusterMatch) Save(b *Buf) {
	b.Not(m.Flags&ClusterInvert != 0)
	b.S(fmt.Sprintf(" --cluster-local-nodemask 0x%08x --cluster-total-nodes %d --cluster-hash-seed 0x%08x", m.NodeMask, m.TotalNodes, m.HashSeed))
}

func (m *clusterMatch) Print(b *Buf, _ bool) {
	b.S(" cluster ")
	if m.Flags&ClusterInvert != 0 {
		b.S("!")
	}
	b.S(fmt.Sprintf("node_mask=0x%08x total_nodes=%d hash_seed=0x%08x", m.NodeMask, m.TotalNodes, m.HashSeed))
}

// Match is xt_cluster_mt: the connection (its master's for an expected
// one) is hashed by its original source address into one of the nodes;
// the packet matches when that node is in the local node mask. Packets
// without a connection never match, inverted or not. Like the kernel,
// the match turns a PACKET_MULTICAST packet to a unicast address into
// PACKET_HOST (cluster nodes share a multicast MAC address).
func (m *clusterMatch) Match(e *Env) bool {
	p := e.Pkt
	if p.PktType == packet.PacketMulticast && !p.Dst().IsMulticast() {
		p.PktType = packet.PacketHost
	}
	ct := e.Conn
	if ct == nil {
		return false
	}
	if master := connMaster(ct); master != nil {
		ct = master
	}
	src := ct.Tuple(false).Src
	var h uint32
	if src.Is4() || src.Is4In6() {
		b := src.Unmap().As4()
		// jhash_1word(a, seed) is jhash_3words(a, 0, 0, seed - 8).
		h = jhash.ThreeWords(binary.LittleEndian.Uint32(b[:]), 0, 0, m.HashSeed-8)
	} else {
		b := src.As16()
		var k [4]uint32
		for i := range k {
			k[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
		h = jhash.Words(k[:], m.HashSeed)
	}
	node := uint32(uint64(h) * uint64(m.TotalNodes) >> 32) // reciprocal_scale
	return (uint64(1)<<node&uint64(m.NodeMask) != 0) != (m.Flags&ClusterInvert != 0)
}
