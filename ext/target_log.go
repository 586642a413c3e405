package ext

// LOG: -j LOG (libxt_LOG, xt_LOG.c), IPv4 and IPv6.

// Log flags (XT_LOG_*).
const (
	LogTCPSeq    = 0x01
	LogTCPOpt    = 0x02
	LogIPOpt     = 0x04
	LogUID       = 0x08
	LogMACDecode = 0x20
)

const logDefaultLevel = 4 // LOG_WARNING

type logTarget struct {
	Level  uint8  // syslog level 0-7
	Prefix string // at most 29 bytes
	Flags  uint8  // LogTCPSeq | LogTCPOpt | ...
}

// syslog level names accepted by --log-level (xtables' sorted list).
var logLevelNames = map[string]uint8{
	"alert": 1, "crit": 2, "debug": 7, "emerg": 0, "error": 3,
	"info": 6, "notice": 5, "panic": 0, "warning": 4,
}

// glibc's prioritynames, first name of each level, as LOG prints them.
var logLevelPrint = [8]string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"}

func init() {
	Register(&Def{
		Name: "LOG", Kind: TargetKind,
		Options: []Option{
			{Name: "log-level", Arg: NeedArg},
			{Name: "log-prefix", Arg: NeedArg},
			{Name: "log-tcp-sequence"},
			{Name: "log-tcp-options"},
			{Name: "log-ip-options"},
			{Name: "log-uid"},
			{Name: "log-macdecode"},
		},
		New: func() Ext { return &logTarget{Level: logDefaultLevel} },
	})
}

// parseLogLevel parses a syslog level: a number 0-7 or a name.
func parseLogLevel(s string) (uint8, error) {
	if v, ok := ParseUint(s, 0, 7); ok {
		return uint8(v), nil
	}
	if v, ok := logLevelNames[s]; ok {
		return v, nil
	}
	return 0, Errorf("log level \"%s\" unknown: expected 0-7 or emerg, alert, crit, error, warning, notice, info, debug", s)
}

func (t *logTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "log-level":
		v, err := parseLogLevel(u.Arg)
		if err != nil {
			return err
		}
		t.Level = v
	case "log-prefix":
		if u.Arg == "" {
			return Errorf("Argument must have a minimum length of 1 characters")
		}
		if err := t1NoNewline(u.Arg, "log-prefix"); err != nil {
			return err
		}
		t.Prefix = t1Truncate(u.Arg, 30)
	case "log-tcp-sequence":
		t.Flags |= LogTCPSeq
	case "log-tcp-options":
		t.Flags |= LogTCPOpt
	case "log-ip-options":
		t.Flags |= LogIPOpt
	case "log-uid":
		t.Flags |= LogUID
	case "log-macdecode":
		t.Flags |= LogMACDecode
	}
	return nil
}

func (t *logTarget) Final(*RuleInfo) error { return nil }

func (t *logTarget) Save(b *Buf) {
	if t.Prefix != "" {
		b.OptQ(false, "log-prefix", t.Prefix)
	}
	if t.Level != logDefaultLevel {
		b.Opt(false, "log-level", Itoa(t.Level))
	}
	for _, f := range []struct {
		bit  uint8
		name string
	}{{LogTCPSeq, "log-tcp-sequence"}, {LogTCPOpt, "log-tcp-options"}, {LogIPOpt, "log-ip-options"}, {LogUID, "log-uid"}, {LogMACDecode, "log-macdecode"}} {
		if t.Flags&f.bit != 0 {
			b.Opt(false, f.name)
		}
	}
}

func (t *logTarget) Print(b *Buf, numeric bool) {
	b.S(" LOG")
	if numeric {
		b.S(" flags ").U(uint64(t.Flags)).S(" level ").U(uint64(t.Level))
	} else {
		if t.Level < 8 {
			b.S(" level ").S(logLevelPrint[t.Level])
		} else {
			b.S(" UNKNOWN level ").U(uint64(t.Level))
		}
		for _, f := range []struct {
			bit  uint8
			name string
		}{{LogTCPSeq, "tcp-sequence"}, {LogTCPOpt, "tcp-options"}, {LogIPOpt, "ip-options"}, {LogUID, "uid"}, {LogMACDecode, "macdecode"}} {
			if t.Flags&f.bit != 0 {
				b.S(" ").S(f.name)
			}
		}
	}
	if t.Prefix != "" {
		b.S(" prefix \"").S(t.Prefix).S("\"")
	}
}
