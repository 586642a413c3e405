package host

import (
	"fmt"
	"net/netip"
	"slices"
)

type nexthop struct {
	gw       netip.Addr
	dev      *Iface
	dead     bool
	linkdown bool
}

type route struct {
	dst     netip.Prefix
	src     netip.Prefix // IPv6 source-specific routes ("from")
	typ     uint8
	scope   uint8
	tos     uint8
	metric  uint32
	prefsrc netip.Addr
	dead    bool
	nhs     []nexthop
	reason  string // for the error types: why a packet is dropped
}

type table struct {
	name   string
	routes [2][]route // per family
}

// sort orders routes as a lookup tries them: longest prefix first, then
// the lowest metric (the kernel's alias order within one prefix).
func (t *table) sort() {
	for f := range t.routes {
		rs := t.routes[f]
		slices.SortStableFunc(rs, func(a, b route) int {
			if a.dst.Bits() != b.dst.Bits() {
				return b.dst.Bits() - a.dst.Bits()
			}
			if a.tos != b.tos {
				return int(b.tos) - int(a.tos)
			}
			switch {
			case a.metric < b.metric:
				return -1
			case a.metric > b.metric:
				return 1
			}
			return 0
		})
		for i := range rs {
			r := &rs[i]
			switch r.typ {
			case rtnBlackhole, rtnUnreachable, rtnProhibit:
				r.reason = fmt.Sprintf("%s route %s (table %s)", rtnName(r.typ), r.dst, t.name)
			}
		}
	}
}

func rtnName(t uint8) string {
	for k, v := range rtnNames {
		if v == t && k != "" {
			return k
		}
	}
	return "type " + fmt.Sprint(t)
}

type rule struct {
	pref             uint32
	not              bool
	never            bool // selectors nfgo cannot evaluate, or a missing device
	src, dst         netip.Prefix
	iif, oif         string
	mark, mask       uint32
	uidStart, uidEnd uint32
	action           uint8
	table            *table
	gotoPref         uint32
	gotoIdx          int
	suppress         int // suppress_prefixlength, -1 when unset
	reason           string
}

// plain reports whether the rule selects every packet.
func (r *rule) plain() bool {
	return !r.not && !r.never && !r.src.IsValid() && !r.dst.IsValid() && r.iif == "" && r.oif == "" &&
		r.mask == 0 && r.uidStart == 0 && r.uidEnd == ^uint32(0) && r.suppress < 0
}

// flow is a lookup key: flowi4/flowi6 as far as nfgo models them.
type flow struct {
	src, dst netip.Addr
	iif      *Iface // LOOPBACK for locally generated packets
	oif      *Iface // restricts the nexthop (loose rp_filter's second lookup)
	mark     uint32
	uid      uint32
}

// errno is a routing failure as the kernel reports it.
type errno uint8

const (
	eOK          errno = iota
	eInval             // EINVAL: blackhole, martian
	eHostUnreach       // EHOSTUNREACH: unreachable route
	eNetUnreach        // ENETUNREACH: no route, unreachable rule
	eAccess            // EACCES: prohibit
	eAgain             // EAGAIN: throw, internal
	eXDev              // EXDEV: reverse path filter
)

func (e errno) String() string {
	return [...]string{"ok", "Invalid argument", "No route to host", "Network is unreachable",
		"Permission denied", "Resource temporarily unavailable", "Invalid cross-device link"}[e]
}

// result is fib_result.
type result struct {
	r     *route
	nh    *nexthop
	typ   uint8
	table *table
}

const reasonNoRoute = "no route to host"

var typeErr = [...]errno{rtnBlackhole: eInval, rtnUnreachable: eHostUnreach, rtnProhibit: eAccess, rtnThrow: eAgain}

func (r *rule) match(fl *flow) bool {
	ok := r.matchRaw(fl)
	if r.not {
		return !ok
	}
	return ok
}

func (r *rule) matchRaw(fl *flow) bool {
	if r.never {
		return false
	}
	if r.iif != "" && (fl.iif == nil || fl.iif.Name != r.iif) {
		return false
	}
	if r.oif != "" && (fl.oif == nil || fl.oif.Name != r.oif) {
		return false
	}
	if (r.mark^fl.mark)&r.mask != 0 {
		return false
	}
	if fl.uid < r.uidStart || fl.uid > r.uidEnd {
		return false
	}
	if r.src.IsValid() && !r.src.Contains(fl.src) {
		return false
	}
	if r.dst.IsValid() && !r.dst.Contains(fl.dst) {
		return false
	}
	return true
}

// fibLookup is fib_lookup / fib6_rule_lookup: policy rules in priority
// order, each consulting its table.
func (h *Host) fibLookup(f int, fl *flow, ignoreLinkdown bool) (result, errno, string) {
	rs := h.rules[f]
	for i := 0; i < len(rs); i++ {
		r := &rs[i]
	jumped:
		if !r.match(fl) {
			continue
		}
		switch r.action {
		case actGoto:
			if r.gotoIdx < len(rs) && rs[r.gotoIdx].pref == r.gotoPref && r.gotoIdx > i {
				i = r.gotoIdx
				r = &rs[i]
				goto jumped
			}
			continue
		case actNop:
			continue
		case actBlackhole:
			return result{}, eInval, r.reason
		case actUnreachable:
			return result{}, eNetUnreach, r.reason
		case actProhibit:
			return result{}, eAccess, r.reason
		}
		res, err, why := h.tableLookup(f, r.table, fl, ignoreLinkdown)
		if err == eAgain {
			continue
		}
		if err == eOK && r.suppress >= 0 && res.r.dst.Bits() <= r.suppress {
			continue
		}
		return res, err, why
	}
	return result{}, eNetUnreach, reasonNoRoute
}

// tableLookup is fib_table_lookup: the longest matching prefix, then the
// lowest metric, skipping routes whose nexthops cannot be used.
func (h *Host) tableLookup(f int, t *table, fl *flow, ignoreLinkdown bool) (result, errno, string) {
	if t == nil {
		return result{}, eAgain, ""
	}
	rs := t.routes[f]
	for i := range rs {
		r := &rs[i]
		if !r.dst.Contains(fl.dst) {
			continue
		}
		if r.tos != 0 || r.dead {
			continue // the key's TOS is 0
		}
		if r.src.IsValid() && fl.src.IsValid() && !r.src.Contains(fl.src) {
			continue
		}
		if int(r.typ) < len(typeErr) && typeErr[r.typ] != eOK {
			return result{}, typeErr[r.typ], r.reason
		}
		for k := range r.nhs {
			nh := &r.nhs[k]
			if nh.dead {
				continue
			}
			if nh.linkdown && !ignoreLinkdown && nh.dev != nil && nh.dev.conf.ignoreLinkdown[f] {
				continue
			}
			if fl.oif != nil && nh.dev != fl.oif {
				continue
			}
			if f == 1 && fl.iif != nil && !fl.iif.Loopback && linkLocal6(fl.dst) && nh.dev != nil && nh.dev != fl.iif && r.typ != rtnLocal {
				continue // link-local destinations are looked up on the arrival link
			}
			return result{r: r, nh: nh, typ: r.typ, table: t}, eOK, ""
		}
		if len(r.nhs) == 0 {
			return result{r: r, typ: r.typ, table: t}, eOK, ""
		}
	}
	return result{}, eAgain, ""
}

func linkLocal6(a netip.Addr) bool { return a.Is6() && a.IsLinkLocalUnicast() }
