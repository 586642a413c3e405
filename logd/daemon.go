package logd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Daemon moves records from its sources to its sinks. Sources block when
// the central queue is full (back-pressure: a kernel source then loses
// messages in its socket buffer and counts the overruns); each sink has a
// queue of its own, and a sink that is slow or failing loses records from
// its queue, counted, without holding up the others.
type Daemon struct {
	Sources []Source
	Sinks   []Sink
	// QueueSize bounds the central queue and each sink's queue
	// (default 65536).
	QueueSize int
	// FlushInterval is how often sinks are flushed (default 1 s).
	FlushInterval time.Duration
	// RetryMax bounds the wait before retrying a failing sink (default
	// 30 s; the wait doubles from 1 s).
	RetryMax time.Duration
	// ShutdownGrace is how long a failing sink keeps being retried after
	// the sources stopped (default 5 s).
	ShutdownGrace time.Duration
	// Report receives one line for each notable event: a sink failing or
	// recovering, a source failing.
	Report func(line string)

	sinks   []*sinkRunner
	hup     chan struct{}
	hupOnce sync.Once
}

func (d *Daemon) hupChan() chan struct{} {
	d.hupOnce.Do(func() { d.hup = make(chan struct{}, 1) })
	return d.hup
}

// SinkStats are a sink's counters.
type SinkStats struct {
	Written uint64 // records the sink accepted
	Dropped uint64 // records lost because the sink's queue was full
	Errors  uint64 // failed writes and flushes (each retried)
}

type sinkRunner struct {
	sink    Sink
	ch      chan Record
	stop    chan struct{} // closed at shutdown, after ch
	written atomic.Uint64
	dropped atomic.Uint64
	errors  atomic.Uint64
}

func (d *Daemon) report(format string, args ...any) {
	if d.Report != nil {
		d.Report(fmt.Sprintf(format, args...))
	}
}

// Reopen asks every sink to reopen its files (log rotation), between two
// records.
func (d *Daemon) Reopen() {
	select {
	case d.hupChan() <- struct{}{}:
	default:
	}
}

// Run runs until ctx is cancelled or every source has finished, then
// drains the queues, flushes and closes the sinks. It returns the sources'
// errors, if any.
func (d *Daemon) Run(ctx context.Context) error {
	if d.QueueSize <= 0 {
		d.QueueSize = 65536
	}
	if d.FlushInterval <= 0 {
		d.FlushInterval = time.Second
	}
	if d.RetryMax <= 0 {
		d.RetryMax = 30 * time.Second
	}
	if d.ShutdownGrace <= 0 {
		d.ShutdownGrace = 5 * time.Second
	}
	hup := d.hupChan()
	central := make(chan Record, d.QueueSize)
	d.sinks = make([]*sinkRunner, len(d.Sinks))
	var sinkWG sync.WaitGroup
	reopen := make([]chan struct{}, len(d.Sinks))
	for i, s := range d.Sinks {
		r := &sinkRunner{sink: s, ch: make(chan Record, d.QueueSize), stop: make(chan struct{})}
		d.sinks[i] = r
		reopen[i] = make(chan struct{}, 1)
		sinkWG.Add(1)
		go func(r *sinkRunner, hup chan struct{}) {
			defer sinkWG.Done()
			d.runSink(r, hup)
		}(r, reopen[i])
	}

	// Sources.
	var srcWG sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for _, src := range d.Sources {
		srcWG.Add(1)
		go func(src Source) {
			defer srcWG.Done()
			if err := src.Run(ctx, central); err != nil {
				d.report("source %s: %v", src.Name(), err)
				errMu.Lock()
				errs = append(errs, fmt.Errorf("source %s: %w", src.Name(), err))
				errMu.Unlock()
			}
		}(src)
	}
	go func() {
		srcWG.Wait()
		close(central)
	}()

	// Dispatch: every record to every sink's queue, never blocking on a
	// sink.
	for {
		select {
		case rec, ok := <-central:
			if !ok {
				for _, r := range d.sinks {
					close(r.ch)
					close(r.stop)
				}
				sinkWG.Wait()
				return errors.Join(errs...)
			}
			for _, r := range d.sinks {
				select {
				case r.ch <- rec:
				default:
					r.dropped.Add(1)
				}
			}
		case <-hup:
			for _, c := range reopen {
				select {
				case c <- struct{}{}:
				default:
				}
			}
		}
	}
}

// runSink writes a sink's queue, flushing on a timer; a failed write or
// flush is retried with a growing wait while the queue keeps filling (and
// counting what it cannot hold).
func (d *Daemon) runSink(r *sinkRunner, hup chan struct{}) {
	tick := time.NewTicker(d.FlushInterval)
	defer tick.Stop()
	failing := false
	first := min(time.Second, d.RetryMax)
	wait := first
	var giveUp time.Time // set once shutting down while failing
	var pending *Record  // the record that failed, written first on retry
	retry := func() bool {
		// Retry the pending record and a flush; true when it worked.
		if pending != nil {
			if err := write(r.sink, *pending); err != nil {
				return false
			}
			r.written.Add(1)
			pending = nil
		}
		return r.sink.Flush() == nil
	}
	fail := func(err error) {
		r.errors.Add(1)
		if !failing {
			d.report("sink %s: %v (retrying; records are queued and counted when the queue is full)", r.sink.Name(), err)
			failing = true
		}
	}
	for {
		if failing {
			// Back off, keeping an ear on reopen and shutdown.
			select {
			case <-time.After(wait):
			case <-hup:
				r.sink.Reopen()
			case <-r.stop:
				if giveUp.IsZero() {
					giveUp = time.Now().Add(d.ShutdownGrace)
				}
				time.Sleep(min(wait, time.Until(giveUp)))
			}
			if retry() {
				d.report("sink %s: working again", r.sink.Name())
				failing, wait = false, first
			} else {
				r.errors.Add(1)
				if !giveUp.IsZero() && !time.Now().Before(giveUp) {
					// Shutting down with the sink still failing:
					// what it could not take is counted, not lost
					// silently.
					lost := uint64(len(r.ch))
					if pending != nil {
						lost++
					}
					r.dropped.Add(lost)
					d.report("sink %s: still failing at shutdown; %d records not written", r.sink.Name(), lost)
					r.sink.Close()
					return
				}
				if wait *= 2; wait > d.RetryMax {
					wait = d.RetryMax
				}
				continue
			}
		}
		select {
		case rec, ok := <-r.ch:
			if !ok {
				if err := r.sink.Flush(); err != nil {
					fail(err)
				}
				if err := r.sink.Close(); err != nil {
					d.report("sink %s: close: %v", r.sink.Name(), err)
				}
				return
			}
			if err := write(r.sink, rec); err != nil {
				pending = &rec
				fail(err)
				continue
			}
			r.written.Add(1)
		case <-tick.C:
			if err := r.sink.Flush(); err != nil {
				fail(err)
			}
		case <-hup:
			if err := r.sink.Reopen(); err != nil {
				fail(err)
			}
		}
	}
}

func write(s Sink, rec Record) error {
	if rec.Packet != nil {
		return s.WritePacket(rec.Packet)
	}
	if rec.Flow != nil {
		return s.WriteFlow(rec.Flow)
	}
	return nil
}

// Stats returns each sink's counters, in the order of Sinks.
func (d *Daemon) Stats() []SinkStats {
	out := make([]SinkStats, len(d.sinks))
	for i, r := range d.sinks {
		out[i] = SinkStats{Written: r.written.Load(), Dropped: r.dropped.Load(), Errors: r.errors.Load()}
	}
	return out
}
