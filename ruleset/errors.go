package ruleset

import (
	"errors"
	"fmt"
	"strconv"
)

// Exit codes of iptables(8).
const (
	ExitOK        = 0
	ExitOther     = 1 // other errors, and -C for an absent rule
	ExitParameter = 2 // bad parameters, bad input
	ExitVersion   = 3 // unknown table (iptables' VERSION_PROBLEM)
	ExitResource  = 4 // the kernel refused (nf_tables backend)
)

// Tok is one word of a command or restore line, with where it came from.
type Tok struct {
	Text string
	Line int // 1-based line in File; 0 for command-line arguments
	Col  int // 1-based column; for arguments, the argument's position
}

// Error is a refusal with its place. It prints as FILE:LINE:COL: message.
type Error struct {
	File  string
	Line  int
	Col   int
	Token string // the offending word, if any
	Msg   string // what is wrong and what was expected
	Code  int    // exit code
}

func (e *Error) Error() string {
	loc := ""
	switch {
	case e.Line > 0:
		f := e.File
		if f == "" {
			f = "-"
		}
		loc = f + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": "
	case e.Col > 0:
		loc = "argument " + strconv.Itoa(e.Col) + ": "
	}
	if e.Token != "" {
		return loc + e.Msg + " (at " + strconv.Quote(e.Token) + ")"
	}
	return loc + e.Msg
}

// ExitCode returns the iptables exit code for err.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) && e.Code != 0 {
		return e.Code
	}
	return ExitOther
}

func errAt(t Tok, code int, format string, args ...any) *Error {
	return &Error{Line: t.Line, Col: t.Col, Token: t.Text, Msg: fmt.Sprintf(format, args...), Code: code}
}

func paramErr(t Tok, format string, args ...any) *Error {
	return errAt(t, ExitParameter, format, args...)
}
