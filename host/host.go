// Package host is the host a packet meets: its interfaces, addresses,
// routes, neighbours, policy rules and sysctls, loaded from a snapshot
// directory, and the routing decisions the Linux kernel would make with
// them.
//
// A snapshot directory holds (all written by Snapshot):
//
//	ip-addr.json       ip -j addr show                    (required)
//	ip-route.json      ip -j -4 route show table all      (IPv4 routes)
//	ip6-route.json     ip -j -6 route show table all      (IPv6 routes)
//	ip-neigh.json      ip -j neigh show
//	ip-rule.json       ip -j -4 rule show                 (absent: the default rules)
//	ip6-rule.json      ip -j -6 rule show                 (absent: the default rules)
//	sysctl.conf        key = value lines as sysctl -a prints them
//	iptables-save.txt  iptables-save output
//	ip6tables-save.txt ip6tables-save output
//
// Every file but ip-addr.json is optional. Without its own family flag
// `ip -j route show table all` lists both families; ip-route.json may hold
// such output: its IPv6 routes are used unless ip6-route.json exists, in
// which case IPv6 routes come from that file only. A route whose family
// cannot be told (a default route without gateway, source or IPv6-only
// fields) counts as IPv4 in ip-route.json and IPv6 in ip6-route.json.
//
// Routing follows the kernel's fib lookups: policy rules by priority
// (from, to, iif, oif, fwmark/mask, uidrange, not, goto, nop, blackhole,
// unreachable, prohibit, suppress_prefixlength), then the longest prefix
// and lowest metric in the table, with throw handing back to the rules.
// The lookup key has no TOS, protocol or ports: rules selecting on those
// never match and routes with a TOS are skipped. Of a multipath route the
// first usable nexthop is taken (the kernel hashes the flow). Multicast
// input is delivered for the all-hosts/all-nodes groups (and IPv6
// solicited-node groups of the interface's addresses) only, as group
// memberships are not part of a snapshot.
package host

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// Iface is a network interface with its addresses.
type Iface struct {
	Name      string
	Index     int
	MAC       [6]byte
	HasMAC    bool
	MTU       int
	Up        bool
	Loopback  bool
	Addrs     []netip.Prefix // in the kernel's order, both families
	Broadcast []netip.Addr   // IPv4 broadcast addresses configured

	addrs4, addrs6 []ifaddr
	fwdReason      [2]string // why forwarding from this interface is off, "" when on
	conf           ifconf
}

// ifconf is the interface's sysctls routing consults, resolved at load so
// that lookups do not build keys.
type ifconf struct {
	rpFilter       int  // IN_DEV_RPFILTER
	acceptLocal    bool // IN_DEV_ACCEPT_LOCAL
	srcValidMark   bool // IN_DEV_SRC_VMARK
	routeLocalnet  bool // IN_DEV_ROUTE_LOCALNET
	sendRedirects  bool // IN_DEV_TX_REDIRECTS
	sharedMedia    bool // IN_DEV_SHARED_MEDIA
	ignoreLinkdown [2]bool
}

// ifaddr is one address with what source selection needs.
type ifaddr struct {
	pfx       netip.Prefix
	scope     uint8
	secondary bool
	tentative bool // IPv6 DAD not done, deprecated: not a source
}

// Host is a loaded snapshot.
type Host struct {
	dir     string
	ifaces  []*Iface
	byName  map[string]*Iface
	byIndex map[int]*Iface
	lo      *Iface
	neigh   map[neighKey][6]byte
	sysctl  map[string]string
	tables  map[string]*table
	rules   [2][]rule // per family (0 IPv4, 1 IPv6), by priority
	rules4  string
	rules6  string
	local   [2]*table

	// fib_has_custom_local_routes / fib4_has_custom_rules: they make the
	// kernel's source validation do a full lookup.
	customLocal bool
	customRules bool
}

type neighKey struct {
	dev  string
	addr netip.Addr
}

func fi(fam nf.Family) int {
	if fam == nf.IPv6 {
		return 1
	}
	return 0
}

// Load reads a snapshot directory.
func Load(dir string) (*Host, error) {
	h := &Host{
		dir:     dir,
		byName:  map[string]*Iface{},
		byIndex: map[int]*Iface{},
		neigh:   map[neighKey][6]byte{},
		sysctl:  map[string]string{},
		tables:  map[string]*table{},
	}
	data, err := os.ReadFile(filepath.Join(dir, "ip-addr.json"))
	if err != nil {
		return nil, fmt.Errorf("host snapshot: %w", err)
	}
	if err := h.parseAddrs(data); err != nil {
		return nil, fmt.Errorf("ip-addr.json: %w", err)
	}
	if err := h.loadSysctl(); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		fam  nf.Family
		both bool
	}{{"ip-route.json", nf.IPv4, true}, {"ip6-route.json", nf.IPv6, false}} {
		data, ok, err := readOptional(dir, f.name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if f.name == "ip-route.json" {
			if _, err := os.Stat(filepath.Join(dir, "ip6-route.json")); err == nil {
				f.both = false
			}
		}
		if err := h.parseRoutes(data, f.fam, f.both); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	for _, f := range []struct {
		name string
		fam  nf.Family
	}{{"ip-rule.json", nf.IPv4}, {"ip6-rule.json", nf.IPv6}} {
		data, ok, err := readOptional(dir, f.name)
		if err != nil {
			return nil, err
		}
		if !ok {
			h.rules[fi(f.fam)] = h.defaultRules(f.fam)
			continue
		}
		if err := h.parseRules(data, f.fam); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	data, ok, err := readOptional(dir, "ip-neigh.json")
	if err != nil {
		return nil, err
	}
	if ok {
		if err := h.parseNeigh(data); err != nil {
			return nil, fmt.Errorf("ip-neigh.json: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iptables-save.txt", &h.rules4}, {"ip6tables-save.txt", &h.rules6}} {
		p := filepath.Join(dir, f.name)
		if _, err := os.Stat(p); err == nil {
			*f.dst = p
		}
	}
	h.finish()
	return h, nil
}

func readOptional(dir, name string) ([]byte, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("host snapshot: %w", err)
	}
	return data, true, nil
}

// finish derives what lookups need from the loaded tables.
func (h *Host) finish() {
	h.local[0] = h.table("local")
	h.local[1] = h.local[0]
	for _, t := range h.tables {
		t.sort()
	}
	// Rules by priority; the kernel keeps equal priorities in insertion
	// order, which is the order ip prints them.
	for f := range h.rules {
		rs := h.rules[f]
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].pref < rs[j].pref })
		for i := range rs {
			r := &rs[i]
			if r.action != actGoto {
				continue
			}
			// goto jumps to the first rule with priority >= target
			r.gotoIdx = len(rs)
			for j := range rs {
				if rs[j].pref >= r.gotoPref {
					r.gotoIdx = j
					break
				}
			}
		}
	}
	if len(h.rules[0]) != 3 {
		h.customRules = true
	} else {
		for i, want := range []struct {
			pref uint32
			t    string
		}{{0, "local"}, {32766, "main"}, {32767, "default"}} {
			r := h.rules[0][i]
			if r.pref != want.pref || r.table == nil || r.table.name != want.t || !r.plain() {
				h.customRules = true
			}
		}
	}
	for f := range h.rules {
		for i := range h.rules[f] {
			r := &h.rules[f][i]
			switch r.action {
			case actBlackhole:
				r.reason = fmt.Sprintf("ip rule %d: blackhole", r.pref)
			case actUnreachable:
				r.reason = fmt.Sprintf("ip rule %d: unreachable", r.pref)
			case actProhibit:
				r.reason = fmt.Sprintf("ip rule %d: prohibit", r.pref)
			}
		}
	}
	for _, ifc := range h.ifaces {
		ifc.conf = ifconf{
			rpFilter:      h.confMax(ifc.Name, "rp_filter", 0),
			acceptLocal:   h.confOr(ifc.Name, "accept_local"),
			srcValidMark:  h.confOr(ifc.Name, "src_valid_mark"),
			routeLocalnet: h.confOr(ifc.Name, "route_localnet"),
			sendRedirects: h.SysctlInt(confKey(nf.IPv4, "all", "send_redirects"), 1) != 0 || h.SysctlInt(confKey(nf.IPv4, ifc.Name, "send_redirects"), 1) != 0,
			sharedMedia:   h.SysctlInt(confKey(nf.IPv4, "all", "shared_media"), 1) != 0 || h.SysctlInt(confKey(nf.IPv4, ifc.Name, "shared_media"), 1) != 0,
			ignoreLinkdown: [2]bool{h.confOr(ifc.Name, "ignore_routes_with_linkdown"),
				h.SysctlInt("net.ipv6.conf.all.ignore_routes_with_linkdown", 0) != 0 ||
					h.SysctlInt(confKey(nf.IPv6, ifc.Name, "ignore_routes_with_linkdown"), 0) != 0},
		}
		for f, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
			if !h.forwarding(fam, ifc.Name) {
				ifc.fwdReason[f] = h.fwdOffReason(fam, ifc.Name)
			}
		}
	}
}

// RulesPath returns the iptables-save (IPv4) or ip6tables-save (IPv6) file
// of the snapshot, "" when it has none.
func (h *Host) RulesPath(fam nf.Family) string {
	if fam == nf.IPv6 {
		return h.rules6
	}
	return h.rules4
}

// Iface returns the interface called name, nil if there is none.
func (h *Host) Iface(name string) *Iface { return h.byName[name] }

// IfaceByIndex returns the interface with index i, nil if there is none.
func (h *Host) IfaceByIndex(i int) *Iface { return h.byIndex[i] }

// Ifaces returns the interfaces in index order.
func (h *Host) Ifaces() []*Iface { return h.ifaces }

// Neighbour returns the link-layer address of addr on dev from the
// neighbour table (entries that failed or are incomplete have none).
func (h *Host) Neighbour(dev string, addr netip.Addr) ([6]byte, bool) {
	m, ok := h.neigh[neighKey{dev, addr.Unmap()}]
	return m, ok
}

// Sysctl returns a sysctl value as the snapshot recorded it.
func (h *Host) Sysctl(key string) (string, bool) {
	v, ok := h.sysctl[key]
	return v, ok
}

// SysctlInt returns a sysctl as an integer, def when absent or not a number.
// Multi-valued sysctls give their first field.
func (h *Host) SysctlInt(key string, def int) int {
	v, ok := h.sysctl[key]
	if !ok {
		return def
	}
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		v = v[:i]
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// confKey is the sysctl key of a per-interface setting; sysctl writes the
// dots of an interface name as slashes.
func confKey(fam nf.Family, dev, name string) string {
	p := "net.ipv4.conf."
	if fam == nf.IPv6 {
		p = "net.ipv6.conf."
	}
	return p + strings.ReplaceAll(dev, ".", "/") + "." + name
}

// confMax is IN_DEV_MAXCONF: the larger of all and the interface.
func (h *Host) confMax(dev, name string, def int) int {
	return max(h.SysctlInt(confKey(nf.IPv4, "all", name), def), h.SysctlInt(confKey(nf.IPv4, dev, name), def))
}

// confOr is IN_DEV_ORCONF: set in all or on the interface.
func (h *Host) confOr(dev, name string) bool {
	return h.SysctlInt(confKey(nf.IPv4, "all", name), 0) != 0 || h.SysctlInt(confKey(nf.IPv4, dev, name), 0) != 0
}

// forwarding reports whether packets arriving on dev may be forwarded:
// IN_DEV_FORWARD for IPv4 (the interface's setting, which ip_forward
// sets on every interface), net.ipv6.conf.all.forwarding for IPv6.
func (h *Host) forwarding(fam nf.Family, dev string) bool {
	if fam == nf.IPv6 {
		return h.SysctlInt("net.ipv6.conf.all.forwarding", 0) != 0
	}
	if v, ok := h.sysctl[confKey(nf.IPv4, dev, "forwarding")]; ok {
		return v != "0"
	}
	return h.SysctlInt("net.ipv4.ip_forward", 0) != 0
}

func (h *Host) fwdOffReason(fam nf.Family, dev string) string {
	if fam == nf.IPv6 {
		return "forwarding disabled (net.ipv6.conf.all.forwarding=0)"
	}
	if h.SysctlInt("net.ipv4.ip_forward", 0) != 0 {
		return "forwarding disabled (" + confKey(nf.IPv4, dev, "forwarding") + "=0)"
	}
	return "forwarding disabled (net.ipv4.ip_forward=0)"
}
