package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/nfgo/nfgo/capture"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/replay"
)

const benchUsage = `usage: nfgo bench --host DIR [--rules FILE] [--rules6 FILE] [--in IFACE] [--time D] CAPTURE

Measure the per-packet path (link decoding, parsing, every hook with the
host's rules) on the packets of a capture, replayed over and over for the
given time without output. Prints packets per second, nanoseconds and heap
allocations per packet.

`

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var hf hostFlags
	hf.register(fs, true)
	dur := fs.Duration("time", 2*time.Second, "how long to run")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parseCommand(fs, args)
	if !ok {
		return code
	}
	if hf.host == "" || len(pos) != 1 {
		fs.Usage()
		return 2
	}
	s, err := replay.Open(hostQuiet(&hf))
	if err != nil {
		fmt.Fprintf(stderr, "nfgo bench: %v\n", err)
		return 1
	}
	type rec struct {
		link  uint32
		data  []byte
		in    string
		local bool
	}
	var recs []rec
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "nfgo bench: %v\n", err)
		return 1
	}
	defer f.Close()
	cr, err := capture.Open(f)
	if err != nil {
		fmt.Fprintf(stderr, "nfgo bench: %v\n", err)
		return 1
	}
	var r capture.Record
	for {
		if err := cr.Next(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			fmt.Fprintf(stderr, "nfgo bench: %v\n", err)
			return 1
		}
		name := r.IfName
		if name == "" {
			name = hf.in
		}
		recs = append(recs, rec{r.LinkType, append([]byte(nil), r.Data...), name, r.IfName == replay.LocalIface})
	}
	if len(recs) == 0 {
		fmt.Fprintln(stderr, "nfgo bench: the capture has no packets")
		return 1
	}
	var fr packet.Frame
	var p packet.Packet
	buf := make([]byte, 0, 65536)
	one := func(i int, ts int64) {
		rc := &recs[i%len(recs)]
		buf = append(buf[:0], rc.data...) // targets may rewrite the packet
		if packet.DecodeFrame(rc.link, buf, &fr) != nil {
			return
		}
		p = packet.Packet{Timestamp: ts}
		fr.Fill(&p)
		if p.Parse() != nil {
			return
		}
		if !rc.local {
			p.InDev = rc.in
		}
		s.Run(&p, rc.local)
	}
	for i := range recs { // warm up: tables, buckets, buffers
		one(i, int64(i)*1000)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	n := 0
	for time.Since(start) < *dur {
		for k := 0; k < 1000; k++ {
			one(n, start.UnixNano()+int64(n)*1000)
			n++
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	fmt.Fprintf(stdout, "%d packets in %v: %.0f packets/s, %.1f ns/packet, %.2f allocations/packet (%d distinct packets)\n",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), float64(el.Nanoseconds())/float64(n),
		float64(m1.Mallocs-m0.Mallocs)/float64(n), len(recs))
	return 0
}
