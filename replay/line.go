package replay

import (
	"fmt"
	"net/netip"

	"github.com/nfgo/nfgo/packet"
)

// TraceLine runs one hand-written packet (nfgo trace's line syntax) with
// timestamp ts. A received packet gets the Ethernet header it would have
// had: the interface's MAC as destination, the "from" MAC as source, else
// the neighbour entry of its source address or of the gateway the host
// would use to reach it, else zeros.
func (s *Session) TraceLine(l *packet.Line, ts int64) (*Report, error) {
	p, err := l.Packet()
	if err != nil {
		return nil, err
	}
	p.Timestamp = ts
	p.Mark = l.Mark
	if l.Local {
		return s.Process(p, true), nil
	}
	if l.InDev == "" {
		return nil, fmt.Errorf("the packet says neither \"in IFACE\" nor \"local\"")
	}
	ifc := s.Host.Iface(l.InDev)
	if ifc == nil {
		return nil, fmt.Errorf("interface %s is not in the host snapshot", l.InDev)
	}
	p.InDev, p.InIndex = l.InDev, ifc.Index
	if ifc.Loopback {
		// Loopback frames carry an all-zero Ethernet header.
		p.PktType = packet.PacketHost
		p.MAC = synthMAC(nil, p, [6]byte{}, [6]byte{})
	} else if len(p.MAC) >= 14 {
		// Line.Packet made the header; the destination defaults to the
		// receiving interface, the source to the neighbour entry of
		// the packet's source address.
		if d := p.Dst(); !l.HasDstMAC && d.Is4() && isBroadcast(s.Host, l.InDev, d) {
			copy(p.MAC[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			p.PktType = packet.PacketBroadcast
		} else if !l.HasDstMAC && p.MAC[0]&1 == 0 && ifc.HasMAC {
			copy(p.MAC[0:6], ifc.MAC[:])
		}
		if !l.HasSrcMAC {
			copy(p.MAC[6:12], s.senderMAC(p, l.InDev))
		}
		if l.HasDstMAC && ifc.HasMAC && p.MAC[0]&1 == 0 && [6]byte(p.MAC[0:6]) != ifc.MAC {
			p.PktType = packet.PacketOtherHost
		}
	}
	if p.PktType == packet.PacketOtherHost {
		return s.Reject(ts, l.InDev, fmt.Errorf("frame addressed to another host (PACKET_OTHERHOST)")), nil
	}
	return s.Process(p, false), nil
}

// senderMAC guesses the link-layer source of a packet that arrived on dev:
// the neighbour entry of its source, else that of the next hop towards
// the source (the router it came through).
func (s *Session) senderMAC(p *packet.Packet, dev string) []byte {
	if mac, ok := s.Host.Neighbour(dev, p.Src()); ok {
		return mac[:]
	}
	rt := s.Host.RouteOutput(p.Family, netip.Addr{}, p.Src(), 0)
	if rt.Gateway.IsValid() && rt.OutDev == dev {
		if mac, ok := s.Host.Neighbour(dev, rt.Gateway); ok {
			return mac[:]
		}
	}
	return make([]byte, 6)
}
