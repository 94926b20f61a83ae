package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/atomicfile"
)

func newFixedCA(t *testing.T) (*Authority, *memRecorder) {
	t.Helper()
	rec := newMemRecorder()
	a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: rec, Now: fixedClock,
		BaseURL: "http://ca.scca.test:8080/", Intermediate: true})
	if err != nil {
		t.Fatal(err)
	}
	return a, rec
}

func TestIssueServer(t *testing.T) {
	a, rec := newFixedCA(t)
	iss, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileServer, CN: "Chat.SCCA.test",
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	wantCert := filepath.Join(a.Dir(), "Chat.SCCA.test_cert.pem")
	wantKey := filepath.Join(a.Dir(), "Chat.SCCA.test_key.pem")
	if iss.CertPath != wantCert || iss.KeyPath != wantKey {
		t.Fatalf("paths %s %s", iss.CertPath, iss.KeyPath)
	}
	if fileMode(t, wantKey) != 0o600 || fileMode(t, wantCert) != 0o644 {
		t.Errorf("modes key %o cert %o", fileMode(t, wantKey), fileMode(t, wantCert))
	}
	c := readCert(t, wantCert)
	if !bytes.Equal(c.Raw, iss.Cert.Raw) {
		t.Fatal("file differs from Issued.Cert")
	}
	key, err := LoadKeyFile(wantKey, nil)
	if err != nil || !publicKeysEqual(key.Public(), c.PublicKey) {
		t.Fatalf("key file does not match certificate: %v", err)
	}
	ski, _ := subjectKeyID(c.PublicKey)
	switch {
	case c.KeyUsage != x509.KeyUsageDigitalSignature:
		t.Errorf("key usage %v", c.KeyUsage)
	case !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}):
		t.Errorf("EKU %v", c.ExtKeyUsage)
	case !c.BasicConstraintsValid || c.IsCA:
		t.Error("not CA:FALSE")
	case !slices.Equal(c.DNSNames, []string{"chat.scca.test", "localhost"}):
		t.Errorf("DNS SANs %v", c.DNSNames)
	case len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)):
		t.Errorf("IP SANs %v", c.IPAddresses)
	case !bytes.Equal(c.SubjectKeyId, ski):
		t.Error("SKI")
	case !bytes.Equal(c.AuthorityKeyId, a.Intermediate.SubjectKeyId):
		t.Error("AKI is not the issuer's SKI")
	case !slices.Equal(c.CRLDistributionPoints, []string{"http://ca.scca.test:8080/crl"}):
		t.Errorf("CRL DP %v", c.CRLDistributionPoints)
	case !slices.Equal(c.OCSPServer, []string{"http://ca.scca.test:8080/ocsp"}):
		t.Errorf("OCSP %v", c.OCSPServer)
	case !slices.Equal(c.IssuingCertificateURL, []string{"http://ca.scca.test:8080/ca.der"}):
		t.Errorf("CA issuers %v", c.IssuingCertificateURL)
	case !c.NotBefore.Equal(testNow.Add(-time.Minute)) || !c.NotAfter.Equal(testNow.Add(397*24*time.Hour)):
		t.Errorf("validity %v - %v", c.NotBefore, c.NotAfter)
	case c.CheckSignatureFrom(a.Intermediate) != nil:
		t.Error("not signed by the intermediate")
	}
	checkBasicConstraintsCritical(t, c)
	checkSerial(t, c)

	rows := rec.records()
	r := rows[len(rows)-1]
	sum := sha256.Sum256(c.Raw)
	want := certstore.Record{
		Serial: c.SerialNumber.Text(16), IssuerKeyID: a.IssuerKeyID(), Type: certstore.TypeServer,
		CN: "Chat.SCCA.test", SANs: []string{"chat.scca.test", "localhost", "127.0.0.1"},
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: certstore.StatusActive,
		Fingerprint: hex.EncodeToString(sum[:]), DER: c.Raw, IssuedAt: testNow, IssuedBy: "bob",
	}
	if iss.Serial != want.Serial || r.Serial != want.Serial || r.IssuerKeyID != want.IssuerKeyID || r.Type != want.Type ||
		r.CN != want.CN || !slices.Equal(r.SANs, want.SANs) || !r.NotBefore.Equal(want.NotBefore) ||
		!r.NotAfter.Equal(want.NotAfter) || r.Status != want.Status || r.Fingerprint != want.Fingerprint ||
		!bytes.Equal(r.DER, want.DER) || !r.IssuedAt.Equal(want.IssuedAt) || r.IssuedBy != want.IssuedBy {
		t.Errorf("row\n got %+v\nwant %+v", r, want)
	}
	if _, err := a.Trust().VerifyLeaf(c, x509.ExtKeyUsageServerAuth, "localhost", testNow); err != nil {
		t.Errorf("VerifyLeaf: %v", err)
	}
	if _, err := a.Trust().VerifyLeaf(c, x509.ExtKeyUsageClientAuth, "", testNow); !errors.Is(err, ErrWrongEKU) {
		t.Errorf("server cert as client: %v", err)
	}
}

// checkBasicConstraintsCritical asserts the extension is present and
// critical (crypto/x509 does not expose criticality on parse).
func checkBasicConstraintsCritical(t *testing.T, c *x509.Certificate) {
	t.Helper()
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 19}) {
			if !e.Critical {
				t.Error("basicConstraints not critical")
			}
			return
		}
	}
	t.Error("no basicConstraints extension")
}

// checkSerial asserts a positive serial of at most 20 DER octets with at
// least 64 bits of magnitude (RFC 5280 §4.1.2.2; a 128-bit draw is below
// 2^64 with probability 2^-64).
func checkSerial(t *testing.T, c *x509.Certificate) {
	t.Helper()
	der, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	if c.SerialNumber.Sign() <= 0 || len(der)-2 > 20 || c.SerialNumber.BitLen() <= 64 {
		t.Errorf("serial %x: sign %d, %d octets, %d bits", c.SerialNumber, c.SerialNumber.Sign(), len(der)-2, c.SerialNumber.BitLen())
	}
}

func TestIssueClientAndKeyUsage(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	ctx := context.Background()
	tests := []struct {
		profile Profile
		kt      KeyType
		wantKU  x509.KeyUsage
		wantEKU x509.ExtKeyUsage
	}{
		{ProfileClient, KeyECDSAP256, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageClientAuth},
		{ProfileClient, KeyRSA2048, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageClientAuth},
		{ProfileClient, KeyEd25519, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageClientAuth},
		{ProfileServer, KeyRSA2048, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, x509.ExtKeyUsageServerAuth},
		{ProfileServer, KeyEd25519, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageServerAuth},
	}
	for _, tt := range tests {
		t.Run(string(tt.profile)+"/"+string(tt.kt), func(t *testing.T) {
			iss, err := a.Issue(ctx, IssueRequest{Profile: tt.profile, CN: "host-" + string(tt.kt) + "-" + string(tt.profile), KeyType: tt.kt})
			if err != nil {
				t.Fatal(err)
			}
			c := iss.Cert
			if c.KeyUsage != tt.wantKU || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tt.wantEKU}) {
				t.Errorf("KU %v EKU %v", c.KeyUsage, c.ExtKeyUsage)
			}
			if tt.profile == ProfileClient && (len(c.DNSNames) != 0 || len(c.IPAddresses) != 0) {
				t.Errorf("client cert has SANs %v %v", c.DNSNames, c.IPAddresses)
			}
			wantValidity := map[Profile]time.Duration{ProfileServer: DefaultServerValidity, ProfileClient: DefaultClientValidity}[tt.profile]
			if got := c.NotAfter.Sub(c.NotBefore); got != wantValidity+time.Minute {
				t.Errorf("validity %v, want %v + 1m skew", got, wantValidity)
			}
		})
	}
	rows := rec.records()
	// rows: root, its OCSP responder, then the certificates issued here.
	if rows[len(rows)-1].Type != certstore.TypeServer || rows[2].Type != certstore.TypeClient || rows[2].IssuedBy != "scca" {
		t.Errorf("row types/actors: %+v", rows[2])
	}
}

func TestIssueValidityClampedToIssuer(t *testing.T) {
	a, _ := newFixedCA(t)
	c, err := a.Certify(context.Background(), a.Signer().Public(), IssueRequest{Profile: ProfileClient, CN: "c",
		Validity: 50 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotAfter.Equal(a.Intermediate.NotAfter) {
		t.Errorf("NotAfter %v, want issuer's %v", c.NotAfter, a.Intermediate.NotAfter)
	}
	// After the issuer expires nothing more is issued.
	a.now = func() time.Time { return a.Intermediate.NotAfter.Add(time.Second) }
	if _, err := a.Certify(context.Background(), a.Signer().Public(), IssueRequest{Profile: ProfileClient, CN: "c"}); err == nil {
		t.Error("issued under an expired CA")
	}
}

func TestIssueBadRequest(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	before := dirSnapshot(t, a.Dir())
	rows := rec.count()
	tests := []struct {
		name string
		req  IssueRequest
		want error // nil = any error
	}{
		{"empty CN", IssueRequest{Profile: ProfileClient, CN: ""}, ErrInvalidName},
		{"65-char CN", IssueRequest{Profile: ProfileClient, CN: strings.Repeat("c", 65)}, ErrInvalidName},
		{"control char CN", IssueRequest{Profile: ProfileClient, CN: "a\x07b"}, ErrInvalidName},
		{"bad DNS name", IssueRequest{Profile: ProfileServer, CN: "ok.example", DNSNames: []string{"bad..example"}}, ErrInvalidName},
		{"underscore DNS name", IssueRequest{Profile: ProfileServer, CN: "ok.example", DNSNames: []string{"_srv.example"}}, ErrInvalidName},
		{"unspecified IP", IssueRequest{Profile: ProfileServer, CN: "ok.example", IPs: []net.IP{net.IPv6unspecified}}, ErrInvalidName},
		{"malformed IP", IssueRequest{Profile: ProfileServer, CN: "ok.example", IPs: []net.IP{{1, 2}}}, ErrInvalidName},
		{"server without host name", IssueRequest{Profile: ProfileServer, CN: "My Server"}, ErrInvalidName},
		{"unknown key type", IssueRequest{Profile: ProfileClient, CN: "c", KeyType: "rsa-1024"}, ErrUnknownKeyType},
		{"unknown profile", IssueRequest{Profile: "codesigning", CN: "c"}, ErrUnknownProfile},
		{"empty profile", IssueRequest{CN: "c"}, ErrUnknownProfile},
		{"negative validity", IssueRequest{Profile: ProfileClient, CN: "c", Validity: -time.Hour}, nil},
		{"same cert and key path", IssueRequest{Profile: ProfileClient, CN: "c", CertOut: "/tmp/x", KeyOut: "/tmp/x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Issue(context.Background(), tt.req)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if !maps.Equal(before, dirSnapshot(t, a.Dir())) || rec.count() != rows {
		t.Error("a refused request left files or rows")
	}
	t.Run("no store", func(t *testing.T) {
		b, err := Load(LoadOptions{Dir: a.Dir()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "c"}); !errors.Is(err, errNoStore) {
			t.Fatalf("err = %v", err)
		}
		if _, err := b.Certify(context.Background(), b.Signer().Public(), IssueRequest{Profile: ProfileClient, CN: "c"}); !errors.Is(err, errNoStore) {
			t.Fatalf("Certify err = %v", err)
		}
	})
}

func TestIssueExistingOutput(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	other := filepath.Join(t.TempDir(), "mine.pem")
	if err := os.WriteFile(other, []byte("precious"), 0o640); err != nil {
		t.Fatal(err)
	}
	defaultCert := filepath.Join(a.Dir(), "alice_cert.pem")
	if err := os.WriteFile(defaultCert, []byte("old cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := rec.count()
	tests := []struct {
		name      string
		req       IssueRequest
		untouched string
	}{
		{"default cert path exists", IssueRequest{Profile: ProfileClient, CN: "alice"}, defaultCert},
		{"explicit cert path exists", IssueRequest{Profile: ProfileClient, CN: "bob", CertOut: other}, other},
		{"explicit key path exists", IssueRequest{Profile: ProfileClient, CN: "bob", KeyOut: other}, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dirSnapshot(t, filepath.Dir(tt.untouched))
			_, err := a.Issue(context.Background(), tt.req)
			if !errors.Is(err, ErrFileExists) || !errors.Is(err, atomicfile.ErrExists) {
				t.Fatalf("err = %v, want ErrFileExists", err)
			}
			if !maps.Equal(before, dirSnapshot(t, filepath.Dir(tt.untouched))) {
				t.Error("existing file or its directory changed")
			}
		})
	}
	if rec.count() != rows {
		t.Error("rows recorded for refused requests")
	}
	// With --cert-out/--key-out elsewhere the same CN is fine.
	dir := t.TempDir()
	iss, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "alice",
		CertOut: filepath.Join(dir, "a.crt"), KeyOut: filepath.Join(dir, "a.key")})
	if err != nil || iss.CertPath != filepath.Join(dir, "a.crt") {
		t.Fatalf("issue to other paths: %v", err)
	}
}

func TestIssueRecorderFailureLeavesNoFiles(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	before := dirSnapshot(t, a.Dir())
	a.store = failRecorder{errStoreDown}
	if _, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileServer, CN: "x.example"}); !errors.Is(err, errStoreDown) {
		t.Fatalf("err = %v", err)
	}
	csr := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "y.example"}})
	if _, err := a.SignCSR(context.Background(), SignRequest{CSRPEM: csr, Profile: ProfileServer}); !errors.Is(err, errStoreDown) {
		t.Fatalf("SignCSR err = %v", err)
	}
	if !maps.Equal(before, dirSnapshot(t, a.Dir())) {
		t.Errorf("files left behind: %v", dirNames(t, a.Dir()))
	}
}

func TestIssueDuplicateSerialRetry(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	base := rec.calls
	rec.failNth[base+1] = certstore.ErrDuplicate
	rec.failNth[base+2] = certstore.ErrDuplicate
	iss, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "retry"})
	if err != nil {
		t.Fatalf("issue after two duplicates: %v", err)
	}
	if rec.calls != base+3 {
		t.Errorf("%d inserts, want 3", rec.calls-base)
	}
	if got := readCert(t, iss.CertPath); got.SerialNumber.Text(16) != iss.Serial {
		t.Error("file holds a certificate with a refused serial")
	}
	if n := len(dirNames(t, a.Dir())); n != 5 {
		t.Errorf("%d files, want 5 (no stale staged certificates)", n)
	}

	before := dirSnapshot(t, a.Dir())
	base = rec.calls
	for i := 1; i <= maxSerialRetries+1; i++ {
		rec.failNth[base+i] = certstore.ErrDuplicate
	}
	_, err = a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "unlucky"})
	if !errors.Is(err, certstore.ErrDuplicate) || rec.calls != base+maxSerialRetries+1 {
		t.Fatalf("err = %v after %d inserts", err, rec.calls-base)
	}
	if !maps.Equal(before, dirSnapshot(t, a.Dir())) {
		t.Error("files left after giving up")
	}
}

// TestCertifyConcurrent issues from many goroutines at once (for -race) and
// checks every serial is distinct.
func TestCertifyConcurrent(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	key, _ := GenerateKey(KeyECDSAP256, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := a.Certify(context.Background(), key.Public(), IssueRequest{Profile: ProfileClient, CN: "c"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range rec.records() {
		seen[r.Serial] = true
	}
	if len(seen) != 42 {
		t.Errorf("%d distinct serials for 42 certificates", len(seen))
	}
}

func TestCertifyRejectsWeakKeys(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, pub := range map[string]crypto.PublicKey{"P-224": p224.Public(), "RSA-1024": rsa1024.Public(), "nil": nil} {
		if _, err := a.Certify(context.Background(), pub, IssueRequest{Profile: ProfileClient, CN: "c"}); err == nil {
			t.Errorf("%s key certified", name)
		}
	}
	if rec.count() != 2 { // the root and its OCSP responder
		t.Error("rows recorded for refused keys")
	}
}

// racingRecorder simulates another writer creating the output file between
// the existence check and the commit.
type racingRecorder struct {
	*memRecorder
	path string
}

func (r racingRecorder) Insert(ctx context.Context, rec certstore.Record) error {
	if err := os.WriteFile(r.path, []byte("theirs"), 0o644); err != nil {
		return err
	}
	return r.memRecorder.Insert(ctx, rec)
}

func TestIssueLostRaceNamesSerial(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, false)
	before := dirNames(t, a.Dir())
	certPath := filepath.Join(a.Dir(), "racer_cert.pem")
	a.store = racingRecorder{mem, certPath}
	_, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "racer"})
	if !errors.Is(err, ErrFileExists) {
		t.Fatalf("err = %v, want ErrFileExists", err)
	}
	rows := mem.records()
	last := rows[len(rows)-1]
	if last.CN != "racer" || !strings.Contains(err.Error(), last.Serial) {
		t.Errorf("error %q does not name the recorded serial %s", err, last.Serial)
	}
	// The certificate was never handed out: it is revoked at once, so the
	// inventory holds no active row without files.
	if last.Status != certstore.StatusRevoked {
		t.Errorf("orphaned row status = %s, want revoked", last.Status)
	}
	if data, _ := os.ReadFile(certPath); string(data) != "theirs" {
		t.Error("the other writer's file was replaced")
	}
	// Our key was committed first and is removed again; only their file
	// remains, and no journal or temporary file.
	want := append(before, "racer_cert.pem")
	slices.Sort(want)
	if got := dirNames(t, a.Dir()); !slices.Equal(got, want) {
		t.Errorf("files = %v", got)
	}
}
