package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// Options are the settings the file sinks share; the zero value is
// usable.
type Options struct {
	// Sync flushes the buffer to the file after every record (LOGEMU's
	// "sync=1"); otherwise records reach the file when the buffer fills
	// and on Flush, Reopen and Close.
	Sync bool
	// Perm is the mode of a file the sink creates; 0640 when zero.
	Perm os.FileMode
}

// file is an append-only log file that can be reopened after rotation.
type file struct {
	path string
	perm os.FileMode
	f    *os.File
	w    *bufio.Writer
	sync bool
}

// ErrClosed is returned by the sinks' methods after Close.
var ErrClosed = errors.New("sink: closed")

func openFile(path string, o Options) (*file, error) {
	fl := &file{path: path, perm: o.Perm, sync: o.Sync}
	if fl.perm == 0 {
		fl.perm = 0o640
	}
	f, err := fl.open()
	if err != nil {
		return nil, err
	}
	fl.f = f
	fl.w = bufio.NewWriterSize(f, 64<<10)
	return fl, nil
}

// open opens the path for appending, as ulogd's fopen(path, "a") does:
// lines written by an earlier run are kept.
func (fl *file) open() (*os.File, error) {
	f, err := os.OpenFile(fl.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fl.perm)
	if err != nil {
		return nil, fmt.Errorf("sink: open %s: %w", fl.path, err)
	}
	return f, nil
}

// write takes one record.
func (fl *file) write(b []byte) error {
	if fl.f == nil {
		return ErrClosed
	}
	if _, err := fl.w.Write(b); err != nil {
		return fmt.Errorf("sink: write %s: %w", fl.path, err)
	}
	if fl.sync {
		if err := fl.w.Flush(); err != nil {
			return fmt.Errorf("sink: write %s: %w", fl.path, err)
		}
	}
	return nil
}

// writer is the buffered writer, for encoders that write themselves.
func (fl *file) writer() io.Writer { return fl.w }

// flush writes the buffer out and syncs the file.
func (fl *file) flush() error {
	if fl.f == nil {
		return ErrClosed
	}
	if err := fl.w.Flush(); err != nil {
		return fmt.Errorf("sink: flush %s: %w", fl.path, err)
	}
	if err := fl.f.Sync(); err != nil {
		return fmt.Errorf("sink: sync %s: %w", fl.path, err)
	}
	return nil
}

// reopen switches to a new file at the path once the old one has been
// renamed away. What is buffered goes to the old file first. If the path
// cannot be opened the old file stays in use, as ulogd does.
func (fl *file) reopen() error {
	if fl.f == nil {
		return ErrClosed
	}
	nf, err := fl.open()
	if err != nil {
		return err
	}
	ferr := fl.w.Flush()
	cerr := fl.f.Close()
	fl.f = nf
	fl.w.Reset(nf)
	if ferr != nil {
		return fmt.Errorf("sink: flush %s before reopening: %w", fl.path, ferr)
	}
	if cerr != nil {
		return fmt.Errorf("sink: close %s before reopening: %w", fl.path, cerr)
	}
	return nil
}

func (fl *file) close() error {
	if fl.f == nil {
		return ErrClosed
	}
	err := fl.w.Flush()
	if cerr := fl.f.Close(); err == nil {
		err = cerr
	}
	fl.f = nil
	if err != nil {
		return fmt.Errorf("sink: close %s: %w", fl.path, err)
	}
	return nil
}
