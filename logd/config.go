package logd

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The configuration file of nfgo logd: global settings, then one section
// per source and per sink.
//
//	# comments start with #
//	queue = 65536          # records held per queue (central and per sink)
//	flush = 1s             # how often sinks are flushed
//
//	[source nflog]         # the kernel's NFLOG groups
//	groups = 1, 2
//
//	[sink logemu]          # ulogd's LOGEMU text
//	file = /var/log/nfgo/syslogemu.log
//
// Values are the rest of the line after "=", trimmed; a "#" starts a
// comment only after a blank. Each section type documents its keys; an
// unknown key is an error that names the line and what was expected.

// Config is a parsed configuration file.
type Config struct {
	File     string
	Queue    int
	Flush    time.Duration
	Sections []*Section
}

// Section is one [source TYPE] or [sink TYPE] section.
type Section struct {
	File string
	Kind string // "source" or "sink"
	Type string
	Line int
	keys map[string]*value
	used map[string]bool
}

type value struct {
	s    string
	line int
	col  int
}

// ConfigError is a mistake in the configuration file.
type ConfigError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ParseConfig reads a configuration file.
func ParseConfig(r io.Reader, file string) (*Config, error) {
	c := &Config{File: file, Queue: 65536, Flush: time.Second}
	global := &Section{File: file, keys: map[string]*value{}, used: map[string]bool{}}
	cur := global
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := stripComment(raw)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		col := strings.Index(raw, t) + 1
		if strings.HasPrefix(t, "[") {
			if !strings.HasSuffix(t, "]") {
				return nil, &ConfigError{file, n, col, fmt.Sprintf("%q: expected a section header such as [sink json]", t)}
			}
			f := strings.Fields(t[1 : len(t)-1])
			if len(f) != 2 || (f[0] != "source" && f[0] != "sink") {
				return nil, &ConfigError{file, n, col, fmt.Sprintf("%q: expected [source TYPE] or [sink TYPE]", t)}
			}
			cur = &Section{File: file, Kind: f[0], Type: f[1], Line: n, keys: map[string]*value{}, used: map[string]bool{}}
			c.Sections = append(c.Sections, cur)
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return nil, &ConfigError{file, n, col, fmt.Sprintf("%q: expected KEY = VALUE or a [section]", t)}
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, &ConfigError{file, n, col, "missing key before \"=\""}
		}
		if _, dup := cur.keys[k]; dup {
			return nil, &ConfigError{file, n, col, fmt.Sprintf("%s given twice in this section", k)}
		}
		vcol := col + strings.Index(t, "=") + 1
		for vcol <= len(raw) && vcol > 0 && (raw[vcol-1] == ' ' || raw[vcol-1] == '\t' || raw[vcol-1] == '=') {
			vcol++
		}
		cur.keys[k] = &value{s: strings.TrimSpace(v), line: n, col: vcol}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var err error
	if c.Queue, err = global.Int("queue", c.Queue); err != nil {
		return nil, err
	}
	if c.Queue <= 0 {
		v := global.keys["queue"]
		return nil, &ConfigError{file, v.line, v.col, "queue must be positive"}
	}
	if c.Flush, err = global.Duration("flush", c.Flush); err != nil {
		return nil, err
	}
	if err := global.Done("queue, flush"); err != nil {
		return nil, err
	}
	return c, nil
}

func stripComment(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

func (s *Section) errAt(key, msg string) error {
	v := s.keys[key]
	return &ConfigError{s.File, v.line, v.col, msg}
}

// Name is how messages name the section: "[sink json] (line 12)".
func (s *Section) Name() string {
	return fmt.Sprintf("[%s %s] (line %d)", s.Kind, s.Type, s.Line)
}

// String returns a key's value, def when absent.
func (s *Section) String(key, def string) string {
	s.used[key] = true
	if v, ok := s.keys[key]; ok {
		return v.s
	}
	return def
}

// Require returns a key's value or an error naming the section.
func (s *Section) Require(key, what string) (string, error) {
	s.used[key] = true
	v, ok := s.keys[key]
	if !ok || v.s == "" {
		return "", &ConfigError{s.File, s.Line, 1, fmt.Sprintf("%s needs %s = %s", s.Name(), key, what)}
	}
	return v.s, nil
}

// Int returns a key's integer value.
func (s *Section) Int(key string, def int) (int, error) {
	s.used[key] = true
	v, ok := s.keys[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v.s)
	if err != nil {
		return 0, s.errAt(key, fmt.Sprintf("%s = %q: expected a whole number", key, v.s))
	}
	return n, nil
}

// Duration returns a key's duration ("1s", "500ms").
func (s *Section) Duration(key string, def time.Duration) (time.Duration, error) {
	s.used[key] = true
	v, ok := s.keys[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v.s)
	if err != nil || d <= 0 {
		return 0, s.errAt(key, fmt.Sprintf("%s = %q: expected a positive duration such as 1s or 250ms", key, v.s))
	}
	return d, nil
}

// Bool returns a key's yes/no value.
func (s *Section) Bool(key string, def bool) (bool, error) {
	s.used[key] = true
	v, ok := s.keys[key]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v.s) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, s.errAt(key, fmt.Sprintf("%s = %q: expected yes or no", key, v.s))
}

// List returns a key's comma-separated values.
func (s *Section) List(key string) []string {
	s.used[key] = true
	v, ok := s.keys[key]
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v.s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Uint16s returns a key's comma-separated numbers (NFLOG groups).
func (s *Section) Uint16s(key string) ([]uint16, error) {
	var out []uint16
	for _, f := range s.List(key) {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			return nil, s.errAt(key, fmt.Sprintf("%s: %q: expected numbers 0-65535 separated by commas", key, f))
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// Done reports keys the section's type did not ask for, naming the ones
// it takes.
func (s *Section) Done(expected string) error {
	var unknown []string
	for k := range s.keys {
		if !s.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Slice(unknown, func(i, j int) bool { return s.keys[unknown[i]].line < s.keys[unknown[j]].line })
	k := unknown[0]
	where := "the global settings"
	if s.Kind != "" {
		where = s.Name()
	}
	return s.errAt(k, fmt.Sprintf("unknown key %q in %s: expected %s", k, where, expected))
}
