package revocation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
)

// Benchmarks. The 1,000,000-entry CRL sizes run only with
// SCCA_BENCH_CRL_1M=1; the wrk load test only with SCCA_BENCH_WRK=1.

func crlSizes() []int {
	if os.Getenv("SCCA_BENCH_CRL_1M") == "1" {
		return []int{100_000, 1_000_000}
	}
	return []int{100_000}
}

// benchSerial is the serial of the i-th synthetic revoked certificate.
func benchSerial(i int) *big.Int {
	return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(0x5c), 120), big.NewInt(int64(i)))
}

const benchTimeLayout = "2006-01-02 15:04:05.000000"

// bulkLoad writes n revoked rows straight into the certificates table,
// batched in multi-row INSERTs: certstore.Insert does one audited
// transaction per certificate, which would take far longer than the
// benchmark itself for a million rows. It is a fixture only, tied to the
// schema in migrations/.
func bulkLoad(tb testing.TB, driver, dsn, keyID string, n int, at time.Time) {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	const batch = 1000
	ts := at.UTC().Format(benchTimeLayout)
	na := at.Add(365 * 24 * time.Hour).UTC().Format(benchTimeLayout)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var q strings.Builder
		q.WriteString("INSERT INTO certificates (issuer_key_id, serial, type, cn, sans, not_before, not_after, status," +
			" revoked_at, reason, revoked_by, fingerprint, der, issued_at, issued_by) VALUES ")
		args := make([]any, 0, (end-start)*6)
		for i := start; i < end; i++ {
			if i > start {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, 'client', 'bench', '[]', ?, ?, 'revoked', ?, ?, 'bench', ?, X'00', ?, 'bench')")
			serial := benchSerial(i).Text(16)
			fp := sha256.Sum256([]byte(serial))
			args = append(args, keyID, serial, ts, na, ts, i%7, hex.EncodeToString(fp[:]), ts)
		}
		if _, err := db.Exec(q.String(), args...); err != nil {
			tb.Fatalf("bulk load: %v", err)
		}
	}
}

// peakHeap samples live heap bytes while fn runs and returns the peak above
// the level before it started.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

func BenchmarkCRLGeneration(b *testing.B) {
	root := newRootCA(b, "", "bench root", nil)
	keyID := root.keyID()
	at := time.Now().Add(-time.Hour)
	for _, n := range crlSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.Run("x509.CreateRevocationList/in-memory", func(b *testing.B) {
				entries := make([]x509.RevocationListEntry, n)
				for i := range entries {
					entries[i] = x509.RevocationListEntry{SerialNumber: benchSerial(i), RevocationTime: at, ReasonCode: i % 7}
				}
				runCRLBench(b, func(k int) error {
					_, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
						RevokedCertificateEntries: entries, Number: big.NewInt(int64(k + 1)),
						ThisUpdate: time.Now(), NextUpdate: time.Now().Add(DefaultCRLValidity),
					}, root.cert, root.key)
					return err
				})
			})
			for _, be := range backends {
				b.Run("GenerateCRL/"+be.name, func(b *testing.B) {
					url := be.url(b)
					st := openStore(b, url)
					driver, dsn := "mysql", url
					if p, ok := strings.CutPrefix(url, "sqlite:"); ok {
						driver, dsn = "sqlite", p
					}
					bulkLoad(b, driver, dsn, keyID, n, at)
					runCRLBench(b, func(int) error {
						_, info, err := GenerateCRL(context.Background(), st, crlConfig(root))
						if err == nil && info.Entries != n {
							err = fmt.Errorf("%d entries, want %d", info.Entries, n)
						}
						return err
					})
				})
			}
		})
	}
}

func runCRLBench(b *testing.B, gen func(k int) error) {
	b.ReportAllocs()
	var peak uint64
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		var err error
		peak = max(peak, peakHeap(func() { err = gen(k) }))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkInventoryCheckerMySQL measures Check latency against MariaDB with
// 100,000 other rows in the table; p50/p99 are reported per operation.
func BenchmarkInventoryCheckerMySQL(b *testing.B) {
	url := testdb.MySQL(b, "scca_revocation_bench")
	st := openStore(b, url)
	root := newRootCA(b, "", "bench root", nil)
	bulkLoad(b, "mysql", url, root.keyID(), 100_000, time.Now())
	certs := make([]*x509.Certificate, 200)
	for i := range certs {
		certs[i] = root.leaf(b, "", fmt.Sprintf("leaf%d", i)).cert
		if err := st.Insert(context.Background(), recordOf(certs[i], certstore.TypeClient)); err != nil {
			b.Fatal(err)
		}
	}
	c := &InventoryChecker{Store: st}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := c.Check(context.Background(), certs[i%len(certs)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// ocspBenchFixture is a responder over the given store with 100 good and 100
// revoked certificates, and their DER OCSP requests.
func ocspBenchFixture(b *testing.B, st RevokerStore, insert func(certstore.Record) error) (http.Handler, [][]byte) {
	return ocspBenchFixtureAt(b, st, insert, nil)
}

// ocspBenchFixtureAt is ocspBenchFixture with the responder's clock.
func ocspBenchFixtureAt(b *testing.B, st RevokerStore, insert func(certstore.Record) error, now func() time.Time) (http.Handler, [][]byte) {
	root := newRootCA(b, "", "bench root", nil)
	var reqs [][]byte
	for i := range 200 {
		leaf := root.leaf(b, "", fmt.Sprintf("leaf%d", i)).cert
		rec := recordOf(leaf, certstore.TypeClient)
		if i%2 == 1 {
			at, reason := time.Now().UTC(), 1
			rec.Status, rec.RevokedAt, rec.Reason = certstore.StatusRevoked, &at, &reason
		}
		if err := insert(rec); err != nil {
			b.Fatal(err)
		}
		r, err := ocsp.CreateRequest(leaf, root.cert, nil)
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	h, err := NewOCSPResponder(ResponderConfig{Issuer: root.cert, Signer: root.key, Store: st, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	return h, reqs
}

// BenchmarkOCSPHandler measures the responder in process (no network):
// memory and mysql with the real clock, so each of the 200 serials is
// signed again every CacheTTL; memory-frozen-clock with a clock that stands
// still, so every request after the first 200 is a cache hit (the steady
// state of a busy responder, and a figure that does not depend on how fast
// the machine runs, e.g. under callgrind); and trivial, a handler that only
// writes a fixed body of the same size, as the anchor.
func BenchmarkOCSPHandler(b *testing.B) {
	frozen := time.Now()
	type fixture struct {
		st     RevokerStore
		insert func(certstore.Record) error
		now    func() time.Time
	}
	memory := func(now func() time.Time) func(b *testing.B) fixture {
		return func(b *testing.B) fixture {
			fake := newFakeStore()
			return fixture{fake, func(r certstore.Record) error {
				fake.recs[[2]string{r.IssuerKeyID, r.Serial}] = r
				return nil
			}, now}
		}
	}
	stores := map[string]func(b *testing.B) fixture{
		"memory":              memory(nil),
		"memory-frozen-clock": memory(func() time.Time { return frozen }),
		"mysql": func(b *testing.B) fixture {
			st := openStore(b, testdb.MySQL(b, "scca_revocation_bench"))
			return fixture{st, func(r certstore.Record) error { return st.Insert(context.Background(), r) }, nil}
		},
	}
	serve := func(b *testing.B, h http.Handler, reqs [][]byte) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(reqs[i%len(reqs)])))
				if w.Code != 200 || w.Body.Len() < 100 {
					b.Errorf("status %d, %d bytes", w.Code, w.Body.Len())
					return
				}
				i++
			}
		})
	}
	for _, name := range []string{"memory", "memory-frozen-clock", "mysql"} {
		b.Run(name, func(b *testing.B) {
			f := stores[name](b)
			h, reqs := ocspBenchFixtureAt(b, f.st, f.insert, f.now)
			serve(b, h, reqs)
		})
	}
	b.Run("trivial", func(b *testing.B) {
		fake := newFakeStore()
		h, reqs := ocspBenchFixture(b, fake, func(r certstore.Record) error {
			fake.recs[[2]string{r.IssuerKeyID, r.Serial}] = r
			return nil
		})
		probe := httptest.NewRecorder()
		h.ServeHTTP(probe, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(reqs[0])))
		body := bytes.Repeat([]byte{'x'}, probe.Body.Len())
		serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/ocsp-response")
			w.Write(body)
		}), reqs)
	})
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// BenchmarkOCSPServerWrk runs wrk against `Serve` with GET requests for a mix
// of good and revoked serials. One iteration is one 5 s wrk run; the figure
// is req/s. The anchor, trivial-net-http, runs first on the same Serve setup,
// wrk settings and request paths with a handler that only writes a fixed
// body the size of an OCSP response; the responder sub-benchmarks (over the
// in-memory store and the MySQL inventory) then report their rate as a
// fraction of the anchor's in the same run (x-trivial).
func BenchmarkOCSPServerWrk(b *testing.B) {
	if os.Getenv("SCCA_BENCH_WRK") != "1" {
		b.Skip("set SCCA_BENCH_WRK=1 to run wrk")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk not installed")
	}
	fake := newFakeStore()
	h, reqs := ocspBenchFixture(b, fake, func(r certstore.Record) error {
		fake.recs[[2]string{r.IssuerKeyID, r.Serial}] = r
		return nil
	})
	script := wrkScript(b, reqs)
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(reqs[0])))
	body := bytes.Repeat([]byte{'x'}, probe.Body.Len())
	trivial := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(body)
	})
	var anchor float64
	b.Run("trivial-net-http", func(b *testing.B) {
		anchor = runWrk(b, trivial, script, "req/s")
	})
	b.Run("ocsp/memory", func(b *testing.B) {
		reportRatio(b, runWrk(b, NewHTTPHandler(ServerConfig{OCSP: h}), script, "ocsp-req/s"), anchor)
	})
	b.Run("ocsp/mysql", func(b *testing.B) {
		st := openStore(b, testdb.MySQL(b, "scca_revocation_bench"))
		h, reqs := ocspBenchFixture(b, st, func(r certstore.Record) error { return st.Insert(context.Background(), r) })
		reportRatio(b, runWrk(b, NewHTTPHandler(ServerConfig{OCSP: h}), wrkScript(b, reqs), "ocsp-req/s"), anchor)
	})
}

func reportRatio(b *testing.B, rps, anchor float64) {
	if anchor > 0 {
		b.ReportMetric(rps/anchor, "x-trivial")
	}
}

// wrkScript writes a wrk Lua script cycling through GET requests for reqs.
func wrkScript(b *testing.B, reqs [][]byte) string {
	var paths []string
	for _, r := range reqs {
		paths = append(paths, strconv.Quote("/ocsp/"+strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(r))))
	}
	script := filepath.Join(b.TempDir(), "mix.lua")
	lua := "local paths = {" + strings.Join(paths, ",") + "}\nlocal i = 0\nrequest = function()\n i = i % #paths + 1\n return wrk.format(\"GET\", paths[i])\nend\n"
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		b.Fatal(err)
	}
	return script
}

// runWrk serves h with Serve and runs wrk (2 threads, 32 connections, 5 s)
// once per iteration, returning the mean req/s.
func runWrk(b *testing.B, h http.Handler, script, unit string) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	defer func() { cancel(); <-done }()
	var sum float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Command("wrk", "-t2", "-c32", "-d"+wrkDuration(), "-s", script, "http://"+ln.Addr().String()).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := wrkRPS.FindSubmatch(out)
		if m == nil || bytes.Contains(out, []byte("Non-2xx")) {
			b.Fatalf("wrk output:\n%s", out)
		}
		rps, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += rps
	}
	b.ReportMetric(sum/float64(b.N), unit)
	return sum / float64(b.N)
}

// wrkDuration is SCCA_BENCH_WRK_DURATION, 5s by default.
func wrkDuration() string {
	if d := os.Getenv("SCCA_BENCH_WRK_DURATION"); d != "" {
		return d
	}
	return "5s"
}
