package ext

import (
	"strconv"
	"strings"
)

// t1Uint parses an unsigned number the way xtables_strtoul does for an
// option of an iptables target and explains a refusal the way iptables does.
func t1Uint(u *Use, min, max uint64) (uint64, error) {
	v, ok := ParseUint(u.Arg, min, max)
	if !ok {
		return 0, Errorf("bad value for option \"--%s\", or out of range (%d-%d)", u.Opt.Name, min, max)
	}
	return v, nil
}

// t1MarkMask parses "value[/mask]" for --set-mark style options; the mask
// defaults to 0xffffffff.
func t1MarkMask(u *Use) (val, mask uint32, err error) {
	v, m, _, e := ParseUint32Mask(u.Arg)
	if e != nil {
		return 0, 0, Errorf("bad value for option \"--%s\": %q is not VALUE[/MASK] with 32-bit numbers", u.Opt.Name, u.Arg)
	}
	return v, m, nil
}

// t1Hex formats v as C's "0x%x".
func t1Hex(v uint32) string { return "0x" + strconv.FormatUint(uint64(v), 16) }

// t1Hex02 formats v as C's "0x%02x".
func t1Hex02(v uint8) string {
	s := strconv.FormatUint(uint64(v), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return "0x" + s
}

// t1Exclusive reports the error iptables gives when two mutually exclusive
// options meet; seen holds the option names already given.
func t1Exclusive(seen *string, name string) error {
	if *seen != "" && *seen != name {
		return Errorf("option \"--%s\" cannot be used together with \"--%s\"", name, *seen)
	}
	*seen = name
	return nil
}

// t1NoNewline refuses strings with a newline, as the log targets do.
func t1NoNewline(s, what string) error {
	if strings.ContainsRune(s, '\n') {
		return Errorf("newlines not allowed in --%s", what)
	}
	return nil
}

// t1Truncate cuts s to fit a C buffer of size bytes (with its NUL), as
// xtables' string options do silently.
func t1Truncate(s string, size int) string {
	if len(s) >= size {
		return s[:size-1]
	}
	return s
}
