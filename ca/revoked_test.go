package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// lookupRecorder is a memRecorder that can also look records up, as
// certstore.Store can.
type lookupRecorder struct {
	*memRecorder
	getErr error
}

func (l *lookupRecorder) Get(_ context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	if l.getErr != nil {
		return certstore.Record{}, l.getErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.rows[issuerKeyID+"/"+serial]
	if !ok {
		return certstore.Record{}, certstore.ErrNotFound
	}
	return r, nil
}

func (l *lookupRecorder) revoke(c *x509.Certificate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := recordIssuerKeyID(c) + "/" + serialHex(c)
	r := l.rows[k]
	at, reason := time.Now().UTC(), 2
	r.Status, r.RevokedAt, r.Reason = certstore.StatusRevoked, &at, &reason
	l.rows[k] = r
}

func TestRevokedCARefusesToIssue(t *testing.T) {
	for _, intermediate := range []bool{true, false} {
		name := map[bool]string{true: "intermediate", false: "root only"}[intermediate]
		t.Run(name, func(t *testing.T) {
			rec := &lookupRecorder{memRecorder: newMemRecorder()}
			a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Intermediate: intermediate, Store: rec})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := a.Issue(ctx, IssueRequest{Profile: ProfileClient, CN: "before"}); err != nil {
				t.Fatalf("issue before revocation: %v", err)
			}
			rec.revoke(a.Issuer())
			rows := rec.count()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr"}}, key)
			attempts := map[string]func() error{
				"issue": func() error {
					_, err := a.Issue(ctx, IssueRequest{Profile: ProfileClient, CN: "after"})
					return err
				},
				"certify": func() error {
					_, err := a.Certify(ctx, key.Public(), IssueRequest{Profile: ProfileClient, CN: "after"})
					return err
				},
				"sign csr": func() error {
					_, err := a.SignCSR(ctx, SignRequest{CSRPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), Profile: ProfileClient})
					return err
				},
			}
			for what, try := range attempts {
				if err := try(); !errors.Is(err, ErrCARevoked) {
					t.Errorf("%s under a revoked CA = %v, want ErrCARevoked", what, err)
				}
			}
			if rec.count() != rows {
				t.Errorf("%d rows recorded under a revoked CA", rec.count()-rows)
			}
		})
	}
}

func TestCheckNotRevokedFailsClosed(t *testing.T) {
	rec := &lookupRecorder{memRecorder: newMemRecorder()}
	a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Intermediate: true, Store: rec})
	if err != nil {
		t.Fatal(err)
	}
	rec.getErr = errStoreDown
	if _, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "x"}); !errors.Is(err, errStoreDown) {
		t.Errorf("issue while the CA's status cannot be read = %v, want the store error", err)
	}
	// A Recorder that cannot look records up has nothing to check against.
	plain, _ := newTestCA(t, DefaultKeyType, true)
	if err := plain.CheckNotRevoked(context.Background()); err != nil {
		t.Errorf("CheckNotRevoked without lookups = %v", err)
	}
}
