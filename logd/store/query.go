package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
)

// Filter selects records. Zero fields select everything.
type Filter struct {
	From, To time.Time // From <= time < To
	// Prefix is the log prefix: matched exactly, or as an SQL LIKE
	// pattern (% any run, _ any one character) when it contains %.
	// Packets only.
	Prefix string
	// Addr matches the source or the destination address (of the
	// original direction, for flows).
	Addr netip.Prefix
	// Port matches the source or destination port (original direction).
	Port uint16
	// Proto is the transport protocol; 0 is any.
	Proto uint8
	// Limit is the largest number of records returned; 0 is no limit.
	Limit int
	// Flows selects flow events instead of packets.
	Flows bool
}

// Query returns the records f selects in time order (ties in the order
// they were written). The sequence ends after an error, which it yields
// with a zero record; breaking out of the loop releases the database.
func Query(ctx context.Context, s *Store, f Filter) iter.Seq2[logd.Record, error] {
	return func(yield func(logd.Record, error) bool) {
		if f.Flows && f.Prefix != "" {
			yield(logd.Record{}, errors.New("store: a prefix selects packets, not flows"))
			return
		}
		q, args, inGo := s.querySQL(f)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			yield(logd.Record{}, fmt.Errorf("store: %s: query: %w", s.name, err))
			return
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var r logd.Record
			var src, dst sql.NullString
			if f.Flows {
				r.Flow, err = scanFlow(rows)
				if r.Flow != nil {
					src, dst = nullAddr(r.Flow.OrigSrc), nullAddr(r.Flow.OrigDst)
				}
			} else {
				r.Packet, src, dst, err = scanPacket(rows)
			}
			if err != nil {
				yield(logd.Record{}, fmt.Errorf("store: %s: reading a row: %w", s.name, err))
				return
			}
			if inGo && !inPrefix(f.Addr, src) && !inPrefix(f.Addr, dst) {
				continue
			}
			if !yield(r, nil) {
				return
			}
			if n++; f.Limit > 0 && n >= f.Limit {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(logd.Record{}, fmt.Errorf("store: %s: query: %w", s.name, err))
		}
	}
}

// querySQL builds the SELECT for f. A network wider than one address
// cannot be compared on the text the tables keep, so inGo says the
// caller tests the addresses (and the limit applies after that test).
func (s *Store) querySQL(f Filter) (q string, args []any, inGo bool) {
	var b strings.Builder
	srcCol, dstCol, sportCol, dportCol := "src", "dst", "sport", "dport"
	if f.Flows {
		srcCol, dstCol, sportCol, dportCol = "orig_src", "orig_dst", "orig_sport", "orig_dport"
		b.WriteString("SELECT " + strings.Join(flowSelect, ", ") + " FROM flows")
	} else {
		b.WriteString("SELECT " + strings.Join(packetSelect, ", ") + " FROM packets")
	}
	var conds []string
	arg := func(v any) string {
		args = append(args, v)
		if s.postgres {
			return "$" + strconv.Itoa(len(args))
		}
		return "?"
	}
	if !f.From.IsZero() {
		conds = append(conds, "time >= "+arg(f.From.UnixNano()))
	}
	if !f.To.IsZero() {
		conds = append(conds, "time < "+arg(f.To.UnixNano()))
	}
	if f.Prefix != "" {
		if strings.Contains(f.Prefix, "%") {
			conds = append(conds, "prefix LIKE "+arg(f.Prefix))
		} else {
			conds = append(conds, "prefix = "+arg(f.Prefix))
		}
	}
	if f.Addr.IsValid() {
		if f.Addr.IsSingleIP() {
			a := f.Addr.Addr().String()
			conds = append(conds, "("+srcCol+" = "+arg(a)+" OR "+dstCol+" = "+arg(a)+")")
		} else {
			inGo = true
		}
	}
	if f.Port != 0 {
		conds = append(conds, "("+sportCol+" = "+arg(int64(f.Port))+" OR "+dportCol+" = "+arg(int64(f.Port))+")")
	}
	if f.Proto != 0 {
		conds = append(conds, "proto = "+arg(int64(f.Proto)))
	}
	if len(conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(conds, " AND "))
	}
	b.WriteString(" ORDER BY time, id")
	if f.Limit > 0 && !inGo {
		b.WriteString(" LIMIT " + strconv.Itoa(f.Limit))
	}
	return b.String(), args, inGo
}

func inPrefix(p netip.Prefix, s sql.NullString) bool {
	if !s.Valid {
		return false
	}
	a, err := netip.ParseAddr(s.String)
	return err == nil && p.Contains(a)
}

func nullAddr(a netip.Addr) sql.NullString {
	if !a.IsValid() {
		return sql.NullString{}
	}
	return sql.NullString{String: a.String(), Valid: true}
}

var (
	packetSelect = []string{"time", "source", "grp", "prefix", "family", "hook",
		"in_dev", "out_dev", "phys_in", "phys_out", "in_index", "out_index",
		"mark", "uid", "gid", "mac", "len", "payload", "src", "dst"}
	flowSelect = flowCols
)

func scanPacket(rows *sql.Rows) (*logd.Packet, sql.NullString, sql.NullString, error) {
	var (
		p                                    logd.Packet
		t, grp, fam, inIdx, outIdx, mark, ln int64
		hook, uid, gid                       sql.NullInt64
		src, dst                             sql.NullString
	)
	err := rows.Scan(&t, &p.Source, &grp, &p.Prefix, &fam, &hook,
		&p.InDev, &p.OutDev, &p.PhysIn, &p.PhysOut, &inIdx, &outIdx,
		&mark, &uid, &gid, &p.MAC, &ln, &p.Data, &src, &dst)
	if err != nil {
		return nil, src, dst, err
	}
	p.Time = time.Unix(0, t)
	p.Group = uint16(grp)
	p.Family = nf.Family(fam)
	p.Hook, p.HasHook = nf.Hook(hook.Int64), hook.Valid
	p.InIndex, p.OutIndex = int(inIdx), int(outIdx)
	p.Mark = uint32(mark)
	p.UID, p.HasUID = uint32(uid.Int64), uid.Valid
	p.GID, p.HasGID = uint32(gid.Int64), gid.Valid
	p.OrigLen = int(ln)
	if p.Data == nil {
		p.Data = []byte{}
	}
	return &p, src, dst, nil
}

func scanFlow(rows *sql.Rows) (*logd.FlowEvent, error) {
	var (
		f                                 logd.FlowEvent
		t, fam, proto, osp, odp, rsp, rdp int64
		status, mark, zone, timeout, id   int64
		po, bo, pr, br                    int64
		osrc, odst, rsrc, rdst            sql.NullString
		start, stop                       sql.NullInt64
	)
	err := rows.Scan(&t, &f.Source, &f.Type, &fam, &proto,
		&osrc, &odst, &osp, &odp, &rsrc, &rdst, &rsp, &rdp,
		&f.State, &status, &mark, &zone, &timeout, &id,
		&po, &bo, &pr, &br, &start, &stop)
	if err != nil {
		return nil, err
	}
	f.Time = time.Unix(0, t)
	f.Family, f.Proto = nf.Family(fam), uint8(proto)
	for _, a := range []struct {
		dst *netip.Addr
		s   sql.NullString
	}{{&f.OrigSrc, osrc}, {&f.OrigDst, odst}, {&f.ReplSrc, rsrc}, {&f.ReplDst, rdst}} {
		if a.s.Valid {
			v, err := netip.ParseAddr(a.s.String)
			if err != nil {
				return nil, fmt.Errorf("flow address: %w", err)
			}
			*a.dst = v
		}
	}
	f.OrigSport, f.OrigDport, f.ReplSport, f.ReplDport = uint16(osp), uint16(odp), uint16(rsp), uint16(rdp)
	f.Status, f.Mark, f.Zone, f.Timeout, f.ID = uint32(status), uint32(mark), uint16(zone), uint32(timeout), uint32(id)
	f.Packets = [2]uint64{uint64(po), uint64(pr)}
	f.Bytes = [2]uint64{uint64(bo), uint64(br)}
	if start.Valid {
		f.Start = time.Unix(0, start.Int64)
	}
	if stop.Valid {
		f.Stop = time.Unix(0, stop.Int64)
	}
	return &f, nil
}
