package main

import (
	"flag"
	"sort"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/replay"
)

// hostFlags are the options every command that runs packets through a
// host shares: the snapshot, the rulesets, the default ingress interface
// and the xtables flavour.
type hostFlags struct {
	host, rules4, rules6, in string
	legacy                   bool
}

func (h *hostFlags) register(fs *flag.FlagSet, withIn bool) {
	fs.StringVar(&h.host, "host", "", "host snapshot directory (see nfgo snapshot)")
	fs.StringVar(&h.rules4, "rules", "", "iptables-save file (default: the snapshot's iptables-save.txt)")
	fs.StringVar(&h.rules6, "rules6", "", "ip6tables-save file (default: the snapshot's ip6tables-save.txt)")
	if withIn {
		fs.StringVar(&h.in, "in", "", "ingress interface for packets the capture does not place")
	}
	fs.BoolVar(&h.legacy, "legacy-xtables", false, "evaluate as iptables-legacy (ip_tables and xt matches) rather than iptables-nft, which compiles limit, tcp, udp and -p to nftables expressions")
}

// options returns the session options and applies the xtables flavour.
func (h *hostFlags) options() replay.Options {
	ext.LegacyXtables = h.legacy
	return replay.Options{HostDir: h.host, Rules4: h.rules4, Rules6: h.rules6}
}

// hostQuiet is options() for a session without reports.
func hostQuiet(h *hostFlags) replay.Options {
	o := h.options()
	o.Quiet = true
	return o
}

func sortStrings(s []string) { sort.Strings(s) }
