package logd

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(`# nfgo logd
queue = 1000   # per queue
flush = 250ms

[source nflog]
groups = 1, 2

[sink json]
file = /tmp/x.json # comment
`), "logd.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue != 1000 || c.Flush != 250*time.Millisecond || len(c.Sections) != 2 {
		t.Fatalf("%+v", c)
	}
	g, err := c.Sections[0].Uint16s("groups")
	if err != nil || len(g) != 2 || g[1] != 2 || c.Sections[0].Kind != "source" || c.Sections[0].Type != "nflog" {
		t.Fatalf("groups %v %v", g, err)
	}
	if f := c.Sections[1].String("file", ""); f != "/tmp/x.json" {
		t.Fatalf("file %q", f)
	}
	if err := c.Sections[1].Done("file"); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"queue = lots\n", "logd.conf:1:9: queue = \"lots\": expected a whole number"},
		{"\n[sink]\n", "logd.conf:2:1: \"[sink]\": expected [source TYPE] or [sink TYPE]"},
		{"[sink json\n", "logd.conf:1:1: \"[sink json\": expected a section header"},
		{"flush = 0s\n", "logd.conf:1:9: flush = \"0s\": expected a positive duration"},
		{"colour = red\n", "logd.conf:1:10: unknown key \"colour\" in the global settings: expected queue, flush"},
		{"[sink json]\nfile = a\nfile = b\n", "logd.conf:3:1: file given twice"},
		{"just words\n", "logd.conf:1:1: \"just words\": expected KEY = VALUE or a [section]"},
	} {
		_, err := ParseConfig(strings.NewReader(c.in), "logd.conf")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
	c, _ := ParseConfig(strings.NewReader("[sink json]\nfile = x\ncolour = red\n"), "l.conf")
	c.Sections[0].String("file", "")
	if err := c.Sections[0].Done("file"); err == nil || err.Error() != `l.conf:3:10: unknown key "colour" in [sink json] (line 1): expected file` {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := c.Sections[0].Require("path", "FILE"); err == nil || !strings.Contains(err.Error(), "[sink json] (line 1) needs path = FILE") {
		t.Errorf("require: %v", err)
	}
}
