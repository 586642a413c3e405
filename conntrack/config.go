package conntrack

import (
	"fmt"
	"strconv"
	"strings"
)

// Config holds the net.netfilter.nf_conntrack_* sysctls of a namespace.
type Config struct {
	// Max is nf_conntrack_max. The kernel derives its default from the
	// memory size (and the hash table size); nfgo uses 262144 unless the
	// snapshot sets it. 0 means no limit, as in the kernel.
	Max        int
	Acct       bool  // nf_conntrack_acct: per-direction packet and byte counters
	Timestamp  bool  // nf_conntrack_timestamp: start time (delta-time=)
	Checksum   bool  // nf_conntrack_checksum: bad checksums at PREROUTING are INVALID
	LogInvalid uint8 // nf_conntrack_log_invalid: protocol whose invalid packets are logged, 255 all
	Events     bool  // nf_conntrack_events
	// Helper is nf_conntrack_helper, automatic helper assignment by
	// port. Linux 6.0 removed it (helpers are attached only by the CT
	// target or by an expectation); the value is kept but not used.
	Helper bool
	// ExpectMax is nf_conntrack_expect_max. The kernel derives it from
	// the hash table size (4096 for the default); 0 means no limit.
	ExpectMax int

	// Timeouts in ns.
	GenericTimeout   int64 // nf_conntrack_generic_timeout
	UDPTimeout       int64 // nf_conntrack_udp_timeout (unreplied)
	UDPStreamTimeout int64 // nf_conntrack_udp_timeout_stream
	ICMPTimeout      int64 // nf_conntrack_icmp_timeout
	ICMPv6Timeout    int64 // nf_conntrack_icmpv6_timeout
	GRETimeout       int64 // nf_conntrack_gre_timeout (unreplied)
	GREStreamTimeout int64 // nf_conntrack_gre_timeout_stream

	TCP TCPConfig
}

// DefaultMax is nfgo's nf_conntrack_max when none is given.
const DefaultMax = 262144

const second = int64(1e9)

// DefaultConfig returns the kernel's defaults.
func DefaultConfig() Config {
	return Config{
		Max:              DefaultMax,
		ExpectMax:        4096,
		Checksum:         true,
		Events:           true,
		GenericTimeout:   600 * second,
		UDPTimeout:       30 * second,
		UDPStreamTimeout: 120 * second,
		ICMPTimeout:      30 * second,
		ICMPv6Timeout:    30 * second,
		GRETimeout:       30 * second,
		GREStreamTimeout: 180 * second,
		TCP:              DefaultTCPConfig(),
	}
}

// sysctlKeys are the keys ConfigFrom reads (after "net.netfilter.").
var sysctlKeys = []string{"nf_conntrack_max", "nf_conntrack_acct", "nf_conntrack_timestamp",
	"nf_conntrack_checksum", "nf_conntrack_log_invalid", "nf_conntrack_expect_max", "nf_conntrack_events", "nf_conntrack_helper",
	"nf_conntrack_generic_timeout", "nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream",
	"nf_conntrack_icmp_timeout", "nf_conntrack_icmpv6_timeout",
	"nf_conntrack_gre_timeout", "nf_conntrack_gre_timeout_stream",
	"nf_conntrack_tcp_timeout_syn_sent", "nf_conntrack_tcp_timeout_syn_recv",
	"nf_conntrack_tcp_timeout_established", "nf_conntrack_tcp_timeout_fin_wait",
	"nf_conntrack_tcp_timeout_close_wait", "nf_conntrack_tcp_timeout_last_ack",
	"nf_conntrack_tcp_timeout_time_wait", "nf_conntrack_tcp_timeout_close",
	"nf_conntrack_tcp_timeout_max_retrans", "nf_conntrack_tcp_timeout_unacknowledged",
	"nf_conntrack_tcp_loose", "nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_max_retrans",
	"nf_conntrack_tcp_ignore_invalid_rst"}

// ConfigFrom builds a Config from the defaults and the sysctls get knows
// (keys as in /proc/sys with dots: net.netfilter.nf_conntrack_max; the
// older net.nf_conntrack_max is read too).
func ConfigFrom(get func(key string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	if v, ok := get("net.nf_conntrack_max"); ok {
		if _, err := c.Set("nf_conntrack_max", v); err != nil {
			return c, err
		}
	}
	for _, k := range sysctlKeys {
		v, ok := get("net.netfilter." + k)
		if !ok {
			continue
		}
		if _, err := c.Set(k, v); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Set sets one sysctl, key without the "net.netfilter." prefix. known is
// false for keys Config does not hold.
func (c *Config) Set(key, value string) (known bool, err error) {
	if strings.HasPrefix(key, "nf_conntrack_tcp_") {
		return c.TCP.SetSysctl(key, value)
	}
	value = strings.TrimSpace(value)
	n, perr := strconv.ParseInt(value, 10, 64)
	var dst *int64
	var flag *bool
	switch key {
	case "nf_conntrack_max":
		if perr == nil {
			c.Max = int(n)
		}
	case "nf_conntrack_expect_max":
		if perr == nil {
			c.ExpectMax = int(n)
		}
	case "nf_conntrack_acct":
		flag = &c.Acct
	case "nf_conntrack_timestamp":
		flag = &c.Timestamp
	case "nf_conntrack_checksum":
		flag = &c.Checksum
	case "nf_conntrack_events":
		flag = &c.Events
	case "nf_conntrack_helper":
		flag = &c.Helper
	case "nf_conntrack_log_invalid":
		if perr == nil {
			c.LogInvalid = uint8(n)
		}
	case "nf_conntrack_generic_timeout":
		dst = &c.GenericTimeout
	case "nf_conntrack_udp_timeout":
		dst = &c.UDPTimeout
	case "nf_conntrack_udp_timeout_stream":
		dst = &c.UDPStreamTimeout
	case "nf_conntrack_icmp_timeout":
		dst = &c.ICMPTimeout
	case "nf_conntrack_icmpv6_timeout":
		dst = &c.ICMPv6Timeout
	case "nf_conntrack_gre_timeout":
		dst = &c.GRETimeout
	case "nf_conntrack_gre_timeout_stream":
		dst = &c.GREStreamTimeout
	default:
		return false, nil
	}
	if perr != nil {
		return true, fmt.Errorf("sysctl net.netfilter.%s=%q: %w", key, value, perr)
	}
	if dst != nil {
		*dst = n * second
	}
	if flag != nil {
		*flag = n != 0
	}
	return true, nil
}

// EnableAcct turns accounting on for the connections created from now
// on, as loading a connbytes rule does in the kernel (connbytes_mt_check
// calls nf_ct_set_acct(net, true), which sets nf_conntrack_acct).
func (t *Table) EnableAcct() { t.Cfg.Acct = true }
