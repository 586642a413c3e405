package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// FTP command types (enum nf_ct_ftp_type; the same values as the
// conntrack FTP helper's FTPPort ... FTPEpsv).
const (
	FTPPort = iota // PORT a,b,c,d,p,q
	FTPPasv        // 227 ... (a,b,c,d,p,q)
	FTPEprt        // EPRT |1|addr|port|
	FTPEpsv        // 229 ... (|||port|)
)

// FTPText appends the text nf_nat_ftp writes in place of the address and
// port the helper matched: "%u,%u,%u,%u,%u,%u" for PORT and 227,
// "|1|%pI4|%u|" or "|2|%pI6|%u|" for EPRT (the IPv6 address in the
// kernel's %pI6 form: eight groups of four hex digits, not compressed),
// "|||%u|" for 229.
func FTPText(dst []byte, typ int, addr netip.Addr, port uint16) []byte {
	switch typ {
	case FTPPort, FTPPasv:
		// An IPv6 address gives its first four bytes, as the kernel's
		// formatting of the union does.
		a16 := addr.As16()
		a := a16[:4]
		if addr.Is4() {
			a4 := addr.As4()
			a = a4[:]
		}
		for _, v := range a {
			dst = strconv.AppendUint(dst, uint64(v), 10)
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(port>>8), 10)
		dst = append(dst, ',')
		return strconv.AppendUint(dst, uint64(port&0xff), 10)
	case FTPEprt:
		if addr.Is4() {
			dst = append(dst, "|1|"...)
			dst = addr.AppendTo(dst)
		} else {
			dst = append(dst, "|2|"...)
			a := addr.As16()
			const hex = "0123456789abcdef"
			for i := 0; i < 16; i += 2 {
				if i > 0 {
					dst = append(dst, ':')
				}
				dst = append(dst, hex[a[i]>>4], hex[a[i]&15], hex[a[i+1]>>4], hex[a[i+1]&15])
			}
		}
		dst = append(dst, '|')
		dst = strconv.AppendUint(dst, uint64(port), 10)
		return append(dst, '|')
	case FTPEpsv:
		dst = append(dst, "|||"...)
		dst = strconv.AppendUint(dst, uint64(port), 10)
		return append(dst, '|')
	}
	return dst
}

// ExpectPort is nf_nat_exp_find_port: the port the expected connection
// is told to use. It tries port first, then random ports from port to
// 65534 (rnd(n) returns a number below n; the kernel's choice there
// cannot be reproduced), up to 128 more times while try reports the port
// busy; 0 means none was found ("all ports in use": the packet is
// dropped). try registers the expectation with the port and reports
// whether that succeeded and, if not, whether the port was taken (other
// failures end the search).
func ExpectPort(port uint16, try func(port uint16) (ok, busy bool), rnd func(n uint32) uint32) uint16 {
	lo := port
	rng := 65535 - int(port)
	left := min(rng, 128)
	for {
		ok, busy := try(port)
		if ok {
			return port
		}
		left--
		if !busy || left < 0 || rng <= 0 {
			return 0
		}
		port = lo + uint16(rnd(uint32(rng)))
	}
}

// ErrTooLong is returned when a rewritten packet would exceed 65535
// bytes.
var ErrTooLong = errors.New("nat: mangled packet too long")

// MangleTCP is __nf_nat_mangle_tcp_packet: it replaces matchLen bytes at
// matchOff in the packet's TCP payload with rep, growing or shrinking the
// packet (p.Data may be reallocated), sets the IP length (and the IPv4
// header checksum), recomputes the TCP checksum, and, when the length
// changed, records the shift in adj for direction dir (nf_ct_seqadj_set
// with the packet's sequence number). It returns whether the connection
// needs IPS_SEQ_ADJUST from now on.
func MangleTCP(p *packet.Packet, matchOff, matchLen int, rep []byte, adj *SeqAdjust, dir int) (bool, error) {
	th := p.TCP()
	if th == nil {
		return false, fmt.Errorf("nat: mangle: no TCP header")
	}
	doff := th.DataOff()
	start := p.L4Off + doff
	if doff < 20 || matchOff < 0 || matchLen < 0 || start+matchOff+matchLen > len(p.Data) {
		return false, fmt.Errorf("nat: mangle: match %d+%d outside the payload", matchOff, matchLen)
	}
	delta := len(rep) - matchLen
	n := len(p.Data) + delta
	if n > 65535 {
		return false, ErrTooLong
	}
	at := start + matchOff
	if n > cap(p.Data) {
		grown := make([]byte, len(p.Data), n)
		copy(grown, p.Data)
		p.Data = grown
	}
	old := p.Data
	p.Data = p.Data[:n]
	copy(p.Data[at+len(rep):], old[at+matchLen:len(old)])
	copy(p.Data[at:], rep)
	if p.Family == nf.IPv6 {
		packet.IPv6(p.Data).SetPayloadLen(uint16(n - 40))
	} else {
		h := packet.IPv4(p.Data)
		h.SetTotalLen(uint16(n))
		h.UpdateChecksum()
	}
	seg := p.Data[p.L4Off:]
	th = packet.TCP(seg)
	th.SetChecksum(0)
	th.SetChecksum(packet.TransportChecksum(p.Src(), p.Dst(), packet.ProtoTCP, seg))
	if delta == 0 || adj == nil {
		return false, nil
	}
	return adj.Set(dir, th.Seq(), int32(delta)), nil
}

// FTP is nf_nat_ftp's rewriting of a packet in which the FTP helper found
// an address and port (typ, matchOff and matchLen as the helper's
// expectation reports them, relative to the TCP payload): the text is
// replaced by addr and port, where addr is the destination address of
// the connection's other direction (ct->tuplehash[!dir].tuple.dst.u3:
// where the data connection will come from, as NAT shows it) and port
// the one ExpectPort found. dir is the packet's direction. It returns
// whether the connection needs IPS_SEQ_ADJUST.
func FTP(p *packet.Packet, typ, matchOff, matchLen int, addr netip.Addr, port uint16, adj *SeqAdjust, dir int) (bool, error) {
	var buf [64]byte
	if typ < FTPPort || typ > FTPEpsv {
		return false, fmt.Errorf("nat: ftp: unknown command type %d", typ)
	}
	rep := FTPText(buf[:0], typ, addr, port)
	need, err := MangleTCP(p, matchOff, matchLen, rep, adj, dir)
	if err != nil {
		return false, fmt.Errorf("nat: ftp: cannot mangle packet: %w", err)
	}
	return need, nil
}
