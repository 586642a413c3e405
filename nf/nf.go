// Package nf holds the small vocabulary every other nfgo package shares:
// address families, netfilter hooks, the iptables tables with their built-in
// chains, and IP protocol names.
package nf

import (
	"strconv"
	"strings"
)

// Family is an iptables address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// Program is the iptables program name for the family, as used in messages.
func (f Family) Program() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Hook is a netfilter hook point.
type Hook uint8

const (
	PreRouting Hook = iota
	LocalIn
	Forward
	LocalOut
	PostRouting
	NumHooks
)

var hookNames = [NumHooks]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

func (h Hook) String() string {
	if h < NumHooks {
		return hookNames[h]
	}
	return "hook(" + strconv.Itoa(int(h)) + ")"
}

// HookByChain returns the hook of a built-in chain name.
func HookByChain(name string) (Hook, bool) {
	for i, n := range hookNames {
		if n == name {
			return Hook(i), true
		}
	}
	return 0, false
}

// HookMask is a set of hooks.
type HookMask uint8

const AllHooks HookMask = 1<<NumHooks - 1

func (h Hook) Mask() HookMask { return 1 << h }

// Has reports whether m contains h.
func (m HookMask) Has(h Hook) bool { return m&h.Mask() != 0 }

// Hooks builds a mask from hooks.
func Hooks(hs ...Hook) HookMask {
	var m HookMask
	for _, h := range hs {
		m |= h.Mask()
	}
	return m
}

func (m HookMask) String() string {
	var parts []string
	for h := Hook(0); h < NumHooks; h++ {
		if m.Has(h) {
			parts = append(parts, h.String())
		}
	}
	return strings.Join(parts, ",")
}

// TableDef describes one iptables table.
type TableDef struct {
	Name  string
	Hooks []Hook // built-in chains, in the order iptables prints them
}

// HookMask returns the hooks the table is registered at.
func (t *TableDef) HookMask() HookMask { return Hooks(t.Hooks...) }

// Tables lists the tables in the order iptables-save (nf_tables backend) prints them.
var Tables = []*TableDef{
	{Name: "mangle", Hooks: []Hook{PreRouting, LocalIn, Forward, LocalOut, PostRouting}},
	{Name: "security", Hooks: []Hook{LocalIn, Forward, LocalOut}},
	{Name: "raw", Hooks: []Hook{PreRouting, LocalOut}},
	{Name: "filter", Hooks: []Hook{LocalIn, Forward, LocalOut}},
	{Name: "nat", Hooks: []Hook{PreRouting, LocalIn, LocalOut, PostRouting}},
}

// TableByName returns the definition of a table, or nil.
func TableByName(name string) *TableDef {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TableIndex gives the table's position in Tables, or -1.
func TableIndex(name string) int {
	for i, t := range Tables {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// Well-known IP protocol numbers.
const (
	ProtoICMP    = 1
	ProtoIGMP    = 2
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoGRE     = 47
	ProtoESP     = 50
	ProtoAH      = 51
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoMH      = 135
	ProtoUDPLite = 136
)
