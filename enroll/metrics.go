package enroll

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/securechat/scca/certstore"
)

// Metrics are the online CA's Prometheus metrics, in a registry of their
// own (never the global one, so two servers in one test do not collide).
type Metrics struct {
	reg         *prometheus.Registry
	issued      *prometheus.CounterVec // by method: token, renewal
	renewals    prometheus.Counter
	revRequests *prometheus.CounterVec // by kind: crl, ocsp
	latency     *prometheus.HistogramVec
	errors      *prometheus.CounterVec // by endpoint and HTTP status
}

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
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scca_issuances_total", Help: "Certificates issued through the API, by what authorised them.",
		}, []string{"method"}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scca_renewals_total", Help: "Certificates renewed through the API.",
		}),
		revRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scca_revocation_requests_total", Help: "CRL and OCSP requests served.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scca_inventory_latency_seconds", Help: "Inventory operations made by the API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scca_api_errors_total", Help: "API requests answered with an error, by endpoint and status.",
		}, []string{"endpoint", "code"}),
	}
	for _, method := range []string{"token", "renewal"} {
		m.issued.WithLabelValues(method)
	}
	for _, kind := range []string{"crl", "ocsp"} {
		m.revRequests.WithLabelValues(kind)
	}
	m.reg.MustRegister(m.issued, m.renewals, m.revRequests, m.latency, m.errors)
	if feed != nil {
		rc, err := newRevocationCounter(ctx, feed)
		if err != nil {
			return nil, err
		}
		m.reg.MustRegister(rc)
	}
	return m, nil
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where further collectors can be registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// observe times one inventory operation.
func (m *Metrics) observe(op string, start time.Time) {
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// CountRevocationRequests wraps the plain-HTTP CRL/OCSP handler so the
// requests it serves are counted, by the first path segment.
func (m *Metrics) CountRevocationRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ocsp"):
			m.revRequests.WithLabelValues("ocsp").Inc()
		case strings.HasPrefix(r.URL.Path, "/crl"):
			m.revRequests.WithLabelValues("crl").Inc()
		}
		h.ServeHTTP(w, r)
	})
}

// revocationCounter follows the inventory's revocation feed at each scrape,
// so revocations by `scca revoke` in another process are counted too.
type revocationCounter struct {
	feed  RevocationFeed
	desc  *prometheus.Desc
	mu    sync.Mutex
	after int64
	total float64
}

func newRevocationCounter(ctx context.Context, feed RevocationFeed) (*revocationCounter, error) {
	last, err := feed.LastAuditID(ctx)
	if err != nil {
		return nil, err
	}
	return &revocationCounter{
		feed: feed, after: last,
		desc: prometheus.NewDesc("scca_revocations_total",
			"Revocations recorded in the inventory (by any process, supersessions included) since this server started.", nil, nil),
	}, nil
}

func (c *revocationCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *revocationCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		evs, err := c.feed.RevocationsSince(ctx, c.after, 1000)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		for _, e := range evs {
			c.after = e.AuditID
			c.total++
		}
		if len(evs) < 1000 {
			break
		}
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, c.total)
}
