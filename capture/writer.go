package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Writer writes packets to a capture file.
type Writer interface {
	// Interface declares an interface and returns its ID for WritePacket.
	Interface(name string, linkType uint32) (int, error)
	// WritePacket writes one packet captured at ts (ns since the epoch).
	WritePacket(iface int, ts int64, data []byte) error
	// Flush writes buffered data to the underlying writer.
	Flush() error
	// Close flushes and closes the underlying writer if it is an io.Closer.
	Close() error
}

// snapLen is what the files declare: tcpdump's default, larger than any
// packet nfgo handles.
const snapLen = 262144

// ErrInterface is returned for an undeclared interface or, in pcap, a
// second link type.
var ErrInterface = errors.New("capture: unknown interface")

var le = binary.LittleEndian

// pcapngWriter writes little-endian pcapng with nanosecond timestamps.
type pcapngWriter struct {
	dst    io.Writer
	w      *bufio.Writer
	nIfs   int
	err    error
	header bool
	blk    []byte
}

// NewPcapngWriter returns a Writer of a pcapng file with one section;
// every interface block carries if_name and if_tsresol 9 (nanoseconds).
func NewPcapngWriter(w io.Writer) Writer {
	return &pcapngWriter{dst: w, w: bufio.NewWriterSize(w, 64<<10)}
}

func pad4(n int) int { return (n + 3) &^ 3 }

// block writes a block of type typ whose body is b (already padded).
func (p *pcapngWriter) block(typ uint32, b []byte) {
	if p.err != nil {
		return
	}
	n := uint32(12 + len(b))
	var h [8]byte
	le.PutUint32(h[:], typ)
	le.PutUint32(h[4:], n)
	p.w.Write(h[:])
	p.w.Write(b)
	_, p.err = p.w.Write(h[4:8])
}

func (p *pcapngWriter) section() {
	if p.header {
		return
	}
	p.header = true
	b := p.blk[:0]
	b = le.AppendUint32(b, ngBOM)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, ^uint64(0))  // section length not given
	b = appendOpt(b, 4, []byte("nfgo")) // shb_userappl
	b = le.AppendUint32(b, 0)           // opt_endofopt
	p.block(ngSHB, b)
	p.blk = b
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for i := len(v); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

func (p *pcapngWriter) Interface(name string, linkType uint32) (int, error) {
	if linkType > 0xffff {
		return 0, fmt.Errorf("capture: pcapng link type %d does not fit 16 bits", linkType)
	}
	if len(name) > 0xfff0 {
		return 0, fmt.Errorf("capture: interface name of %d bytes too long", len(name))
	}
	p.section()
	b := p.blk[:0]
	b = le.AppendUint16(b, uint16(linkType))
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, snapLen)
	if name != "" {
		b = appendOpt(b, 2, []byte(name))
	}
	b = appendOpt(b, 9, []byte{9})
	b = le.AppendUint32(b, 0)
	p.block(ngIDB, b)
	p.blk = b
	if p.err != nil {
		return 0, fmt.Errorf("capture: pcapng interface: %w", p.err)
	}
	p.nIfs++
	return p.nIfs - 1, nil
}

func (p *pcapngWriter) WritePacket(iface int, ts int64, data []byte) error {
	if iface < 0 || iface >= p.nIfs {
		return fmt.Errorf("%w %d", ErrInterface, iface)
	}
	if len(data) > maxBlock {
		return fmt.Errorf("capture: packet of %d bytes too long", len(data))
	}
	var h [28]byte
	n := 12 + 20 + pad4(len(data))
	le.PutUint32(h[0:], ngEPB)
	le.PutUint32(h[4:], uint32(n))
	le.PutUint32(h[8:], uint32(iface))
	le.PutUint32(h[12:], uint32(uint64(ts)>>32))
	le.PutUint32(h[16:], uint32(ts))
	le.PutUint32(h[20:], uint32(len(data)))
	le.PutUint32(h[24:], uint32(len(data)))
	if p.err != nil {
		return p.err
	}
	p.w.Write(h[:])
	p.w.Write(data)
	var z [8]byte
	p.w.Write(z[:pad4(len(data))-len(data)])
	le.PutUint32(z[4:], uint32(n))
	if _, p.err = p.w.Write(z[4:8]); p.err != nil {
		return fmt.Errorf("capture: pcapng packet: %w", p.err)
	}
	return nil
}

func (p *pcapngWriter) Flush() error {
	p.section() // an empty file is still a valid pcapng file
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}

func (p *pcapngWriter) Close() error { return closeAfter(p.Flush(), p.dst) }

func closeAfter(err error, dst io.Writer) error {
	if c, ok := dst.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// pcapWriter writes little-endian nanosecond pcap.
type pcapWriter struct {
	dst      io.Writer
	w        *bufio.Writer
	linkType uint32
	err      error
}

// NewPcapWriter returns a Writer of a nanosecond pcap file of one link
// type. Interface accepts that link type only (the name is not recorded)
// and always returns 0.
func NewPcapWriter(w io.Writer, linkType uint32) Writer {
	p := &pcapWriter{dst: w, w: bufio.NewWriterSize(w, 64<<10), linkType: linkType}
	var h [24]byte
	le.PutUint32(h[0:], pcapMagicNano)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], snapLen)
	le.PutUint32(h[20:], linkType)
	_, p.err = p.w.Write(h[:])
	return p
}

func (p *pcapWriter) Interface(name string, linkType uint32) (int, error) {
	if linkType != p.linkType {
		return 0, fmt.Errorf("%w: pcap holds link type %d only, not %d", ErrInterface, p.linkType, linkType)
	}
	return 0, nil
}

func (p *pcapWriter) WritePacket(iface int, ts int64, data []byte) error {
	if iface != 0 {
		return fmt.Errorf("%w %d", ErrInterface, iface)
	}
	if len(data) > maxBlock {
		return fmt.Errorf("capture: packet of %d bytes too long", len(data))
	}
	if p.err != nil {
		return p.err
	}
	var h [16]byte
	sec, ns := ts/1e9, ts%1e9
	if ns < 0 {
		sec, ns = sec-1, ns+1e9
	}
	le.PutUint32(h[0:], uint32(sec))
	le.PutUint32(h[4:], uint32(ns))
	le.PutUint32(h[8:], uint32(len(data)))
	le.PutUint32(h[12:], uint32(len(data)))
	p.w.Write(h[:])
	if _, p.err = p.w.Write(data); p.err != nil {
		return fmt.Errorf("capture: pcap packet: %w", p.err)
	}
	return nil
}

func (p *pcapWriter) Flush() error {
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}

func (p *pcapWriter) Close() error { return closeAfter(p.Flush(), p.dst) }
