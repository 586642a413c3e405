package ext

// ConnlimitCount runs a connlimit match's counting for a packet and
// returns the number it compares with the limit (0: the packet is dropped).
func ConnlimitCount(m Matcher, e *Env) int { return m.(*connlimitMatch).count(e) }
