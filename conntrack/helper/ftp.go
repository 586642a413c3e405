package helper

import (
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// FTP command types, as NAT needs to know what it rewrites
// (enum nf_ct_ftp_type).
const (
	FTPPort = iota // PORT 192,168,1,2,4,1
	FTPPasv        // 227 Entering Passive Mode (192,168,1,2,4,1)
	FTPEprt        // EPRT |1|192.168.1.2|1025|
	FTPEpsv        // 229 Entering Extended Passive Mode (|||1025|)
)

// FTP is nf_conntrack_ftp's per-connection state: the sequence numbers
// just after a newline in each direction, where a command can start.
type FTP struct {
	seqAftNL    [2][2]uint32
	seqAftNLNum [2]int
}

type ftpPattern struct {
	pattern    string
	skip, term byte
	typ        int
	getnum     func(data []byte, c *Call, term byte, off *int) (addr netip.Addr, port uint16, n int)
}

// The commands looked for: PORT and EPRT from the client, 227 and 229
// replies from the server.
var ftpSearch = [2][2]ftpPattern{
	{
		{"PORT", ' ', '\r', FTPPort, tryRFC959},
		{"EPRT", ' ', '\r', FTPEprt, tryEPRT},
	},
	{
		{"227 ", 0, 0, FTPPasv, tryRFC1123},
		{"229 ", '(', ')', FTPEpsv, tryEPSV},
	},
}

// Help is the FTP helper (help() in nf_conntrack_ftp.c).
func (f *FTP) Help(c *Call) (*Expect, Verdict, string) {
	// Until there's been traffic both ways, don't look in packets.
	if !c.Established || len(c.Payload) == 0 {
		return nil, Accept, ""
	}
	dir := c.Dir
	data := c.Payload
	endsInNL := data[len(data)-1] == '\n'
	next := c.Seq + uint32(len(data))
	defer func() {
		if endsInNL {
			f.updateNLSeq(next, dir)
		}
	}()
	if !f.afterNL(c.Seq, dir) {
		return nil, Accept, ""
	}
	var (
		found = 0
		pat   ftpPattern
		addr  netip.Addr
		port  uint16
		off   int
		n     int
	)
	for _, p := range ftpSearch[dir] {
		pat = p
		found, addr, port, off, n = findPattern(data, p, c)
		if found != 0 {
			break
		}
	}
	if found < 0 {
		endsInNL = false // the kernel drops before updating
		return nil, Drop, "partial matching of `" + pat.pattern + "'"
	}
	if found == 0 {
		return nil, Accept, ""
	}
	// Expect the other direction: from the peer's address (the reverse
	// tuple's source) to the address in the command.
	daddr := c.Dst[1-dir]
	if addr.IsValid() && addr != c.Src[dir] {
		// A command naming another address than the sender's: only
		// with the loose parameter, and then to that address.
		if !c.Loose {
			return nil, Accept, ""
		}
		daddr = addr
	}
	return &Expect{Family: c.Family, Src: c.Src[1-dir], Dst: daddr, DstPort: port, Proto: nf.ProtoTCP,
		Type: pat.typ, MatchOff: off, MatchLen: n}, Accept, ""
}

func (f *FTP) afterNL(seq uint32, dir int) bool {
	for i := 0; i < f.seqAftNLNum[dir]; i++ {
		if f.seqAftNL[dir][i] == seq {
			return true
		}
	}
	return false
}

// updateNLSeq remembers where the next command may start, keeping the two
// newest positions (update_nl_seq).
func (f *FTP) updateNLSeq(seq uint32, dir int) {
	for i := 0; i < f.seqAftNLNum[dir]; i++ {
		if f.seqAftNL[dir][i] == seq {
			return
		}
	}
	if f.seqAftNLNum[dir] < 2 {
		f.seqAftNL[dir][f.seqAftNLNum[dir]] = seq
		f.seqAftNLNum[dir]++
		return
	}
	oldest := 1
	if int32(f.seqAftNL[dir][0]-f.seqAftNL[dir][1]) < 0 {
		oldest = 0
	}
	if int32(seq-f.seqAftNL[dir][oldest]) > 0 {
		f.seqAftNL[dir][oldest] = seq
	}
}

// findPattern returns 1 for a match, 0 for none, -1 for a partial one
// (the packet ends inside the command), with the address and port found
// and where their text is.
func findPattern(data []byte, p ftpPattern, c *Call) (found int, addr netip.Addr, port uint16, off, n int) {
	plen := len(p.pattern)
	if len(data) <= plen {
		if strings.EqualFold(string(data), p.pattern[:len(data)]) {
			return -1, addr, 0, 0, 0
		}
		return 0, addr, 0, 0, 0
	}
	if !strings.EqualFold(string(data[:plen]), p.pattern) {
		return 0, addr, 0, 0, 0
	}
	i := plen
	if p.skip != 0 {
		for ; data[i] != p.skip; i++ {
			if i == len(data)-1 {
				return -1, addr, 0, 0, 0
			}
		}
		i++
	}
	off = i
	addr, port, n = p.getnum(data[i:], c, p.term, &off)
	if n == 0 {
		return -1, addr, 0, 0, 0
	}
	return 1, addr, port, off, n
}

// tryNumber reads count numbers separated by sep and ended by term (any
// character when term is 0); it returns the length read, 0 on failure.
func tryNumber(data []byte, arr []uint32, sep, term byte) int {
	for i := range arr {
		arr[i] = 0
	}
	i := 0
	for l := 0; l < len(data) && i < len(arr); l++ {
		ch := data[l]
		switch {
		case ch >= '0' && ch <= '9':
			arr[i] = arr[i]*10 + uint32(ch-'0')
		case ch == sep:
			i++
		default:
			if (ch == term || term == 0) && i == len(arr)-1 {
				return l
			}
			return 0
		}
	}
	return 0
}

// tryRFC959 reads "h1,h2,h3,h4,p1,p2".
func tryRFC959(data []byte, _ *Call, term byte, _ *int) (netip.Addr, uint16, int) {
	var a [6]uint32
	n := tryNumber(data, a[:], ',', term)
	if n == 0 {
		return netip.Addr{}, 0, 0
	}
	addr := netip.AddrFrom4([4]byte{byte(a[0]), byte(a[1]), byte(a[2]), byte(a[3])})
	return addr, uint16(a[4]<<8 | a[5]), n
}

// tryRFC1123 scans for the first digit, as RFC 1123 tells clients to read
// a 227 reply.
func tryRFC1123(data []byte, c *Call, _ byte, off *int) (netip.Addr, uint16, int) {
	i := 0
	for i < len(data) && !(data[i] >= '0' && data[i] <= '9') {
		i++
	}
	if i == len(data) {
		return netip.Addr{}, 0, 0
	}
	*off += i
	return tryRFC959(data[i:], c, 0, off)
}

// getPort reads a port up to delim starting at start; it returns the
// position after the delimiter, 0 on failure or port 0.
func getPort(data []byte, start int, delim byte) (uint16, int) {
	var p uint16
	for i := start; i < len(data); i++ {
		switch ch := data[i]; {
		case ch == delim:
			if p == 0 {
				return 0, 0
			}
			return p, i + 1
		case ch >= '0' && ch <= '9':
			p = p*10 + uint16(ch-'0')
		default:
			return 0, 0
		}
	}
	return 0, 0
}

func validDelim(d byte) bool { return !(d >= '0' && d <= '9') && d >= 33 && d <= 126 }

// tryEPRT reads "|1|132.235.1.2|6275|" or "|2|3ffe::1|6275|".
func tryEPRT(data []byte, c *Call, _ byte, _ *int) (netip.Addr, uint16, int) {
	if len(data) <= 3 {
		return netip.Addr{}, 0, 0
	}
	delim := data[0]
	if !validDelim(delim) || data[2] != delim {
		return netip.Addr{}, 0, 0
	}
	if (c.Family == nf.IPv4 && data[1] != '1') || (c.Family == nf.IPv6 && data[1] != '2') {
		return netip.Addr{}, 0, 0
	}
	var addr netip.Addr
	var n int
	if data[1] == '1' {
		var a [4]uint32
		n = tryNumber(data[3:], a[:], '.', delim)
		if n != 0 {
			addr = netip.AddrFrom4([4]byte{byte(a[0]), byte(a[1]), byte(a[2]), byte(a[3])})
		}
	} else {
		end := 3
		for end < len(data) && data[end] != delim {
			end++
		}
		if end == len(data) {
			return netip.Addr{}, 0, 0
		}
		a, err := netip.ParseAddr(string(data[3:end]))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, 0, 0
		}
		addr, n = a, end-3
	}
	if n == 0 {
		return netip.Addr{}, 0, 0
	}
	port, l := getPort(data, 3+n+1, delim)
	return addr, port, l
}

// tryEPSV reads "|||6446|": the port only; the address is the server's.
func tryEPSV(data []byte, c *Call, _ byte, _ *int) (netip.Addr, uint16, int) {
	if len(data) <= 3 {
		return netip.Addr{}, 0, 0
	}
	delim := data[0]
	if !validDelim(delim) || data[1] != delim || data[2] != delim {
		return netip.Addr{}, 0, 0
	}
	port, l := getPort(data, 3, delim)
	return netip.Addr{}, port, l
}
