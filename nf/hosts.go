package nf

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"sync"
)

// nfgo resolves host names in rules from /etc/hosts only: it must work
// offline and never wait on DNS while reading a ruleset.
var (
	hostsOnce sync.Once
	hostsMap  map[string][]netip.Addr
)

// HostsFile is the hosts database consulted for names in -s/-d.
var HostsFile = "/etc/hosts"

// LookupHost returns the addresses of a host name from HostsFile, nil when
// it is not there.
func LookupHost(name string) []netip.Addr {
	hostsOnce.Do(func() {
		hostsMap = map[string][]netip.Addr{
			"localhost": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		}
		f, err := os.Open(HostsFile)
		if err != nil {
			return
		}
		defer f.Close()
		seen := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			a, err := netip.ParseAddr(fields[0])
			if err != nil {
				continue
			}
			for _, n := range fields[1:] {
				n = strings.ToLower(n)
				if !seen[n] {
					// The file's entries replace the built-in localhost ones.
					hostsMap[n] = nil
					seen[n] = true
				}
				hostsMap[n] = append(hostsMap[n], a.Unmap())
			}
		}
	})
	return hostsMap[strings.ToLower(name)]
}
