package enroll

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/promtext"
)

// Metrics are the online CA's metrics in the Prometheus text format, kept in
// a set of their own per server (two servers in one test do not collide).
// internal/promtext writes the format; its package doc says why it is not
// a metrics library (their package initialisation cost every scca command,
// `scca issue` included).
type Metrics struct {
	scrape      sync.Mutex // one scrape at a time: the revocation count never goes back
	set         *promtext.Set
	renewals    *promtext.Counter
	revocations *promtext.Counter
	feed        *revocationCounter // nil without a feed
}

// latencyBuckets are the upper bounds of scca_inventory_latency_seconds:
// 100 µs growing by 2.5x, twelve buckets (to about 2.4 s).
var latencyBuckets = func() []float64 {
	b := make([]float64, 12)
	for i, v := 0, 0.0001; i < len(b); i, v = i+1, v*2.5 {
		b[i] = v
	}
	return b
}()

// RevocationFeed is the part of the inventory the revocation counter reads;
// certstore.Store implements it.
type RevocationFeed interface {
	LastAuditID(ctx context.Context) (int64, error)
	RevocationsSince(ctx context.Context, afterAuditID int64, limit int) ([]certstore.RevocationEvent, error)
}

// NewMetrics creates the metrics. With feed set, scca_revocations_total
// counts revocations recorded in the inventory by any process since the
// metrics were created (read from the audit log at each scrape).
func NewMetrics(ctx context.Context, feed RevocationFeed) (*Metrics, error) {
	s := promtext.NewSet()
	m := &Metrics{set: s, renewals: s.Counter("scca_renewals_total")}
	// The labelled series that always exist start at zero, so a dashboard
	// sees them before the first event.
	for _, method := range []string{"token", "renewal"} {
		m.counter("scca_issuances_total", "method", method)
	}
	for _, kind := range []string{"crl", "ocsp"} {
		m.counter("scca_revocation_requests_total", "kind", kind)
	}
	if feed != nil {
		rc, err := newRevocationCounter(ctx, feed)
		if err != nil {
			return nil, err
		}
		m.feed = rc
		m.revocations = s.Counter("scca_revocations_total")
	}
	return m, nil
}

// counter returns the counter name{label="value",...}; labels are pairs.
func (m *Metrics) counter(name string, labels ...string) *promtext.Counter {
	return m.set.Counter(name, labels...)
}

// Handler serves the metrics in the Prometheus text format. A scrape whose
// revocation feed cannot be read fails with 500 rather than report a stale
// count.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.scrape.Lock()
		defer m.scrape.Unlock()
		if m.feed != nil {
			n, err := m.feed.total(r.Context())
			if err != nil {
				// The inventory's error may name its host or user: the
				// answer says only what failed.
				http.Error(w, "metrics: the inventory's revocation feed cannot be read", http.StatusInternalServerError)
				return
			}
			m.revocations.Set(n)
		}
		var buf bytes.Buffer
		_, _ = m.set.WriteTo(&buf)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
}

// observe times one inventory operation.
func (m *Metrics) observe(op string, start time.Time) {
	m.set.Histogram("scca_inventory_latency_seconds", latencyBuckets, "op", op).ObserveSince(start)
}

// CountRevocationRequests wraps the plain-HTTP CRL/OCSP handler so the
// requests it serves are counted, by the first path segment.
func (m *Metrics) CountRevocationRequests(h http.Handler) http.Handler {
	ocsp := m.counter("scca_revocation_requests_total", "kind", "ocsp")
	crl := m.counter("scca_revocation_requests_total", "kind", "crl")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ocsp"):
			ocsp.Inc()
		case strings.HasPrefix(r.URL.Path, "/crl"):
			crl.Inc()
		}
		h.ServeHTTP(w, r)
	})
}

// revocationCounter follows the inventory's revocation feed at each scrape,
// so revocations by `scca revoke` in another process are counted too.
type revocationCounter struct {
	feed  RevocationFeed
	mu    sync.Mutex
	after int64
	count uint64
}

func newRevocationCounter(ctx context.Context, feed RevocationFeed) (*revocationCounter, error) {
	last, err := feed.LastAuditID(ctx)
	if err != nil {
		return nil, err
	}
	return &revocationCounter{feed: feed, after: last}, nil
}

// total reads the revocations recorded since the last scrape and returns
// the count since the server started.
func (c *revocationCounter) total(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		evs, err := c.feed.RevocationsSince(ctx, c.after, 1000)
		if err != nil {
			return 0, err
		}
		for _, e := range evs {
			c.after = e.AuditID
			c.count++
		}
		if len(evs) < 1000 {
			return c.count, nil
		}
	}
}
