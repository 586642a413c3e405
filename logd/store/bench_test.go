package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfgo/nfgo/logd"
)

// benchWrite measures the sustained write rate: 100,000 packets in
// batches of 1000 per round, committed durably.
func benchWrite(b *testing.B, dsn string) {
	s, err := Open(context.Background(), dsn, Options{BatchSize: 1000, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	base := testPackets(b)[0]
	const n = 100000
	ps := make([]logd.Packet, 256)
	for i := range ps {
		p := *base
		p.Data = append([]byte{}, base.Data...)
		p.Data[15] = byte(i) // source address 198.51.100.i
		binary.BigEndian.PutUint16(p.Data[20:], uint16(40000+i))
		ps[i] = p
	}
	total := 0
	start := time.Now()
	for b.Loop() {
		for i := range n {
			p := &ps[i%len(ps)]
			p.Time = t0.Add(time.Duration(total+i) * time.Microsecond)
			if err := s.WritePacket(p); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "packets/s")
}

func BenchmarkSQLiteWrite(b *testing.B) {
	benchWrite(b, "sqlite:"+filepath.Join(b.TempDir(), "log.db"))
}

func BenchmarkPostgresWrite(b *testing.B) {
	c := startPostgres(b)
	benchWrite(b, c.dsn("nfgo"))
}
