package ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// SignRequest asks for a certificate for the key in a CSR.
type SignRequest struct {
	CSRPEM   []byte
	Profile  Profile
	Validity time.Duration // 0 = the profile's default
	Out      string        // "" = Dir/<cn>_cert.pem
	Actor    string
	Replace  bool // see IssueRequest.Replace
	Chain    bool // see IssueRequest.Chain
}

// SignCSR issues a certificate for the public key in a PKCS#10 request.
// Only the request's subject common name and its DNS/IP SANs are used, and
// they are validated like IssueRequest's; every extension the requester
// asked for is ignored, since the profile alone decides usages.
func (a *Authority) SignCSR(ctx context.Context, req SignRequest) (*Issued, error) {
	csr, err := parseSignedCSR(req.CSRPEM)
	if err != nil {
		return nil, err
	}
	if err := checkCSRNames(csr, req.Profile); err != nil {
		return nil, err
	}
	s, err := a.leafSpec(IssueRequest{
		Profile: req.Profile, CN: csr.Subject.CommonName, DNSNames: csr.DNSNames,
		IPs: csr.IPAddresses, Validity: req.Validity, Actor: req.Actor, Replace: req.Replace,
	})
	if err != nil {
		return nil, err
	}
	certPath := a.outPath(req.Out, FileStem(s.cn)+"_cert.pem")
	if err := checkAbsent(certPath, chainTarget(req.Chain, certPath)); err != nil {
		return nil, err
	}
	if a.store == nil {
		return nil, errNoStore
	}
	p := a.newPending(nil, req.Chain, journalFile{Role: roleCert, Path: certPath})
	defer p.close()
	ctx = p.context(ctx)
	cert, replaced, err := a.signAndRecord(ctx, s, csr.PublicKey, p)
	if err != nil {
		return nil, err
	}
	if err := p.commit(ctx, cert); err != nil {
		return nil, err
	}
	return &Issued{Serial: serialHex(cert), Cert: cert, CertPath: certPath, ChainPath: p.path(roleChain),
		Replaced: replaced, Clamped: a.clamped(s, cert)}, nil
}

// parseCSR decodes and checks a CSR: one PEM block, a valid self-signature
// (proof that the requester holds the key), an acceptable key, and no SAN
// types this CA does not certify for a server or client.
func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	csr, err := parseSignedCSR(data)
	if err != nil {
		return nil, err
	}
	return csr, checkCSRNames(csr, "")
}

// parseSignedCSR is parseCSR without the check of the requested names.
func parseSignedCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, fmt.Errorf("%w: no CERTIFICATE REQUEST PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify: %w", ErrBadCSR, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	return csr, nil
}

// checkCSRNames refuses SAN types the certificate would not carry, rather
// than signing without a name the requester asked for: URIs always, and
// e-mail addresses except, under the email profile, the CN's own address
// (which that profile puts in the SAN anyway).
func checkCSRNames(csr *x509.CertificateRequest, p Profile) error {
	if len(csr.URIs) > 0 {
		return fmt.Errorf("%w: only DNS and IP subject alternative names are supported", ErrInvalidName)
	}
	for _, m := range csr.EmailAddresses {
		if p != ProfileEmail {
			return fmt.Errorf("%w: only DNS and IP subject alternative names are supported (e-mail addresses only with --profile email)", ErrInvalidName)
		}
		if !strings.EqualFold(m, csr.Subject.CommonName) {
			return fmt.Errorf("%w: e-mail SAN %q differs from the CN %q, the one address an email certificate carries", ErrInvalidName, m, csr.Subject.CommonName)
		}
	}
	return nil
}
