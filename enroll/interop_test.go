package enroll

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/judge"
)

// External judges, as in package ca: OpenSSL verifies chain and purpose,
// zlint (built once from the module proxy, pinned) lints. Without them the
// test skips, except under CI=true, where it fails.

func TestMain(m *testing.M) {
	code := m.Run()
	judge.Cleanup()
	os.Exit(code)
}

func requireTool(t *testing.T, err error, what string) { t.Helper(); judge.RequireTool(t, err, what) }

func zlint(t *testing.T) string { t.Helper(); return judge.Zlint(t) }

// TestIssuedCertificatesPassOpenSSLAndZlint enrolls and renews through the
// API under a CA with an intermediate and has OpenSSL and zlint judge the
// files exactly as the client wrote them, and the API's own TLS certificate.
func TestIssuedCertificatesPassOpenSSLAndZlint(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		requireTool(t, err, "openssl")
	}
	c := newTestCA(t, caOptions{intermediate: true})
	ctx := context.Background()
	dir := t.TempDir()
	res, err := c.client().Enroll(ctx, EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	enrolled := filepath.Join(dir, "enrolled.pem")
	data, _ := os.ReadFile(res.Paths.Cert)
	os.WriteFile(enrolled, data, 0o644)
	if _, err := Renew(ctx, &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	apiCert, err := c.srv.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	apiPath := filepath.Join(dir, "api.pem")
	os.WriteFile(apiPath, pemCert(apiCert.Leaf.Raw), 0o644)

	for _, tc := range []struct{ path, purpose string }{
		{enrolled, "sslclient"}, {res.Paths.Cert, "sslclient"}, {apiPath, "sslserver"},
	} {
		out, err := exec.Command("openssl", "verify", "-x509_strict", "-purpose", tc.purpose,
			"-CAfile", res.Paths.Root, "-untrusted", filepath.Join(dir, ca.IntermediateCertFile), tc.path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Errorf("openssl verify %s: %v\n%s", tc.path, err, out)
		}
		out, err = exec.Command(zlint(t), "-includeSources", "RFC5280,RFC3279,RFC5480,RFC8813,RFC5891,Community", tc.path).Output()
		if err != nil {
			t.Fatalf("zlint %s: %v", tc.path, err)
		}
		var results map[string]struct {
			Result string `json:"result"`
		}
		if err := json.Unmarshal(out, &results); err != nil || len(results) < 50 {
			t.Fatalf("zlint output (%d lints): %v", len(results), err)
		}
		for name, r := range results {
			if r.Result == "warn" || r.Result == "error" || r.Result == "fatal" {
				t.Errorf("%s: zlint %s: %s", tc.path, name, r.Result)
			}
		}
	}
}
