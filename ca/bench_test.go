package ca

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkIssueECDSAP256 measures Certify (build, sign, record in memory)
// under a P-256 CA for a pre-generated P-256 key: the CA's per-certificate
// cost without key generation or file I/O.
func BenchmarkIssueECDSAP256(b *testing.B) {
	a, _ := newTestCA(b, KeyECDSAP256, false)
	key, err := GenerateKey(KeyECDSAP256, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := IssueRequest{Profile: ProfileServer, CN: "bench.scca.test"}
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Certify(ctx, key.Public(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Certify(ctx, key.Public(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkIssueFiles measures Issue end to end: P-256 key generation,
// signing, staging two fsynced files, recording, and committing.
func BenchmarkIssueFiles(b *testing.B) {
	a, _ := newTestCA(b, KeyECDSAP256, false)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := a.Issue(ctx, IssueRequest{Profile: ProfileClient, CN: "c" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
