package ext

// NATSetup is nf_nat_setup_info as the NAT targets reach it: the packet's
// connection (e.Conn, on its first packet) gets a mapping of the range for
// the manip type of e.Hook. kind is the target's name (SNAT, DNAT,
// MASQUERADE, REDIRECT, NETMAP), which says how the range is resolved
// (MASQUERADE takes the out interface's address, REDIRECT the in
// interface's, NETMAP moves the packet's address into the network). The
// result is the target's verdict: ACCEPT, or DROP when no mapping can be
// made (MASQUERADE on an interface without an address).
type NATSetup interface {
	SetupNAT(e *Env, kind string, r NATRange) Verdict
}

// Target is xt_nat's (and xt_MASQUERADE's, xt_REDIRECT's) target
// function: a NAT target ends the nat chain with nf_nat_setup_info's
// verdict.
func (t *natTarget) Target(e *Env) Verdict {
	if e.NAT == nil || e.Conn == nil {
		// No connection to translate (the kernel's WARN_ON): the
		// packet goes on unchanged.
		return VerdictAccept
	}
	return e.NAT.SetupNAT(e, t.NATKind(), t.NATRange())
}

// Target is xt_NETMAP's target function.
func (t *netmapTarget) Target(e *Env) Verdict {
	if e.NAT == nil || e.Conn == nil {
		return VerdictAccept
	}
	return e.NAT.SetupNAT(e, "NETMAP", t.NATRange())
}
