package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nfgo/nfgo/replay"
)

const conntrackUsage = `usage: nfgo conntrack --host DIR [--rules FILE] [--rules6 FILE] [--in IFACE]
                      [-L | -E | -S | -C | --proc] CAPTURE

Replay a capture through the host (as nfgo replay does, silently) and show
connection tracking as the tools show it on the host:
  -L      the table after the last packet, as conntrack -L (default)
  -E      every event while replaying, as conntrack -E
  -S      the statistics, as conntrack -S
  -C      the number of entries, as conntrack -C
  --proc  the table as /proc/net/nf_conntrack shows it
The clock is the packets' timestamps: entries whose timeout passed before
the last packet are gone, as they are from the kernel's table.

`

func cmdConntrack(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo conntrack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var hf hostFlags
	hf.register(fs, true)
	list := fs.Bool("L", false, "list the table after the replay")
	events := fs.Bool("E", false, "print events as they happen")
	stats := fs.Bool("S", false, "print statistics")
	count := fs.Bool("C", false, "print the number of entries")
	proc := fs.Bool("proc", false, "print /proc/net/nf_conntrack")
	fs.Usage = func() {
		fmt.Fprint(stderr, conntrackUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parseCommand(fs, args)
	if !ok {
		return code
	}
	n := 0
	for _, b := range []bool{*list, *events, *stats, *count, *proc} {
		if b {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "nfgo conntrack: expected one of -L, -E, -S, -C or --proc")
		return 2
	}
	if hf.host == "" || len(pos) != 1 {
		fs.Usage()
		return 2
	}
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	opts := hf.options()
	if *events {
		opts.Events = func(line string) { fmt.Fprintln(bw, line) }
	}
	s, err := replay.Open(opts)
	if err != nil {
		fmt.Fprintf(stderr, "nfgo conntrack: %v\n", err)
		return 1
	}
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "nfgo conntrack: %v\n", err)
		return 1
	}
	defer f.Close()
	if _, err := s.Replay(f, hf.in, func(*replay.Report) error { return nil }); err != nil {
		fmt.Fprintf(stderr, "nfgo conntrack: %v\n", err)
		return 1
	}
	switch {
	case *events:
	case *stats:
		err = s.CT.WriteStats(bw)
	case *count:
		err = s.CT.WriteCount(bw)
	case *proc:
		err = s.CT.WriteProc(bw, s.Now())
	default:
		err = s.CT.WriteList(bw, s.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "nfgo conntrack: %v\n", err)
		return 1
	}
	return 0
}
