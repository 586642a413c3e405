package kerneltest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"unsafe"
)

const ethPAll = 0x0003

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket in namespace ns. proto 0 makes a
// send-only socket (it receives nothing); ETH_P_ALL receives every frame of
// every interface of the namespace.
func packetSocket(ns string, proto uint16) (int, error) {
	fd := -1
	err := inNetns(ns, func() error {
		var err error
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, int(htons(proto)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		return nil
	})
	return fd, err
}

// ifindexes resolves interface names inside namespace ns.
func ifindexes(ns string, names []string) (map[string]int, error) {
	idx := make(map[string]int, len(names))
	err := inNetns(ns, func() error {
		for _, n := range names {
			ifi, err := net.InterfaceByName(n)
			if err != nil {
				return fmt.Errorf("interface %s: %w", n, err)
			}
			idx[n] = ifi.Index
		}
		return nil
	})
	return idx, err
}

// sendFrame writes one Ethernet frame out of interface ifindex.
func sendFrame(fd, ifindex int, frame []byte) error {
	if len(frame) < 14 {
		return fmt.Errorf("frame of %d bytes has no Ethernet header", len(frame))
	}
	sa := &syscall.SockaddrLinklayer{
		Protocol: htons(uint16(frame[12])<<8 | uint16(frame[13])),
		Ifindex:  ifindex,
	}
	return syscall.Sendto(fd, frame, 0, sa)
}

// Packet types of sockaddr_ll (linux/if_packet.h).
const packetOutgoing = 4

// recvFrames reads every queued frame without blocking and passes the ones
// that arrived on an interface (not those sent from it) to fn.
func recvFrames(fd int, fn func(ifindex int, frame []byte)) error {
	buf := make([]byte, 1<<16+64)
	for {
		n, from, err := syscall.Recvfrom(fd, buf, syscall.MSG_DONTWAIT|syscall.MSG_TRUNC)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				return nil
			}
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return fmt.Errorf("capture: %w", err)
		}
		ll, ok := from.(*syscall.SockaddrLinklayer)
		if !ok || ll.Pkttype == packetOutgoing {
			continue
		}
		if n > len(buf) {
			return fmt.Errorf("capture: frame of %d bytes truncated", n)
		}
		fn(ll.Ifindex, append([]byte(nil), buf[:n]...))
	}
}

// ethtool ioctl (linux/ethtool.h, linux/sockios.h).
const (
	siocEthtool    = 0x8946
	ethtoolSTxCsum = 0x17
)

type ethtoolValue struct{ cmd, data uint32 }

type ifreqData struct {
	name [16]byte
	data uintptr
	_    [16]byte
}

// disableTxChecksum turns transmit checksum offload off on the named
// interfaces of namespace ns. veth offloads by default, so packets the
// kernel builds with CHECKSUM_PARTIAL (REJECT's TCP resets, local TCP and
// UDP) would reach the capture with unfinished checksums; without the
// offload the kernel completes them in software, as on a plain NIC.
func disableTxChecksum(ns string, names []string) error {
	return inNetns(ns, func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer syscall.Close(fd)
		for _, n := range names {
			ev := &ethtoolValue{cmd: ethtoolSTxCsum}
			req := &ifreqData{data: uintptr(unsafe.Pointer(ev))}
			copy(req.name[:15], n)
			_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), siocEthtool, uintptr(unsafe.Pointer(req)))
			if e != 0 {
				return fmt.Errorf("%s: tx checksum off: %w", n, e)
			}
			runtime.KeepAlive(ev)
		}
		return nil
	})
}
