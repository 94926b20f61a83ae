package enroll

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
)

func TestEnrollRenewSupersedeRefuse(t *testing.T) {
	c := newTestCA(t, caOptions{intermediate: true})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "alice-machine")
	res, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{res.Paths.Cert, res.Paths.Key, res.Paths.Chain, res.Paths.Root, filepath.Join(dir, ca.IntermediateCertFile)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("enroll did not write %s: %v", p, err)
		}
	}
	if fi, _ := os.Stat(res.Paths.Key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %04o, want 0600", fi.Mode().Perm())
	}
	chain, _ := os.ReadFile(res.Paths.Chain)
	if n := strings.Count(string(chain), "BEGIN CERTIFICATE"); n != 2 {
		t.Errorf("chain has %d certificates, want leaf + intermediate", n)
	}
	oldKey, _ := os.ReadFile(res.Paths.Key)
	first := res.Cert

	// Renew: new key, new serial, the first certificate superseded.
	res2, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Cert.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("renewal returned the same serial")
	}
	if newKey, _ := os.ReadFile(res.Paths.Key); string(newKey) == string(oldKey) {
		t.Error("renewal kept the key without --same-key")
	}
	rec := c.get(t, first)
	if rec.Status != certstore.StatusRevoked || rec.Reason == nil || *rec.Reason != 4 {
		t.Errorf("previous certificate: status %s reason %v, want revoked/superseded", rec.Status, rec.Reason)
	}
	if got := c.get(t, res2.Cert); got.Status != certstore.StatusActive {
		t.Errorf("new certificate status %s", got.Status)
	}
	active, _ := c.st.Count(ctx, certstore.Filter{Type: certstore.TypeClient, CNContains: "alice", Status: certstore.StatusActive})
	if active != 1 {
		t.Errorf("%d active certificates for alice, want 1", active)
	}
	// The audit trail names what authorised each issuance.
	details := c.auditDetails(t)
	if !slices.ContainsFunc(details, func(d string) bool { return strings.Contains(d, `"token_id"`) }) ||
		!slices.ContainsFunc(details, func(d string) bool {
			return strings.Contains(d, `"previous_serial":"`+first.SerialNumber.Text(16)+`"`)
		}) {
		t.Errorf("audit details lack token_id / previous_serial: %v", details)
	}
	// Same key on request.
	keyBefore, _ := os.ReadFile(res.Paths.Key)
	if _, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice", SameKey: true}); err != nil {
		t.Fatal(err)
	}
	if keyAfter, _ := os.ReadFile(res.Paths.Key); string(keyAfter) != string(keyBefore) {
		t.Error("--same-key replaced the key")
	}

	// Revoked: refused.
	cur, _ := os.ReadFile(res.Paths.Cert)
	blk, _ := pem.Decode(cur)
	curCert, _ := x509.ParseCertificate(blk.Bytes)
	if _, err := c.st.Revoke(ctx, certstore.Revocation{IssuerKeyID: c.a.IssuerKeyID(), Serial: curCert.SerialNumber.Text(16), Reason: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
	if !errors.Is(err, ErrRenewalRefused) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("renewal of a revoked certificate: %v", err)
	}
}

func (c *testCA) get(t *testing.T, cert *x509.Certificate) certstore.Record {
	t.Helper()
	rec, err := c.st.Get(context.Background(), hex.EncodeToString(cert.AuthorityKeyId), cert.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (c *testCA) auditDetails(t *testing.T) []string {
	var out []string
	if err := c.st.Audit(context.Background(), func(e certstore.AuditEntry) error {
		out = append(out, e.Details)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTokenRefusals(t *testing.T) {
	c := newTestCA(t, caOptions{rateLimit: RateLimit{Burst: 100}})
	ctx := context.Background()
	tok := c.token(t, "alice", 0)
	if _, err := c.client().Enroll(ctx, EnrollRequest{Token: tok, CN: "alice", Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	expired := c.token(t, "carol", time.Minute)
	c.clock.Advance(2 * time.Minute)
	cases := []struct {
		name, token, cn string
	}{
		{"reused", tok, "alice"},
		{"another CN", c.token(t, "bob", 0), "mallory"},
		{"malformed", "scca1_nonsense", "alice"},
		{"unknown", "scca1_0123456789abcdef_" + strings.Repeat("A", 43), "alice"},
		{"wrong secret", tok[:len(tok)-4] + "AAAA", "alice"},
		{"expired", expired, "carol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := c.client().Enroll(ctx, EnrollRequest{Token: tc.token, CN: tc.cn, Dir: dir})
			var api *APIError
			if !errors.Is(err, ErrTokenRejected) || !errors.As(err, &api) || api.Message != errUnauthorized {
				t.Fatalf("got %v, want the generic 401", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused enrollment left files: %v", entries)
			}
		})
	}
	if n, _ := c.st.Count(ctx, certstore.Filter{Type: certstore.TypeClient, Status: certstore.StatusAll}); n != 1 {
		t.Errorf("%d client certificates in the inventory, want 1", n)
	}
}

func TestFailedTokensAreRateLimitedPerSource(t *testing.T) {
	c := newTestCA(t, caOptions{rateLimit: RateLimit{Burst: 3, Every: time.Hour}})
	good := c.token(t, "alice", 0)
	for i := range 3 {
		_, err := c.client().Enroll(context.Background(), EnrollRequest{Token: "scca1_bad", CN: "alice", Dir: t.TempDir()})
		if !errors.Is(err, ErrTokenRejected) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Now even a good token from this source waits.
	_, err := c.client().Enroll(context.Background(), EnrollRequest{Token: good, CN: "alice", Dir: t.TempDir()})
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after the burst: %v, want 429", err)
	}
	c.clock.Advance(time.Hour)
	good = c.token(t, "alice", 0)
	if _, err := c.client().Enroll(context.Background(), EnrollRequest{Token: good, CN: "alice", Dir: t.TempDir()}); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

func TestConcurrentUsesOfOneToken(t *testing.T) {
	for _, db := range []struct{ name, url string }{{"sqlite", ""}, {"mysql", "mysql"}, {"postgres", "postgres"}} {
		t.Run(db.name, func(t *testing.T) {
			url := db.url
			switch url {
			case "mysql":
				url = testdb.MySQL(t, "scca_enroll")
			case "postgres":
				url = testdb.Postgres(t, "scca_enroll")
			}
			c := newTestCA(t, caOptions{dbURL: url, rateLimit: RateLimit{Burst: 1000}})
			tok := c.token(t, "alice", 0)
			const n = 50
			var wg sync.WaitGroup
			errs := make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = c.client().Enroll(context.Background(), EnrollRequest{Token: tok, CN: "alice", Dir: t.TempDir()})
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrTokenRejected):
					t.Errorf("unexpected error: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d concurrent uses succeeded, want exactly 1", ok, n)
			}
			if got, _ := c.st.Count(context.Background(), certstore.Filter{Type: certstore.TypeClient, CNContains: "alice", Status: certstore.StatusAll}); got != 1 {
				t.Fatalf("%d certificates recorded, want 1", got)
			}
		})
	}
}

func TestPinning(t *testing.T) {
	c := newTestCA(t, caOptions{})
	ctx := context.Background()
	tok := c.token(t, "alice", 0)
	_, err := (&Client{URL: c.url}).Enroll(ctx, EnrollRequest{Token: tok, CN: "alice", Dir: t.TempDir()})
	if !errors.Is(err, ErrNoFingerprint) {
		t.Fatalf("without a fingerprint: %v", err)
	}
	other := strings.Repeat("ab", 32)
	_, err = (&Client{URL: c.url, Fingerprint: other}).Enroll(ctx, EnrollRequest{Token: tok, CN: "alice", Dir: t.TempDir()})
	if !errors.Is(err, ErrFingerprintMismatch) {
		t.Fatalf("with another fingerprint: %v", err)
	}
	// The token was never sent, so it still works.
	if _, err := c.client().Enroll(ctx, EnrollRequest{Token: tok, CN: "alice", Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
}

// post sends a raw sign request over a pinned connection.
func (c *testCA) post(t *testing.T, body any) (*CertResponse, error) {
	t.Helper()
	cl := c.client()
	return cl.post(context.Background(), "/v1/sign", body)
}

func csrPEM(t *testing.T, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestTamperedCSRKeepsTheToken(t *testing.T) {
	c := newTestCA(t, caOptions{})
	tok := c.token(t, "alice", 0)
	good := csrPEM(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}})
	blk, _ := pem.Decode(good)
	der := slices.Clone(blk.Bytes)
	der[len(der)-5] ^= 0x01 // inside the signature
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	_, err := c.post(t, SignBody{Token: tok, CSR: string(bad)})
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusBadRequest {
		t.Fatalf("tampered CSR: %v, want 400", err)
	}
	if _, err := c.post(t, SignBody{Token: tok, CSR: string(good)}); err != nil {
		t.Fatalf("the token was spent by a refused request: %v", err)
	}
}

// The profile decides every extension: a CSR asking for CA:TRUE, serverAuth
// and extra names gets a plain client certificate.
func TestProfileDecidesExtensions(t *testing.T) {
	c := newTestCA(t, caOptions{})
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}})
	csr := csrPEM(t, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "alice"},
		DNSNames: []string{"bank.example"},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},
		},
	})
	resp, err := c.post(t, SignBody{Token: c.token(t, "alice", 0), CSR: string(csr)})
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := parseCerts([]byte(resp.Certificate))
	cert := certs[0]
	if cert.IsCA || len(cert.DNSNames) != 0 || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("CA=%v SANs=%v EKU=%v: the CSR's wishes leaked into the certificate", cert.IsCA, cert.DNSNames, cert.ExtKeyUsage)
	}
}

func TestRenewalRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("expired", func(t *testing.T) {
		c := newTestCA(t, caOptions{validity: time.Hour})
		dir := t.TempDir()
		if _, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir}); err != nil {
			t.Fatal(err)
		}
		c.clock.Advance(2 * time.Hour)
		_, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
		if !errors.Is(err, ErrRenewalRefused) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired certificate: %v", err)
		}
	})
	t.Run("unknown to the inventory", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir := t.TempDir()
		// Signed by the CA but recorded nowhere: a recorder that drops it.
		key, _ := ca.GenerateKey(ca.KeyECDSAP256, nil)
		cert, err := c.a.WithRecorder(dropRecorder{}).Certify(ctx, key.Public(), ca.IssueRequest{Profile: ca.ProfileClient, CN: "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		writeIdentity(t, dir, "ghost", key, cert, c.a.Root)
		_, err = Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "ghost"})
		if !errors.Is(err, ErrRenewalRefused) || !strings.Contains(err.Error(), "not in the inventory") {
			t.Fatalf("unknown certificate: %v", err)
		}
	})
	t.Run("issuer revoked", func(t *testing.T) {
		c := newTestCA(t, caOptions{intermediate: true})
		dir := t.TempDir()
		if _, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.st.Revoke(ctx, certstore.Revocation{
			IssuerKeyID: hex.EncodeToString(c.a.Root.SubjectKeyId), Serial: c.a.Intermediate.SerialNumber.Text(16), Reason: 2,
		}); err != nil {
			t.Fatal(err)
		}
		_, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
		if !errors.Is(err, ErrRenewalRefused) || !strings.Contains(err.Error(), "issuing CA") {
			t.Fatalf("renewal under a revoked intermediate: %v", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		_, err := c.client().post(ctx, "/v1/renew", RenewBody{CSR: "x"})
		var api *APIError
		if !errors.As(err, &api) || api.Status != http.StatusUnauthorized {
			t.Fatalf("renew without a certificate: %v", err)
		}
	})
}

type dropRecorder struct{}

func (dropRecorder) Insert(context.Context, certstore.Record) error { return nil }

func writeIdentity(t *testing.T, dir, cn string, key crypto.Signer, cert, root *x509.Certificate) {
	t.Helper()
	keyPEM, err := ca.EncodeKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := PathsFor(dir, cn)
	for path, data := range map[string][]byte{p.Key: keyPEM, p.Cert: pemCert(cert.Raw), p.Root: pemCert(root.Raw)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	c := newTestCA(t, caOptions{})
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.client().Enroll(ctx, EnrollRequest{Token: "scca1_bad", CN: "alice", Dir: t.TempDir()})
	cl := c.client()
	if err := cl.init(); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := cl.http.Get(c.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	m := get("/metrics")
	for _, want := range []string{
		`scca_issuances_total{method="token"} 1`, `scca_issuances_total{method="renewal"} 1`,
		`scca_renewals_total 1`, `scca_revocations_total 1`, `scca_api_errors_total{code="Unauthorized",endpoint="sign"} 1`,
		`scca_inventory_latency_seconds_count{op="insert"} 2`, `scca_revocation_requests_total{kind="ocsp"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if h := get("/health"); !strings.Contains(h, `"ok"`) {
		t.Errorf("/health: %s", h)
	}
	if r := get("/v1/roots"); !strings.Contains(r, "BEGIN CERTIFICATE") {
		t.Errorf("/v1/roots: %s", r)
	}
}

func TestServerCertificateIsRenewed(t *testing.T) {
	c := newTestCA(t, caOptions{})
	first, err := c.srv.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.srv.ServerCertificate(); again != first {
		t.Fatal("the certificate was reissued before it was due")
	}
	c.clock.Advance(5 * 24 * time.Hour) // past two thirds of 7 days
	second, err := c.srv.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("the server certificate was not renewed at two thirds of its life")
	}
	if _, err := c.client().Enroll(context.Background(), EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: t.TempDir()}); err != nil {
		t.Fatalf("enroll against the renewed certificate: %v", err)
	}
}

// A token is spent only on a certificate the CA may issue: under a revoked
// intermediate the API must issue nothing (Certify's own check is skipped
// when the recorder cannot look records up), and say why.
func TestEnrollRefusedUnderRevokedIssuer(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t, caOptions{intermediate: true})
	tok := c.token(t, "dave", 0)
	// The API's own certificate was issued at start, before the revocation.
	if _, err := c.srv.ServerCertificate(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.st.Revoke(ctx, certstore.Revocation{
		IssuerKeyID: hex.EncodeToString(c.a.Root.SubjectKeyId), Serial: c.a.Intermediate.SerialNumber.Text(16), Reason: 2,
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := c.client().Enroll(ctx, EnrollRequest{Token: tok, CN: "dave", Dir: dir})
	var api *APIError
	if !errors.Is(err, ErrEnrollRefused) || !errors.As(err, &api) || !strings.Contains(api.Message, "revoked") {
		t.Fatalf("enrollment under a revoked intermediate: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused enrollment left files: %v", entries)
	}
	if n, _ := c.st.Count(ctx, certstore.Filter{Type: certstore.TypeClient, Status: certstore.StatusAll}); n != 0 {
		t.Errorf("%d client certificates issued under a revoked CA", n)
	}
}

// A CN (or look-alike) held by an active client certificate: minting a
// token for it is refused, and a token minted before the holder appeared is
// answered with 409 and the reason, not a 500, and stays unspent.
func TestEnrollForAHeldIdentity(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t, caOptions{})
	early := c.token(t, "аlice", 0) // Cyrillic а: looks like alice
	if _, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, cn := range []string{"alice", "аlice", "ALICE"} {
		_, _, err := NewToken(ctx, c.st, TokenRequest{CN: cn, Profile: ca.ProfileClient, Now: c.clock.Now})
		if !errors.Is(err, certstore.ErrIdentityTaken) {
			t.Errorf("token for %q while alice is held: %v, want ErrIdentityTaken", cn, err)
		}
	}
	_, err := c.client().Enroll(ctx, EnrollRequest{Token: early, CN: "аlice", Dir: t.TempDir()})
	var api *APIError
	if !errors.Is(err, ErrIdentityHeld) || !errors.As(err, &api) || api.Status != http.StatusConflict {
		t.Fatalf("enrollment of a look-alike of a held identity: %v, want 409", err)
	}
	tk, err := c.st.LookupToken(ctx, strings.Split(early, "_")[1])
	if err != nil || tk.UsedAt != nil {
		t.Errorf("the refused token: %+v, %v; want it unspent", tk, err)
	}
	// A server token for the same name claims no identity.
	if _, _, err := NewToken(ctx, c.st, TokenRequest{CN: "alice", Profile: ca.ProfileServer, DNSNames: []string{"alice"}, Now: c.clock.Now}); err != nil {
		t.Errorf("server token: %v", err)
	}
}
