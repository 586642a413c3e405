package host

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// sysctlTrees are the /proc/sys subtrees a snapshot records.
var sysctlTrees = []string{"net/ipv4", "net/ipv6/conf", "net/netfilter"}

// Snapshot writes a snapshot of the host's current network namespace into
// dir (created if needed): the ip -j outputs, the sysctls under net.ipv4,
// net.ipv6.conf and net.netfilter, and iptables-save/ip6tables-save
// output when those tools are installed.
func Snapshot(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("snapshot: the ip command (iproute2) is needed: %w", err)
	}
	for _, c := range []struct {
		file string
		args []string
	}{
		{"ip-addr.json", []string{"-j", "addr", "show"}},
		{"ip-route.json", []string{"-j", "-4", "route", "show", "table", "all"}},
		{"ip6-route.json", []string{"-j", "-6", "route", "show", "table", "all"}},
		{"ip-neigh.json", []string{"-j", "neigh", "show"}},
		{"ip-rule.json", []string{"-j", "-4", "rule", "show"}},
		{"ip6-rule.json", []string{"-j", "-6", "rule", "show"}},
	} {
		out, err := runCmd("ip", c.args...)
		if err != nil {
			if c.file == "ip-addr.json" {
				return err
			}
			continue // IPv6 disabled and the like: the file stays absent
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), out, 0o644); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	var b bytes.Buffer
	if err := readSysctls("/proc/sys", &b); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sysctl.conf"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	for _, c := range [][2]string{{"iptables-save", "iptables-save.txt"}, {"ip6tables-save", "ip6tables-save.txt"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		out, err := runCmd(c[0])
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c[1]), out, 0o644); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}

func runCmd(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// readSysctls writes "key = value" lines for the recorded subtrees of
// root, keys as sysctl prints them (dots inside a name become slashes).
func readSysctls(root string, b *bytes.Buffer) error {
	var lines []string
	for _, tree := range sysctlTrees {
		base := filepath.Join(root, tree)
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == base {
					return fs.SkipDir // IPv6 or netfilter absent
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil // write-only or refusing entries (route/flush)
			}
			rel, _ := filepath.Rel(root, p)
			parts := strings.Split(rel, string(filepath.Separator))
			for i := range parts {
				parts[i] = strings.ReplaceAll(parts[i], ".", "/")
			}
			v := strings.TrimRight(string(data), "\n")
			if strings.Contains(v, "\n") {
				return nil // multi-line tables are not key = value
			}
			lines = append(lines, strings.Join(parts, ".")+" = "+v)
			return nil
		})
		if err != nil {
			return fmt.Errorf("snapshot: reading %s: %w", base, err)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return nil
}
