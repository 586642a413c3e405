package sink

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// JSON writes one JSON object per line; see the package documentation for
// the fields.
type JSON struct {
	fl  *file
	buf []byte
}

// NewJSON opens (appending) or creates the file path.
func NewJSON(path string, o Options) (*JSON, error) {
	fl, err := openFile(path, o)
	if err != nil {
		return nil, err
	}
	return &JSON{fl: fl, buf: make([]byte, 0, 1024)}, nil
}

// Name is "json".
func (s *JSON) Name() string { return "json" }

// WritePacket writes the packet's object.
func (s *JSON) WritePacket(p *logd.Packet) error {
	s.buf = append(AppendPacketJSON(s.buf[:0], p), '\n')
	return s.fl.write(s.buf)
}

// WriteFlow writes the flow's object.
func (s *JSON) WriteFlow(f *logd.FlowEvent) error {
	s.buf = append(AppendFlowJSON(s.buf[:0], f), '\n')
	return s.fl.write(s.buf)
}

// Flush writes out what is buffered and syncs the file.
func (s *JSON) Flush() error { return s.fl.flush() }

// Reopen opens the path anew (after rotation: SIGHUP).
func (s *JSON) Reopen() error { return s.fl.reopen() }

// Close flushes and closes the file.
func (s *JSON) Close() error { return s.fl.close() }

// jsonObj builds an object; comma tracks whether a member was written.
type jsonObj struct {
	b     []byte
	comma bool
}

func (o *jsonObj) key(k string) {
	if o.comma {
		o.b = append(o.b, ',')
	}
	o.comma = true
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObj) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

func (o *jsonObj) uint(k string, v uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}

func (o *jsonObj) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

func (o *jsonObj) addr(k string, a netip.Addr) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = a.AppendTo(o.b)
	o.b = append(o.b, '"')
}

// appendJSONString quotes s as JSON: invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// l3 is what the JSON and pcap sinks read of a packet's headers; it copes
// with packets cut short by the copy range.
type l3 struct {
	src, dst netip.Addr
	ttl      uint8
	proto    uint8
	length   int // the IP header's length of the packet
	l4       int // offset of the transport header, -1 when absent
	ok       bool
}

func decodeL3(fam nf.Family, d []byte) l3 {
	h := l3{l4: -1}
	switch fam {
	case nf.IPv4:
		if len(d) < 20 {
			return h
		}
		h.ok = true
		h.src = netip.AddrFrom4([4]byte(d[12:16]))
		h.dst = netip.AddrFrom4([4]byte(d[16:20]))
		h.ttl, h.proto, h.length = d[8], d[9], int(be.Uint16(d[2:]))
		if be.Uint16(d[6:])&ipOffMask == 0 {
			h.l4 = int(d[0]&15) * 4
		}
	case nf.IPv6:
		if len(d) < 40 {
			return h
		}
		h.ok = true
		h.src = netip.AddrFrom16([16]byte(d[8:24]))
		h.dst = netip.AddrFrom16([16]byte(d[24:40]))
		h.ttl, h.length = d[7], 40+int(be.Uint16(d[4:]))
		next, off := d[6], 40
	walk:
		for off+8 <= len(d) || !ip6ExtHdr(next) {
			switch next {
			case 0, 43, 60:
				next, off = d[off], off+(int(d[off+1])+1)*8
			case 51:
				next, off = d[off], off+(int(d[off+1])+2)*4
			case 44:
				if be.Uint16(d[off+2:])&0xfff8 != 0 {
					h.proto = d[off]
					return h
				}
				next, off = d[off], off+8
			default:
				h.proto = next
				if next != 50 && next != 59 {
					h.l4 = off
				}
				break walk
			}
		}
		if ip6ExtHdr(next) {
			h.proto = next
		}
	}
	return h
}

// tcpFlagNames are the TCP flags from the highest bit, as "tcp_flags"
// names them.
var tcpFlagNames = [8]string{"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"}

// AppendPacketJSON appends the packet's JSON object (no newline).
func AppendPacketJSON(b []byte, p *logd.Packet) []byte {
	o := jsonObj{b: append(b, '{')}
	t := p.Time
	if t.IsZero() {
		t = time.Now()
	}
	o.time("time", t)
	o.str("source", p.Source)
	o.uint("group", uint64(p.Group))
	o.str("prefix", p.Prefix)
	o.str("family", p.Family.String())
	if p.HasHook {
		o.str("hook", p.Hook.String())
	}
	o.str("in", p.InDev)
	o.str("out", p.OutDev)
	o.uint("mark", uint64(p.Mark))
	if p.HasUID {
		o.uint("uid", uint64(p.UID))
	}
	if p.HasGID {
		o.uint("gid", uint64(p.GID))
	}
	if len(p.MAC) > 0 {
		o.key("mac")
		o.b = append(o.b, '"')
		for i, c := range p.MAC {
			if i > 0 {
				o.b = append(o.b, ':')
			}
			o.b = append(o.b, hexDigits[c>>4], hexDigits[c&15])
		}
		o.b = append(o.b, '"')
	}
	h := decodeL3(p.Family, p.Data)
	if h.ok {
		o.addr("src", h.src)
		o.addr("dst", h.dst)
		o.uint("proto", uint64(h.proto))
	}
	n := p.OrigLen
	if n == 0 {
		n = len(p.Data)
	}
	o.uint("len", uint64(n))
	if h.ok {
		o.uint("ttl", uint64(h.ttl))
	}
	if h.l4 >= 0 {
		l4 := p.Data[min(h.l4, len(p.Data)):]
		hdr := 0
		switch h.proto {
		case 6:
			if len(l4) >= 20 {
				o.uint("sport", uint64(be.Uint16(l4)))
				o.uint("dport", uint64(be.Uint16(l4[2:])))
				o.key("tcp_flags")
				o.b = append(o.b, '"')
				first := true
				for i, name := range tcpFlagNames {
					if l4[13]&(0x80>>i) != 0 {
						if !first {
							o.b = append(o.b, ',')
						}
						first = false
						o.b = append(o.b, name...)
					}
				}
				o.b = append(o.b, '"')
				hdr = int(l4[12]>>4) * 4
			}
		case 17, 136, 132:
			if len(l4) >= 8 {
				o.uint("sport", uint64(be.Uint16(l4)))
				o.uint("dport", uint64(be.Uint16(l4[2:])))
				hdr = 8
				if h.proto == 132 {
					hdr = 12
				}
			}
		case 1, 58:
			if len(l4) >= 8 {
				o.uint("icmp_type", uint64(l4[0]))
				o.uint("icmp_code", uint64(l4[1]))
				hdr = 8
			}
		}
		if hdr > 0 && h.length >= h.l4+hdr {
			o.uint("payload_len", uint64(h.length-h.l4-hdr))
		}
	}
	return append(o.b, '}')
}

// AppendFlowJSON appends the flow's JSON object (no newline).
func AppendFlowJSON(b []byte, f *logd.FlowEvent) []byte {
	o := jsonObj{b: append(b, '{')}
	t := f.Time
	if t.IsZero() {
		t = time.Now()
	}
	o.time("time", t)
	o.str("source", f.Source)
	o.str("type", f.Type)
	o.str("family", f.Family.String())
	o.uint("proto", uint64(f.Proto))
	o.key("orig")
	o.b = appendTupleJSON(o.b, f.OrigSrc, f.OrigDst, f.OrigSport, f.OrigDport)
	o.key("reply")
	o.b = appendTupleJSON(o.b, f.ReplSrc, f.ReplDst, f.ReplSport, f.ReplDport)
	if f.State != "" {
		o.str("state", f.State)
	}
	o.uint("status", uint64(f.Status))
	o.uint("mark", uint64(f.Mark))
	o.uint("zone", uint64(f.Zone))
	o.uint("timeout", uint64(f.Timeout))
	if f.ID != 0 {
		o.uint("id", uint64(f.ID))
	}
	o.key("packets")
	o.b = appendPair(o.b, f.Packets)
	o.key("bytes")
	o.b = appendPair(o.b, f.Bytes)
	if !f.Start.IsZero() {
		o.time("start", f.Start)
	}
	if !f.Stop.IsZero() {
		o.time("stop", f.Stop)
	}
	return append(o.b, '}')
}

func appendTupleJSON(b []byte, src, dst netip.Addr, sport, dport uint16) []byte {
	o := jsonObj{b: append(b, '{')}
	if src.IsValid() {
		o.addr("src", src)
	}
	if dst.IsValid() {
		o.addr("dst", dst)
	}
	o.uint("sport", uint64(sport))
	o.uint("dport", uint64(dport))
	return append(o.b, '}')
}

func appendPair(b []byte, v [2]uint64) []byte {
	b = append(b, '[')
	b = strconv.AppendUint(b, v[0], 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, v[1], 10)
	return append(b, ']')
}
