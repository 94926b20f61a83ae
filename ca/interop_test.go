package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/securechat/scca/internal/judge"
)

// External judges: OpenSSL for chain and purpose validation, zlint for
// RFC 5280 / RFC 3279 / RFC 5480 / RFC 8813 / RFC 5891 / community lints.
// Without them the tests skip, except in CI, where they must run.

func TestMain(m *testing.M) {
	code := m.Run()
	judge.Cleanup()
	os.Exit(code)
}

func requireTool(t *testing.T, err error, what string) { t.Helper(); judge.RequireTool(t, err, what) }

func zlintBinary(t *testing.T) string { t.Helper(); return judge.Zlint(t) }

func openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		requireTool(t, err, "openssl")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

// zlintAllowed lists lints that may report on purpose, with the reason.
// It is empty: every certificate scca makes passes every lint in the
// selected sources without a warning.
var zlintAllowed = map[string]string{}

// zlintProblems runs zlint on a PEM file and returns "lint: status" for
// every result of status warn, error or fatal.
func zlintProblems(t *testing.T, certPath string) []string {
	t.Helper()
	out, err := exec.Command(zlintBinary(t),
		"-includeSources", "RFC5280,RFC3279,RFC5480,RFC8813,RFC5891,Community",
		"-pretty", certPath).Output()
	if err != nil {
		t.Fatalf("zlint %s: %v", certPath, err)
	}
	var results map[string]struct {
		Result  string `json:"result"`
		Details string `json:"details"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("zlint output: %v\n%s", err, out)
	}
	if len(results) < 50 {
		t.Fatalf("zlint ran only %d lints; include flags not honoured?", len(results))
	}
	var problems []string
	for name, r := range results {
		switch r.Result {
		case "warn", "error", "fatal":
			if _, ok := zlintAllowed[name]; !ok {
				problems = append(problems, name+": "+r.Result+" "+r.Details)
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// TestInterop issues a server and a client certificate under a fresh CA of
// every key type, with and without an intermediate, and has OpenSSL verify
// each chain and purpose and zlint lint every certificate.
func TestInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		requireTool(t, err, "openssl")
	}
	for _, kt := range KeyTypes {
		for _, inter := range []bool{false, true} {
			name := string(kt)
			if inter {
				name += "/intermediate"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if testing.Short() && strings.HasPrefix(string(kt), "rsa-") && kt != KeyRSA2048 {
					t.Skip("large RSA keys are slow to generate; skipped in -short mode")
				}
				testInteropCA(t, kt, inter)
			})
		}
	}
}

func testInteropCA(t *testing.T, kt KeyType, inter bool) {
	a, _ := newTestCA(t, kt, inter)
	ctx := context.Background()
	server, err := a.Issue(ctx, IssueRequest{Profile: ProfileServer, CN: "chat.scca.test",
		DNSNames: []string{"localhost", "xn--bcher-kva.scca.test"}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, KeyType: kt})
	if err != nil {
		t.Fatalf("issue server: %v", err)
	}
	client, err := a.Issue(ctx, IssueRequest{Profile: ProfileClient, CN: "client123", KeyType: kt})
	if err != nil {
		t.Fatalf("issue client: %v", err)
	}
	root := filepath.Join(a.Dir(), RootCertFile)
	verify := []string{"verify", "-x509_strict", "-CAfile", root}
	if inter {
		verify = append(verify, "-untrusted", filepath.Join(a.Dir(), IntermediateCertFile))
	}
	for _, c := range []struct{ path, purpose, wrong string }{
		{server.CertPath, "sslserver", "sslclient"},
		{client.CertPath, "sslclient", "sslserver"},
	} {
		args := append(slices.Clone(verify), "-purpose", c.purpose, c.path)
		if out, err := openssl(t, args...); err != nil || !strings.Contains(out, ": OK") {
			t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		// The profile must not be usable for the other purpose.
		args = append(slices.Clone(verify), "-purpose", c.wrong, c.path)
		if out, err := openssl(t, args...); err == nil {
			t.Errorf("openssl accepted %s for %s:\n%s", c.path, c.wrong, out)
		}
	}
	lint := []string{root, server.CertPath, client.CertPath}
	if inter {
		lint = append(lint, filepath.Join(a.Dir(), IntermediateCertFile))
	}
	// Every CA's delegated OCSP responder: openssl accepts it for the OCSP
	// helper purpose only, and it passes zlint like every other kind.
	for _, isInter := range []bool{false, inter} {
		issuer := a.Root
		if isInter {
			issuer = a.Intermediate
		}
		r, err := LoadOCSPResponder(OCSPResponderPath(a.Dir(), isInter), issuer)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "ocsp-responder.pem")
		if err := os.WriteFile(p, certPEM(r.Cert.Raw), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append(slices.Clone(verify), "-purpose", "ocsphelper", p)
		if out, err := openssl(t, args...); err != nil || !strings.Contains(out, ": OK") {
			t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		args = append(slices.Clone(verify), "-purpose", "sslclient", p)
		if out, err := openssl(t, args...); err == nil {
			t.Errorf("openssl accepted the OCSP responder certificate as a TLS client:\n%s", out)
		}
		lint = append(lint, p)
	}
	for _, p := range lint {
		if problems := zlintProblems(t, p); len(problems) > 0 {
			t.Errorf("zlint %s:\n  %s", filepath.Base(p), strings.Join(problems, "\n  "))
		}
	}
	// Go's own verifier agrees with OpenSSL.
	if _, err := a.Trust().VerifyLeaf(server.Cert, x509.ExtKeyUsageServerAuth, "chat.scca.test", a.now()); err != nil {
		t.Errorf("VerifyLeaf server: %v", err)
	}
	if _, err := a.Trust().VerifyLeaf(client.Cert, x509.ExtKeyUsageClientAuth, "", a.now()); err != nil {
		t.Errorf("VerifyLeaf client: %v", err)
	}
}

// TestEncryptedKeyOpenSSL checks that OpenSSL decrypts an encrypted key of
// every type with the right passphrase, refuses a wrong one, and sees the
// same key.
func TestEncryptedKeyOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		requireTool(t, err, "openssl")
	}
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			if testing.Short() && (kt == KeyRSA3072 || kt == KeyRSA4096) {
				t.Skip("large RSA keys are slow to generate; skipped in -short mode")
			}
			key, err := GenerateKey(kt, nil)
			if err != nil {
				t.Fatal(err)
			}
			pemBytes, err := EncodeKeyPEM(key, []byte("correct horse"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "key.pem")
			if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := openssl(t, "pkey", "-in", path, "-passin", "pass:correct horse", "-pubout")
			if err != nil {
				t.Fatalf("openssl pkey: %v\n%s", err, out)
			}
			wantPub, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got := pemBody(t, []byte(out)); !bytes.Equal(got, wantPub) {
				t.Error("openssl decrypted a different public key")
			}
			if out, err := openssl(t, "pkey", "-in", path, "-passin", "pass:wrong horse", "-noout"); err == nil {
				t.Errorf("openssl accepted a wrong passphrase:\n%s", out)
			}
		})
	}
}
