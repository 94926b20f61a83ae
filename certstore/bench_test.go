package certstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks run against every backend available (MySQL needs
// SCCA_TEST_MYSQL_DSN, PostgreSQL SCCA_TEST_POSTGRES_DSN). SCCA_BENCH_ROWS sets the inventory size for
// BenchmarkList (default 10000; use 1000000 for the production-size figure),
// SCCA_BENCH_REVOKED the revoked-list size (default 100000).

func benchBackends() []backend { return []backend{sqliteBackend(), mysqlBackend(), postgresBackend()} }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func benchStore(b *testing.B, be backend) *Store {
	s := openAt(b, be.newURL(b), nil)
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkInsert(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			now := time.Now()
			var next atomic.Int64
			b.Run("single", func(b *testing.B) {
				for b.Loop() {
					mustInsert(b, s, testRecord(int(next.Add(1)), now))
				}
			})
			b.Run("parallel8", func(b *testing.B) {
				b.SetParallelism(8 / max(1, runtimeProcs()))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Insert(context.Background(), testRecord(int(next.Add(1)), now)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

func BenchmarkList(b *testing.B) {
	rows := envInt("SCCA_BENCH_ROWS", 10000)
	for _, be := range benchBackends() {
		b.Run(fmt.Sprintf("%s/rows=%d", be.name, rows), func(b *testing.B) {
			s := benchStore(b, be)
			seed(b, s, rows, "ab12", false)
			for _, c := range []struct {
				name string
				f    Filter
			}{
				{"limit100", Filter{Limit: 100}},
				{"active_limit100", Filter{Status: StatusActive, Limit: 100}},
				{"client_limit100", Filter{Type: TypeClient, Limit: 100}},
				{"cn_contains_limit100", Filter{CNContains: "host7", Limit: 100}},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						n := 0
						if err := s.List(context.Background(), c.f, func(Record) error { n++; return nil }); err != nil || n != 100 {
							b.Fatalf("List = %d rows, %v", n, err)
						}
					}
				})
			}
		})
	}
}

func BenchmarkRevoked(b *testing.B) {
	rows := envInt("SCCA_BENCH_REVOKED", 100000)
	for _, be := range benchBackends() {
		b.Run(fmt.Sprintf("%s/rows=%d", be.name, rows), func(b *testing.B) {
			s := benchStore(b, be)
			seed(b, s, rows, "cd34", true)
			seed(b, s, rows/10, "ab12", true) // another issuer's rows must be skipped
			b.Run("stream", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					n := 0
					if err := s.Revoked(context.Background(), "cd34", func(RevokedEntry) error { n++; return nil }); err != nil || n != rows {
						b.Fatalf("Revoked = %d rows, %v", n, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		})
	}
}

// seed bulk-loads n certificates with multi-row INSERTs, 500 to a statement
// and 20 statements to a transaction, bypassing Insert and the audit log.
// Types alternate server/client; a quarter of the rows are expired.
func seed(b testing.TB, s *Store, n int, issuer string, revoked bool) {
	b.Helper()
	const batch, perTx = 500, 20
	ctx := context.Background()
	start := time.Now()
	now := s.now()
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", 15), ", ") + ")"
	for done := 0; done < n; {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range perTx {
			k := min(batch, n-done)
			if k == 0 {
				break
			}
			q := "INSERT INTO certificates (" + recordColumns + ") VALUES " +
				strings.TrimSuffix(strings.Repeat(row+", ", k), ", ")
			args := make([]any, 0, 15*k)
			for i := done; i < done+k; i++ {
				args = append(args, seedRow(issuer, i, now, revoked)...)
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
			done += k
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d rows in %v", n, time.Since(start).Round(time.Millisecond))
}

func seedRow(issuer string, i int, now time.Time, revoked bool) []any {
	der := []byte(issuer + "/" + strconv.Itoa(i))
	sum := sha256.Sum256(der)
	typ, notAfter := TypeServer, now.Add(365*day)
	if i%2 == 1 {
		typ = TypeClient
	}
	if i%4 == 3 {
		notAfter = now.Add(-day)
	}
	status, revokedAt, reason, revokedBy := StatusActive, any(nil), any(nil), any(nil)
	if revoked {
		status, revokedAt, reason, revokedBy = StatusRevoked, timeArg(now), ReasonSuperseded, "bench"
	}
	return []any{issuer, strconv.FormatInt(int64(i)+1, 16), typ, "host" + strconv.Itoa(i) + ".example.com",
		`["host.example.com"]`, timeArg(now.Add(-day)), timeArg(notAfter), status, revokedAt, reason, revokedBy,
		hex.EncodeToString(sum[:]), der, timeArg(now), "bench"}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
