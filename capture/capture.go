// Package capture reads and writes packet capture files: classic pcap
// (either byte order, microsecond or nanosecond timestamps) and pcapng
// (either byte order, several interfaces and sections). It uses the
// standard library only; the formats are small and a reader that reuses
// one buffer allocates nothing per packet.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Record is one captured packet.
type Record struct {
	Data      []byte // the captured bytes; valid until the next call to Next
	LinkType  uint32 // pcap LINKTYPE_* of the interface
	Timestamp int64  // nanoseconds since the Unix epoch
	OrigLen   int    // length on the wire (Data may be shorter: snaplen)
	IfName    string // pcapng if_name of the interface, "" when absent
	IfIndex   int    // pcapng interface ID within its section; 0 for pcap
	// Direction is the pcapng packet's epb_flags direction: DirIn,
	// DirOut, or DirUnknown (pcap, or no flags).
	Direction uint8
}

// Packet directions of pcapng's epb_flags.
const (
	DirUnknown uint8 = 0
	DirIn      uint8 = 1
	DirOut     uint8 = 2
)

// Errors of the reader.
var (
	ErrFormat    = errors.New("capture: not a pcap or pcapng file")
	ErrCorrupt   = errors.New("capture: corrupt file")
	ErrTruncated = errors.New("capture: file truncated")
)

// maxBlock bounds a record or block, so that a corrupt length cannot make
// the reader allocate gigabytes.
const maxBlock = 64 << 20

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	ngSHB          = 0x0a0d0d0a
	ngBOM          = 0x1a2b3c4d
	ngIDB          = 1
	ngPB           = 2 // obsolete Packet Block
	ngSPB          = 3
	ngEPB          = 6
)

type iface struct {
	linkType uint32
	snapLen  uint32
	name     string
	// ticks to nanoseconds: exponent of ten or of two of a tick.
	pow10    int  // ticks are 10^-pow10 s (when !binary)
	pow2     uint // ticks are 2^-pow2 s (when binary)
	binary   bool
	offsetNs int64 // if_tsoffset
}

func (i *iface) nanos(ticks uint64) int64 {
	var ns uint64
	switch {
	case i.binary:
		hi, lo := bits.Mul64(ticks, 1e9)
		if hi >= 1<<i.pow2 {
			return i.offsetNs // would overflow: garbage timestamp
		}
		ns, _ = bits.Div64(hi, lo, 1<<i.pow2)
	case i.pow10 <= 9:
		ns = ticks * pow10(9-i.pow10)
	default:
		ns = ticks / pow10(i.pow10-9)
	}
	return int64(ns) + i.offsetNs
}

func pow10(n int) uint64 {
	p := uint64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// Reader reads a pcap or pcapng file.
type Reader struct {
	r    *bufio.Reader
	ng   bool
	bo   binary.ByteOrder
	buf  []byte
	hdr  [24]byte
	ifs  []iface // pcap: one
	nano bool    // pcap: nanosecond timestamps
}

// Open reads the file header and returns a reader of its packets.
func Open(r io.Reader) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	rd := &Reader{r: br}
	m, err := br.Peek(4)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty input", ErrFormat)
		}
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	switch {
	case binary.LittleEndian.Uint32(m) == ngSHB:
		rd.ng = true
		if err := rd.section(0); err != nil {
			return nil, err
		}
		return rd, nil
	case binary.LittleEndian.Uint32(m) == pcapMagicMicro, binary.LittleEndian.Uint32(m) == pcapMagicNano:
		rd.bo = binary.LittleEndian
	case binary.BigEndian.Uint32(m) == pcapMagicMicro, binary.BigEndian.Uint32(m) == pcapMagicNano:
		rd.bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w (magic %x)", ErrFormat, m)
	}
	h := rd.hdr[:24]
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, fmt.Errorf("capture: pcap header: %w", truncated(err))
	}
	rd.nano = rd.bo.Uint32(h) == pcapMagicNano
	if major := rd.bo.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("%w: pcap version %d", ErrFormat, major)
	}
	// The top bits of the link type field may carry FCS information.
	rd.ifs = []iface{{linkType: rd.bo.Uint32(h[20:]) & 0x0fffffff, snapLen: rd.bo.Uint32(h[16:])}}
	return rd, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}

// Next reads the next packet into rec. It returns io.EOF after the last.
func (r *Reader) Next(rec *Record) error {
	if r.ng {
		return r.nextNG(rec)
	}
	h := r.hdr[:16]
	if _, err := io.ReadFull(r.r, h); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("capture: pcap record header: %w", truncated(err))
	}
	sec, frac := r.bo.Uint32(h), r.bo.Uint32(h[4:])
	incl, orig := r.bo.Uint32(h[8:]), r.bo.Uint32(h[12:])
	if incl > maxBlock {
		return fmt.Errorf("%w: pcap record of %d bytes", ErrCorrupt, incl)
	}
	data, err := r.read(int(incl))
	if err != nil {
		return fmt.Errorf("capture: pcap record: %w", truncated(err))
	}
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	*rec = Record{Data: data, LinkType: r.ifs[0].linkType, Timestamp: int64(sec)*1e9 + ns, OrigLen: int(orig)}
	return nil
}

// read reads n bytes into the reused buffer.
func (r *Reader) read(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n+n/4)
	}
	b := r.buf[:n]
	_, err := io.ReadFull(r.r, b)
	return b, err
}

// section reads a section header block and resets the interfaces. The
// first have bytes of it are already in r.hdr.
func (r *Reader) section(have int) error {
	h := r.hdr[:12]
	if _, err := io.ReadFull(r.r, h[have:]); err != nil {
		return fmt.Errorf("capture: pcapng section header: %w", truncated(err))
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngBOM:
		r.bo = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:]) == ngBOM:
		r.bo = binary.BigEndian
	default:
		return fmt.Errorf("%w: pcapng byte-order magic %x", ErrFormat, h[8:12])
	}
	n := r.bo.Uint32(h[4:])
	if n < 28 || n%4 != 0 || n > maxBlock {
		return fmt.Errorf("%w: pcapng section header of %d bytes", ErrCorrupt, n)
	}
	body, err := r.read(int(n) - 12)
	if err != nil {
		return fmt.Errorf("capture: pcapng section header: %w", truncated(err))
	}
	if major := r.bo.Uint16(body); major != 1 {
		return fmt.Errorf("%w: pcapng version %d", ErrFormat, major)
	}
	if r.bo.Uint32(body[len(body)-4:]) != n {
		return fmt.Errorf("%w: pcapng section header length mismatch", ErrCorrupt)
	}
	r.ifs = r.ifs[:0]
	return nil
}

func (r *Reader) nextNG(rec *Record) error {
	for {
		h := r.hdr[:8]
		if _, err := io.ReadFull(r.r, h); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return fmt.Errorf("capture: pcapng block header: %w", truncated(err))
		}
		typ := r.bo.Uint32(h)
		if typ == ngSHB {
			// A new section: byte order may change; length is read again.
			if err := r.section(8); err != nil {
				return err
			}
			continue
		}
		n := r.bo.Uint32(h[4:])
		if n < 12 || n%4 != 0 || n > maxBlock {
			return fmt.Errorf("%w: pcapng block type %#x of %d bytes", ErrCorrupt, typ, n)
		}
		body, err := r.read(int(n) - 8)
		if err != nil {
			return fmt.Errorf("capture: pcapng block: %w", truncated(err))
		}
		if r.bo.Uint32(body[len(body)-4:]) != n {
			return fmt.Errorf("%w: pcapng block type %#x: trailing length mismatch", ErrCorrupt, typ)
		}
		body = body[:len(body)-4]
		switch typ {
		case ngIDB:
			if err := r.interfaceBlock(body); err != nil {
				return err
			}
		case ngEPB, ngPB:
			if len(body) < 20 {
				return fmt.Errorf("%w: pcapng packet block too short", ErrCorrupt)
			}
			var id uint32
			if typ == ngEPB {
				id = r.bo.Uint32(body)
			} else {
				id = uint32(r.bo.Uint16(body))
			}
			if id >= uint32(len(r.ifs)) {
				return fmt.Errorf("%w: pcapng packet of undeclared interface %d", ErrCorrupt, id)
			}
			ticks := uint64(r.bo.Uint32(body[4:]))<<32 | uint64(r.bo.Uint32(body[8:]))
			capLen, orig := r.bo.Uint32(body[12:]), r.bo.Uint32(body[16:])
			if uint64(capLen) > uint64(len(body)-20) {
				return fmt.Errorf("%w: pcapng packet of %d bytes in a %d-byte block", ErrCorrupt, capLen, n)
			}
			r.fill(rec, int(id), ticks, body[20:20+capLen], orig)
			if off := 20 + int(capLen+3)&^3; typ == ngEPB && off <= len(body) {
				rec.Direction = r.epbDirection(body[off:])
			}
			return nil
		case ngSPB:
			if len(body) < 4 {
				return fmt.Errorf("%w: pcapng simple packet block too short", ErrCorrupt)
			}
			if len(r.ifs) == 0 {
				return fmt.Errorf("%w: pcapng simple packet before any interface", ErrCorrupt)
			}
			orig := r.bo.Uint32(body)
			data := body[4:]
			if uint64(len(data)) > uint64(orig) {
				data = data[:orig] // the rest is padding
			}
			if s := r.ifs[0].snapLen; s != 0 && uint64(len(data)) > uint64(s) {
				data = data[:s]
			}
			r.fill(rec, 0, 0, data, orig)
			rec.Timestamp = 0 // simple packet blocks carry no time
			return nil
		}
		// Other blocks (name resolution, statistics, ...) carry no packets.
	}
}

// epbDirection reads the direction bits of an EPB's epb_flags option
// (code 2); malformed options are ignored, as they carry no packet data.
func (r *Reader) epbDirection(opts []byte) uint8 {
	for len(opts) >= 4 {
		code, n := r.bo.Uint16(opts), int(r.bo.Uint16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			return DirUnknown
		}
		if code == 2 && n == 4 {
			return uint8(r.bo.Uint32(opts[4:]) & 3)
		}
		opts = opts[4+(n+3)&^3:]
	}
	return DirUnknown
}

func (r *Reader) fill(rec *Record, id int, ticks uint64, data []byte, orig uint32) {
	i := &r.ifs[id]
	*rec = Record{Data: data, LinkType: i.linkType, Timestamp: i.nanos(ticks), OrigLen: int(orig), IfName: i.name, IfIndex: id}
}

// interfaceBlock reads an IDB: link type, snap length and the options
// if_name (2), if_tsresol (9) and if_tsoffset (14).
func (r *Reader) interfaceBlock(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: pcapng interface block too short", ErrCorrupt)
	}
	if len(r.ifs) >= 1<<16 {
		return fmt.Errorf("%w: too many pcapng interfaces", ErrCorrupt)
	}
	ifc := iface{linkType: uint32(r.bo.Uint16(b)), snapLen: r.bo.Uint32(b[4:]), pow10: 6}
	opts := b[8:]
	for len(opts) >= 4 {
		code, l := r.bo.Uint16(opts), int(r.bo.Uint16(opts[2:]))
		opts = opts[4:]
		if code == 0 {
			break
		}
		if l > len(opts) {
			return fmt.Errorf("%w: pcapng interface option %d overruns its block", ErrCorrupt, code)
		}
		v := opts[:l]
		switch code {
		case 2: // if_name
			ifc.name = string(v)
		case 9: // if_tsresol
			if l >= 1 {
				if v[0]&0x80 != 0 {
					ifc.binary, ifc.pow2 = true, uint(v[0]&0x7f)
					if ifc.pow2 > 63 {
						return fmt.Errorf("%w: pcapng timestamp resolution 2^-%d", ErrCorrupt, ifc.pow2)
					}
				} else {
					ifc.pow10 = int(v[0])
					if ifc.pow10 > 19 {
						return fmt.Errorf("%w: pcapng timestamp resolution 10^-%d", ErrCorrupt, ifc.pow10)
					}
				}
			}
		case 14: // if_tsoffset, seconds
			if l >= 8 {
				ifc.offsetNs = int64(r.bo.Uint64(v)) * 1e9
			}
		}
		if pad := (l + 3) &^ 3; pad <= len(opts) {
			opts = opts[pad:]
		} else {
			break
		}
	}
	r.ifs = append(r.ifs, ifc)
	return nil
}
