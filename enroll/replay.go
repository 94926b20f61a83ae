package enroll

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
)

// Renewal retried after a lost reply.
//
// The CA supersedes the previous certificate in the transaction that
// records the new one. If the reply carrying the new certificate is lost
// (the connection drops, the client is killed), the client still holds only
// the superseded certificate, which renew then refused: the identity was
// lost and needed a new enrollment token. So the client keeps the key of its
// request durably until the new files are in place (Renew) and sends the
// same request again; the CA answers a renewal authenticated with a
// certificate it superseded less than ReplayWindow ago with the successor
// it issued then, provided the successor is active and certifies the key of
// the request. Only the holder of both keys can ask (the previous one for
// mutual TLS, the new one signs the CSR), and nothing new is issued.

// ReplayWindow bounds how long after a renewal its reply can be asked for
// again.
const ReplayWindow = 24 * time.Hour

// reasonSuperseded is RFC 5280's CRLReason superseded (4).
const reasonSuperseded = 4

// supersededError is checkRenewable's answer for a certificate superseded
// by a renewal: not renewable, but perhaps a retry (replayRenewal).
type supersededError struct{ rec certstore.Record }

func (e *supersededError) Error() string { return "certificate is revoked (superseded)" }

func isSuperseded(rec certstore.Record) bool {
	return rec.Status == certstore.StatusRevoked && rec.Reason != nil && *rec.Reason == reasonSuperseded
}

// replayRenewal answers a retried renewal with the certificate that
// superseded prev, or refuses as for any revoked certificate.
func (s *Server) replayRenewal(w http.ResponseWriter, r *http.Request, prev *x509.Certificate, sup *supersededError, csrPEM string) {
	refuse := func() { s.fail(w, "renew", http.StatusForbidden, sup.Error()) }
	if sup.rec.RevokedAt == nil || s.cfg.Now().Sub(*sup.rec.RevokedAt) > ReplayWindow {
		refuse()
		return
	}
	csr, err := ca.ParseCSR([]byte(csrPEM))
	if err != nil {
		s.fail(w, "renew", http.StatusBadRequest, err.Error())
		return
	}
	succ, err := s.successor(r.Context(), prev, sup, csr.PublicKey)
	if err != nil {
		s.issueFailed(w, "renew", err)
		return
	}
	if succ == nil {
		refuse()
		return
	}
	s.cfg.Logger.Info("renewal answered again", "cn", succ.Subject.CommonName, "serial", succ.SerialNumber.Text(16), "previous", prev.SerialNumber.Text(16))
	if s.cfg.Superseded != nil {
		// The first answer may have been lost before its CRL was out.
		s.cfg.Superseded()
	}
	s.respond(w, succ)
}

// successor finds the active certificate of prev's identity (same type,
// CN and SANs) for the public key pub, or nil.
func (s *Server) successor(ctx context.Context, prev *x509.Certificate, sup *supersededError, pub any) (*x509.Certificate, error) {
	want, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil // a key type no certificate here can have
	}
	var found *x509.Certificate
	errFound := errors.New("found")
	err = s.cfg.Store.List(ctx, certstore.Filter{Status: certstore.StatusActive, Type: sup.rec.Type, CNContains: sup.rec.CN}, func(rec certstore.Record) error {
		if rec.CN != sup.rec.CN {
			return nil
		}
		c, err := x509.ParseCertificate(rec.DER)
		if err != nil || !bytes.Equal(c.RawSubjectPublicKeyInfo, want) || !sameNames(c, prev) {
			return nil
		}
		found = c
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	return found, nil
}

func sameNames(a, b *x509.Certificate) bool {
	return slices.Equal(a.DNSNames, b.DNSNames) &&
		slices.EqualFunc(a.IPAddresses, b.IPAddresses, func(x, y net.IP) bool { return x.Equal(y) })
}
