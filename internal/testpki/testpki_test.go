package testpki

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestIssueVerifies(t *testing.T) {
	ca := NewCA(t, "Test Root")
	server, _ := ca.Issue(t, "localhost", LeafOpts{EKU: x509.ExtKeyUsageServerAuth})
	if _, err := server[0].Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("server leaf: %v", err)
	}
	client, key := ca.Issue(t, "alice", LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	opts := x509.VerifyOptions{Roots: PoolOf(ca.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := client[0].Verify(opts); err != nil {
		t.Fatalf("client leaf: %v", err)
	}
	if client[0].Subject.CommonName != "alice" || key == nil || client[0].SerialNumber.Cmp(server[0].SerialNumber) == 0 {
		t.Fatalf("client leaf %v, serials %v/%v", client[0].Subject, client[0].SerialNumber, server[0].SerialNumber)
	}
	// A client leaf is not a server certificate, and an expired one fails.
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := client[0].Verify(opts); err == nil {
		t.Fatal("a clientAuth leaf verified for serverAuth")
	}
	old, _ := ca.Issue(t, "bob", LeafOpts{EKU: x509.ExtKeyUsageClientAuth, NotAfter: time.Now().Add(-time.Minute)})
	if _, err := old[0].Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("an expired leaf verified")
	}
}
