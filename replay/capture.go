package replay

import (
	"errors"
	"fmt"
	"io"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// LocalIface is the pcapng interface name that marks locally generated
// packets: they enter OUTPUT instead of PREROUTING.
const LocalIface = "@local"

// Replay reads a pcap or pcapng capture and processes each packet in
// order, calling each with its Report. A packet's ingress interface is its
// pcapng interface name, else its SLL2 interface index mapped through the
// host's interfaces, else defaultIn. Frames that are not IP (ARP, LLDP)
// are skipped as the IP stack never sees them; the count is returned.
func (s *Session) Replay(r io.Reader, defaultIn string, each func(*Report) error) (skipped int, err error) {
	cr, err := capture.Open(r)
	if err != nil {
		return 0, err
	}
	var rec capture.Record
	var f packet.Frame
	for n := 1; ; n++ {
		if err := cr.Next(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				return skipped, nil
			}
			return skipped, fmt.Errorf("capture record %d: %w", n, err)
		}
		if err := packet.DecodeFrame(rec.LinkType, rec.Data, &f); err != nil {
			if errors.Is(err, packet.ErrNotIP) {
				skipped++
				continue
			}
			rep := s.Reject(rec.Timestamp, rec.IfName, err)
			if err := each(rep); err != nil {
				return skipped, err
			}
			continue
		}
		local := rec.IfName == LocalIface
		in := ""
		if !local {
			in = rec.IfName
			if in == "" && f.IfIndex > 0 {
				if ifc := s.Host.IfaceByIndex(f.IfIndex); ifc != nil {
					in = ifc.Name
				}
			}
			if in == "" {
				in = defaultIn
			}
			if in == "" {
				return skipped, fmt.Errorf("capture record %d: no ingress interface: the capture names none; give --in IFACE", n)
			}
		}
		p := &packet.Packet{Timestamp: rec.Timestamp}
		f.Fill(p)
		rep := s.take(p, &f, in, local)
		if err := each(rep); err != nil {
			return skipped, err
		}
	}
}

// take checks what the kernel checks before PREROUTING, sets the packet's
// metadata and processes it.
func (s *Session) take(p *packet.Packet, f *packet.Frame, in string, local bool) *Report {
	if err := p.Parse(); err != nil {
		return s.Reject(p.Timestamp, in, err)
	}
	if local {
		p.MAC = nil
		return s.Process(p, true)
	}
	p.InDev = in
	ifc := s.Host.Iface(in)
	if ifc == nil {
		return s.Reject(p.Timestamp, in, fmt.Errorf("interface %s is not in the host snapshot", in))
	}
	p.InIndex = ifc.Index
	if p.MAC == nil && f.HasSrcMAC && ifc.HasMAC {
		// A cooked capture keeps the sender's address only; the
		// Ethernet header the kernel saw had ours (or the group's)
		// as destination.
		s.mac = synthMAC(s.mac[:0], p, ifc.MAC, f.SrcMAC)
		p.MAC = s.mac
	}
	if len(p.MAC) >= 14 && ifc.HasMAC {
		var dst [6]byte
		copy(dst[:], p.MAC[:6])
		switch {
		case dst == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}:
			p.PktType = packet.PacketBroadcast
		case dst[0]&1 != 0:
			p.PktType = packet.PacketMulticast
		case dst != ifc.MAC:
			p.PktType = packet.PacketOtherHost
		default:
			p.PktType = packet.PacketHost
		}
	} else if f.HasPktType {
		p.PktType = f.PktType
	}
	if ifc.Loopback {
		p.PktType = packet.PacketHost
	}
	if p.PktType == packet.PacketOtherHost {
		// ip_rcv / ipv6_rcv drop frames for another station before
		// PREROUTING.
		return s.Reject(p.Timestamp, in, errors.New("frame addressed to another host (PACKET_OTHERHOST)"))
	}
	if p.Family == nf.IPv4 {
		h := packet.IPv4(p.Data)
		if packet.Fold(packet.Sum(h[:h.HeaderLen()], 0)) != 0xffff {
			return s.Reject(p.Timestamp, in, errors.New("bad IPv4 header checksum"))
		}
	}
	return s.Process(p, false)
}

func synthMAC(b []byte, p *packet.Packet, own, src [6]byte) []byte {
	dst := own
	switch p.PktType {
	case packet.PacketBroadcast:
		dst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case packet.PacketMulticast:
		dst = multicastMAC(p.Dst())
	}
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	if p.Family == nf.IPv6 {
		return append(b, 0x86, 0xdd)
	}
	return append(b, 0x08, 0x00)
}
