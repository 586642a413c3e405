package ext

// NOTRACK: -j NOTRACK, iptables' alias of "-j CT --notrack" (libxt_CT.c
// NOTRACK revision 2, XT_CT_NOTRACK_ALIAS). iptables-save prints it as
// "-j NOTRACK"; iptables -L shows target CT with " NOTRACK" after it.
func init() {
	Register(&Def{
		Name: "NOTRACK", Kind: TargetKind, ListName: "CT",
		New:    func() Ext { return &ctTarget{Notrack: true, Alias: true} },
		Tables: []string{"raw"},
	})
}
