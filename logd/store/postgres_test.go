package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCluster is a throwaway PostgreSQL server: its own data directory
// and unix socket in a temporary directory, no TCP listener.
type pgCluster struct {
	bin, dir, port string
}

// startPostgres creates and starts a cluster, and a database "nfgo" in
// it; it skips the test when the server binaries or the privileges to run
// them as the postgres user are missing.
func startPostgres(t testing.TB) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("PostgreSQL server not installed (/usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)")
	}
	sort.Strings(bins)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a PostgreSQL cluster as the postgres user")
	}
	if _, err := user.Lookup("postgres"); err != nil {
		t.Skip("no postgres user to run the cluster as")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("runuser not found")
	}
	// Not t.TempDir: its parents are closed to other users.
	dir, err := os.MkdirTemp("", "nfgo-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	c := &pgCluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: fmt.Sprint(20000 + rand.IntN(40000))}
	c.run(t, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	c.start(t)
	t.Cleanup(func() { c.stop(t) })

	conn, err := pgx.Connect(context.Background(), c.dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE nfgo"); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) dsn(db string) string {
	return "postgres://postgres@/" + db + "?host=" + c.dir + "&port=" + c.port + "&sslmode=disable"
}

func (c *pgCluster) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, prog)}, args...)...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
}

func (c *pgCluster) start(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-s",
		"-o", "-k "+c.dir+" -p "+c.port+" -c listen_addresses=", "start")
}

func (c *pgCluster) stop(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-s", "stop")
}

func TestPostgresRoundTrip(t *testing.T) {
	c := startPostgres(t)
	roundTrip(t, c.dsn("nfgo"))
}

// A server that stops makes Flush fail and keeps the batch; once it is
// back the next Flush commits the batch whole.
func TestPostgresServerDown(t *testing.T) {
	c := startPostgres(t)
	dsn := c.dsn("nfgo")
	s, err := Open(context.Background(), dsn, Options{BatchSize: 100, FlushInterval: time.Hour, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ps, fs := testPackets(t), testFlows()
	writeAll(t, s, ps[:2], nil)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}

	c.stop(t)
	writeAll(t, s, ps[2:], fs)
	if err := s.Flush(); err == nil {
		t.Fatal("Flush with the server stopped: no error")
	} else {
		t.Logf("Flush with the server stopped: %v", err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("second Flush with the server stopped: no error")
	}
	if n := s.Pending(); n != 6 {
		t.Fatalf("pending %d with the server stopped, want 6", n)
	}

	c.start(t)
	if err := s.Flush(); err != nil {
		t.Fatalf("first Flush after the restart: %v", err)
	}
	if n := count(t, dsn, false); n != len(ps) {
		t.Fatalf("%d packets after the restart, want %d", n, len(ps))
	}
	if n := count(t, dsn, true); n != len(fs) {
		t.Fatalf("%d flows after the restart, want %d", n, len(fs))
	}
}
