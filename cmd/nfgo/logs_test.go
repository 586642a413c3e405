package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/logd/store"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

func logsDB(t *testing.T) string {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "log.db")
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i, line := range []string{
		"in eth0 tcp 198.51.100.7:51000 > 10.0.0.5:22 syn",
		"in eth0 udp 192.0.2.9:53 > 10.0.0.5:40000",
		"in eth1 icmp 192.0.2.1 > 10.0.0.5 type 8",
	} {
		l, err := packet.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.Packet()
		if err != nil {
			t.Fatal(err)
		}
		prefix := "DROP_IN"
		if i == 1 {
			prefix = "DNS"
		}
		err = s.WritePacket(&logd.Packet{Time: t0.Add(time.Duration(i) * time.Minute), Source: "nfgo", Prefix: prefix,
			Family: p.Family, Hook: nf.LocalIn, HasHook: true, InDev: p.InDev, MAC: p.MAC, Data: p.Data})
		if err != nil {
			t.Fatal(err)
		}
	}
	a := netip.MustParseAddr
	err = s.WriteFlow(&logd.FlowEvent{Time: t0, Source: "kernel", Type: "NEW", Family: nf.IPv4, Proto: 6,
		OrigSrc: a("198.51.100.7"), OrigDst: a("10.0.0.5"), OrigSport: 51000, OrigDport: 22,
		ReplSrc: a("10.0.0.5"), ReplDst: a("198.51.100.7"), ReplSport: 22, ReplDport: 51000, Timeout: 120, State: "SYN_SENT"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestLogs(t *testing.T) {
	dsn := logsDB(t)
	out, errs, code := runNfgo(t, "", "logs", "--db", dsn)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// Times print in the local zone.
	first := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC).Local().Format(store.TimeLayout)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], first+" DROP_IN IN=eth0 OUT= MAC=") ||
		!strings.Contains(lines[0], "SRC=198.51.100.7 DST=10.0.0.5 ") || !strings.Contains(lines[2], "PROTO=ICMP TYPE=8 ") {
		t.Fatalf("logs:\n%s", out)
	}

	out, _, code = runNfgo(t, "", "logs", "--db", dsn, "--proto", "udp", "--from", "2026-12-02T10:00:30Z", "--json")
	var j struct{ Prefix, Src string }
	if code != 0 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &j) != nil || j.Prefix != "DNS" || j.Src != "192.0.2.9" {
		t.Fatalf("exit %d, --proto udp --json:\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		n    int
	}{
		{[]string{"--prefix", "DROP%"}, 2},
		{[]string{"--addr", "192.0.2.0/24"}, 2},
		{[]string{"--addr", "198.51.100.7"}, 1},
		{[]string{"--port", "22"}, 1},
		{[]string{"--to", "2026-12-02T10:01:00Z"}, 1},
		{[]string{"--limit", "2"}, 2},
		{[]string{"--flows"}, 1},
	} {
		out, errs, code := runNfgo(t, "", append([]string{"logs", "--db", dsn}, c.args...)...)
		if code != 0 || strings.Count(out, "\n") != c.n {
			t.Errorf("%v: exit %d, want %d lines:\n%s%s", c.args, code, c.n, out, errs)
		}
	}
	out, _, _ = runNfgo(t, "", "logs", "--db", dsn, "--flows")
	if !strings.Contains(out, "    [NEW] tcp      6 120 SYN_SENT src=198.51.100.7 dst=10.0.0.5 sport=51000 dport=22 [UNREPLIED] ") {
		t.Errorf("--flows: %s", out)
	}
}

func TestLogsErrors(t *testing.T) {
	dsn := logsDB(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage: nfgo logs"},
		{[]string{"--db", dsn, "--from", "yesterday"}, 2, "--from"},
		{[]string{"--db", dsn, "--addr", "10.0.0.300"}, 2, "--addr"},
		{[]string{"--db", dsn, "--port", "70000"}, 2, "--port"},
		{[]string{"--db", dsn, "--proto", "nosuch"}, 2, "--proto"},
		{[]string{"--db", dsn, "--flows", "--prefix", "x"}, 2, "--prefix"},
		{[]string{"--db", dsn, "extra"}, 2, "unexpected argument"},
		{[]string{"--db", "mysql://x"}, 2, "expected sqlite:PATH or postgres://"},
		{[]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "absent.db")}, 1, "no such file"},
		{[]string{"--db", "postgres://nobody@/nfgo?host=" + t.TempDir()}, 1, "nfgo logs: store: postgresql:nfgo@"},
	} {
		_, errs, code := runNfgo(t, "", append([]string{"logs"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q lacks %q", c.args, code, c.code, errs, c.msg)
		}
	}
	if _, _, code := runNfgo(t, "", "logs", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
