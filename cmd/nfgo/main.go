// Command nfgo is the Linux netfilter packet path in userspace.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `nfgo: the Linux netfilter packet path in userspace

Usage:
  nfgo save [-4|-6] [-c] [-t TABLE] [FILE...]
      Read iptables-restore input (FILE, or standard input) and print it the
      way iptables-save prints it.
  nfgo restore --state FILE [-4|-6] [-n] [-c] [-T TABLE] [INPUT]
      Apply iptables-restore input to the ruleset kept in FILE.
  nfgo iptables --state FILE [-t TABLE] COMMAND [OPTIONS]
  nfgo ip6tables --state FILE [-t TABLE] COMMAND [OPTIONS]
      Run one iptables command (-A -C -D -I -R -L -S -F -Z -N -X -E -P) on the
      ruleset kept in FILE (iptables-save -c text; created when absent).
      Exit codes are those of iptables(8): 0 ok, 1 other errors (and -C for
      an absent rule), 2 bad parameters, 4 rejected as the kernel would.

  nfgo trace --host DIR [--rules FILE] PACKET...
      Trace hand-written packets (e.g. 'in eth0 tcp 198.51.100.7:51000 >
      10.0.0.5:22 syn') through a host's rulesets and print their path.
  nfgo replay --host DIR [--rules FILE] [--log FILE] [--counters FILE]
              [--out FILE] [--trace] [--json] CAPTURE
      Replay a pcap/pcapng capture through a host's rulesets.
  nfgo snapshot DIR
      Save this host's addresses, routes, neighbours, rules and sysctls.
  nfgo conntrack --host DIR [-L|-E|-S|-C|--proc] CAPTURE
      Connection tracking after (or while) replaying a capture, as the
      conntrack tool and /proc/net/nf_conntrack show it.
  nfgo logd -c CONFIG
      The logging daemon: NFLOG/ULOG packets and conntrack events from the
      kernel and from nfgo, to files and databases.
  nfgo bench --host DIR [--time D] CAPTURE
      Measure the per-packet path on a capture's packets.
  nfgo logs --db sqlite:PATH|postgres://... [--from T] [--to T] [--prefix P]
            [--addr CIDR] [--port N] [--proto P] [--flows] [--json] [--limit N]
      Print the packets and connection events the logging daemon stored.

Run "nfgo COMMAND -h" for a command's options.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "save":
		return cmdSave(args[1:], stdin, stdout, stderr)
	case "restore":
		return cmdRestore(args[1:], stdin, stdout, stderr)
	case "iptables":
		return cmdIptables(4, args[1:], stdout, stderr)
	case "ip6tables":
		return cmdIptables(6, args[1:], stdout, stderr)
	case "trace":
		return cmdTrace(args[1:], stdin, stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "snapshot":
		return cmdSnapshot(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "conntrack":
		return cmdConntrack(args[1:], stdout, stderr)
	case "logd":
		return cmdLogd(args[1:], stdout, stderr)
	case "logs":
		return cmdLogs(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "nfgo: unknown command %q\n\n%s", args[0], usage)
	return 2
}
