package revocation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// testCA is a CA built with crypto/x509 for tests (package ca is not used,
// so these tests do not depend on its profiles).
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	path string // PEM file
}

var serialCounter struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialCounter.Lock()
	defer serialCounter.Unlock()
	serialCounter.n++
	// A large serial with a high byte set exercises the leading-zero rules.
	return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(0x8a), 64), big.NewInt(serialCounter.n))
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func skid(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

// newRootCA makes a self-signed root with the given key (nil: a new P-256 key).
func newRootCA(t testing.TB, dir, name string, key crypto.Signer) *testCA {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid(key.Public()),
	}
	return signCert(t, dir, name, tmpl, nil, key, key)
}

// issue signs tmpl with ca and writes it to dir/name.pem.
func signCert(t testing.TB, dir, name string, tmpl *x509.Certificate, ca *testCA, pub, key crypto.Signer) *testCA {
	t.Helper()
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{cert: cert, key: key}
	if dir != "" {
		c.path = filepath.Join(dir, name+".pem")
		writePEM(t, c.path, "CERTIFICATE", der)
	}
	return c
}

func (ca *testCA) intermediate(t testing.TB, dir, name string) *testCA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid(key.Public()),
	}
	return signCert(t, dir, name, tmpl, ca, key, key)
}

// leaf issues a server/client certificate valid from nb to na.
func (ca *testCA) leafValid(t testing.TB, dir, name string, nb, na time.Time, eku ...x509.ExtKeyUsage) *testCA {
	t.Helper()
	if len(eku) == 0 {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             nb,
		NotAfter:              na,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		SubjectKeyId:          skid(key.Public()),
	}
	return signCert(t, dir, name, tmpl, ca, key, key)
}

func (ca *testCA) leaf(t testing.TB, dir, name string) *testCA {
	now := time.Now()
	return ca.leafValid(t, dir, name, now.Add(-time.Hour), now.Add(90*24*time.Hour))
}

func (ca *testCA) keyID() string { return hex.EncodeToString(ca.cert.SubjectKeyId) }

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordOf is the inventory record certstore would hold for c.
func recordOf(c *x509.Certificate, typ string) certstore.Record {
	sum := sha256.Sum256(c.Raw)
	return certstore.Record{
		Serial: fmt.Sprintf("%x", c.SerialNumber), IssuerKeyID: hex.EncodeToString(c.AuthorityKeyId),
		Type: typ, CN: c.Subject.CommonName, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		Status: certstore.StatusActive, Fingerprint: hex.EncodeToString(sum[:]), DER: c.Raw,
		IssuedAt: time.Now().UTC(), IssuedBy: "test",
	}
}

// fakeStore is an in-memory inventory with the semantics of certstore.Store
// that this package relies on, and switches to inject faults.
type fakeStore struct {
	mu      sync.Mutex
	recs    map[[2]string]certstore.Record
	crlNums map[string]int64
	audit   []certstore.Revocation

	failGet, failRevoke, failRevoked, failNumber error
}

func newFakeStore() *fakeStore {
	return &fakeStore{recs: map[[2]string]certstore.Record{}, crlNums: map[string]int64{}}
}

func (f *fakeStore) add(c *x509.Certificate, typ string) certstore.Record {
	r := recordOf(c, typ)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[[2]string{r.IssuerKeyID, r.Serial}] = r
	return r
}

func (f *fakeStore) Get(_ context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGet != nil {
		return certstore.Record{}, f.failGet
	}
	r, ok := f.recs[[2]string{issuerKeyID, serial}]
	if !ok {
		return certstore.Record{}, certstore.ErrNotFound
	}
	return r, nil
}

func (f *fakeStore) Revoke(_ context.Context, rv certstore.Revocation) (certstore.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRevoke != nil {
		return certstore.Record{}, f.failRevoke
	}
	k := [2]string{rv.IssuerKeyID, rv.Serial}
	r, ok := f.recs[k]
	if !ok {
		return certstore.Record{}, certstore.ErrNotFound
	}
	if r.Status == certstore.StatusRevoked {
		return certstore.Record{}, certstore.ErrAlreadyRevoked
	}
	at, reason := rv.At.UTC(), rv.Reason
	r.Status, r.RevokedAt, r.Reason, r.RevokedBy = certstore.StatusRevoked, &at, &reason, rv.Actor
	f.recs[k] = r
	f.audit = append(f.audit, rv)
	return r, nil
}

func (f *fakeStore) Revoked(_ context.Context, issuerKeyID string, fn func(certstore.RevokedEntry) error) error {
	f.mu.Lock()
	if f.failRevoked != nil {
		f.mu.Unlock()
		return f.failRevoked
	}
	var es []certstore.RevokedEntry
	for k, r := range f.recs {
		if k[0] == issuerKeyID && r.Status == certstore.StatusRevoked {
			es = append(es, certstore.RevokedEntry{Serial: r.Serial, RevokedAt: *r.RevokedAt, Reason: *r.Reason})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(es, func(a, b certstore.RevokedEntry) int { return strings.Compare(a.Serial, b.Serial) })
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) NextCRLNumber(_ context.Context, issuerKeyID string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNumber != nil {
		return 0, f.failNumber
	}
	f.crlNums[issuerKeyID]++
	return f.crlNums[issuerKeyID], nil
}

// revokeInStore marks c revoked directly in the fake (no CRL publishing).
func (f *fakeStore) revoke(t testing.TB, c *x509.Certificate, reason int, at time.Time) {
	t.Helper()
	_, err := f.Revoke(context.Background(), certstore.Revocation{
		IssuerKeyID: hex.EncodeToString(c.AuthorityKeyId), Serial: fmt.Sprintf("%x", c.SerialNumber),
		Reason: reason, Actor: "test", At: at,
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errDBGone = errors.New("database connection lost")

// openssl runs openssl with args and returns its combined output.
func openssl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t testing.TB, args ...string) string {
	t.Helper()
	out, err := openssl(t, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func crlConfig(ca *testCA) CRLConfig {
	return CRLConfig{Issuer: ca.cert, Signer: ca.key}
}
