package ext

// PortRange is an inclusive port range with its inversion flag, as the tcp,
// udp, sctp and dccp matches hold them.
type PortRange struct {
	Lo, Hi uint16
	Inv    bool
	Set    bool
}

// Parse fills the range from a "--sport"-style value.
func (p *PortRange) Parse(u *Use, proto string) error {
	if p.Set {
		return Errorf("only one `--%s' allowed", u.Opt.Name)
	}
	lo, hi, err := ParsePortRange(u.Arg, proto)
	if err != nil {
		return err
	}
	*p = PortRange{Lo: lo, Hi: hi, Inv: u.Invert, Set: true}
	return nil
}

// Active reports whether the range restricts anything (or is inverted).
func (p *PortRange) Active() bool { return p.Set && (p.Lo != 0 || p.Hi != 0xffff || p.Inv) }

// Save appends " [!] --NAME lo[:hi]".
func (p *PortRange) Save(b *Buf, name string) {
	if !p.Active() {
		return
	}
	if p.Lo == p.Hi {
		b.Opt(p.Inv, name, Itoa(p.Lo))
	} else {
		b.Opt(p.Inv, name, Itoa(p.Lo)+":"+Itoa(p.Hi))
	}
}

// Print appends the -L form " spt:[!]lo" or " spts:[!]lo:hi".
func (p *PortRange) Print(b *Buf, label, proto string, numeric bool) {
	if !p.Active() {
		return
	}
	inv := ""
	if p.Inv {
		inv = "!"
	}
	if p.Lo == p.Hi {
		b.S(" ").S(label).S(":").S(inv).S(PortString(p.Lo, proto, numeric))
	} else {
		b.S(" ").S(label).S("s:").S(inv).S(PortString(p.Lo, proto, numeric)).S(":").S(PortString(p.Hi, proto, numeric))
	}
}

// Match reports whether port lies in the range, honouring inversion.
func (p *PortRange) Match(port uint16) bool {
	if !p.Set {
		return true
	}
	return (port >= p.Lo && port <= p.Hi) != p.Inv
}

// RequireProto is the final check of protocol matches: iptables refuses
// "-m tcp" without "-p tcp".
func RequireProto(r *RuleInfo, proto uint8, upper, lower string) error {
	if r.Proto != proto || r.InvProto {
		return Errorf("%s match requires '-p %s'", upper, lower)
	}
	return nil
}
