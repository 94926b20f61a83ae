package enroll

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// fakeFeed is a revocation feed whose events and failure the test sets.
type fakeFeed struct {
	events []certstore.RevocationEvent
	err    error
}

func (f *fakeFeed) LastAuditID(context.Context) (int64, error) { return 0, f.err }

func (f *fakeFeed) RevocationsSince(_ context.Context, after int64, limit int) ([]certstore.RevocationEvent, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []certstore.RevocationEvent
	for _, e := range f.events {
		if e.AuditID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func scrape(t *testing.T, m *Metrics) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// TestMetricsExposition: the series, their labels and the histogram come
// out in the Prometheus text format; revocations follow the feed across
// scrapes, paging through more than one batch.
func TestMetricsExposition(t *testing.T) {
	feed := &fakeFeed{}
	m, err := NewMetrics(context.Background(), feed)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 1500; i++ {
		feed.events = append(feed.events, certstore.RevocationEvent{AuditID: i})
	}
	m.countIssued("token")
	m.countIssued("renewal")
	m.countError("sign", http.StatusUnauthorized)
	m.observe("insert", time.Now().Add(-3*time.Millisecond))
	m.CountRevocationRequests(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ocsp/abc", nil))
	code, body := scrape(t, m)
	if code != http.StatusOK {
		t.Fatalf("scrape: %d %s", code, body)
	}
	for _, want := range []string{
		`scca_issuances_total{method="token"} 1`, `scca_issuances_total{method="renewal"} 1`,
		`scca_renewals_total 1`, `scca_revocations_total 1500`,
		`scca_api_errors_total{code="Unauthorized",endpoint="sign"} 1`,
		`scca_revocation_requests_total{kind="ocsp"} 1`, `scca_revocation_requests_total{kind="crl"} 0`,
		// 3 ms or more have passed: above the 1.5625 ms bucket's bound.
		`scca_inventory_latency_seconds_bucket{op="insert",le="0.0015625"} 0`,
		`scca_inventory_latency_seconds_bucket{op="insert",le="+Inf"} 1`,
		`scca_inventory_latency_seconds_count{op="insert"} 1`,
		`# TYPE scca_issuances_total counter`, `# TYPE scca_inventory_latency_seconds histogram`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	feed.events = append(feed.events, certstore.RevocationEvent{AuditID: 1501})
	if _, body := scrape(t, m); !strings.Contains(body, "scca_revocations_total 1501\n") {
		t.Errorf("second scrape:\n%s", body)
	}
}

// TestMetricsFeedFailure: a scrape whose revocation feed fails is a 500,
// never a stale count.
func TestMetricsFeedFailure(t *testing.T) {
	feed := &fakeFeed{}
	m, err := NewMetrics(context.Background(), feed)
	if err != nil {
		t.Fatal(err)
	}
	feed.err = errors.New("inventory unreachable")
	if code, body := scrape(t, m); code != http.StatusInternalServerError || strings.Contains(body, "scca_revocations_total") ||
		strings.Contains(body, "unreachable") {
		t.Fatalf("scrape with a failing feed: %d %s", code, body)
	}
	if _, err := NewMetrics(context.Background(), feed); err == nil {
		t.Fatal("NewMetrics with a failing feed: no error")
	}
}
