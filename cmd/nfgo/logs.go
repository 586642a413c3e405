package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/nfgo/nfgo/logd/store"
	"github.com/nfgo/nfgo/nf"
)

const logsUsage = `usage: nfgo logs --db sqlite:PATH|postgres://... [--from T] [--to T]
                 [--prefix P] [--addr CIDR] [--port N] [--proto NAME|N]
                 [--flows] [--json] [--limit N]

Print the packets (or, with --flows, the connection events) the logging
daemon stored, oldest first. A packet's line is its time (RFC 3339) and
the kernel's LOG line for it (prefix, IN=, OUT=, MAC=, SRC=, ...); a
flow's line is its time and conntrack -E's line. --json prints one JSON
object per record instead.

Times (--from inclusive, --to exclusive) are RFC 3339 (2026-12-02T10:00:00Z),
a local date and time (2026-12-02 10:00:00, 2026-12-02T10:00), a local
date (2026-12-02), or a duration meaning that long ago (90m, 2h, 168h). A --prefix containing % is an SQL LIKE pattern (% any run of
characters, _ any one character); otherwise it matches exactly. --addr
matches the source or the destination (CIDR or one address); --port the
source or destination port. For flows, the original direction's addresses
and ports are matched, and --prefix does not apply.

PostgreSQL URLs take libpq's parameters: postgres://user@/db?host=/run/postgresql
for a unix socket. Exit codes: 0 ok, 1 the database failed, 2 bad usage.

`

func cmdLogs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "the database: sqlite:PATH or postgres://...")
	from := fs.String("from", "", "the first time to show (inclusive)")
	to := fs.String("to", "", "the time to stop at (exclusive)")
	prefix := fs.String("prefix", "", "the log prefix, exact or a LIKE pattern with %")
	addr := fs.String("addr", "", "a source or destination address or network (CIDR)")
	port := fs.String("port", "", "a source or destination port")
	proto := fs.String("proto", "", "the transport protocol, by name (tcp) or number")
	flows := fs.Bool("flows", false, "show connection events instead of packets")
	asJSON := fs.Bool("json", false, "print one JSON object per record")
	limit := fs.Int("limit", 0, "show at most N records (0: all)")
	fs.Usage = func() {
		fmt.Fprint(stderr, logsUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parseCommand(fs, args)
	if !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nfgo logs: "+format+"\n", a...)
		return 2
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	if *db == "" {
		fs.Usage()
		return 2
	}
	if !strings.HasPrefix(*db, "sqlite:") && !strings.HasPrefix(*db, "postgres://") && !strings.HasPrefix(*db, "postgresql://") {
		return usageErr("--db %q: expected sqlite:PATH or postgres://...", *db)
	}
	var f store.Filter
	var err error
	now := time.Now()
	if f.From, err = parseLogTime(*from, now); err != nil {
		return usageErr("--from: %v", err)
	}
	if f.To, err = parseLogTime(*to, now); err != nil {
		return usageErr("--to: %v", err)
	}
	f.Prefix = *prefix
	if *addr != "" {
		if f.Addr, err = parseAddrOrPrefix(*addr); err != nil {
			return usageErr("--addr: %v", err)
		}
	}
	if *port != "" {
		n, err := strconv.ParseUint(*port, 10, 16)
		if err != nil || n == 0 {
			return usageErr("--port: %q is not a port (1-65535)", *port)
		}
		f.Port = uint16(n)
	}
	if *proto != "" {
		n, ok := nf.ParseProto(*proto)
		if !ok {
			return usageErr("--proto: unknown protocol %q", *proto)
		}
		f.Proto = n
	}
	if *limit < 0 {
		return usageErr("--limit: %d is negative", *limit)
	}
	f.Limit, f.Flows = *limit, *flows
	if f.Flows && f.Prefix != "" {
		return usageErr("--prefix selects packets; it does not apply with --flows")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := store.Open(ctx, *db, store.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(stderr, "nfgo logs: %v\n", err)
		return 1
	}
	defer s.Close()
	bw := bufio.NewWriter(stdout)
	var line []byte
	for r, err := range store.Query(ctx, s, f) {
		if err != nil {
			bw.Flush()
			fmt.Fprintf(stderr, "nfgo logs: %v\n", err)
			return 1
		}
		if *asJSON {
			if line, err = store.AppendJSON(line[:0], r); err != nil {
				bw.Flush()
				fmt.Fprintf(stderr, "nfgo logs: %v\n", err)
				return 1
			}
		} else {
			line = store.AppendText(line[:0], r)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			fmt.Fprintf(stderr, "nfgo logs: %v\n", err)
			return 1
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "nfgo logs: %v\n", err)
		return 1
	}
	return 0
}

// parseLogTime reads a --from or --to time; "" is no bound.
func parseLogTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, YYYY-MM-DD [HH:MM[:SS]], or a duration ago such as 2h)", s)
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR network", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR network", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
