package helper

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/nf"
)

// ftpConn is a control connection 192.0.2.10:40000 -> 198.51.100.21:21.
func ftpCall(dir int, seq uint32, payload string) *Call {
	cli, srv := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.21")
	return &Call{Dir: dir, Established: true, Family: nf.IPv4, Proto: nf.ProtoTCP, Payload: []byte(payload), Seq: seq,
		Src: [2]netip.Addr{cli, srv}, Dst: [2]netip.Addr{srv, cli}, SrcPort: [2]uint16{40000, 21}, DstPort: [2]uint16{21, 40000}}
}

func TestFTPActiveAndPassive(t *testing.T) {
	f := &FTP{}
	step := func(dir int, seq uint32, payload string) *Expect {
		t.Helper()
		exp, v, why := f.Help(ftpCall(dir, seq, payload))
		if v != Accept {
			t.Fatalf("%q: verdict %v (%s)", payload, v, why)
		}
		return exp
	}
	// The first line in each direction is not examined: the helper
	// only knows where lines start after it has seen one end.
	if e := step(1, 1000, "220 ready\r\n"); e != nil {
		t.Fatalf("banner expected %v", e)
	}
	if e := step(0, 5000, "PORT 192,0,2,10,156,65\r\n"); e != nil {
		t.Fatalf("first client line must not be parsed, got %+v", e)
	}
	e := step(0, 5024, "PORT 192,0,2,10,156,66\r\n")
	if e == nil || e.Src.String() != "198.51.100.21" || e.Dst.String() != "192.0.2.10" || e.DstPort != 156<<8|66 || e.SrcPort != 0 || e.Type != FTPPort || e.MatchOff != 5 || e.MatchLen != 17 {
		t.Fatalf("PORT: %+v", e)
	}
	e = step(1, 1011, "227 Entering Passive Mode (198,51,100,21,200,10).\r\n")
	if e == nil || e.Src.String() != "192.0.2.10" || e.Dst.String() != "198.51.100.21" || e.DstPort != 200<<8|10 || e.Type != FTPPasv || e.MatchOff != 27 {
		t.Fatalf("227: %+v", e)
	}
	e = step(0, 5048, "EPRT |1|192.0.2.10|6275|\r\n")
	if e == nil || e.DstPort != 6275 || e.Dst.String() != "192.0.2.10" || e.Type != FTPEprt {
		t.Fatalf("EPRT: %+v", e)
	}
	e = step(1, 1062, "229 Entering Extended Passive Mode (|||6446|)\r\n")
	if e == nil || e.DstPort != 6446 || e.Dst.String() != "198.51.100.21" || e.Type != FTPEpsv {
		t.Fatalf("229: %+v", e)
	}
	// Another address than the sender's: no expectation without loose.
	if e := step(0, 5074, "PORT 10,9,9,9,4,1\r\n"); e != nil {
		t.Fatalf("foreign PORT expected %+v", e)
	}
	// A command cut at the packet's end is dropped.
	if _, v, why := f.Help(ftpCall(0, 5093, "PORT 192,0,2")); v != Drop || why != "partial matching of `PORT'" {
		t.Fatalf("partial PORT: %v %q", v, why)
	}
}

func TestFTPEPRTIPv6(t *testing.T) {
	cli, srv := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::21")
	f := &FTP{}
	f.updateNLSeq(100, 0)
	exp, v, _ := f.Help(&Call{Dir: 0, Established: true, Family: nf.IPv6, Proto: nf.ProtoTCP, Seq: 100,
		Payload: []byte("EPRT |2|2001:db8::10|5282|\r\n"),
		Src:     [2]netip.Addr{cli, srv}, Dst: [2]netip.Addr{srv, cli}})
	if v != Accept || exp == nil || exp.DstPort != 5282 || exp.Dst != cli || exp.Src != srv {
		t.Fatalf("EPRT v6: %v %+v", v, exp)
	}
	// |1| is refused on an IPv6 connection.
	f.updateNLSeq(200, 0)
	exp, _, _ = f.Help(&Call{Dir: 0, Established: true, Family: nf.IPv6, Seq: 200, Payload: []byte("EPRT |1|1.2.3.4|5282|\r\n"),
		Src: [2]netip.Addr{cli, srv}, Dst: [2]netip.Addr{srv, cli}})
	if exp != nil {
		t.Fatalf("EPRT |1| on IPv6 expected %+v", exp)
	}
}

func TestTFTPRequestExpectsAnswer(t *testing.T) {
	cli, srv := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.69")
	c := &Call{Family: nf.IPv4, Proto: nf.ProtoUDP, Payload: []byte("\x00\x01file\x00octet\x00"),
		Src: [2]netip.Addr{cli, srv}, Dst: [2]netip.Addr{srv, cli}, SrcPort: [2]uint16{3000, 69}, DstPort: [2]uint16{69, 3000}}
	exp, _, _ := (&TFTP{}).Help(c)
	if exp == nil || exp.Src != srv || exp.Dst != cli || exp.DstPort != 3000 || exp.SrcPort != 0 || exp.Proto != nf.ProtoUDP {
		t.Fatalf("RRQ: %+v", exp)
	}
	c.Payload = []byte("\x00\x03\x00\x01data")
	if exp, _, _ := (&TFTP{}).Help(c); exp != nil {
		t.Fatalf("DATA expected %+v", exp)
	}
}

func FuzzFTP(f *testing.F) {
	for _, s := range []string{"PORT 1,2,3,4,5,6\r\n", "227 (1,2,3,4,5,6)\r\n", "EPRT |2|::1|5|\r\n", "229 (|||5|)\r\n", "PORT", "229 (|||"} {
		f.Add(s, 0)
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, payload string, dir int) {
		if dir != 0 {
			dir = 1
		}
		st := &FTP{}
		st.updateNLSeq(7, dir)
		st.Help(ftpCall(dir, 7, payload))
	})
}
