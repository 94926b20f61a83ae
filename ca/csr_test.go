package ca

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// makeCSR signs tmpl with a fresh P-256 key and returns it as PEM.
func makeCSR(t *testing.T, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := GenerateKey(KeyECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignCSR(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, true)
	// The requester asks for CA:TRUE, certSign and codeSigning; the
	// profile must win.
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})
	csr := makeCSR(t, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "api.scca.test", Organization: []string{"Evil Corp"}},
		DNSNames:    []string{"API2.scca.test"},
		IPAddresses: []net.IP{net.ParseIP("10.1.2.3")},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},
		},
	})
	iss, err := a.SignCSR(context.Background(), SignRequest{CSRPEM: csr, Profile: ProfileServer, Actor: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Cert
	switch {
	case c.IsCA || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || c.KeyUsage != x509.KeyUsageDigitalSignature:
		t.Errorf("CSR extensions leaked: CA=%v EKU=%v KU=%v", c.IsCA, c.ExtKeyUsage, c.KeyUsage)
	case len(c.Subject.Organization) != 0 || c.Subject.CommonName != "api.scca.test":
		t.Errorf("subject %v", c.Subject)
	case !slices.Equal(c.DNSNames, []string{"api.scca.test", "api2.scca.test"}):
		t.Errorf("DNS %v", c.DNSNames)
	case len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")):
		t.Errorf("IPs %v", c.IPAddresses)
	case iss.KeyPath != "" || iss.CertPath != filepath.Join(a.Dir(), "api.scca.test_cert.pem"):
		t.Errorf("paths %q %q", iss.CertPath, iss.KeyPath)
	case !bytes.Equal(readCert(t, iss.CertPath).Raw, c.Raw):
		t.Error("file differs")
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) && bytes.Equal(e.Value, eku) {
			t.Error("requested EKU copied")
		}
	}
	if r := rec.records()[rec.count()-1]; r.IssuedBy != "carol" || r.Serial != iss.Serial {
		t.Errorf("row %+v", r)
	}
}

func TestSignCSRBadInput(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, false)
	good := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ok.example"}})
	block, _ := pem.Decode(good)
	flipped := slices.Clone(block.Bytes)
	flipped[len(flipped)-1] ^= 0x01 // last byte of the signature
	badSig := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: flipped})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "weak.example"}}, rsaKey)
	weak := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: weakDER})
	existing := filepath.Join(t.TempDir(), "taken.pem")
	os.WriteFile(existing, []byte("keep"), 0o644)

	tests := []struct {
		name string
		req  SignRequest
		want error
	}{
		{"flipped signature byte", SignRequest{CSRPEM: badSig, Profile: ProfileServer}, ErrBadCSR},
		{"not PEM", SignRequest{CSRPEM: []byte("hello"), Profile: ProfileServer}, ErrBadCSR},
		{"certificate instead of CSR", SignRequest{CSRPEM: certPEM(a.Root.Raw), Profile: ProfileServer}, ErrBadCSR},
		{"truncated DER", SignRequest{CSRPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: block.Bytes[:40]}), Profile: ProfileServer}, ErrBadCSR},
		{"RSA-1024 key", SignRequest{CSRPEM: weak, Profile: ProfileServer}, ErrBadCSR},
		{"email SAN", SignRequest{CSRPEM: makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "c"}, EmailAddresses: []string{"a@b.example"}}), Profile: ProfileClient}, ErrInvalidName},
		{"email SAN other than the CN, email profile", SignRequest{CSRPEM: makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice@example.com"}, EmailAddresses: []string{"mallory@example.com"}}), Profile: ProfileEmail}, ErrInvalidName},
		{"URI SAN", SignRequest{CSRPEM: makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "c"}, URIs: []*url.URL{{Scheme: "spiffe", Host: "x"}}}), Profile: ProfileClient}, ErrInvalidName},
		{"bad DNS SAN", SignRequest{CSRPEM: makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ok.example"}, DNSNames: []string{"a..b"}}), Profile: ProfileServer}, ErrInvalidName},
		{"empty CN", SignRequest{CSRPEM: makeCSR(t, &x509.CertificateRequest{DNSNames: []string{"ok.example"}}), Profile: ProfileServer}, ErrInvalidName},
		{"unknown profile", SignRequest{CSRPEM: good, Profile: "ca"}, ErrUnknownProfile},
		{"output exists", SignRequest{CSRPEM: good, Profile: ProfileServer, Out: existing}, ErrFileExists},
	}
	before := dirSnapshot(t, a.Dir())
	rows := rec.count()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.SignCSR(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep" {
		t.Error("existing output overwritten")
	}
	if !maps.Equal(before, dirSnapshot(t, a.Dir())) || rec.count() != rows {
		t.Error("refused CSRs left files or rows")
	}
}

// An openssl CSR for an S/MIME certificate usually repeats the address as
// an e-mail SAN; the email profile signs it (the address is its identity).
func TestSignCSREmailProfile(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	csr := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice@example.com"}, EmailAddresses: []string{"Alice@Example.com"}})
	iss, err := a.SignCSR(context.Background(), SignRequest{CSRPEM: csr, Profile: ProfileEmail})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(iss.Cert.EmailAddresses, []string{"alice@example.com"}) {
		t.Errorf("e-mail SANs %v", iss.Cert.EmailAddresses)
	}
}
