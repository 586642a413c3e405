package sink

import (
	"fmt"
	"os"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Pcap writes logged packets to a pcapng file, one interface per device
// name and link type: Ethernet when the record has a 14-byte MAC header
// (written in front of the packet), else raw IPv4 or IPv6. The interface
// is named after the input device, else the output device, else "nflog".
// Each packet carries its time stamp, its original length when the copy
// range cut it, and the prefix as its comment. Flows are not written.
//
// Reopen starts a new file (a new pcapng section when the path still
// names the old one).
type Pcap struct {
	path   string
	perm   os.FileMode
	f      *os.File
	w      capture.PacketOptionsWriter
	ifaces map[pcapIface]int
	frame  []byte
}

type pcapIface struct {
	name string
	link uint32
}

// NewPcap opens (appending a new section) or creates the file path.
func NewPcap(path string, o Options) (*Pcap, error) {
	s := &Pcap{path: path, perm: o.Perm}
	if s.perm == 0 {
		s.perm = 0o640
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Pcap) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, s.perm)
	if err != nil {
		return fmt.Errorf("sink: open %s: %w", s.path, err)
	}
	w, ok := capture.NewPcapngWriter(f).(capture.PacketOptionsWriter)
	if !ok {
		f.Close()
		return fmt.Errorf("sink: pcapng writer without packet options")
	}
	s.f, s.w, s.ifaces = f, w, make(map[pcapIface]int)
	// Write the section header at once, so that even an empty file is a
	// valid capture.
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sink: write %s: %w", s.path, err)
	}
	return nil
}

// Name is "pcap".
func (s *Pcap) Name() string { return "pcap" }

// WritePacket writes the packet.
func (s *Pcap) WritePacket(p *logd.Packet) error {
	if s.f == nil {
		return ErrClosed
	}
	key := pcapIface{name: p.InDev, link: packet.LinkIPv4}
	if key.name == "" {
		key.name = p.OutDev
	}
	if key.name == "" {
		key.name = "nflog"
	}
	data := p.Data
	orig := p.OrigLen
	if len(p.MAC) == 14 {
		key.link = packet.LinkEthernet
		s.frame = append(append(s.frame[:0], p.MAC...), p.Data...)
		data = s.frame
		if orig > 0 {
			orig += 14
		}
	} else if p.Family == nf.IPv6 {
		key.link = packet.LinkIPv6
	}
	id, ok := s.ifaces[key]
	if !ok {
		var err error
		if id, err = s.w.Interface(key.name, key.link); err != nil {
			return fmt.Errorf("sink: %s: %w", s.path, err)
		}
		s.ifaces[key] = id
	}
	t := p.Time
	if t.IsZero() {
		t = time.Now()
	}
	if err := s.w.WritePacketOptions(id, t.UnixNano(), data, orig, p.Prefix); err != nil {
		return fmt.Errorf("sink: %s: %w", s.path, err)
	}
	return nil
}

// WriteFlow ignores flows: a capture holds packets.
func (s *Pcap) WriteFlow(f *logd.FlowEvent) error { return nil }

// Flush writes out what is buffered and syncs the file.
func (s *Pcap) Flush() error {
	if s.f == nil {
		return ErrClosed
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("sink: flush %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sink: sync %s: %w", s.path, err)
	}
	return nil
}

// Reopen finishes the current file and opens the path anew. If that
// fails the current file stays in use.
func (s *Pcap) Reopen() error {
	if s.f == nil {
		return ErrClosed
	}
	old := s.w
	if err := s.open(); err != nil {
		return err
	}
	// Close flushes the old writer and closes its file.
	if err := old.Close(); err != nil {
		return fmt.Errorf("sink: close %s before reopening: %w", s.path, err)
	}
	return nil
}

// Close flushes and closes the file.
func (s *Pcap) Close() error {
	if s.f == nil {
		return ErrClosed
	}
	err := s.w.Close()
	s.f, s.w = nil, nil
	if err != nil {
		return fmt.Errorf("sink: close %s: %w", s.path, err)
	}
	return nil
}
