package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/logd/engine"
	nlsource "github.com/nfgo/nfgo/logd/netlink"
	"github.com/nfgo/nfgo/logd/sink"
	"github.com/nfgo/nfgo/logd/store"
)

const logdUsage = `usage: nfgo logd -c CONFIG [--check]

The logging daemon: it reads logged packets (NFLOG and ULOG groups) and
connection tracking events from the kernel over netlink and from nfgo's own
engine, and writes them to files and databases. It runs until SIGTERM or
SIGINT (then it flushes every sink), reopens its files on SIGHUP (log
rotation), and reports on standard error what it could not keep.

The configuration file:

  queue = 65536            # records held per queue (default 65536)
  flush = 1s               # how often sinks are flushed (default 1s)

  [source TYPE]            # one section per source
  KEY = VALUE
  [sink TYPE]              # one section per sink
  KEY = VALUE

Sources:
%s
Sinks:
%s
Options:
`

// A source or sink type: its keys (for help and errors) and constructor.
type logdSourceType struct {
	keys string
	help string
	make func(s *logd.Section) (logd.Source, error)
}

type logdSinkType struct {
	keys string
	help string
	make func(s *logd.Section) (logd.Sink, error)
}

var logdSources = map[string]logdSourceType{
	"nflog": {
		keys: "groups, range, buffer, netns, qthreshold, timeout, seq",
		help: "the kernel's NFLOG groups (nfnetlink_log): groups = 1, 2; range = bytes copied (default 65535); buffer = socket receive buffer bytes; netns = /run/netns/NAME to read another namespace; seq = yes numbers the packets, so that what the kernel drops is counted exactly",
		make: func(s *logd.Section) (logd.Source, error) {
			groups, err := s.Uint16s("groups")
			if err != nil {
				return nil, err
			}
			if len(groups) == 0 {
				return nil, &logd.ConfigError{File: s.File, Line: s.Line, Col: 1, Msg: s.Name() + " needs groups = N[, N...]"}
			}
			rng, err := s.Int("range", 0)
			if err != nil {
				return nil, err
			}
			buf, err := s.Int("buffer", 0)
			if err != nil {
				return nil, err
			}
			qth, err := s.Int("qthreshold", 0)
			if err != nil {
				return nil, err
			}
			tmo, err := s.Duration("timeout", 0)
			if err != nil && s.String("timeout", "") != "" {
				return nil, err
			}
			seq, err := s.Bool("seq", false)
			if err != nil {
				return nil, err
			}
			var flags uint16
			if seq {
				flags |= nlsource.FlagSeq
			}
			return nlsource.NewNFLog(nlsource.NFLogConfig{Groups: groups, CopyRange: uint32(rng), ReadBuffer: buf,
				QThreshold: uint32(qth), Timeout: tmo, NetNS: s.String("netns", ""), Flags: flags})
		},
	},
	"conntrack": {
		keys: "events, buffer, netns",
		help: "the kernel's conntrack events (ctnetlink): events = new, update, destroy (default all); buffer = socket receive buffer bytes; netns = /run/netns/NAME",
		make: func(s *logd.Section) (logd.Source, error) {
			ev := 0
			for _, e := range s.List("events") {
				switch strings.ToLower(e) {
				case "new":
					ev |= nlsource.EventNew
				case "update":
					ev |= nlsource.EventUpdate
				case "destroy":
					ev |= nlsource.EventDestroy
				default:
					return nil, &logd.ConfigError{File: s.File, Line: s.Line, Col: 1, Msg: fmt.Sprintf("%s: events: %q: expected new, update or destroy", s.Name(), e)}
				}
			}
			buf, err := s.Int("buffer", 0)
			if err != nil {
				return nil, err
			}
			return nlsource.NewConntrack(nlsource.ConntrackConfig{Events: ev, ReadBuffer: buf, NetNS: s.String("netns", "")})
		},
	},
	"replay": {
		keys: "host, capture, rules, rules6, in, groups, flows",
		help: "nfgo's engine replaying CAPTURE through the snapshot HOST: its NFLOG/ULOG packets (groups: all, or a list) and, with flows = yes, its conntrack events",
		make: func(s *logd.Section) (logd.Source, error) {
			host, err := s.Require("host", "DIR")
			if err != nil {
				return nil, err
			}
			capPath, err := s.Require("capture", "FILE")
			if err != nil {
				return nil, err
			}
			groups, err := s.Uint16s("groups")
			if err != nil {
				return nil, err
			}
			flows, err := s.Bool("flows", false)
			if err != nil {
				return nil, err
			}
			r := &engine.Replay{Capture: capPath, In: s.String("in", ""), Groups: groups, Flows: flows}
			r.Options.HostDir, r.Options.Rules4, r.Options.Rules6 = host, s.String("rules", ""), s.String("rules6", "")
			return r, nil
		},
	},
}

// fileSink builds a file sink from its section: file = PATH, sync = yes|no.
func fileSink[T logd.Sink](open func(string, sink.Options) (T, error)) func(s *logd.Section) (logd.Sink, error) {
	return func(s *logd.Section) (logd.Sink, error) {
		path, err := s.Require("file", "PATH")
		if err != nil {
			return nil, err
		}
		syncEach, err := s.Bool("sync", false)
		if err != nil {
			return nil, err
		}
		return open(path, sink.Options{Sync: syncEach})
	}
}

var logdSinks = map[string]logdSinkType{
	"logemu": {keys: "file, sync", help: "ulogd's LOGEMU text (syslogemu.log), byte for byte as ulogd2 writes it; sync = yes flushes every line",
		make: fileSink(sink.NewLOGEMU)},
	"text": {keys: "file, sync", help: "the kernel LOG target's text after an RFC 3339 time; flows as conntrack -E lines",
		make: fileSink(sink.NewText)},
	"json": {keys: "file, sync", help: "one JSON object per line (fields documented in the logd/sink package)",
		make: fileSink(sink.NewJSON)},
	"sqlite": {keys: "path, batch, flush", help: "the embedded SQLite store (schema in the logd/store package); batch = records per transaction (default 1000); query it with nfgo logs --db sqlite:PATH",
		make: func(s *logd.Section) (logd.Sink, error) {
			path, err := s.Require("path", "FILE")
			if err != nil {
				return nil, err
			}
			return openStore(s, "sqlite:"+path)
		}},
	"postgres": {keys: "dsn, batch, flush", help: "a PostgreSQL store: dsn = postgres://user@host/db (same schema; loaded with COPY)",
		make: func(s *logd.Section) (logd.Sink, error) {
			dsn, err := s.Require("dsn", "postgres://...")
			if err != nil {
				return nil, err
			}
			return openStore(s, dsn)
		}},
	"pcap": {keys: "file, sync", help: "pcapng of the logged packets, one interface per device, the prefix as each packet's comment",
		make: fileSink(sink.NewPcap)},
}

func typeHelp[T any](m map[string]T, get func(T) (string, string)) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sortStrings(names)
	var b strings.Builder
	for _, n := range names {
		keys, help := get(m[n])
		fmt.Fprintf(&b, "  [%s]  keys: %s\n      %s\n", n, keys, help)
	}
	return b.String()
}

func cmdLogd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nfgo logd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration file")
	check := fs.Bool("check", false, "check the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, logdUsage,
			typeHelp(logdSources, func(t logdSourceType) (string, string) { return t.keys, t.help }),
			typeHelp(logdSinks, func(t logdSinkType) (string, string) { return t.keys, t.help }))
		fs.PrintDefaults()
	}
	if _, code, ok := parseCommand(fs, args); !ok {
		return code
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "nfgo logd: -c CONFIG is required (nfgo logd -h describes the file)")
		return 2
	}
	d, err := buildDaemon(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "nfgo logd: %v\n", err)
		return 2
	}
	if *check {
		fmt.Fprintf(stdout, "%s: %d sources, %d sinks\n", *cfgPath, len(d.Sources), len(d.Sinks))
		return 0
	}
	d.Report = func(line string) { fmt.Fprintf(stderr, "nfgo logd: %s\n", line) }
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			d.Reopen()
		}
	}()
	runErr := d.Run(ctx)
	code := 0
	for _, src := range d.Sources {
		st := src.Stats()
		fmt.Fprintf(stderr, "nfgo logd: source %s: %d received, %d lost in the kernel (ENOBUFS), %d malformed\n", src.Name(), st.Received, st.Overruns, st.Errors)
		if st.LostKnown {
			fmt.Fprintf(stderr, "nfgo logd: source %s: %d records the kernel dropped (sequence numbers)\n", src.Name(), st.Lost)
		}
	}
	for i, st := range d.Stats() {
		fmt.Fprintf(stderr, "nfgo logd: sink %s: %d written, %d dropped, %d errors\n", d.Sinks[i].Name(), st.Written, st.Dropped, st.Errors)
		if st.Dropped > 0 {
			code = 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "nfgo logd: %v\n", runErr)
		code = 1
	}
	return code
}

func buildDaemon(path string) (*logd.Daemon, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := logd.ParseConfig(f, path)
	if err != nil {
		return nil, err
	}
	d := &logd.Daemon{QueueSize: cfg.Queue, FlushInterval: cfg.Flush}
	for _, s := range cfg.Sections {
		switch s.Kind {
		case "source":
			t, ok := logdSources[s.Type]
			if !ok {
				return nil, &logd.ConfigError{File: path, Line: s.Line, Col: 1, Msg: fmt.Sprintf("unknown source %q: expected one of %s", s.Type, keysOf(logdSources))}
			}
			src, err := t.make(s)
			if err != nil {
				return nil, err
			}
			if err := s.Done(t.keys); err != nil {
				return nil, err
			}
			d.Sources = append(d.Sources, src)
		case "sink":
			t, ok := logdSinks[s.Type]
			if !ok {
				return nil, &logd.ConfigError{File: path, Line: s.Line, Col: 1, Msg: fmt.Sprintf("unknown sink %q: expected one of %s", s.Type, keysOf(logdSinks))}
			}
			sink, err := t.make(s)
			if err != nil {
				return nil, err
			}
			if err := s.Done(t.keys); err != nil {
				sink.Close()
				return nil, err
			}
			d.Sinks = append(d.Sinks, sink)
		}
	}
	if len(d.Sources) == 0 || len(d.Sinks) == 0 {
		return nil, fmt.Errorf("%s: needs at least one [source ...] and one [sink ...] section", path)
	}
	return d, nil
}

func keysOf[T any](m map[string]T) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func openStore(s *logd.Section, dsn string) (logd.Sink, error) {
	batch, err := s.Int("batch", 0)
	if err != nil {
		return nil, err
	}
	flush, err := s.Duration("flush", 0)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(context.Background(), dsn, store.Options{BatchSize: batch, FlushInterval: flush})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return st, nil
}
