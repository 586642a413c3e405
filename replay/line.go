package replay

import (
	"fmt"

	"github.com/nfgo/nfgo/packet"
)

// TraceLine runs one hand-written packet (nfgo trace's line syntax) with
// timestamp ts. A received packet gets the Ethernet header it would have
// had: the interface's MAC as destination, the "from" MAC as source, else
// the neighbour entry of its source address, else zeros.
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
	p.PktType = packet.PacketHost
	if d := p.Dst(); d.IsMulticast() {
		p.PktType = packet.PacketMulticast
	} else if d.Is4() && isBroadcast(s.Host, l.InDev, d) {
		p.PktType = packet.PacketBroadcast
	}
	if ifc.HasMAC && !ifc.Loopback {
		src := l.SrcMAC
		if !l.HasSrcMAC {
			src, _ = s.Host.Neighbour(l.InDev, p.Src())
		}
		p.MAC = synthMAC(nil, p, ifc.MAC, src)
	} else if ifc.Loopback {
		// Loopback frames carry an all-zero Ethernet header.
		p.MAC = synthMAC(nil, p, [6]byte{}, [6]byte{})
	}
	return s.Process(p, false), nil
}
