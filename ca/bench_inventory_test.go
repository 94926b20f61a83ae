package ca_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/securechat/scca/internal/testdb"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
)

// BenchmarkIssueInventory measures in-process issuance as an operator gets
// it: a fresh ECDSA P-256 key, a signed certificate, and the row (with its
// audit entry) committed to a real inventory — SQLite, and MariaDB/MySQL when
// SCCA_TEST_MYSQL_DSN is set — from one issuer and from 8 concurrent issuers.
func BenchmarkIssueInventory(b *testing.B) {
	stores := map[string]func(b *testing.B) string{
		"sqlite": func(b *testing.B) string { return testdb.SQLite(b) },
		"mysql":  func(b *testing.B) string { return testdb.MySQL(b, "scca_bench") },
	}
	for _, name := range []string{"sqlite", "mysql"} {
		b.Run(name, func(b *testing.B) {
			url := stores[name](b)
			ctx := context.Background()
			st, err := certstore.Open(ctx, url, certstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			a, err := ca.Init(ctx, ca.InitRequest{Dir: b.TempDir(), Store: st})
			if err != nil {
				b.Fatal(err)
			}
			issue := func() error {
				key, err := ca.GenerateKey(ca.KeyECDSAP256, nil)
				if err != nil {
					return err
				}
				_, err = a.Certify(ctx, key.Public(), ca.IssueRequest{Profile: ca.ProfileClient, CN: "bench-client"})
				return err
			}
			b.Run("single", func(b *testing.B) {
				for b.Loop() {
					if err := issue(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
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
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})
		})
	}
}
