package logd

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type countSource struct {
	n     int
	sent  int
	delay time.Duration
}

func (s *countSource) Name() string { return "count" }
func (s *countSource) Run(ctx context.Context, out chan<- Record) error {
	for i := 0; i < s.n; i++ {
		select {
		case out <- Record{Packet: &Packet{Group: uint16(i)}}:
			s.sent++
		case <-ctx.Done():
			return nil
		}
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
	}
	return nil
}
func (s *countSource) Stats() SourceStats { return SourceStats{Received: uint64(s.sent)} }

type memSink struct {
	mu       sync.Mutex
	name     string
	got      []uint16
	flushes  int
	reopens  int
	closed   bool
	failFor  int // fail this many writes before working
	slow     time.Duration
	flushErr error
}

func (m *memSink) Name() string { return m.name }
func (m *memSink) WritePacket(p *Packet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slow > 0 {
		time.Sleep(m.slow)
	}
	if m.failFor > 0 {
		m.failFor--
		return errors.New("disk full")
	}
	m.got = append(m.got, p.Group)
	return nil
}
func (m *memSink) WriteFlow(*FlowEvent) error { return nil }
func (m *memSink) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushes++
	return m.flushErr
}
func (m *memSink) Reopen() error { m.mu.Lock(); m.reopens++; m.mu.Unlock(); return nil }
func (m *memSink) Close() error  { m.mu.Lock(); m.closed = true; m.mu.Unlock(); return nil }

// Every record reaches every healthy sink, in order; a failing sink
// retries the record that failed and loses nothing it had queued.
func TestDaemonDeliversAndRetries(t *testing.T) {
	good := &memSink{name: "good"}
	flaky := &memSink{name: "flaky", failFor: 2}
	var reports []string
	var mu sync.Mutex
	d := &Daemon{Sources: []Source{&countSource{n: 500}}, Sinks: []Sink{good, flaky}, QueueSize: 1000,
		FlushInterval: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Report: func(l string) { mu.Lock(); reports = append(reports, l); mu.Unlock() }}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*memSink{good, flaky} {
		if len(s.got) != 500 || !s.closed {
			t.Fatalf("%s: %d records, closed %v", s.name, len(s.got), s.closed)
		}
		for i, g := range s.got {
			if int(g) != i {
				t.Fatalf("%s: record %d is %d: order lost", s.name, i, g)
			}
		}
	}
	st := d.Stats()
	if st[1].Errors < 2 || st[1].Dropped != 0 || st[1].Written != 500 {
		t.Errorf("flaky sink stats %+v", st[1])
	}
	if len(reports) < 2 {
		t.Errorf("reports %q: want the failure and the recovery", reports)
	}
}

// A sink that cannot keep up loses records from its own queue, counted;
// written + dropped covers every record for every sink.
func TestDaemonSlowSinkDropsCounted(t *testing.T) {
	fast := &memSink{name: "fast"}
	slow := &memSink{name: "slow", slow: 2 * time.Millisecond}
	d := &Daemon{Sources: []Source{&countSource{n: 2000}}, Sinks: []Sink{fast, slow}, QueueSize: 16}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st[0].Written+st[0].Dropped != 2000 || st[0].Written < st[1].Written {
		t.Errorf("fast sink %+v, slow %+v", st[0], st[1])
	}
	if st[1].Dropped == 0 || st[1].Written+st[1].Dropped != 2000 || int(st[1].Written) != len(slow.got) {
		t.Errorf("slow sink %+v (%d written)", st[1], len(slow.got))
	}
}

// Reopen reaches every sink (log rotation); cancelling stops the sources
// and the sinks are flushed and closed.
func TestDaemonReopenAndShutdown(t *testing.T) {
	s := &memSink{name: "file"}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{Sources: []Source{&countSource{n: 1 << 30, delay: time.Millisecond}}, Sinks: []Sink{s}, FlushInterval: time.Hour}
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(30 * time.Millisecond)
	d.Reopen()
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.reopens != 1 || s.flushes == 0 || !s.closed || len(s.got) == 0 {
		t.Errorf("reopens %d flushes %d closed %v records %d", s.reopens, s.flushes, s.closed, len(s.got))
	}
}

// A sink still failing at shutdown reports how much it did not write.
func TestDaemonFailingAtShutdownCounts(t *testing.T) {
	s := &memSink{name: "db", failFor: 1 << 30}
	d := &Daemon{Sources: []Source{&countSource{n: 50}}, Sinks: []Sink{s}, RetryMax: 5 * time.Millisecond, ShutdownGrace: 50 * time.Millisecond}
	var last string
	d.Report = func(l string) { last = l }
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()[0]
	if st.Written+st.Dropped != 50 || st.Written != 0 {
		t.Errorf("stats %+v: every record must be written or counted", st)
	}
	if last == "" {
		t.Error("no report at shutdown")
	}
}
