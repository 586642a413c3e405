package kerneltest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/nf"
)

// LabConfig describes the device under test (DUT): a network namespace
// whose interfaces are veth pairs, each with its peer in a second,
// injection namespace from which the test writes and reads raw frames.
type LabConfig struct {
	// Ifaces are the DUT's interfaces, each one end of a veth pair; the
	// other end has the same name in the injection namespace.
	Ifaces []LabIface
	// Routes are `ip route add` arguments run in the DUT, e.g.
	// "default via 192.0.2.254 dev eth0".
	Routes []string
	// IPRules are `ip rule add` arguments run in the DUT after the
	// routes, e.g. "fwmark 1 table 100".
	IPRules []string
	// Neigh are `ip neigh add` arguments run in the DUT, e.g.
	// "192.0.2.254 lladdr 02:00:00:00:00:fe dev eth0"; entries without a
	// "nud" state are made permanent, so the DUT never resolves neighbours.
	Neigh []string
	// Sysctls are applied in the DUT (keys like net.ipv4.ip_forward),
	// after the interfaces exist and before they come up.
	Sysctls map[string]string
	// Rules4 and Rules6 are iptables-restore and ip6tables-restore input
	// loaded into the DUT last; "" loads nothing.
	Rules4, Rules6 string
}

// LabIface is one DUT interface.
type LabIface struct {
	Name  string
	MAC   string   // the DUT side's address; random local if ""
	Addrs []string // CIDR, IPv4 or IPv6
	// PeerMAC is the injection side's address; random local if "".
	PeerMAC string
	// MTU is the DUT side's MTU (ip link set DEV mtu N); 0 keeps the
	// default of 1500.
	MTU int
}

// Emitted is one frame the DUT sent, with the DUT interface it left by.
type Emitted struct {
	Iface string
	Frame []byte
}

// Lab is a DUT namespace wired to an injection namespace. Only one lab
// exists at a time on the machine (see NewLab); Close ends it early.
type Lab struct {
	// DUT and Inj are the two namespaces, for commands beyond Run.
	DUT, Inj *NS

	t      testing.TB
	ifaces []string       // DUT interface names, in configuration order
	peer   map[string]int // DUT interface name -> peer ifindex in Inj
	byIdx  map[int]string // peer ifindex -> DUT interface name

	mu      sync.Mutex
	injFD   int
	capFD   int
	capWant map[string]bool
	kmsg    *kmsgReader
	logs    []LogEntry // this lab's LOG lines read so far
	lock    *os.File
	closed  bool
	ctev    *ctEvents // a running conntrack -E, if any
}

// Kernel settings that keep the DUT from sending anything on its own, so
// that what it emits is only its response to injected frames: no duplicate
// address detection, no router solicitations, and the unsolicited MLD
// reports interface start-up causes compressed into a few milliseconds
// (they cannot be switched off; NewLab waits them out before loading rules).
var quietSysctls = []string{
	"net.ipv6.conf.all.accept_dad=0",
	"net.ipv6.conf.default.accept_dad=0",
	"net.ipv6.conf.all.dad_transmits=0",
	"net.ipv6.conf.default.dad_transmits=0",
	"net.ipv6.conf.all.router_solicitations=0",
	"net.ipv6.conf.default.router_solicitations=0",
	"net.ipv6.conf.all.mldv1_unsolicited_report_interval=1",
	"net.ipv6.conf.default.mldv1_unsolicited_report_interval=1",
	"net.ipv6.conf.all.mldv2_unsolicited_report_interval=1",
	"net.ipv6.conf.default.mldv2_unsolicited_report_interval=1",
}

// The injection side must stay silent and never answer the DUT: no IPv6
// (no link-local address, no MLD) and no IPv4 address.
var injSysctls = []string{
	"net.ipv6.conf.all.disable_ipv6=1",
	"net.ipv6.conf.default.disable_ipv6=1",
}

// NewLab builds a lab: it creates namespaces nfx-lab-<random>-dut and
// -inj, the veth pairs, addresses, routes, neighbours and sysctls, brings
// everything up, waits until the DUT's start-up chatter is over, loads the
// rules, and registers the teardown with t.Cleanup.
//
// Labs are serialised machine-wide by an flock on /run/lock/nfgo-kmsg.lock,
// because the kernel log they read is shared by all namespaces; a second
// NewLab waits until the first lab is closed. A test needing two labs in
// sequence must Close the first.
//
// Setting up the lab sets net.netfilter.nf_log_all_netns=1 for good (see
// enableNetnsLog).
func NewLab(t testing.TB, cfg LabConfig) *Lab {
	t.Helper()
	Require(t)
	if sysSetns < 0 {
		t.Skip("skipping kernel lab: setns is not wired for this architecture")
	}
	if err := checkConfig(cfg); err != nil {
		t.Fatalf("lab: %v", err)
	}
	lock, err := lockLabs()
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	l := &Lab{t: t, injFD: -1, capFD: -1, lock: lock}
	t.Cleanup(l.Close)
	if err := l.setup(cfg); err != nil {
		t.Fatalf("lab: %v", err)
	}
	return l
}

func checkConfig(cfg LabConfig) error {
	seen := map[string]bool{}
	for _, ifc := range cfg.Ifaces {
		if ifc.Name == "" || len(ifc.Name) > 15 || strings.ContainsAny(ifc.Name, "/ \t\n:") || ifc.Name == "lo" {
			return fmt.Errorf("bad interface name %q", ifc.Name)
		}
		if seen[ifc.Name] {
			return fmt.Errorf("interface %s configured twice", ifc.Name)
		}
		seen[ifc.Name] = true
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomMAC returns a locally administered unicast address.
func randomMAC() string {
	b := make([]byte, 6)
	rand.Read(b)
	b[0] = b[0]&^0x01 | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func (l *Lab) setup(cfg LabConfig) error {
	// The kernel log position comes first, so nothing the lab causes is
	// missed.
	if err := enableNetnsLog(); err != nil {
		return err
	}
	k, err := openKmsg()
	if err != nil {
		return err
	}
	l.kmsg = k

	base := "nfx-lab-" + randomHex(4)
	for _, p := range []**NS{&l.DUT, &l.Inj} {
		name := base + "-dut"
		if p == &l.Inj {
			name = base + "-inj"
		}
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
		}
		*p = &NS{Name: name, t: l.t}
	}

	if err := l.sysctl(l.Inj, injSysctls); err != nil {
		return err
	}
	if err := l.sysctl(l.DUT, quietSysctls); err != nil {
		return err
	}

	links := []string{"link set lo up"}
	for i, ifc := range cfg.Ifaces {
		l.ifaces = append(l.ifaces, ifc.Name)
		mac, pmac := ifc.MAC, ifc.PeerMAC
		if mac == "" {
			mac = randomMAC()
		}
		if pmac == "" {
			pmac = randomMAC()
		}
		// Interface indexes are per namespace, so the peer would get the
		// DUT side's index; the kernel then takes the veth for a plain
		// device and delays its carrier-up event by up to a second
		// (linkwatch). Distinct indexes make it take effect at once. The
		// DUT side gets the index the kernel would have chosen (lo is 1).
		links = append(links, fmt.Sprintf("link add %s index %d address %s type veth peer name %s index %d address %s netns %s",
			ifc.Name, 2+i, mac, ifc.Name, peerIndexBase+i, pmac, l.Inj.Name))
	}
	if err := l.ipBatch(l.DUT, links); err != nil {
		return err
	}
	if err := disableTxChecksum(l.DUT.Name, l.ifaces); err != nil {
		return err
	}

	keys := make([]string, 0, len(cfg.Sysctls))
	for k := range cfg.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sc []string
	for _, k := range keys {
		sc = append(sc, k+"="+cfg.Sysctls[k])
	}
	if err := l.sysctl(l.DUT, sc); err != nil {
		return err
	}

	var dut, inj []string
	for _, ifc := range cfg.Ifaces {
		for _, a := range ifc.Addrs {
			dut = append(dut, fmt.Sprintf("addr add %s dev %s", a, ifc.Name))
		}
		inj = append(inj, "link set "+ifc.Name+" up")
	}
	for _, ifc := range cfg.Ifaces {
		if ifc.MTU > 0 {
			dut = append(dut, fmt.Sprintf("link set %s mtu %d", ifc.Name, ifc.MTU))
		}
		dut = append(dut, "link set "+ifc.Name+" up")
	}
	for _, r := range cfg.Routes {
		dut = append(dut, "route add "+r)
	}
	for _, r := range cfg.IPRules {
		dut = append(dut, "rule add "+r)
	}
	for _, n := range cfg.Neigh {
		if !slices.Contains(strings.Fields(n), "nud") {
			n += " nud permanent"
		}
		dut = append(dut, "neigh add "+n)
	}
	if err := l.ipBatch(l.Inj, inj); err != nil {
		return err
	}
	if err := l.ipBatch(l.DUT, dut); err != nil {
		return err
	}

	idx, err := ifindexes(l.Inj.Name, l.ifaces)
	if err != nil {
		return err
	}
	l.peer, l.byIdx = idx, map[int]string{}
	for n, i := range idx {
		l.byIdx[i] = n
	}
	if l.injFD, err = packetSocket(l.Inj.Name, 0); err != nil {
		return err
	}

	if err := l.waitRunning(); err != nil {
		return err
	}
	l.waitQuiet()

	for _, r := range []struct {
		fam   int
		rules string
	}{{4, cfg.Rules4}, {6, cfg.Rules6}} {
		if r.rules == "" {
			continue
		}
		if res := l.DUT.Restore(r.fam, r.rules); res.Code != 0 {
			return fmt.Errorf("%s in the DUT: exit %d: %s", tool(r.fam, "tables-restore"), res.Code, strings.TrimSpace(res.Stderr))
		}
	}
	return nil
}

// peerIndexBase is the first interface index of the injection side.
const peerIndexBase = 1000

// quietFor is how long the DUT must send nothing before NewLab considers
// its start-up reports done; quietMax bounds the wait.
const (
	quietFor = 60 * time.Millisecond
	quietMax = 2 * time.Second
)

// waitRunning waits until every lab interface has its carrier on both
// sides; until then the kernel drops what is sent through it.
func (l *Lab) waitRunning() error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		var down []string
		for _, ns := range []*NS{l.DUT, l.Inj} {
			err := inNetns(ns.Name, func() error {
				for _, n := range l.ifaces {
					ifi, err := net.InterfaceByName(n)
					if err != nil {
						return fmt.Errorf("interface %s: %w", n, err)
					}
					if ifi.Flags&net.FlagRunning == 0 {
						down = append(down, ns.Name+"/"+n)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interfaces without carrier: %s", strings.Join(down, ", "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitQuiet waits until the DUT has sent nothing for quietFor, so that its
// start-up MLD reports pass before rules and counters exist.
func (l *Lab) waitQuiet() {
	if len(l.ifaces) == 0 {
		return
	}
	fd, err := packetSocket(l.Inj.Name, ethPAll)
	if err != nil {
		time.Sleep(quietFor)
		return
	}
	defer syscall.Close(fd)
	start := time.Now()
	last := start
	for time.Since(last) < quietFor && time.Since(start) < quietMax {
		time.Sleep(5 * time.Millisecond)
		got := false
		recvFrames(fd, func(int, []byte) { got = true })
		if got {
			last = time.Now()
		}
	}
}

func (l *Lab) ipBatch(ns *NS, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	cmd := exec.Command("ip", "-n", ns.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *Lab) sysctl(ns *NS, settings []string) error {
	if len(settings) == 0 {
		return nil
	}
	r := ns.Run("", "sysctl", append([]string{"-q", "-w"}, settings...)...)
	if r.Code != 0 {
		return fmt.Errorf("sysctl in %s: exit %d: %s", ns.Name, r.Code, strings.TrimSpace(r.Stderr))
	}
	return nil
}

// Close tears the lab down: sockets, namespaces, and the machine-wide lab
// lock. It is registered with t.Cleanup and may be called earlier.
func (l *Lab) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.ctev != nil && l.ctev.cmd.Process != nil {
		l.ctev.cmd.Process.Kill()
		l.ctev.cmd.Wait()
	}
	for _, fd := range []*int{&l.injFD, &l.capFD} {
		if *fd >= 0 {
			syscall.Close(*fd)
			*fd = -1
		}
	}
	l.kmsg.close()
	for _, ns := range []*NS{l.DUT, l.Inj} {
		if ns != nil {
			exec.Command("ip", "netns", "del", ns.Name).Run()
		}
	}
	if l.lock != nil {
		l.lock.Close() // releases the flock
	}
}

// Inject writes one Ethernet frame on the peer of DUT interface iface, so
// that the DUT receives it on iface.
func (l *Lab) Inject(iface string, frame []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("inject on %s: lab closed", iface)
	}
	idx, ok := l.peer[iface]
	if !ok {
		return fmt.Errorf("inject: no lab interface %q", iface)
	}
	if err := sendFrame(l.injFD, idx, frame); err != nil {
		return fmt.Errorf("inject on %s: %w", iface, err)
	}
	return nil
}

// StartCapture starts recording what the DUT sends out of the given
// interfaces (all lab interfaces if none are given). Call it before
// injecting; a running capture is discarded.
func (l *Lab) StartCapture(ifaces ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("capture: lab closed")
	}
	if len(ifaces) == 0 {
		ifaces = l.ifaces
	}
	want := map[string]bool{}
	for _, n := range ifaces {
		if _, ok := l.peer[n]; !ok {
			return fmt.Errorf("capture: no lab interface %q", n)
		}
		want[n] = true
	}
	if l.capFD >= 0 {
		syscall.Close(l.capFD)
		l.capFD = -1
	}
	// One socket for all peers keeps the frames in the order the kernel
	// delivered them across interfaces.
	fd, err := packetSocket(l.Inj.Name, ethPAll)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
	l.capFD, l.capWant = fd, want
	return nil
}

// Emitted settles the DUT, stops the capture and returns the frames the DUT
// sent on the captured interfaces, in order. IPv6 MLD reports and router
// solicitations from link-local or unspecified sources are left out: the
// DUT's IPv6 stack sends them on its own, not in answer to the frames a
// test injects. Without a capture it returns nil.
func (l *Lab) Emitted() []Emitted {
	l.Settle()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.capFD < 0 {
		return nil
	}
	var out []Emitted
	err := recvFrames(l.capFD, func(idx int, frame []byte) {
		name, ok := l.byIdx[idx]
		if !ok || !l.capWant[name] || isHostChatter(frame) {
			return
		}
		out = append(out, Emitted{Iface: name, Frame: frame})
	})
	syscall.Close(l.capFD)
	l.capFD = -1
	if err != nil {
		l.t.Errorf("lab: %v", err)
	}
	return out
}

// isHostChatter reports whether frame is an MLD message or a router
// solicitation sent from a link-local or unspecified IPv6 address.
func isHostChatter(f []byte) bool {
	if len(f) < 14+40 || f[12] != 0x86 || f[13] != 0xdd {
		return false
	}
	ip := f[14:]
	if !(ip[8] == 0xfe && ip[9]&0xc0 == 0x80) && !bytes.Equal(ip[8:24], make([]byte, 16)) {
		return false
	}
	next, off := ip[6], 40
	if next == 0 { // MLD carries a hop-by-hop router alert
		if len(ip) < off+8 {
			return false
		}
		next, off = ip[off], off+(int(ip[off+1])+1)*8
	}
	if next != 58 || len(ip) <= off {
		return false
	}
	switch ip[off] {
	case 130, 131, 132, 133, 143:
		return true
	}
	return false
}

// Settle returns once the kernel has processed the frames injected so far,
// and everything they caused. Frames cross veth through the per-CPU input
// backlog; the kernel usually drains it before the sending system call
// returns, but may defer it to ksoftirqd. Settle polls the backlog lengths
// in /proc/net/softnet_stat (machine-wide) until every CPU's is empty twice
// in a row, giving up after half a second (other traffic on the machine can
// keep a backlog busy).
func (l *Lab) Settle() {
	deadline := time.Now().Add(500 * time.Millisecond)
	empty := 0
	for empty < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		switch backlogEmpty() {
		case 1:
			empty++
		case 0:
			empty = 0
		default: // no backlog figures on this kernel: a fixed pause
			time.Sleep(20 * time.Millisecond)
			return
		}
	}
}

// backlogEmpty reports 1 if no CPU has frames waiting in its input
// backlog, 0 if one has, -1 if the kernel does not say.
func backlogEmpty() int {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Column 12 is input_queue + process_queue length (Linux >= 6.0).
		if len(f) < 13 {
			return -1
		}
		if strings.Trim(f[11], "0") != "" {
			return 0
		}
	}
	return 1
}

// LogEntry is one kernel LOG line with its syslog level (the LOG target's
// --log-level, 4 unless set).
type LogEntry struct {
	Level int
	Text  string
}

// LogLines returns the netfilter LOG lines the DUT produced since NewLab,
// in order, as the kernel logged them (the text after /dev/kmsg's record
// header, escapes undone, trailing space kept). Only lines whose IN= and
// OUT= name this lab's interfaces, lo or nothing are kept; with prefixes
// given, only lines starting with one of them.
func (l *Lab) LogLines(prefixFilter ...string) []string {
	var res []string
	for _, e := range l.LogEntries(prefixFilter...) {
		res = append(res, e.Text)
	}
	return res
}

// ownConntrackLine tells conntrack's own messages ("nf_conntrack: ...
// table full ...") about the DUT: Linux 6.18 names the namespace by its
// inode number; older kernels name none, and the lab lock keeps other
// labs out.
func (l *Lab) ownConntrackLine(text string) bool {
	if !strings.HasPrefix(text, "nf_conntrack: ") {
		return false
	}
	i := strings.Index(text, " in netns ")
	if i < 0 {
		return true
	}
	fi, err := os.Stat("/run/netns/" + l.DUT.Name)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && strings.HasPrefix(text[i+len(" in netns "):], strconv.FormatUint(st.Ino, 10)+",")
}

// LogEntries is LogLines with each line's level.
func (l *Lab) LogEntries(prefixFilter ...string) []LogEntry {
	l.Settle()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		recs, err := l.kmsg.read()
		if err != nil {
			l.t.Errorf("lab: %v", err)
		}
		for _, r := range recs {
			if r.facility != 0 {
				continue // written by a user process, not the kernel
			}
			in, out, ok := logIfaces(r.text)
			if ok && l.ownIface(in) && l.ownIface(out) || l.ownConntrackLine(r.text) {
				l.logs = append(l.logs, LogEntry{Level: r.level, Text: r.text})
			}
		}
	}
	var res []LogEntry
	for _, e := range l.logs {
		if len(prefixFilter) == 0 || slices.ContainsFunc(prefixFilter, func(p string) bool { return strings.HasPrefix(e.Text, p) }) {
			res = append(res, e)
		}
	}
	return res
}

func (l *Lab) ownIface(name string) bool {
	return name == "" || name == "lo" || slices.Contains(l.ifaces, name)
}

// Run runs a command in the DUT.
func (l *Lab) Run(args ...string) Result {
	if len(args) == 0 {
		return Result{Stderr: "no command", Code: -1}
	}
	return l.DUT.Run("", args[0], args[1:]...)
}

// Save returns the DUT's iptables-save (or ip6tables-save) output, with
// packet and byte counters if counters is set, comment lines removed.
func (l *Lab) Save(fam nf.Family, counters bool) (string, error) {
	var extra []string
	if counters {
		extra = append(extra, "-c")
	}
	return l.DUT.Save(int(fam), extra...)
}

// snapshotSysctls selects the sysctls that shape routing and netfilter.
var snapshotSysctls = regexp.MustCompile(`^net\.(` +
	`ipv4\.(ip_forward|ip_default_ttl|ip_forward_use_pmtu|ip_local_port_range|ip_no_pmtu_disc|icmp_[a-z_]+|` +
	`conf\.[^.]+\.(forwarding|rp_filter|accept_local|route_localnet|src_valid_mark|accept_redirects|send_redirects|shared_media|accept_source_route|secure_redirects|log_martians|proxy_arp|arp_[a-z_]+|bc_forwarding|disable_policy|disable_xfrm))` +
	`|ipv6\.(conf\.[^.]+\.(forwarding|disable_ipv6|hop_limit|mtu|accept_ra|accept_redirects|accept_source_route|proxy_ndp|disable_policy)|icmp\.[a-z_]+)` +
	`|netfilter\.nf_conntrack_[a-z0-9_]+` +
	`)$`)

// Snapshot writes the DUT's host state into dir, in the files a replay
// reads: ip-addr.json, ip-route.json, ip6-route.json, ip-neigh.json,
// ip-rule.json, ip6-rule.json (ip -j ... output), sysctl.conf ("key =
// value" lines), iptables-save.txt and ip6tables-save.txt.
func (l *Lab) Snapshot(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	files := []struct {
		name string
		cmd  []string
	}{
		{"ip-addr.json", []string{"ip", "-j", "addr", "show"}},
		{"ip-route.json", []string{"ip", "-j", "route", "show", "table", "all"}},
		{"ip6-route.json", []string{"ip", "-j", "-6", "route", "show", "table", "all"}},
		{"ip-neigh.json", []string{"ip", "-j", "neigh", "show"}},
		{"ip-rule.json", []string{"ip", "-j", "rule", "show"}},
		{"ip6-rule.json", []string{"ip", "-j", "-6", "rule", "show"}},
	}
	for _, f := range files {
		r := l.Run(f.cmd...)
		if r.Code != 0 {
			return fmt.Errorf("snapshot %s: %s: exit %d: %s", f.name, strings.Join(f.cmd, " "), r.Code, strings.TrimSpace(r.Stderr))
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(r.Stdout), 0o644); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}

	r := l.Run("sysctl", "-a")
	if r.Code != 0 && r.Stdout == "" {
		return fmt.Errorf("snapshot sysctl.conf: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	}
	var sc strings.Builder
	for _, line := range strings.Split(r.Stdout, "\n") {
		k, _, ok := strings.Cut(line, " = ")
		if ok && snapshotSysctls.MatchString(k) {
			sc.WriteString(line + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sysctl.conf"), []byte(sc.String()), 0o644); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}

	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		s, err := l.Save(fam, false)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		name := fam.Program() + "-save.txt"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}
