package capture

import "fmt"

// PacketOptionsWriter is a Writer that can record a packet's original
// length (when the data was cut) and a comment with it: pcapng's
// Enhanced Packet Block and its opt_comment.
type PacketOptionsWriter interface {
	Writer
	// WritePacketOptions writes data captured at ts (ns since the epoch)
	// from a packet of origLen bytes (len(data) when smaller) with the
	// comment, if not empty.
	WritePacketOptions(iface int, ts int64, data []byte, origLen int, comment string) error
}

// WritePacketOptions implements PacketOptionsWriter.
func (p *pcapngWriter) WritePacketOptions(iface int, ts int64, data []byte, origLen int, comment string) error {
	if iface < 0 || iface >= p.nIfs {
		return fmt.Errorf("%w %d", ErrInterface, iface)
	}
	if len(data) > maxBlock || len(comment) > 0xffff {
		return fmt.Errorf("capture: packet of %d bytes or comment of %d too long", len(data), len(comment))
	}
	if origLen < len(data) {
		origLen = len(data)
	}
	opts := 0
	if comment != "" {
		opts = 4 + pad4(len(comment)) + 4 // opt_comment, opt_endofopt
	}
	n := 12 + 20 + pad4(len(data)) + opts
	if p.err != nil {
		return p.err
	}
	// The block is built in p.blk: an array on the stack would escape
	// through the buffered writer.
	b := p.blk[:0]
	b = le.AppendUint32(b, ngEPB)
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(iface))
	b = le.AppendUint32(b, uint32(uint64(ts)>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, uint32(origLen))
	p.w.Write(b)
	p.w.Write(data)
	p.w.Write(zeros[:pad4(len(data))-len(data)])
	b = b[:0]
	if comment != "" {
		b = le.AppendUint16(b, 1) // opt_comment
		b = le.AppendUint16(b, uint16(len(comment)))
		p.w.Write(b)
		p.w.WriteString(comment)
		p.w.Write(zeros[:pad4(len(comment))-len(comment)])
		b = le.AppendUint32(b[:0], 0) // opt_endofopt
	}
	b = le.AppendUint32(b, uint32(n))
	p.blk = b
	if _, p.err = p.w.Write(b); p.err != nil {
		return fmt.Errorf("capture: pcapng packet: %w", p.err)
	}
	return nil
}

var zeros [4]byte
