// Package sink holds logd's file sinks: LOGEMU (ulogd's syslog-like
// lines), Text (the kernel LOG target's text and conntrack -E lines), JSON
// (one object per line) and Pcap (pcapng). Each appends to its file,
// buffers, and makes its records durable on Flush; Reopen switches to a
// new file at the same path after rotation (logrotate renames the file,
// then the daemon gets SIGHUP); Close flushes and closes.
//
// # JSON fields
//
// These names are stable. A packet's object has:
//
//	time         RFC 3339 with nanoseconds, the record's time
//	source       "kernel" or "nfgo"
//	group        NFLOG group
//	prefix       the rule's prefix
//	family       "ipv4" or "ipv6"
//	hook         "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"; absent when not known
//	in, out      interface names ("" when none)
//	mark         packet mark
//	uid, gid     owner of the local socket; absent when none
//	mac          link-layer header, colon-separated hex; absent when none
//	src, dst     addresses; absent when the IP header was not logged
//	proto        transport protocol number (after IPv6 extension headers)
//	len          the packet's full length
//	ttl          TTL or hop limit
//	sport, dport TCP, UDP, UDP-Lite and SCTP ports
//	tcp_flags    set TCP flags, comma-separated, from CWR ECE URG ACK PSH RST SYN FIN
//	icmp_type, icmp_code  ICMP and ICMPv6
//	payload_len  bytes after the transport header, by the IP header's length
//
// Transport fields are present only when the packet has that header (not
// in later fragments, nor when the copy range cut it). A flow's object
// has:
//
//	time, source, family, proto  as for packets
//	type         "NEW", "UPDATE" or "DESTROY"
//	orig, reply  the tuples: {"src", "dst", "sport", "dport"} (ICMP: sport
//	             is the id, dport type<<8|code)
//	state        TCP state ("ESTABLISHED"); absent for other protocols
//	status       IPS_* bits
//	mark, zone, timeout
//	id           ctnetlink's conntrack id; absent when 0
//	packets      [original, reply] packet counts (0 without accounting)
//	bytes        [original, reply] byte counts
//	start, stop  RFC 3339 with nanoseconds; absent when not known
package sink
