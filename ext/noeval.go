package ext

// Matches that need state nfgo does not keep offline. They never match;
// CanEval tells the pipeline why, so the rule is reported.

func (m *devgroupMatch) Match(*Env) bool { return false }
func (m *devgroupMatch) CanEval() (bool, string) {
	return false, "interface groups are not known offline"
}

func (m *realmMatch) Match(*Env) bool { return false }
func (m *realmMatch) CanEval() (bool, string) {
	return false, "routing realms are not known offline"
}

func (m *cpuMatch) Match(*Env) bool { return false }
func (m *cpuMatch) CanEval() (bool, string) {
	return false, "the processing CPU is not modelled"
}

func (m *cgroupMatch) Match(*Env) bool { return false }
func (m *cgroupMatch) CanEval() (bool, string) {
	return false, "socket cgroups are not known offline"
}

func (m *socketMatch) Match(*Env) bool { return false }
func (m *socketMatch) CanEval() (bool, string) {
	return false, "needs the host's socket table"
}

func (m *ipvsMatch) Match(*Env) bool { return false }
func (m *ipvsMatch) CanEval() (bool, string) {
	return false, "needs IPVS connection state"
}

func (m *osfMatch) Match(*Env) bool { return false }
func (m *osfMatch) CanEval() (bool, string) {
	return false, "needs the kernel's OS fingerprint list"
}

func (m *bpfMatch) Match(*Env) bool { return false }
func (m *bpfMatch) CanEval() (bool, string) {
	return false, "BPF programs are not run"
}

func (m *setMatch) Match(*Env) bool { return false }
func (m *setMatch) CanEval() (bool, string) {
	return false, "needs the host's ipsets"
}
