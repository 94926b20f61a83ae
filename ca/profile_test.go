package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/securechat/scca/inventory"
)

// TestProfileTableIsComplete checks every row of the profile table is fully
// filled in, so a new profile cannot inherit another's settings by omission.
func TestProfileTableIsComplete(t *testing.T) {
	seen := map[Profile]bool{}
	for _, r := range profiles {
		t.Run(string(r.name), func(t *testing.T) {
			if seen[r.name] {
				t.Fatalf("profile %q listed twice", r.name)
			}
			seen[r.name] = true
			if !inventory.ValidType(r.recordType) || r.recordType == inventory.TypeCA {
				t.Errorf("record type %q is not a leaf type of the inventory", r.recordType)
			}
			if r.validity <= 0 {
				t.Errorf("default validity %s", r.validity)
			}
			if len(r.extKeyUsage) == 0 {
				t.Error("no extended key usage: the certificate would be good for anything")
			}
			if r.keyUsage&x509.KeyUsageDigitalSignature == 0 || r.keyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
				t.Errorf("key usage %b: want digitalSignature and never a CA usage", r.keyUsage)
			}
			if r.sans == 0 {
				t.Error("no SAN policy")
			}
			if got, err := ParseProfile(string(r.name)); err != nil || got != r.name {
				t.Errorf("ParseProfile(%q) = %q, %v", r.name, got, err)
			}
		})
	}
	if !slices.Equal(Profiles(), []Profile{ProfileServer, ProfileClient, ProfileOCSPSigner, ProfileEmail}) {
		t.Errorf("Profiles() = %v", Profiles())
	}
	for _, bad := range []string{"", "ca", "Server", "codesigning"} {
		if _, err := ParseProfile(bad); !errors.Is(err, ErrUnknownProfile) {
			t.Errorf("ParseProfile(%q) = %v, want ErrUnknownProfile", bad, err)
		}
	}
}

// profileJudges says, for every profile, how OpenSSL must judge its
// certificates: the purpose it passes, purposes it must fail, and text
// `openssl x509 -text` must show. A profile missing here fails the walk.
var profileJudges = map[Profile]struct {
	cn       string
	purpose  string
	wrong    []string
	mustShow []string
}{
	ProfileServer:     {"chat.scca.test", "sslserver", []string{"sslclient", "smimesign"}, []string{"TLS Web Server Authentication", "DNS:chat.scca.test"}},
	ProfileClient:     {"client123", "sslclient", []string{"sslserver", "smimesign"}, []string{"TLS Web Client Authentication"}},
	ProfileOCSPSigner: {"OCSP Responder", "ocsphelper", []string{"sslserver", "sslclient", "smimesign"}, []string{"OCSP Signing", "OCSP No Check"}},
	ProfileEmail:      {"alice@scca.test", "smimesign", []string{"sslserver", "sslclient"}, []string{"E-mail Protection", "email:alice@scca.test"}},
}

// TestProfilesInterop walks every profile in the table through OpenSSL
// (chain, purpose, extensions) and zlint, with an ECDSA and an RSA key (RSA
// adds keyEncipherment where the profile decrypts).
func TestProfilesInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		requireTool(t, err, "openssl")
	}
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		a, _ := newTestCA(t, kt, true)
		root := filepath.Join(a.Dir(), RootCertFile)
		verify := []string{"verify", "-x509_strict", "-CAfile", root, "-untrusted", filepath.Join(a.Dir(), IntermediateCertFile)}
		for _, p := range Profiles() {
			t.Run(string(kt)+"/"+string(p), func(t *testing.T) {
				judge, ok := profileJudges[p]
				if !ok {
					t.Fatalf("profile %q has no entry in profileJudges", p)
				}
				is, err := a.Issue(context.Background(), IssueRequest{Profile: p, CN: judge.cn, KeyType: kt})
				if err != nil {
					t.Fatalf("issue: %v", err)
				}
				args := append(slices.Clone(verify), "-purpose", judge.purpose, is.CertPath)
				if out, err := openssl(t, args...); err != nil || !strings.Contains(out, ": OK") {
					t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				for _, wrong := range judge.wrong {
					if out, err := openssl(t, append(slices.Clone(verify), "-purpose", wrong, is.CertPath)...); err == nil {
						t.Errorf("openssl accepted %s for %s:\n%s", p, wrong, out)
					}
				}
				text, err := openssl(t, "x509", "-noout", "-text", "-in", is.CertPath)
				if err != nil {
					t.Fatalf("openssl x509: %v\n%s", err, text)
				}
				for _, want := range judge.mustShow {
					if !strings.Contains(text, want) {
						t.Errorf("openssl x509 -text lacks %q:\n%s", want, text)
					}
				}
				if problems := zlintProblems(t, is.CertPath); len(problems) > 0 {
					t.Errorf("zlint:\n  %s", strings.Join(problems, "\n  "))
				}
			})
		}
	}
}

// TestProfileSANPolicies checks the SAN policies that have no OpenSSL
// purpose to judge them: an OCSP signer and an e-mail certificate take no
// DNS/IP names, and an e-mail certificate needs an address as its CN.
func TestProfileSANPolicies(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	ctx := context.Background()
	bad := []IssueRequest{
		{Profile: ProfileOCSPSigner, CN: "OCSP Responder", DNSNames: []string{"ocsp.scca.test"}},
		{Profile: ProfileEmail, CN: "alice@scca.test", DNSNames: []string{"scca.test"}},
		{Profile: ProfileEmail, CN: "alice"},
		{Profile: ProfileEmail, CN: "Alice <alice@scca.test>"},
		{Profile: ProfileEmail, CN: "alice@bad_domain"},
		{Profile: ProfileEmail, CN: "jösé@scca.test"},
	}
	for _, req := range bad {
		if _, err := a.Issue(ctx, req); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Issue(%s, %q, %v) = %v, want ErrInvalidName", req.Profile, req.CN, req.DNSNames, err)
		}
	}
	is, err := a.Issue(ctx, IssueRequest{Profile: ProfileOCSPSigner, CN: "OCSP Responder"})
	if err != nil {
		t.Fatal(err)
	}
	c := is.Cert
	if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses) != 0 {
		t.Errorf("OCSP signer has SANs %v %v %v", c.DNSNames, c.IPAddresses, c.EmailAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("OCSP signer EKU %v KU %b", c.ExtKeyUsage, c.KeyUsage)
	}
	if got := c.NotAfter.Sub(c.NotBefore) - clockSkew; got != DefaultOCSPSignerValidity {
		t.Errorf("OCSP signer validity %s, want %s", got, DefaultOCSPSignerValidity)
	}
	noCheck := false
	for _, e := range c.Extensions {
		noCheck = noCheck || e.Id.Equal(oidOCSPNoCheck) && !e.Critical
	}
	if !noCheck {
		t.Error("OCSP signer lacks a non-critical id-pkix-ocsp-nocheck")
	}
}
