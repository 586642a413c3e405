package ext_test

import (
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// ruleTarget restores one rule and returns its target.
func ruleTarget(t testing.TB, fam nf.Family, table, chain, rule string) ext.Targeter {
	t.Helper()
	rs := ruleset.New(fam)
	in := "*" + table + "\n-A " + chain + " " + rule + "\nCOMMIT\n"
	if err := rs.Restore(strings.NewReader(in), ruleset.RestoreOptions{}); err != nil {
		t.Fatalf("restore %q: %v", in, err)
	}
	tg, ok := rs.Table(table).Chain(chain).Rules[0].Target.Ext.(ext.Targeter)
	if !ok {
		t.Fatalf("%s does not evaluate", rule)
	}
	return tg
}

type nflogRec struct {
	recSink
	group  uint16
	prefix string
	pkt    *packet.Packet
}

func (s *nflogRec) NFLog(g uint16, prefix string, p *packet.Packet) {
	s.group, s.prefix, s.pkt = g, prefix, p
}

func udpPacket(t testing.TB) *packet.Packet {
	t.Helper()
	p := &packet.Packet{Family: nf.IPv4, Data: ip4{id: 1, ttl: 64, proto: 17, src: peer4, dst: dut4}.build(udpDgram(1, 2, nil))}
	if err := p.Parse(); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bridged packets and devices without a link-layer header, which the
// kernel comparison does not reach: the expected text follows
// nf_log_dump_packet_common and dump_mac_header.
func TestLogBridgeAndNoMAC(t *testing.T) {
	tg := ruleTarget(t, nf.IPv4, "filter", "FORWARD", `-j LOG --log-prefix "b "`)
	p := udpPacket(t)
	p.InDev, p.OutDev, p.PhysIn, p.PhysOut = "br0", "br0", "veth1", "br0"
	s := &recSink{}
	tg.Target(&ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.Forward, Sink: s})
	want := "b IN=br0 OUT=br0 PHYSIN=veth1 MAC= SRC=10.77.0.2 DST=10.77.0.1 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=8 "
	if len(s.lines) != 1 || s.lines[0] != want {
		t.Errorf("got %q\nwant %q", s.lines, want)
	}

	// --log-macdecode on an Ethernet header too short to decode prints
	// nothing for it.
	tg = ruleTarget(t, nf.IPv4, "filter", "INPUT", `-j LOG --log-prefix "m " --log-macdecode`)
	p = udpPacket(t)
	p.InDev, p.MAC = "eth0", []byte{1, 2, 3}
	s = &recSink{}
	tg.Target(&ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.LocalIn, Sink: s})
	if want := "m IN=eth0 OUT= SRC="; len(s.lines) != 1 || !strings.HasPrefix(s.lines[0], want) {
		t.Errorf("got %q, want it to start with %q", s.lines, want)
	}
}

func TestLogAllocs(t *testing.T) {
	tg := ruleTarget(t, nf.IPv4, "filter", "INPUT", `-j LOG --log-prefix "a " --log-tcp-options --log-ip-options --log-uid`)
	frame := eth(dutMAC, peerMAC, 0x0800, ip4{id: 1, ttl: 64, proto: 6, src: peer4, dst: dut4, opts: []byte{1, 1, 1, 0}}.build(tcpSeg(1, 2, 3, 4, 2, 5, 0, synOpts, nil)))
	p := &packet.Packet{Family: nf.IPv4, Data: frame[14:], MAC: frame[:14], InDev: "eth0", Mark: 3, HasOwner: true}
	if err := p.Parse(); err != nil {
		t.Fatal(err)
	}
	env := &ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.LocalIn, Sink: discard{}}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = ext.AppendLogPacket(buf[:0], env, ext.LogDefaultFlags|ext.LogMACDecode) }); n != 0 {
		t.Errorf("AppendLogPacket: %v allocations per packet, want 0", n)
	}
	// The string Sink.Log takes is the one allocation per logged line.
	if n := testing.AllocsPerRun(100, func() { tg.Target(env) }); n > 1 {
		t.Errorf("LOG: %v allocations per packet, want at most 1", n)
	}
}

type discard struct{}

func (discard) Log(uint8, string)                    {}
func (discard) Send(*packet.Packet)                  {}
func (discard) NFLog(uint16, string, *packet.Packet) {}

func TestTraceTarget(t *testing.T) {
	tg := ruleTarget(t, nf.IPv4, "raw", "PREROUTING", "-j TRACE")
	p := udpPacket(t)
	if v := tg.Target(&ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.PreRouting}); v != ext.VerdictContinue || !p.Trace {
		t.Errorf("TRACE: verdict %v, Trace %v; want CONTINUE, true", v, p.Trace)
	}
}

func TestULOGTarget(t *testing.T) {
	tg := ruleTarget(t, nf.IPv4, "filter", "INPUT", `-j ULOG --ulog-nlgroup 5 --ulog-prefix "u:"`)
	p := udpPacket(t)
	s := &nflogRec{}
	if v := tg.Target(&ext.Env{Pkt: p, Family: nf.IPv4, Hook: nf.LocalIn, Sink: s}); v != ext.VerdictContinue {
		t.Errorf("verdict %v", v)
	}
	if s.group != 5 || s.prefix != "u:" || s.pkt != p {
		t.Errorf("NFLog(%d, %q, %p), want (5, \"u:\", %p)", s.group, s.prefix, s.pkt, p)
	}
}
