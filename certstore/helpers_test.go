package certstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testdb"
)

// backend makes fresh, empty databases of one kind for tests.
type backend struct {
	name   string
	newURL func(tb testing.TB) string // a new empty database, dropped at cleanup
}

func sqliteBackend() backend {
	return backend{name: DriverSQLite, newURL: func(tb testing.TB) string {
		return testdb.SQLite(tb)
	}}
}

func mysqlBackend() backend {
	return backend{name: DriverMySQL, newURL: func(tb testing.TB) string { return testdb.MySQL(tb, "scca_test") }}
}

func postgresBackend() backend {
	return backend{name: DriverPostgres, newURL: func(tb testing.TB) string { return testdb.Postgres(tb, "scca_test") }}
}

// openAt opens url with clock and closes it at cleanup.
func openAt(tb testing.TB, url string, clock func() time.Time) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url, Options{Now: clock})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	// Nanoseconds and a non-UTC zone check truncation and normalisation.
	return &fakeClock{t: time.Date(2030, 6, 15, 12, 0, 0, 123456789, time.FixedZone("X", 3600))}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testRecord builds a valid record; n makes its serial and DER unique.
func testRecord(n int, now time.Time) Record {
	return Record{
		Serial:      fmt.Sprintf("%x", 0x1000+n),
		IssuerKeyID: "ab12",
		Type:        TypeServer,
		CN:          fmt.Sprintf("host%d.example.com", n),
		SANs:        []string{fmt.Sprintf("host%d.example.com", n), "10.0.0.1"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(90 * 24 * time.Hour),
		DER:         []byte(fmt.Sprintf("not really DER but unique: %d", n)),
		IssuedBy:    "alice",
	}
}

func mustInsert(tb testing.TB, s *Store, rec Record) {
	tb.Helper()
	if err := s.Insert(context.Background(), rec); err != nil {
		tb.Fatalf("Insert %s: %v", rec.Serial, err)
	}
}

func auditCount(tb testing.TB, s *Store) int {
	tb.Helper()
	n := 0
	if err := s.Audit(context.Background(), func(AuditEntry) error { n++; return nil }); err != nil {
		tb.Fatalf("Audit: %v", err)
	}
	return n
}
