package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// REJECT: -j REJECT (libipt_REJECT, libip6t_REJECT, ipt_REJECT.c,
// ip6t_REJECT.c). The kernel allows it in table filter only, at INPUT,
// FORWARD and OUTPUT; tcp-reset needs "-p tcp".

// rejectType is one --reject-with value; With is the kernel's code.
type rejectType struct {
	With  uint32
	Name  string
	Alias string
}

// In kernel enum order (ipt_reject_with), without the unsupported echo-reply.
var rejectTypes4 = []rejectType{
	{0, "icmp-net-unreachable", "net-unreach"},
	{1, "icmp-host-unreachable", "host-unreach"},
	{2, "icmp-proto-unreachable", "proto-unreach"},
	{3, "icmp-port-unreachable", "port-unreach"},
	{5, "icmp-net-prohibited", "net-prohib"},
	{6, "icmp-host-prohibited", "host-prohib"},
	{7, "tcp-reset", "tcp-rst"},
	{8, "icmp-admin-prohibited", "admin-prohib"},
}

// ip6t_reject_with order, without not-neighbour and echo-reply.
var rejectTypes6 = []rejectType{
	{0, "icmp6-no-route", "no-route"},
	{1, "icmp6-adm-prohibited", "adm-prohibited"},
	{3, "icmp6-addr-unreachable", "addr-unreach"},
	{4, "icmp6-port-unreachable", "port-unreach"},
	{6, "tcp-reset", "tcp-reset"},
	{7, "icmp6-policy-fail", "policy-fail"},
	{8, "icmp6-reject-route", "reject-route"},
}

const (
	rejectTCPReset4 = 7
	rejectTCPReset6 = 6
)

type rejectTarget struct {
	Family nf.Family
	With   uint32 // kernel reject type (ipt_reject_with / ip6t_reject_with)
}

func init() {
	opts := []Option{{Name: "reject-with", Arg: NeedArg}}
	hooks := nf.Hooks(nf.LocalIn, nf.Forward, nf.LocalOut)
	Register(&Def{
		Name: "REJECT", Kind: TargetKind, Family: nf.IPv4, Options: opts,
		Tables: []string{"filter"}, Hooks: hooks,
		New: func() Ext { return &rejectTarget{Family: nf.IPv4, With: 3} },
	})
	Register(&Def{
		Name: "REJECT", Kind: TargetKind, Family: nf.IPv6, Options: opts,
		Tables: []string{"filter"}, Hooks: hooks,
		New: func() Ext { return &rejectTarget{Family: nf.IPv6, With: 4} },
	})
}

func (t *rejectTarget) types() []rejectType {
	if t.Family == nf.IPv6 {
		return rejectTypes6
	}
	return rejectTypes4
}

func (t *rejectTarget) Parse(u *Use) error {
	// iptables takes the first type whose name or alias starts with the
	// value, ignoring case.
	arg := strings.ToLower(u.Arg)
	for _, rt := range t.types() {
		if strings.HasPrefix(rt.Name, arg) || strings.HasPrefix(rt.Alias, arg) {
			t.With = rt.With
			return nil
		}
	}
	var names []string
	for _, rt := range t.types() {
		names = append(names, rt.Name)
	}
	msg := "unknown reject type \"%s\": expected one of " + strings.Join(names, ", ") + " (or an alias)"
	if t.Family == nf.IPv4 && (strings.HasPrefix("echo-reply", arg) || strings.HasPrefix("echoreply", arg)) {
		msg = "--reject-with echo-reply is no longer supported; " + msg
	}
	return Errorf(msg, u.Arg)
}

func (t *rejectTarget) Final(*RuleInfo) error { return nil }

// Check is the kernel's checkentry: a TCP reset needs "-p tcp".
func (t *rejectTarget) Check(c *CheckCtx) error {
	rst := uint32(rejectTCPReset4)
	if t.Family == nf.IPv6 {
		rst = rejectTCPReset6
	}
	if t.With == rst && (c.Rule.Proto != nf.ProtoTCP || c.Rule.InvProto) {
		return Errorf("--reject-with tcp-reset is only valid for TCP: the rule needs \"-p tcp\"")
	}
	return nil
}

func (t *rejectTarget) name() string {
	for _, rt := range t.types() {
		if rt.With == t.With {
			return rt.Name
		}
	}
	return "(null)"
}

func (t *rejectTarget) Save(b *Buf) { b.Opt(false, "reject-with", t.name()) }

func (t *rejectTarget) Print(b *Buf, _ bool) { b.S(" reject-with ").S(t.name()) }
