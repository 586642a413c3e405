package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// entries splits a JSON array into its elements so that errors can name
// the entry.
func entries(data []byte) ([]json.RawMessage, error) {
	var es []json.RawMessage
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(data, &es); err != nil {
		return nil, fmt.Errorf("not a JSON array of objects: %w", err)
	}
	return es, nil
}

// decode unmarshals one entry, naming the field a type error is about.
func decode(e json.RawMessage, v any) error {
	err := json.Unmarshal(e, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return err
}

type jsonAddrInfo struct {
	Family     string `json:"family"`
	Local      string `json:"local"`
	Prefixlen  int    `json:"prefixlen"`
	Broadcast  string `json:"broadcast"`
	Scope      string `json:"scope"`
	Secondary  bool   `json:"secondary"`
	Tentative  bool   `json:"tentative"`
	Deprecated bool   `json:"deprecated"`
	Dadfailed  bool   `json:"dadfailed"`
}

type jsonLink struct {
	Ifindex  int            `json:"ifindex"`
	Ifname   string         `json:"ifname"`
	Flags    []string       `json:"flags"`
	MTU      int            `json:"mtu"`
	LinkType string         `json:"link_type"`
	Address  string         `json:"address"`
	AddrInfo []jsonAddrInfo `json:"addr_info"`
}

func (h *Host) parseAddrs(data []byte) error {
	es, err := entries(data)
	if err != nil {
		return err
	}
	for n, e := range es {
		var l jsonLink
		if err := decode(e, &l); err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		if l.Ifname == "" {
			return fmt.Errorf("entry %d: field \"ifname\" missing", n)
		}
		if l.Ifindex <= 0 {
			return fmt.Errorf("entry %d (%s): field \"ifindex\" missing or not positive", n, l.Ifname)
		}
		ifc := &Iface{Name: l.Ifname, Index: l.Ifindex, MTU: l.MTU}
		ifc.Up = slices.Contains(l.Flags, "UP")
		ifc.Loopback = slices.Contains(l.Flags, "LOOPBACK") || l.LinkType == "loopback"
		if hw, err := net.ParseMAC(l.Address); err == nil && len(hw) == 6 && !ifc.Loopback {
			copy(ifc.MAC[:], hw)
			ifc.HasMAC = true
		}
		for k, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err != nil {
				return fmt.Errorf("entry %d (%s): addr_info %d: field \"local\": %w", n, l.Ifname, k, err)
			}
			pfx, err := ip.Prefix(a.Prefixlen)
			if err != nil || a.Prefixlen < 0 {
				return fmt.Errorf("entry %d (%s): addr_info %d: field \"prefixlen\" %d out of range", n, l.Ifname, k, a.Prefixlen)
			}
			scope, err := parseScope(a.Scope)
			if err != nil {
				return fmt.Errorf("entry %d (%s): addr_info %d: field \"scope\": %w", n, l.Ifname, k, err)
			}
			// Keep the address itself, not the network, as ip prints it.
			pfx = netip.PrefixFrom(ip, a.Prefixlen)
			ifc.Addrs = append(ifc.Addrs, pfx)
			ia := ifaddr{pfx: pfx, scope: scope, secondary: a.Secondary,
				tentative: a.Tentative || a.Deprecated || a.Dadfailed}
			if ip.Is4() {
				ifc.addrs4 = append(ifc.addrs4, ia)
				if a.Broadcast != "" {
					b, err := netip.ParseAddr(a.Broadcast)
					if err != nil {
						return fmt.Errorf("entry %d (%s): addr_info %d: field \"broadcast\": %w", n, l.Ifname, k, err)
					}
					ifc.Broadcast = append(ifc.Broadcast, b)
				}
			} else {
				ifc.addrs6 = append(ifc.addrs6, ia)
			}
		}
		if h.byName[ifc.Name] != nil {
			return fmt.Errorf("entry %d: interface %s listed twice", n, ifc.Name)
		}
		h.byName[ifc.Name] = ifc
		h.byIndex[ifc.Index] = ifc
		h.ifaces = append(h.ifaces, ifc)
		if ifc.Loopback && h.lo == nil {
			h.lo = ifc
		}
	}
	slices.SortFunc(h.ifaces, func(a, b *Iface) int { return a.Index - b.Index })
	return nil
}

// Route scopes (rtnetlink's RT_SCOPE_*).
const (
	scopeUniverse uint8 = 0
	scopeSite     uint8 = 200
	scopeLink     uint8 = 253
	scopeHost     uint8 = 254
	scopeNowhere  uint8 = 255
)

func parseScope(s string) (uint8, error) {
	switch s {
	case "", "global", "universe":
		return scopeUniverse, nil
	case "site":
		return scopeSite, nil
	case "link":
		return scopeLink, nil
	case "host":
		return scopeHost, nil
	case "nowhere":
		return scopeNowhere, nil
	}
	n, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, fmt.Errorf("unknown scope %q", s)
	}
	return uint8(n), nil
}

// Route types (RTN_*).
const (
	rtnUnspec      uint8 = 0
	rtnUnicast     uint8 = 1
	rtnLocal       uint8 = 2
	rtnBroadcast   uint8 = 3
	rtnAnycast     uint8 = 4
	rtnMulticast   uint8 = 5
	rtnBlackhole   uint8 = 6
	rtnUnreachable uint8 = 7
	rtnProhibit    uint8 = 8
	rtnThrow       uint8 = 9
	rtnNAT         uint8 = 10
)

var rtnNames = map[string]uint8{
	"": rtnUnicast, "unicast": rtnUnicast, "local": rtnLocal, "broadcast": rtnBroadcast,
	"anycast": rtnAnycast, "multicast": rtnMulticast, "blackhole": rtnBlackhole,
	"unreachable": rtnUnreachable, "prohibit": rtnProhibit, "throw": rtnThrow, "nat": rtnNAT,
}

type jsonNexthop struct {
	Gateway string   `json:"gateway"`
	Dev     string   `json:"dev"`
	Flags   []string `json:"flags"`
}

type jsonRoute struct {
	Type     string        `json:"type"`
	Dst      string        `json:"dst"`
	From     string        `json:"from"`
	Gateway  string        `json:"gateway"`
	Dev      string        `json:"dev"`
	Table    string        `json:"table"`
	Scope    string        `json:"scope"`
	Prefsrc  string        `json:"prefsrc"`
	Metric   uint32        `json:"metric"`
	Tos      string        `json:"tos"`
	Dsfield  string        `json:"dsfield"`
	Flags    []string      `json:"flags"`
	Pref     string        `json:"pref"`
	Nexthops []jsonNexthop `json:"nexthops"`
}

// normTable gives each routing table one name whether ip printed its
// number or its name.
func normTable(s string) string {
	switch s {
	case "", "254", "main":
		return "main"
	case "255", "local":
		return "local"
	case "253", "default":
		return "default"
	}
	return s
}

func (h *Host) table(name string) *table {
	name = normTable(name)
	t := h.tables[name]
	if t == nil {
		t = &table{name: name}
		h.tables[name] = t
	}
	return t
}

// routeFamily tells a route's family from its addresses.
func routeFamily(r *jsonRoute, def nf.Family) nf.Family {
	for _, s := range []string{r.Dst, r.Gateway, r.Prefsrc, r.From} {
		s, _, _ = strings.Cut(s, "/")
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Is4() {
				return nf.IPv4
			}
			return nf.IPv6
		}
	}
	if r.Pref != "" {
		return nf.IPv6
	}
	return def
}

func parsePrefix(s string, fam nf.Family) (netip.Prefix, error) {
	if s == "default" || s == "" {
		if fam == nf.IPv6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0), nil
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (h *Host) parseRoutes(data []byte, def nf.Family, both bool) error {
	es, err := entries(data)
	if err != nil {
		return err
	}
	for n, e := range es {
		var jr jsonRoute
		if err := decode(e, &jr); err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		fam := routeFamily(&jr, def)
		if fam != def && !both {
			continue
		}
		r := route{metric: jr.Metric}
		var ok bool
		if r.typ, ok = rtnNames[jr.Type]; !ok {
			return fmt.Errorf("entry %d: field \"type\": unknown route type %q", n, jr.Type)
		}
		if r.dst, err = parsePrefix(jr.Dst, fam); err != nil {
			return fmt.Errorf("entry %d: field \"dst\": %w", n, err)
		}
		if jr.From != "" {
			if r.src, err = parsePrefix(jr.From, fam); err != nil {
				return fmt.Errorf("entry %d: field \"from\": %w", n, err)
			}
		}
		if r.scope, err = parseScope(jr.Scope); err != nil {
			return fmt.Errorf("entry %d: field \"scope\": %w", n, err)
		}
		if jr.Prefsrc != "" {
			if r.prefsrc, err = netip.ParseAddr(jr.Prefsrc); err != nil {
				return fmt.Errorf("entry %d: field \"prefsrc\": %w", n, err)
			}
		}
		for _, s := range []string{jr.Tos, jr.Dsfield} {
			if s != "" && s != "0" && s != "0x00" {
				v, err := strconv.ParseUint(s, 0, 8)
				if err != nil {
					return fmt.Errorf("entry %d: field \"tos\": %q is not a number", n, s)
				}
				r.tos = uint8(v)
			}
		}
		r.dead = slices.Contains(jr.Flags, "dead")
		nhs := jr.Nexthops
		if len(nhs) == 0 && (jr.Dev != "" || jr.Gateway != "") {
			nhs = []jsonNexthop{{Gateway: jr.Gateway, Dev: jr.Dev, Flags: jr.Flags}}
		}
		for k, jn := range nhs {
			var nh nexthop
			if jn.Gateway != "" {
				if nh.gw, err = netip.ParseAddr(jn.Gateway); err != nil {
					return fmt.Errorf("entry %d: nexthop %d: field \"gateway\": %w", n, k, err)
				}
			}
			nh.dev = h.byName[jn.Dev]
			if jn.Dev != "" && nh.dev == nil {
				return fmt.Errorf("entry %d: field \"dev\": no interface %q in ip-addr.json", n, jn.Dev)
			}
			nh.dead = slices.Contains(jn.Flags, "dead")
			nh.linkdown = slices.Contains(jn.Flags, "linkdown")
			r.nhs = append(r.nhs, nh)
		}
		tname := normTable(jr.Table)
		if r.typ == rtnLocal && tname != "local" {
			h.customLocal = true
		}
		t := h.table(tname)
		t.routes[fi(fam)] = append(t.routes[fi(fam)], r)
	}
	return nil
}

// Rule actions (FR_ACT_*).
const (
	actTable uint8 = iota
	actGoto
	actNop
	actBlackhole
	actUnreachable
	actProhibit
)

func (h *Host) defaultRules(fam nf.Family) []rule {
	rs := []rule{
		{pref: 0, action: actTable, table: h.table("local"), suppress: -1},
		{pref: 32766, action: actTable, table: h.table("main"), suppress: -1},
	}
	if fam == nf.IPv4 {
		rs = append(rs, rule{pref: 32767, action: actTable, table: h.table("default"), suppress: -1})
	}
	return rs
}

func (h *Host) parseRules(data []byte, fam nf.Family) error {
	es, err := entries(data)
	if err != nil {
		return err
	}
	for n, e := range es {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e, &m); err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		r, err := h.parseRule(m, fam)
		if err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		h.rules[fi(fam)] = append(h.rules[fi(fam)], r)
	}
	return nil
}

func (h *Host) parseRule(m map[string]json.RawMessage, fam nf.Family) (rule, error) {
	r := rule{suppress: -1, uidEnd: ^uint32(0)}
	str := func(k string) (string, bool, error) {
		v, ok := m[k]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, fmt.Errorf("field %q: %s is not a string", k, v)
		}
		return s, true, nil
	}
	num := func(k string) (uint64, bool, error) {
		v, ok := m[k]
		if !ok {
			return 0, false, nil
		}
		var x uint64
		if err := json.Unmarshal(v, &x); err != nil {
			// ip prints some numbers as strings (hex marks).
			var s string
			if json.Unmarshal(v, &s) != nil {
				return 0, true, fmt.Errorf("field %q: %s is not a number", k, v)
			}
			if x, err = strconv.ParseUint(s, 0, 32); err != nil {
				return 0, true, fmt.Errorf("field %q: %q is not a number", k, s)
			}
		}
		return x, true, nil
	}
	p, ok, err := num("priority")
	if err != nil {
		return r, err
	}
	if !ok {
		return r, errors.New("field \"priority\" missing")
	}
	r.pref = uint32(p)
	_, r.not = m["not"]
	for _, sel := range []struct {
		key, lenKey string
		dst         *netip.Prefix
	}{{"src", "srclen", &r.src}, {"dst", "dstlen", &r.dst}} {
		s, ok, err := str(sel.key)
		if err != nil {
			return r, err
		}
		if !ok || s == "all" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil && s == "0" {
			a, err = netip.IPv4Unspecified(), nil
			if fam == nf.IPv6 {
				a = netip.IPv6Unspecified()
			}
		}
		if err != nil {
			return r, fmt.Errorf("field %q: %w", sel.key, err)
		}
		bits := a.BitLen()
		if l, ok, err := num(sel.lenKey); err != nil {
			return r, err
		} else if ok {
			bits = int(l)
		}
		pfx, err := a.Prefix(bits)
		if err != nil {
			return r, fmt.Errorf("field %q: %w", sel.lenKey, err)
		}
		*sel.dst = pfx
	}
	if r.iif, _, err = str("iif"); err != nil {
		return r, err
	}
	if r.oif, _, err = str("oif"); err != nil {
		return r, err
	}
	_, d1 := m["iif_detached"]
	_, d2 := m["oif_detached"]
	if d1 || d2 || (r.iif != "" && h.byName[r.iif] == nil) || (r.oif != "" && h.byName[r.oif] == nil) {
		r.never = true // a rule on a missing interface matches nothing
	}
	if mk, ok, err := num("fwmark"); err != nil {
		return r, err
	} else if ok {
		r.mark, r.mask = uint32(mk), ^uint32(0)
	}
	if mk, ok, err := num("fwmask"); err != nil {
		return r, err
	} else if ok {
		r.mask = uint32(mk)
	}
	for _, k := range []string{"tos", "dsfield"} {
		if s, ok, err := str(k); err != nil {
			return r, err
		} else if ok && s != "0" && s != "0x00" && s != "default" {
			r.never = true // no TOS in the lookup key: such rules never match
		}
	}
	for _, k := range []string{"ipproto", "sport", "dport", "sport_start", "dport_start", "l3mdev", "tun_id"} {
		if _, ok := m[k]; ok {
			r.never = true // selectors the lookup key does not carry
		}
	}
	if v, ok, err := num("uid_start"); err != nil {
		return r, err
	} else if ok {
		r.uidStart = uint32(v)
	}
	if v, ok, err := num("uid_end"); err != nil {
		return r, err
	} else if ok {
		r.uidEnd = uint32(v)
	}
	for _, k := range []string{"suppress_prefixlen", "suppress_prefixlength"} {
		if v, ok, err := num(k); err != nil {
			return r, err
		} else if ok {
			r.suppress = int(v)
		}
	}
	if _, ok := m["suppress_ifgroup"]; ok {
		r.never = true
	}
	switch {
	case m["goto"] != nil:
		g, _, err := num("goto")
		if err != nil {
			return r, err
		}
		r.action, r.gotoPref = actGoto, uint32(g)
	case m["nop"] != nil:
		r.action = actNop
	case m["action"] != nil:
		a, _, err := str("action")
		if err != nil {
			return r, err
		}
		switch a {
		case "blackhole":
			r.action = actBlackhole
		case "unreachable":
			r.action = actUnreachable
		case "prohibit":
			r.action = actProhibit
		case "nop":
			r.action = actNop
		default:
			return r, fmt.Errorf("field \"action\": unknown action %q", a)
		}
	default:
		t, ok, err := str("table")
		if err != nil {
			return r, err
		}
		if !ok {
			if tn, ok2, err := num("table"); err == nil && ok2 {
				t, ok = strconv.FormatUint(tn, 10), true
			}
		}
		if !ok {
			return r, errors.New("field \"table\" missing (and no action or goto)")
		}
		r.action, r.table = actTable, h.table(t)
	}
	return r, nil
}

type jsonNeigh struct {
	Dst    string   `json:"dst"`
	Dev    string   `json:"dev"`
	Lladdr string   `json:"lladdr"`
	State  []string `json:"state"`
}

func (h *Host) parseNeigh(data []byte) error {
	es, err := entries(data)
	if err != nil {
		return err
	}
	for n, e := range es {
		var jn jsonNeigh
		if err := decode(e, &jn); err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		a, err := netip.ParseAddr(jn.Dst)
		if err != nil {
			return fmt.Errorf("entry %d: field \"dst\": %w", n, err)
		}
		if jn.Lladdr == "" || slices.Contains(jn.State, "FAILED") || slices.Contains(jn.State, "INCOMPLETE") {
			continue
		}
		hw, err := net.ParseMAC(jn.Lladdr)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("entry %d: field \"lladdr\": %q is not an Ethernet address", n, jn.Lladdr)
		}
		var mac [6]byte
		copy(mac[:], hw)
		h.neigh[neighKey{jn.Dev, a.Unmap()}] = mac
	}
	return nil
}

// loadSysctl reads sysctl.conf: "key = value" lines, blank lines and
// comments (# or ;) ignored.
func (h *Host) loadSysctl() error {
	f, err := os.Open(filepath.Join(h.dir, "sysctl.conf"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host snapshot: %w", err)
	}
	defer f.Close()
	return parseSysctl(f, h.sysctl)
}

func parseSysctl(f interface{ Read([]byte) (int, error) }, into map[string]string) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("sysctl.conf:%d: no '=' in %q", line, s)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("sysctl.conf:%d: bad key %q", line, k)
		}
		if strings.HasPrefix(k, "-") {
			k = k[1:] // sysctl.d's "ignore errors" marker
		}
		into[k] = v
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sysctl.conf: %w", err)
	}
	return nil
}
