package revocation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

type revokerFixture struct {
	dir         string
	root, inter *testCA
	leaf, other *testCA
	st          *fakeStore
	r           *Revoker
	leafCRL     string
	rootCRL     string
}

func newRevokerFixture(t *testing.T) *revokerFixture {
	f := &revokerFixture{dir: t.TempDir(), st: newFakeStore()}
	f.root = newRootCA(t, f.dir, "root", nil)
	f.inter = f.root.intermediate(t, f.dir, "inter")
	f.leaf, f.other = f.inter.leaf(t, f.dir, "leaf"), f.inter.leaf(t, f.dir, "other")
	f.st.add(f.inter.cert, certstore.TypeCA)
	f.st.add(f.leaf.cert, certstore.TypeServer)
	f.st.add(f.other.cert, certstore.TypeClient)
	f.leafCRL, f.rootCRL = filepath.Join(f.dir, "crl.pem"), filepath.Join(f.dir, "root_crl.pem")
	f.r = &Revoker{Store: f.st, CRLs: map[string]CRLTarget{
		f.inter.keyID(): {CRLConfig: crlConfig(f.inter), PEMPath: f.leafCRL, DERPath: filepath.Join(f.dir, "crl.der")},
		f.root.keyID():  {CRLConfig: crlConfig(f.root), PEMPath: f.rootCRL, DERPath: filepath.Join(f.dir, "root_crl.der")},
	}}
	// Publish the initial, empty CRLs as `scca init` would.
	for _, tg := range f.r.CRLs {
		if _, err := PublishCRL(context.Background(), f.st, tg.CRLConfig, tg.PEMPath, tg.DERPath); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func serialOf(c *testCA) string { return fmt.Sprintf("%x", c.cert.SerialNumber) }

func TestRevokerRevokesAndRepublishes(t *testing.T) {
	f := newRevokerFixture(t)
	// Upper case with colons and a leading zero: normalized.
	human := "0" + strings.ToUpper(serialOf(f.leaf))
	rec, info, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: human, Reason: 1, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != certstore.StatusRevoked || *rec.Reason != 1 || rec.RevokedBy != "alice" {
		t.Errorf("record %+v", rec)
	}
	if info.Entries != 1 || info.Number != 2 || info.PEMPath != f.leafCRL {
		t.Errorf("crl info %+v", info)
	}
	if len(f.st.audit) != 1 || f.st.audit[0].Actor != "alice" {
		t.Errorf("audit %+v", f.st.audit)
	}
	out, err := openssl(t, "verify", "-crl_check", "-CAfile", f.root.path, "-untrusted", f.inter.path, "-CRLfile", f.leafCRL, f.leaf.path)
	if err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl accepted the revoked leaf: %s", out)
	}
	mustOpenSSL(t, "verify", "-crl_check", "-CAfile", f.root.path, "-untrusted", f.inter.path, "-CRLfile", f.leafCRL, f.other.path)
}

func TestRevokerRefusals(t *testing.T) {
	f := newRevokerFixture(t)
	before, _ := os.ReadFile(f.leafCRL)
	rootRec := recordOf(f.root.cert, certstore.TypeCA)
	rootRec.IssuerKeyID = f.root.keyID() // a root is recorded under itself
	f.st.mu.Lock()
	f.st.recs[[2]string{rootRec.IssuerKeyID, rootRec.Serial}] = rootRec
	f.st.mu.Unlock()
	if _, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.other), Reason: 4}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  RevokeRequest
		want error
	}{
		{"unknown serial", RevokeRequest{Serial: "abcdef"}, certstore.ErrNotFound},
		{"twice", RevokeRequest{Serial: serialOf(f.other)}, certstore.ErrAlreadyRevoked},
		{"malformed serial", RevokeRequest{Serial: "xyz"}, ErrMalformedSerial},
		{"zero serial", RevokeRequest{Serial: "00"}, ErrMalformedSerial},
		{"bad reason", RevokeRequest{Serial: serialOf(f.leaf), Reason: 8}, ErrBadReason},
		{"unassigned reason", RevokeRequest{Serial: serialOf(f.leaf), Reason: 7}, ErrBadReason},
		{"ca without force", RevokeRequest{Serial: serialOf(f.inter)}, ErrCANeedsForce},
		{"self-signed root, even with force", RevokeRequest{Serial: serialOf(f.root), Reason: 2, Force: true}, ErrSelfSignedRoot},
		{"wrong issuer", RevokeRequest{Serial: serialOf(f.leaf), IssuerKeyID: f.root.keyID()}, certstore.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crlBefore, _ := os.ReadFile(f.leafCRL)
			audits := len(f.st.audit)
			if _, _, err := f.r.Revoke(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("Revoke = %v, want %v", err, tt.want)
			}
			crlAfter, _ := os.ReadFile(f.leafCRL)
			if !bytes.Equal(crlBefore, crlAfter) || len(f.st.audit) != audits {
				t.Error("a refused revocation changed the CRL or the audit trail")
			}
		})
	}
	if after, _ := os.ReadFile(f.leafCRL); bytes.Equal(before, after) {
		t.Error("the successful revocation did not republish the CRL")
	}
	t.Run("ca with force goes to the root's CRL", func(t *testing.T) {
		_, info, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.inter), Reason: 2, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if info.PEMPath != f.rootCRL || info.Entries != 1 {
			t.Errorf("info %+v", info)
		}
		h, err := CheckCRLFile(f.rootCRL, f.root.cert, time.Now(), 0)
		if err != nil || h.Entries != 1 {
			t.Errorf("root CRL %+v, %v", h, err)
		}
	})
	t.Run("a revoked intermediate publishes no more CRLs", func(t *testing.T) {
		crlBefore, _ := os.ReadFile(f.leafCRL)
		rec, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.leaf), Reason: 1})
		if !errors.Is(err, ErrCRLNotPublished) || !errors.Is(err, ErrIssuerRevoked) || rec.Status != certstore.StatusRevoked {
			t.Fatalf("Revoke under a revoked intermediate = %+v, %v; want recorded, CRL refused with ErrIssuerRevoked", rec, err)
		}
		if crlAfter, _ := os.ReadFile(f.leafCRL); !bytes.Equal(crlBefore, crlAfter) {
			t.Error("the revoked intermediate's CRL was rewritten")
		}
	})
}

func TestRevokerAmbiguousSerial(t *testing.T) {
	f := newRevokerFixture(t)
	twin := *f.leaf.cert
	twin.AuthorityKeyId = f.root.cert.SubjectKeyId // same serial under the root
	f.st.add(&twin, certstore.TypeServer)
	if _, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.leaf)}); !errors.Is(err, ErrAmbiguousSerial) {
		t.Fatalf("Revoke = %v", err)
	}
	if _, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.leaf), IssuerKeyID: f.inter.keyID()}); err != nil {
		t.Fatalf("with issuer: %v", err)
	}
}

// TestRevokerDatabaseGoesAway: whether the store fails inside the revocation
// or right after it, the CRL on disk is the previous, complete, valid one.
func TestRevokerDatabaseGoesAway(t *testing.T) {
	for _, tt := range []struct {
		name      string
		inject    func(*fakeStore)
		want      error
		committed bool
	}{
		{"during revoke", func(s *fakeStore) { s.failRevoke = errDBGone }, errDBGone, false},
		{"before crl number", func(s *fakeStore) { s.failNumber = errDBGone }, ErrCRLNotPublished, true},
		{"while streaming entries", func(s *fakeStore) { s.failRevoked = errDBGone }, ErrCRLNotPublished, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newRevokerFixture(t)
			before, _ := os.ReadFile(f.leafCRL)
			tt.inject(f.st)
			rec, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.leaf), Reason: 1})
			if !errors.Is(err, tt.want) || !errors.Is(err, errDBGone) {
				t.Fatalf("Revoke = %v, want %v and %v", err, tt.want, errDBGone)
			}
			if (rec.Status == certstore.StatusRevoked) != tt.committed {
				t.Errorf("returned record %+v, committed=%v", rec, tt.committed)
			}
			after, _ := os.ReadFile(f.leafCRL)
			if !bytes.Equal(before, after) {
				t.Error("CRL changed")
			}
			if _, err := CheckCRLFile(f.leafCRL, f.inter.cert, time.Now(), 0); err != nil {
				t.Errorf("CRL no longer valid: %v", err)
			}
			mustOpenSSL(t, "crl", "-in", f.leafCRL, "-CAfile", f.inter.path, "-verify", "-noout")
		})
	}
}

func TestRevokerWithoutCRLTarget(t *testing.T) {
	f := newRevokerFixture(t)
	delete(f.r.CRLs, f.inter.keyID())
	rec, _, err := f.r.Revoke(context.Background(), RevokeRequest{Serial: serialOf(f.leaf), IssuerKeyID: f.inter.keyID()})
	if !errors.Is(err, ErrCRLNotPublished) || !errors.Is(err, ErrNoCRLTarget) || rec.Status != certstore.StatusRevoked {
		t.Fatalf("Revoke = %+v, %v", rec, err)
	}
}
