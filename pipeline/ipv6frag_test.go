package pipeline

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

func v6line(t *testing.T, line string, ts int64) *packet.Packet {
	t.Helper()
	l, err := packet.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Packet()
	if err != nil {
		t.Fatal(err)
	}
	p.InDev, p.Timestamp = "eth0", ts
	return p
}

func v6engine(t *testing.T, rules string) (*Engine, *[][]byte) {
	t.Helper()
	rs := ruleset.New(nf.IPv6)
	if err := rs.Restore(strings.NewReader(rules), ruleset.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	e, err := New(Config{Rules6: rs, Router: v6router{fakeRouter{forward: true}},
		Emit: func(dev string, _ netip.Addr, p *packet.Packet) { out = append(out, append([]byte(nil), p.Data...)) }})
	if err != nil {
		t.Fatal(err)
	}
	return e, &out
}

// v6router answers with an IPv6 interface address.
type v6router struct{ fakeRouter }

func (v6router) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	return netip.MustParseAddr("2001:db8::1"), true
}

const ctRules6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate NEW\nCOMMIT\n"
const plainRules6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p 99\nCOMMIT\n"

func TestIPv6FragmentsPassHooksWithoutConntrack(t *testing.T) {
	e, out := v6engine(t, plainRules6)
	r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 104 id 5 mf", 0))
	if r.Fate != Forwarded || len(*out) != 1 || (*out)[0][6] != 44 {
		t.Fatalf("without conntrack a fragment must be forwarded as it is: %v, %d emitted", r, len(*out))
	}
}

func TestIPv6DefragReassemblesAndRefragments(t *testing.T) {
	e, out := v6engine(t, ctRules6)
	if r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 40 id 5 frag 13", 0)); r.Fate != Held {
		t.Fatalf("last fragment first: %v, want held", r)
	}
	r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 id 5 mf payload hex:01020304"+strings.Repeat("00", 100), 1))
	if r.Fate != Forwarded {
		t.Fatalf("reassembled datagram: %v", r)
	}
	if len(*out) != 2 {
		t.Fatalf("%d fragments emitted, want the 2 received", len(*out))
	}
	f0, f1 := (*out)[0], (*out)[1]
	if len(f0) != 40+8+104 || len(f1) != 40+8+40 {
		t.Fatalf("fragment lengths %d, %d", len(f0), len(f1))
	}
	if binary.BigEndian.Uint16(f0[42:]) != 1 || binary.BigEndian.Uint16(f1[42:]) != 104 {
		t.Fatalf("offsets/MF %#x %#x", binary.BigEndian.Uint16(f0[42:]), binary.BigEndian.Uint16(f1[42:]))
	}
	if string(f0[44:48]) != string(f1[44:48]) || f0[40] != 99 || f0[7] != 63 {
		t.Fatalf("fragments must share an id, carry protocol 99 and the decremented hop limit")
	}
	if string(f0[48:52]) != "\x01\x02\x03\x04" {
		t.Fatalf("payload not carried: %x", f0[48:52])
	}
}

func TestIPv6DefragOverlapAndTimeout(t *testing.T) {
	e, out := v6engine(t, ctRules6)
	e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 104 id 6 mf", 0))
	if r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 104 id 6 frag 8 mf", 1)); r.Fate != Dropped {
		t.Fatalf("overlap: %v, want dropped", r)
	}
	// The queue is gone: the first fragment again starts a new one.
	e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 104 id 6 mf", 2))
	// 60 s later the queue has expired: the last fragment alone waits.
	n := len(*out)
	if r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 40 id 6 frag 13", 2+ip6fragTime+1)); r.Fate != Held {
		t.Fatalf("after the timeout: %v, want held", r)
	}
	// The expired queue had its first fragment: time exceeded, code 1.
	if len(*out) != n+1 || (*out)[n][6] != 58 || (*out)[n][40] != 3 || (*out)[n][41] != 1 {
		t.Fatalf("expected an ICMPv6 fragment reassembly time exceeded, got %d packets", len(*out)-n)
	}
}

func TestIPv6DefragMixedECNDropped(t *testing.T) {
	e, _ := v6engine(t, ctRules6)
	e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 104 id 7 mf tos 2", 0))
	if r := e.Receive(v6line(t, "proto 99 2001:db8::7 > 2001:db8:1::7 len 40 id 7 frag 13", 1)); r.Fate != Dropped {
		t.Fatalf("ECT(0) with not-ECT: %v, want dropped", r)
	}
}
