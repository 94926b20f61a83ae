package ca_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/inventory"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
)

// discardRecorder accepts every row without keeping it: the "ceiling" of
// BenchmarkIssueInventory, where issuance costs only key generation and
// signing.
type discardRecorder struct{}

func (discardRecorder) Insert(context.Context, inventory.Record) error { return nil }

// BenchmarkIssueInventory measures in-process issuance as an operator gets
// it: a fresh ECDSA P-256 key, a signed certificate, and the row (with its
// audit entry) committed to a real inventory — SQLite, MariaDB/MySQL
// (SCCA_TEST_MYSQL_DSN) and PostgreSQL (SCCA_TEST_POSTGRES_DSN) — from one
// issuer and from 8 concurrent issuers.
// The "ceiling" sub-benchmark runs first with an in-memory recorder that
// keeps nothing (key generation and signing only); the store sub-benchmarks
// then report their rate as a fraction of the ceiling measured in the same
// run (x-ceiling), which machine load affects far less than certs/s.
// concurrent8-files is concurrent8 through Issue, writing the key and
// certificate files: x-ceiling compares it with the ceiling writing the
// same files with no inventory, x-ceiling-nofiles with keygen+sign alone.
func BenchmarkIssueInventory(b *testing.B) {
	stores := map[string]func(b *testing.B) ca.Recorder{
		"ceiling": func(b *testing.B) ca.Recorder { return discardRecorder{} },
		"sqlite":  func(b *testing.B) ca.Recorder { return openBenchStore(b, testdb.SQLite(b)) },
		"mysql":   func(b *testing.B) ca.Recorder { return openBenchStore(b, testdb.MySQL(b, "scca_bench")) },
		"postgres": func(b *testing.B) ca.Recorder {
			return openBenchStore(b, testdb.Postgres(b, "scca_bench"))
		},
	}
	ceiling := map[string]float64{} // certs/s of the ceiling, per mode
	for _, name := range []string{"ceiling", "sqlite", "mysql", "postgres"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			a, err := ca.Init(ctx, ca.InitRequest{Dir: b.TempDir(), Store: stores[name](b)})
			if err != nil {
				b.Fatal(err)
			}
			// Every certificate gets its own CN: one client identity has one
			// active holder (certstore's identity rule).
			var n atomic.Int64
			issue := func() error {
				key, err := ca.GenerateKey(ca.KeyECDSAP256, nil)
				if err != nil {
					return err
				}
				_, err = a.Certify(ctx, key.Public(), ca.IssueRequest{Profile: ca.ProfileClient, CN: "bench-client-" + strconv.FormatInt(n.Add(1), 10)})
				return err
			}
			report := func(b *testing.B, mode string) {
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "certs/s")
				if name == "ceiling" {
					ceiling[mode] = rate
				} else if c := ceiling[mode]; c > 0 {
					b.ReportMetric(rate/c, "x-ceiling")
				}
				if c := ceiling["concurrent8"]; mode == "concurrent8-files" && c > 0 {
					b.ReportMetric(rate/c, "x-ceiling-nofiles")
				}
			}
			b.Run("single", func(b *testing.B) {
				for b.Loop() {
					if err := issue(); err != nil {
						b.Fatal(err)
					}
				}
				report(b, "single")
			})
			b.Run("concurrent8", func(b *testing.B) {
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := issue(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				report(b, "concurrent8")
			})
			// The same through Issue, as `scca issue` runs it: the key and
			// certificate files are staged, journaled and fsynced around
			// the insert (see pending.go). Against the ceiling's own files
			// run it shows what the inventory adds; against concurrent8
			// what the files add.
			b.Run("concurrent8-files", func(b *testing.B) {
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_, err := a.Issue(ctx, ca.IssueRequest{Profile: ca.ProfileClient,
							CN: "bench-client-" + strconv.FormatInt(n.Add(1), 10)})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				report(b, "concurrent8-files")
			})
		})
	}
}

// openBenchStore opens and migrates the inventory at url.
func openBenchStore(b *testing.B, url string) *certstore.Store {
	ctx := context.Background()
	st, err := certstore.Open(ctx, url, certstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return st
}
