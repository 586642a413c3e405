package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ng builds pcapng blocks by hand in either byte order, independently of
// the writer.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type ng struct {
	bo order
	b  []byte
}

func (n *ng) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	l := uint32(12 + len(body))
	n.b = n.bo.AppendUint32(n.b, typ)
	n.b = n.bo.AppendUint32(n.b, l)
	n.b = append(n.b, body...)
	n.b = n.bo.AppendUint32(n.b, l)
}

func (n *ng) opt(b []byte, code uint16, v []byte) []byte {
	b = n.bo.AppendUint16(b, code)
	b = n.bo.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (n *ng) shb() {
	var b []byte
	b = n.bo.AppendUint32(b, 0x1a2b3c4d)
	b = n.bo.AppendUint16(b, 1)
	b = n.bo.AppendUint16(b, 0)
	b = n.bo.AppendUint64(b, ^uint64(0))
	n.block(0x0a0d0d0a, b)
}

func (n *ng) idb(link uint16, snap uint32, name string, tsresol int) {
	var b []byte
	b = n.bo.AppendUint16(b, link)
	b = n.bo.AppendUint16(b, 0)
	b = n.bo.AppendUint32(b, snap)
	if name != "" {
		b = n.opt(b, 2, []byte(name))
	}
	if tsresol >= 0 {
		b = n.opt(b, 9, []byte{byte(tsresol)})
	}
	b = n.bo.AppendUint32(b, 0)
	n.block(1, b)
}

func (n *ng) epb(id uint32, ticks uint64, data []byte, orig uint32) {
	var b []byte
	b = n.bo.AppendUint32(b, id)
	b = n.bo.AppendUint32(b, uint32(ticks>>32))
	b = n.bo.AppendUint32(b, uint32(ticks))
	b = n.bo.AppendUint32(b, uint32(len(data)))
	b = n.bo.AppendUint32(b, orig)
	b = append(b, data...)
	n.block(6, b)
}

func readAll(t *testing.T, b []byte) []Record {
	t.Helper()
	r, err := Open(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var out []Record
	for {
		var rec Record
		err := r.Next(&rec)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		rec.Data = append([]byte(nil), rec.Data...)
		out = append(out, rec)
	}
}

func TestPcapngHandBuilt(t *testing.T) {
	for _, bo := range []order{binary.LittleEndian, binary.BigEndian} {
		t.Run(bo.String(), func(t *testing.T) {
			n := &ng{bo: bo}
			n.shb()
			n.idb(1, 0, "eth0", -1)      // default microseconds
			n.idb(276, 0, "any", 0x94)   // 2^-20 s ticks
			n.block(5, make([]byte, 20)) // statistics: skipped
			n.epb(0, 1_700_000_000_123_456, []byte{1, 2, 3}, 60)
			n.epb(1, 3<<20|1<<19, []byte{4, 5, 6, 7, 8}, 5)
			// Simple packet block: interface 0, original length 3 < padded data.
			n.block(3, append(n.bo.AppendUint32(nil, 3), 9, 9, 9, 0))
			// A second section in the other byte order restarts interfaces.
			other := order(binary.BigEndian)
			if bo == binary.BigEndian {
				other = binary.LittleEndian
			}
			n2 := &ng{bo: other}
			n2.shb()
			n2.idb(101, 0, "tun0", 9)
			n2.epb(0, 42, []byte{0x45}, 1)
			recs := readAll(t, append(n.b, n2.b...))
			want := []Record{
				{Data: []byte{1, 2, 3}, LinkType: 1, Timestamp: 1_700_000_000_123_456_000, OrigLen: 60, IfName: "eth0"},
				{Data: []byte{4, 5, 6, 7, 8}, LinkType: 276, Timestamp: 3_500_000_000, OrigLen: 5, IfName: "any", IfIndex: 1},
				{Data: []byte{9, 9, 9}, LinkType: 1, OrigLen: 3, IfName: "eth0"},
				{Data: []byte{0x45}, LinkType: 101, Timestamp: 42, OrigLen: 1, IfName: "tun0"},
			}
			if len(recs) != len(want) {
				t.Fatalf("got %d records, want %d: %+v", len(recs), len(want), recs)
			}
			for i := range want {
				if !equalRec(recs[i], want[i]) {
					t.Errorf("record %d: got %+v, want %+v", i, recs[i], want[i])
				}
			}
		})
	}
}

func equalRec(a, b Record) bool {
	return bytes.Equal(a.Data, b.Data) && a.LinkType == b.LinkType && a.Timestamp == b.Timestamp &&
		a.OrigLen == b.OrigLen && a.IfName == b.IfName && a.IfIndex == b.IfIndex
}

// pcapFile builds a classic pcap by hand.
func pcapFile(bo order, nano bool, link uint32, recs ...[]byte) []byte {
	var b []byte
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	b = bo.AppendUint32(b, magic)
	b = bo.AppendUint16(b, 2)
	b = bo.AppendUint16(b, 4)
	b = bo.AppendUint32(b, 0)
	b = bo.AppendUint32(b, 0)
	b = bo.AppendUint32(b, 65535)
	b = bo.AppendUint32(b, link)
	for i, r := range recs {
		b = bo.AppendUint32(b, uint32(1000+i))
		b = bo.AppendUint32(b, 7)
		b = bo.AppendUint32(b, uint32(len(r)))
		b = bo.AppendUint32(b, uint32(len(r)+10))
		b = append(b, r...)
	}
	return b
}

func TestPcapVariants(t *testing.T) {
	for _, bo := range []order{binary.LittleEndian, binary.BigEndian} {
		for _, nano := range []bool{false, true} {
			recs := readAll(t, pcapFile(bo, nano, 113, []byte("abc"), []byte("de")))
			unit := int64(1000)
			if nano {
				unit = 1
			}
			want := []Record{
				{Data: []byte("abc"), LinkType: 113, Timestamp: 1000e9 + 7*unit, OrigLen: 13},
				{Data: []byte("de"), LinkType: 113, Timestamp: 1001e9 + 7*unit, OrigLen: 12},
			}
			if len(recs) != 2 || !equalRec(recs[0], want[0]) || !equalRec(recs[1], want[1]) {
				t.Errorf("%v nano=%v: got %+v, want %+v", bo, nano, recs, want)
			}
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	pkts := [][]byte{[]byte("first packet"), {}, bytes.Repeat([]byte{0xab}, 1501)}
	ts := []int64{1_700_000_000_000_000_001, 5, 1_800_000_000_999_999_999}

	var ngBuf bytes.Buffer
	w := NewPcapngWriter(&ngBuf)
	e0, err := w.Interface("eth0", 1)
	if err != nil {
		t.Fatal(err)
	}
	e1, err := w.Interface("a-much-longer-name", 276)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(2, 0, nil); !errors.Is(err, ErrInterface) {
		t.Errorf("undeclared interface: got %v", err)
	}
	for i, p := range pkts {
		if err := w.WritePacket([]int{e0, e1, e0}[i], ts[i], p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, ngBuf.Bytes())
	if len(recs) != 3 {
		t.Fatalf("pcapng: %d records", len(recs))
	}
	for i, r := range recs {
		name, link := "eth0", uint32(1)
		if i == 1 {
			name, link = "a-much-longer-name", 276
		}
		want := Record{Data: pkts[i], LinkType: link, Timestamp: ts[i], OrigLen: len(pkts[i]), IfName: name, IfIndex: []int{0, 1, 0}[i]}
		if !equalRec(r, want) {
			t.Errorf("pcapng record %d: got %+v", i, r)
		}
	}

	var pBuf bytes.Buffer
	pw := NewPcapWriter(&pBuf, 101)
	if _, err := pw.Interface("x", 1); !errors.Is(err, ErrInterface) {
		t.Errorf("pcap second link type: got %v", err)
	}
	if id, err := pw.Interface("x", 101); id != 0 || err != nil {
		t.Errorf("pcap Interface: %d, %v", id, err)
	}
	for i, p := range pkts {
		if err := pw.WritePacket(0, ts[i], p); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	recs = readAll(t, pBuf.Bytes())
	for i, r := range recs {
		want := Record{Data: pkts[i], LinkType: 101, Timestamp: ts[i], OrigLen: len(pkts[i])}
		if !equalRec(r, want) {
			t.Errorf("pcap record %d: got %+v", i, r)
		}
	}

	// An empty pcapng file is still a file.
	var empty bytes.Buffer
	if err := NewPcapngWriter(&empty).Flush(); err != nil {
		t.Fatal(err)
	}
	if recs := readAll(t, empty.Bytes()); len(recs) != 0 {
		t.Errorf("empty pcapng: %d records", len(recs))
	}
}

func TestBadInput(t *testing.T) {
	var good bytes.Buffer
	w := NewPcapngWriter(&good)
	id, _ := w.Interface("eth0", 1)
	w.WritePacket(id, 1, []byte("hello world"))
	w.Flush()
	pc := pcapFile(binary.LittleEndian, true, 1, []byte("hello world"))

	if _, err := Open(bytes.NewReader(nil)); !errors.Is(err, ErrFormat) {
		t.Errorf("empty: %v", err)
	}
	if _, err := Open(strings.NewReader("GET / HTTP/1.1\r\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("garbage: %v", err)
	}
	// Every truncation of a valid file fails cleanly (or ends early at a
	// record boundary with io.EOF), never panics.
	for _, f := range [][]byte{good.Bytes(), pc} {
		for i := 0; i < len(f); i++ {
			r, err := Open(bytes.NewReader(f[:i]))
			if err != nil {
				continue
			}
			var rec Record
			for err == nil {
				err = r.Next(&rec)
			}
			if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Errorf("truncated at %d: unexpected error %v", i, err)
			}
		}
	}
	// A corrupt trailing length is detected.
	bad := append([]byte(nil), good.Bytes()...)
	bad[len(bad)-1] ^= 0xff
	r, err := Open(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := r.Next(&rec); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt trailer: %v", err)
	}
	// A huge record length does not allocate it.
	huge := append([]byte(nil), pc...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<31)
	r, _ = Open(bytes.NewReader(huge))
	if err := r.Next(&rec); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge record: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	var good bytes.Buffer
	w := NewPcapngWriter(&good)
	id, _ := w.Interface("eth0", 1)
	w.WritePacket(id, 1, []byte("hello world"))
	w.Flush()
	f.Add(good.Bytes())
	f.Add(pcapFile(binary.BigEndian, false, 1, []byte("x")))
	n := &ng{bo: binary.BigEndian}
	n.shb()
	n.idb(1, 4, "e", 0x85)
	n.block(3, append(n.bo.AppendUint32(nil, 9), 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add(n.b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(bytes.NewReader(b))
		if err != nil {
			return
		}
		var rec Record
		for i := 0; i < 1000; i++ {
			if err := r.Next(&rec); err != nil {
				return
			}
			if rec.OrigLen < 0 {
				t.Fatal("negative length")
			}
		}
	})
}

func TestNextAllocs(t *testing.T) {
	for _, name := range []string{"pcapng", "pcap"} {
		var buf bytes.Buffer
		var w Writer
		if name == "pcap" {
			w = NewPcapWriter(&buf, 1)
		} else {
			w = NewPcapngWriter(&buf)
		}
		id, _ := w.Interface("eth0", 1)
		pkt := make([]byte, 600)
		for i := 0; i < 300; i++ {
			w.WritePacket(id, int64(i), pkt[:i*2])
		}
		w.Flush()
		r, err := Open(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		r.Next(&rec)
		r.Next(&rec)
		n := testing.AllocsPerRun(200, func() {
			if err := r.Next(&rec); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per record", name, n)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	var buf bytes.Buffer
	w := NewPcapngWriter(&buf)
	id, _ := w.Interface("eth0", 1)
	pkt := make([]byte, 200)
	for i := 0; i < 1000; i++ {
		w.WritePacket(id, int64(i), pkt)
	}
	w.Flush()
	data := buf.Bytes()
	rd := bytes.NewReader(data)
	r, _ := Open(rd)
	var rec Record
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		if err := r.Next(&rec); err == io.EOF {
			rd.Reset(data)
			r, _ = Open(rd)
		}
	}
}

// TestTcpdumpReadsOurFiles has libpcap, an independent implementation,
// read what the writers produce.
func TestTcpdumpReadsOurFiles(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	// An Ethernet frame with an ARP request: libpcap prints its fields.
	arp := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 10, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
	}
	dir := t.TempDir()
	for _, name := range []string{"x.pcapng", "x.pcap"} {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		var w Writer
		if name == "x.pcap" {
			w = NewPcapWriter(f, 1)
		} else {
			w = NewPcapngWriter(f)
		}
		id, err := w.Interface("veth-test", 1)
		if err != nil {
			t.Fatal(err)
		}
		w.WritePacket(id, 1_700_000_000_123_456_789, arp)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tcpdump", "-r", path, "-nn", "-e", "-tt", "--nano").CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v\n%s", name, err, out)
		}
		for _, want := range []string{"1700000000.123456789", "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff", "Request who-has 10.0.0.2 tell 10.0.0.1"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: tcpdump output lacks %q:\n%s", name, want, out)
			}
		}
	}
}

// epb_flags' direction bits (what tcpdump and Wireshark record for "any"
// and per-interface captures) reach Record.Direction; other options
// before them are skipped.
func TestPcapngDirection(t *testing.T) {
	for _, bo := range []order{binary.LittleEndian, binary.BigEndian} {
		n := &ng{bo: bo}
		n.shb()
		n.idb(1, 0, "eth0", -1)
		withFlags := func(data []byte, flags uint32, comment string) {
			var b []byte
			b = n.bo.AppendUint32(b, 0)
			b = n.bo.AppendUint32(b, 0)
			b = n.bo.AppendUint32(b, 1)
			b = n.bo.AppendUint32(b, uint32(len(data)))
			b = n.bo.AppendUint32(b, uint32(len(data)))
			b = append(b, data...)
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
			if comment != "" {
				b = n.opt(b, 1, []byte(comment))
			}
			b = n.opt(b, 2, n.bo.AppendUint32(nil, flags))
			b = n.bo.AppendUint32(b, 0)
			n.block(6, b)
		}
		withFlags([]byte("abc"), 1, "")
		withFlags([]byte("defgh"), 2|0x40, "outbound, with a comment first")
		n.epb(0, 2, []byte("xy"), 2)
		recs := readAll(t, n.b)
		if len(recs) != 3 {
			t.Fatalf("%d records", len(recs))
		}
		for i, want := range []uint8{DirIn, DirOut, DirUnknown} {
			if recs[i].Direction != want {
				t.Errorf("record %d: direction %d, want %d", i, recs[i].Direction, want)
			}
		}
	}
}
