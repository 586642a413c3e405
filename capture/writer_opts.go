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
	var h [28]byte
	n := 12 + 20 + pad4(len(data)) + opts
	le.PutUint32(h[0:], ngEPB)
	le.PutUint32(h[4:], uint32(n))
	le.PutUint32(h[8:], uint32(iface))
	le.PutUint32(h[12:], uint32(uint64(ts)>>32))
	le.PutUint32(h[16:], uint32(ts))
	le.PutUint32(h[20:], uint32(len(data)))
	le.PutUint32(h[24:], uint32(origLen))
	if p.err != nil {
		return p.err
	}
	p.w.Write(h[:])
	p.w.Write(data)
	var z [8]byte
	p.w.Write(z[:pad4(len(data))-len(data)])
	if comment != "" {
		le.PutUint16(z[0:], 1) // opt_comment
		le.PutUint16(z[2:], uint16(len(comment)))
		p.w.Write(z[:4])
		p.w.WriteString(comment)
		clear(z[:])
		p.w.Write(z[:pad4(len(comment))-len(comment)])
		p.w.Write(z[:4]) // opt_endofopt
	}
	le.PutUint32(z[4:], uint32(n))
	if _, p.err = p.w.Write(z[4:8]); p.err != nil {
		return fmt.Errorf("capture: pcapng packet: %w", p.err)
	}
	return nil
}
