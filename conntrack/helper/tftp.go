package helper

import "encoding/binary"

// TFTP is nf_conntrack_tftp: a read or write request expects the server's
// answer from any port to the client's port.
type TFTP struct{}

// TFTP opcodes.
const (
	tftpRead  = 1
	tftpWrite = 2
)

func (*TFTP) Help(c *Call) (*Expect, Verdict, string) {
	if len(c.Payload) < 2 {
		return nil, Accept, ""
	}
	switch binary.BigEndian.Uint16(c.Payload) {
	case tftpRead, tftpWrite:
		// The reply tuple: from the server (any port) to the client.
		return &Expect{Family: c.Family, Src: c.Src[1], Dst: c.Dst[1], DstPort: c.DstPort[1], Proto: c.Proto}, Accept, ""
	}
	return nil, Accept, ""
}
