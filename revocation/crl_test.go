package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

func TestPublishCRLAcceptedByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	st := newFakeStore()
	good := root.leaf(t, dir, "good")
	compromised := root.leaf(t, dir, "compromised")
	superseded := root.leaf(t, dir, "superseded")
	for _, c := range []*testCA{good, compromised, superseded} {
		st.add(c.cert, "server")
	}
	at := time.Now().Add(-time.Minute)
	st.revoke(t, compromised.cert, 1, at)
	st.revoke(t, superseded.cert, 4, at)

	pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
	info, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Number != 1 || info.Entries != 2 || info.NextUpdate.Sub(info.ThisUpdate) != DefaultCRLValidity {
		t.Errorf("info = %+v", info)
	}
	mustOpenSSL(t, "crl", "-in", pemPath, "-CAfile", root.path, "-verify", "-noout")
	mustOpenSSL(t, "crl", "-inform", "DER", "-in", derPath, "-CAfile", root.path, "-verify", "-noout")
	text := mustOpenSSL(t, "crl", "-in", pemPath, "-noout", "-text")
	for _, want := range []string{"Key Compromise", "Superseded", "X509v3 CRL Number", "X509v3 Authority Key Identifier", "Next Update"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl crl -text lacks %q:\n%s", want, text)
		}
	}
	if out, err := openssl(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", pemPath, good.path); err != nil {
		t.Errorf("good certificate refused: %v\n%s", err, out)
	}
	for _, c := range []*testCA{compromised, superseded} {
		out, err := openssl(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", pemPath, c.path)
		if err == nil || !strings.Contains(out, "certificate revoked") {
			t.Errorf("revoked %s accepted or wrong error: %v\n%s", c.cert.Subject.CommonName, err, out)
		}
	}

	// Go's parser agrees on every field.
	der, _ := os.ReadFile(derPath)
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(root.cert); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range rl.RevokedCertificateEntries {
		reasons[e.SerialNumber.Text(16)] = e.ReasonCode
		if !e.RevocationTime.Equal(at.UTC().Truncate(time.Second)) {
			t.Errorf("revocation time %v, want %v", e.RevocationTime, at)
		}
	}
	if reasons[compromised.cert.SerialNumber.Text(16)] != 1 || reasons[superseded.cert.SerialNumber.Text(16)] != 4 || len(reasons) != 2 {
		t.Errorf("entries = %v", reasons)
	}
	if !bytes.Equal(rl.AuthorityKeyId, root.cert.SubjectKeyId) {
		t.Error("AKI does not match the issuer's SKI")
	}

	// The number only grows across publishes.
	info2, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := CheckCRLFile(pemPath, root.cert, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Number <= info.Number || h.Number != info2.Number || h.Entries != 2 || h.Stale || h.ExpiresSoon {
		t.Errorf("second publish: info %+v, health %+v", info2, h)
	}
}

func TestCRLWithIntermediate(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	inter := root.intermediate(t, dir, "inter")
	leafGood, leafBad := inter.leaf(t, dir, "good"), inter.leaf(t, dir, "bad")
	st := newFakeStore()
	st.add(inter.cert, "ca")
	st.add(leafGood.cert, "server")
	st.add(leafBad.cert, "server")
	st.revoke(t, leafBad.cert, 1, time.Now())

	rootCRL, leafCRL := filepath.Join(dir, "root_crl.pem"), filepath.Join(dir, "crl.pem")
	if _, err := PublishCRL(context.Background(), st, crlConfig(root), rootCRL, ""); err != nil {
		t.Fatal(err)
	}
	info, err := PublishCRL(context.Background(), st, crlConfig(inter), leafCRL, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Entries != 1 {
		t.Errorf("intermediate CRL has %d entries, want only its own 1", info.Entries)
	}
	verify := func(c *testCA) (string, error) {
		return openssl(t, "verify", "-crl_check_all", "-CAfile", root.path, "-untrusted", inter.path,
			"-CRLfile", rootCRL, "-CRLfile", leafCRL, c.path)
	}
	if out, err := verify(leafGood); err != nil {
		t.Errorf("good leaf refused: %v\n%s", err, out)
	}
	if out, err := verify(leafBad); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("revoked leaf: %v\n%s", err, out)
	}
	// Revoking the intermediate shows up in the root's CRL and kills its leaves.
	st.revoke(t, inter.cert, 2, time.Now())
	if _, err := PublishCRL(context.Background(), st, crlConfig(root), rootCRL, ""); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(leafGood); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("leaf of revoked intermediate: %v\n%s", err, out)
	}
}

func TestCRLKeyTypes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"rsa2048": rsaKey, "p384": p384, "p521": p521, "ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			root := newRootCA(t, dir, "root", key)
			st := newFakeStore()
			leaf := root.leaf(t, dir, "leaf")
			st.add(leaf.cert, "client")
			st.revoke(t, leaf.cert, 0, time.Now())
			path := filepath.Join(dir, "crl.pem")
			if _, err := PublishCRL(context.Background(), st, crlConfig(root), path, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := CheckCRLFile(path, root.cert, time.Now(), 0); err != nil {
				t.Fatal(err)
			}
			mustOpenSSL(t, "crl", "-in", path, "-CAfile", root.path, "-verify", "-noout")
			out, err := openssl(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", path, leaf.path)
			if err == nil || !strings.Contains(out, "certificate revoked") {
				t.Errorf("revoked leaf: %v\n%s", err, out)
			}
		})
	}
}

func TestEmptyCRL(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	leaf := root.leaf(t, dir, "leaf")
	path := filepath.Join(dir, "crl.pem")
	info, err := PublishCRL(context.Background(), newFakeStore(), crlConfig(root), path, "")
	if err != nil || info.Entries != 0 {
		t.Fatalf("info %+v, err %v", info, err)
	}
	mustOpenSSL(t, "crl", "-in", path, "-CAfile", root.path, "-verify", "-noout")
	mustOpenSSL(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", path, leaf.path)
}

func TestCRLValidityAndClock(t *testing.T) {
	root := newRootCA(t, "", "root", nil)
	now := time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC) // nextUpdate crosses into GeneralizedTime
	cfg := crlConfig(root)
	cfg.Now = func() time.Time { return now }
	cfg.Validity = 48 * time.Hour
	der, info, err := GenerateCRL(context.Background(), newFakeStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if !rl.ThisUpdate.Equal(now) || !rl.NextUpdate.Equal(now.Add(48*time.Hour)) || !info.NextUpdate.Equal(rl.NextUpdate) {
		t.Errorf("thisUpdate %v nextUpdate %v", rl.ThisUpdate, rl.NextUpdate)
	}
}

func TestPublishCRLFailureLeavesFilesIntact(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	st := newFakeStore()
	pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
	if _, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(pemPath)
	for name, inject := range map[string]*error{"number": &st.failNumber, "entries": &st.failRevoked} {
		t.Run(name, func(t *testing.T) {
			*inject = errDBGone
			defer func() { *inject = nil }()
			if _, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath); !errors.Is(err, errDBGone) {
				t.Fatalf("err = %v, want %v", err, errDBGone)
			}
			after, _ := os.ReadFile(pemPath)
			if !bytes.Equal(before, after) {
				t.Error("crl.pem changed")
			}
			if _, err := CheckCRLFile(derPath, root.cert, time.Now(), 0); err != nil {
				t.Errorf("crl.der no longer valid: %v", err)
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmps) != 0 {
				t.Errorf("temporary files left behind: %v", tmps)
			}
		})
	}
	t.Run("bad config", func(t *testing.T) {
		if _, _, err := GenerateCRL(context.Background(), st, CRLConfig{Issuer: root.cert}); err == nil {
			t.Error("no signer accepted")
		}
	})
}

func TestCheckCRLFile(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	other := newRootCA(t, dir, "other", nil)
	st := newFakeStore()
	now := time.Now()
	path := filepath.Join(dir, "crl.der")
	if _, err := PublishCRL(context.Background(), st, crlConfig(root), "", path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	truncated := filepath.Join(dir, "truncated.der")
	os.WriteFile(truncated, raw[:len(raw)-10], 0o644)

	h, err := CheckCRLFile(path, root.cert, now.Add(6*24*time.Hour+12*time.Hour), 24*time.Hour)
	if err != nil || !h.ExpiresSoon || h.Stale {
		t.Errorf("near nextUpdate: %+v, %v", h, err)
	}
	h, err = CheckCRLFile(path, root.cert, now.Add(8*24*time.Hour), 24*time.Hour)
	if !errors.Is(err, ErrStale) || !h.Stale {
		t.Errorf("past nextUpdate: %+v, %v", h, err)
	}
	if _, err := CheckCRLFile(path, other.cert, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other issuer: %v", err)
	}
	if _, err := CheckCRLFile(truncated, root.cert, now, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := CheckCRLFile(filepath.Join(dir, "missing"), root.cert, now, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("missing: %v", err)
	}
	// Same subject name and SKI, different key: only the signature tells.
	impostor := newRootCA(t, dir, "root", nil)
	impostor.cert.SubjectKeyId = root.cert.SubjectKeyId
	forged := filepath.Join(dir, "forged.der")
	if _, err := PublishCRL(context.Background(), st, crlConfig(impostor), "", forged); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckCRLFile(forged, root.cert, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged: %v", err)
	}
}

// orderStore records the order of GenerateCRL's two reads of the store.
type orderStore struct {
	*fakeStore
	calls []string
}

func (o *orderStore) Revoked(ctx context.Context, id string, fn func(certstore.RevokedEntry) error) error {
	o.calls = append(o.calls, "read")
	return o.fakeStore.Revoked(ctx, id, fn)
}

func (o *orderStore) NextCRLNumber(ctx context.Context, id string) (int64, error) {
	o.calls = append(o.calls, "allocate")
	return o.fakeStore.NextCRLNumber(ctx, id)
}

// The list is read before the number is allocated: then every revocation
// CRL #N lists committed before N existed, so an inventory copy whose
// counter reached N holds them all (publishgap.go relies on it). Read after
// the allocation, a revocation committed in between was listed in #N yet
// missing from a copy taken then, and a CRL from that copy dropped it.
func TestGenerateCRLReadsBeforeAllocating(t *testing.T) {
	root := newRootCA(t, "", "root", nil)
	st := &orderStore{fakeStore: newFakeStore()}
	if _, _, err := GenerateCRL(context.Background(), st, crlConfig(root)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.calls, []string{"read", "allocate"}) {
		t.Errorf("store calls %v, want the list read before the number is allocated", st.calls)
	}
}
