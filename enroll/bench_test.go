package enroll

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testdb"
)

// BenchmarkEnrollMariaDB compares, in one run and on one MariaDB inventory,
// a whole enrollment through the API (client key generation, CSR, a fresh
// TLS connection with pinning, token check and use, signing, the recording
// transaction, the answer's verification and the three files written) with
// `scca issue`'s in-process issuance (Authority.Issue: key, signing,
// recording, files).
//
//	SCCA_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench EnrollMariaDB ./enroll/
func BenchmarkEnrollMariaDB(b *testing.B) {
	c := newBenchCA(b, testdb.MySQL(b, "scca_enroll_bench"))
	ctx := context.Background()
	b.Run("api", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i] = c.token(b, fmt.Sprintf("api-%d-%d", b.N, i), 0)
		}
		dir := b.TempDir()
		b.ResetTimer()
		for i := range b.N {
			cl := &Client{URL: c.url, Fingerprint: Fingerprint(c.a.Root)}
			if _, err := cl.Enroll(ctx, EnrollRequest{Token: tokens[i], CN: fmt.Sprintf("api-%d-%d", b.N, i), Dir: dir}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("issue", func(b *testing.B) {
		dir := b.TempDir()
		for i := range b.N {
			_, err := c.a.Issue(ctx, ca.IssueRequest{
				Profile: ca.ProfileClient, CN: fmt.Sprintf("issue-%d-%d", b.N, i),
				CertOut: filepath.Join(dir, fmt.Sprintf("%d-%d_cert.pem", b.N, i)), KeyOut: filepath.Join(dir, fmt.Sprintf("%d-%d_key.pem", b.N, i)),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
