package ext

// TRACE: -j TRACE (libxt_TRACE). The kernel's xt_TRACE is for table raw,
// but iptables-nft does not use it: it sets "meta nftrace" instead, which
// works in every table, so no table restriction applies here.
type traceTarget struct{}

func init() {
	Register(&Def{Name: "TRACE", Kind: TargetKind, New: func() Ext { return traceTarget{} }})
}

func (traceTarget) Parse(*Use) error      { return nil }
func (traceTarget) Final(*RuleInfo) error { return nil }
func (traceTarget) Save(*Buf)             {}
func (traceTarget) Print(*Buf, bool)      {}

// Target marks the packet for tracing: from here on every rule it meets
// is logged (ip_tables' trace_packet).
func (traceTarget) Target(e *Env) Verdict {
	e.Pkt.Trace = true
	return VerdictContinue
}
