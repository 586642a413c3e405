package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/nfgo/nfgo/logd"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// BatchSize is the number of records one transaction commits
	// (default 1000).
	BatchSize int
	// FlushInterval commits a partial batch whose oldest record is that
	// old when the next record is written (default 1s). The store runs
	// no timer of its own: a daemon that may fall quiet calls Flush on
	// its own tick.
	FlushInterval time.Duration
	// RetryInterval is how long writes wait after a failed commit before
	// they try the database again (default 1s); Flush always tries.
	RetryInterval time.Duration
	// Timeout bounds one commit or schema creation (default 30s), so
	// that a server that stopped answering fails the call instead of
	// hanging it.
	Timeout time.Duration
	// ReadOnly opens an existing database for queries: the schema is
	// neither created nor changed, and an SQLite file must exist.
	ReadOnly bool
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
}

// Store is a logd.Sink writing to SQLite or PostgreSQL, and the handle
// queries read through. Writes come from one goroutine (as logd.Sink
// says); queries may run concurrently with them.
type Store struct {
	opts     Options
	name     string
	db       *sql.DB       // queries (and SQLite's writes)
	pool     *pgxpool.Pool // PostgreSQL's writes; nil for SQLite
	postgres bool

	scratch headerScratch
	packets [][]any // rows not committed yet
	flows   [][]any
	first   time.Time // when the oldest row of the batch was taken
	failed  time.Time // when the last commit failed; zero after a success
	lastErr error
}

var _ logd.Sink = (*Store)(nil)

// Open opens the database dsn names: "sqlite:PATH" (a file, created
// with its directory's permissions when absent) or a PostgreSQL URL
// ("postgres://user@host/db", "postgresql://..."; libpq's parameters, such
// as host=/run/postgresql for a unix socket, go in the query string).
// Unless o.ReadOnly, the schema is created when missing.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	o.defaults()
	s := &Store{opts: o}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if err := s.openSQLite(strings.TrimPrefix(dsn, "sqlite:")); err != nil {
			return nil, err
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if err := s.openPostgres(ctx, dsn); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("store: database %q: expected sqlite:PATH or postgres://...", dsn)
	}
	if !o.ReadOnly {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if _, err := s.db.ExecContext(cctx, schemaFor(s.postgres)); err != nil {
			s.closeDB()
			return nil, fmt.Errorf("store: %s: creating the schema: %w", s.name, err)
		}
	}
	return s, nil
}

func (s *Store) openSQLite(path string) error {
	if path == "" {
		return errors.New("store: sqlite: empty path")
	}
	s.name = "sqlite:" + path
	if s.opts.ReadOnly {
		// Querying a file that is not there is a mistake, not an empty log.
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	// WAL lets nfgo logs read while the daemon writes; synchronous FULL
	// makes a commit durable; case-sensitive LIKE matches PostgreSQL and
	// lets a prefix pattern use the index.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=case_sensitive_like(1)"
	if s.opts.ReadOnly {
		dsn += "&mode=ro"
	} else {
		dsn += "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	s.db = db
	return nil
}

func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("store: postgresql: %w", err)
	}
	s.name = "postgresql:" + cfg.ConnConfig.Database + "@" + cfg.ConnConfig.Host
	if !strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		s.name += ":" + strconv.Itoa(int(cfg.ConnConfig.Port))
	}
	s.postgres = true
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	s.pool = pool
	s.db = stdlib.OpenDBFromPool(pool)
	return nil
}

// Name is the database the store writes to.
func (s *Store) Name() string { return s.name }

// Pending is the number of records taken but not committed yet.
func (s *Store) Pending() int { return len(s.packets) + len(s.flows) }

// WritePacket takes p into the current batch and commits the batch when
// it is full or its oldest record is FlushInterval old. It returns nil
// when p was taken: the store keeps it until a commit succeeds, however
// many commits fail. An error means p was NOT taken: the batch is full
// and the database refuses it (or failed less than RetryInterval ago);
// the caller keeps p and tries again later.
func (s *Store) WritePacket(p *logd.Packet) error {
	if err := s.room(); err != nil {
		return err
	}
	s.packets = append(s.packets, s.scratch.packetRow(p))
	s.taken()
	return nil
}

// WriteFlow is WritePacket for a flow event.
func (s *Store) WriteFlow(f *logd.FlowEvent) error {
	if err := s.room(); err != nil {
		return err
	}
	s.flows = append(s.flows, flowRow(f))
	s.taken()
	return nil
}

// room makes space for one more record: a full batch must be committed
// first.
func (s *Store) room() error {
	if s.Pending() < s.opts.BatchSize {
		return nil
	}
	if !s.failed.IsZero() && time.Since(s.failed) < s.opts.RetryInterval {
		return fmt.Errorf("store: %s: %d records not committed: %w", s.name, s.Pending(), s.lastErr)
	}
	return s.Flush()
}

// taken commits after a record joined the batch when the batch is due.
// A failure here is not the caller's: its record is in the batch, and the
// next write or Flush reports the error.
func (s *Store) taken() {
	n := s.Pending()
	if n == 1 {
		s.first = time.Now()
	}
	if !s.failed.IsZero() && time.Since(s.failed) < s.opts.RetryInterval {
		return
	}
	if n >= s.opts.BatchSize || time.Since(s.first) >= s.opts.FlushInterval {
		s.Flush()
	}
}

// Flush commits the batch in one transaction. When the commit fails the
// batch is kept whole for the next Flush (or full write) and the error
// returned; a lost connection is made again on that next attempt.
//
// A commit whose answer is lost with the connection may have happened:
// its records are then written twice. The store writes at least once.
func (s *Store) Flush() error {
	if s.Pending() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	var err error
	if s.postgres {
		err = s.commitPostgres(ctx)
	} else {
		err = s.commitSQLite(ctx)
	}
	if err != nil {
		s.failed, s.lastErr = time.Now(), err
		return fmt.Errorf("store: %s: %d records not committed: %w", s.name, s.Pending(), err)
	}
	s.failed, s.lastErr = time.Time{}, nil
	clear(s.packets)
	clear(s.flows)
	s.packets, s.flows = s.packets[:0], s.flows[:0]
	return nil
}

func (s *Store) commitSQLite(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, t := range []struct {
		sql  string
		rows [][]any
	}{{insertPackets, s.packets}, {insertFlows, s.flows}} {
		if len(t.rows) == 0 {
			continue
		}
		st, err := tx.PrepareContext(ctx, t.sql)
		if err != nil {
			return err
		}
		for _, r := range t.rows {
			if _, err := st.ExecContext(ctx, r...); err != nil {
				st.Close()
				return err
			}
		}
		st.Close()
	}
	return tx.Commit()
}

var (
	insertPackets = insertSQL("packets", packetCols)
	insertFlows   = insertSQL("flows", flowCols)
)

// commitPostgres copies the batch in (COPY is several times faster than
// row-by-row INSERTs) inside one transaction.
func (s *Store) commitPostgres(ctx context.Context) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.Background())
		}
	}()
	if len(s.packets) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"packets"}, packetCols, pgx.CopyFromRows(s.packets)); err != nil {
			return err
		}
	}
	if len(s.flows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"flows"}, flowCols, pgx.CopyFromRows(s.flows)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// Reopen does nothing: a database has no file to rotate.
func (s *Store) Reopen() error { return nil }

// Close commits what is pending and closes the database. When that last
// commit fails, the records are lost and the error says how many.
func (s *Store) Close() error {
	err := s.Flush()
	s.closeDB()
	return err
}

func (s *Store) closeDB() {
	if s.db != nil {
		s.db.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}
