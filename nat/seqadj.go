package nat

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nfgo/nfgo/packet"
)

// SeqAdj is struct nf_ct_seqadj: how far one direction's sequence
// numbers have moved because NAT changed the length of its payload.
// Packets starting after CorrectionPos are moved by OffsetAfter, earlier
// ones (retransmissions) by OffsetBefore.
type SeqAdj struct {
	CorrectionPos uint32
	OffsetBefore  int32
	OffsetAfter   int32
}

// SeqAdjust is struct nf_conn_seqadj, indexed by direction (0 original,
// 1 reply). A connection whose SeqAdjust was ever changed has the status
// bit IPS_SEQ_ADJUST, and conntrack calls Adjust for each of its TCP
// packets when it confirms them (nf_confirm), except on loopback.
type SeqAdjust [2]SeqAdj

// after is the kernel's after(): seq1 comes after seq2 in sequence space.
func after(seq1, seq2 uint32) bool { return int32(seq2-seq1) < 0 }

// Init is nf_ct_seqadj_init: both offsets of dir set to off. It reports
// whether the connection needs IPS_SEQ_ADJUST (off not zero).
func (s *SeqAdjust) Init(dir int, off int32) bool {
	if off == 0 {
		return false
	}
	s[dir].OffsetBefore, s[dir].OffsetAfter = off, off
	return true
}

// Set is nf_ct_seqadj_set: the payload of dir's packet with sequence
// number seq grew by off bytes (negative: shrank). The correction moves
// to seq unless an earlier one is still pending for a later position
// (a retransmission mangled again). It reports whether the connection
// needs IPS_SEQ_ADJUST (off not zero).
func (s *SeqAdjust) Set(dir int, seq uint32, off int32) bool {
	if off == 0 {
		return false
	}
	w := &s[dir]
	if w.OffsetBefore == w.OffsetAfter || int32(w.CorrectionPos-seq) < 0 {
		w.CorrectionPos = seq
		w.OffsetBefore = w.OffsetAfter
		w.OffsetAfter += off
	}
	return true
}

// Offset is nf_ct_seq_offset: the offset dir's sequence number seq is
// moved by.
func (s *SeqAdjust) Offset(dir int, seq uint32) int32 {
	w := &s[dir]
	if after(seq, w.CorrectionPos) {
		return w.OffsetAfter
	}
	return w.OffsetBefore
}

// ErrTCPOptions is returned by Adjust for a packet whose TCP options end
// in the middle of an option; the kernel drops it.
var ErrTCPOptions = errors.New("nat: malformed TCP options")

// Adjust is nf_ct_seq_adjust for a TCP packet of direction dir: its
// sequence number is moved by dir's offset, its acknowledgment number
// (when ACK is set) and the edges of its SACK blocks back by the other
// direction's, with incremental checksum updates.
func (s *SeqAdjust) Adjust(p *packet.Packet, dir int) error {
	b := p.L4()
	if p.Proto != packet.ProtoTCP || len(b) < 20 {
		return fmt.Errorf("nat: sequence adjustment: TCP %w", ErrShort)
	}
	th := packet.TCP(b)
	this, other := &s[dir], &s[1-dir]
	seq := th.Seq()
	off := this.OffsetBefore
	if after(seq, this.CorrectionPos) {
		off = this.OffsetAfter
	}
	c := th.Checksum()
	c = replace32(c, seq, seq+uint32(off))
	binary.BigEndian.PutUint32(b[4:], seq+uint32(off))
	if th.Flags()&0x10 == 0 {
		th.SetChecksum(c)
		return nil
	}
	ack := th.Ack()
	aoff := other.OffsetBefore
	if after(ack-uint32(other.OffsetBefore), other.CorrectionPos) {
		aoff = other.OffsetAfter
	}
	c = replace32(c, ack, ack-uint32(aoff))
	binary.BigEndian.PutUint32(b[8:], ack-uint32(aoff))
	th.SetChecksum(c)
	return sackAdjust(b, other)
}

func replace32(c uint16, old, new uint32) uint16 {
	var o, n [4]byte
	binary.BigEndian.PutUint32(o[:], old)
	binary.BigEndian.PutUint32(n[:], new)
	return replace(c, o[:], n[:])
}

// sackAdjust is nf_ct_sack_adjust: the SACK blocks acknowledge the other
// direction's data.
func sackAdjust(b []byte, w *SeqAdj) error {
	end := int(b[12]>>4) * 4
	if end > len(b) {
		return fmt.Errorf("nat: sequence adjustment: TCP options %w", ErrShort)
	}
	for off := 20; off < end; {
		switch b[off] {
		case 0: // end of options
			return nil
		case 1: // no-op
			off++
			continue
		}
		if off+1 == end || off+int(b[off+1]) > end || b[off+1] < 2 {
			return ErrTCPOptions
		}
		n := int(b[off+1])
		if b[off] == 5 && n >= 10 && (n-2)%8 == 0 {
			for blk := off + 2; blk < off+n; blk += 8 {
				c := packet.TCP(b).Checksum()
				for _, e := range [2]int{blk, blk + 4} {
					v := binary.BigEndian.Uint32(b[e:])
					nv := v - uint32(w.OffsetBefore)
					if after(v-uint32(w.OffsetBefore), w.CorrectionPos) {
						nv = v - uint32(w.OffsetAfter)
					}
					c = replace32(c, v, nv)
					binary.BigEndian.PutUint32(b[e:], nv)
				}
				packet.TCP(b).SetChecksum(c)
			}
		}
		off += n
	}
	return nil
}
