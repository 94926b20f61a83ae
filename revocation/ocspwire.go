package revocation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The RFC 6960 structures the responder reads and writes. They mirror the
// unexported ones of golang.org/x/crypto/ocsp, which only ever parses the
// first request of a requestList and builds responses with exactly one
// SingleResponse and no responseExtensions; RFC 6960 §4.2.2.3 wants a
// SingleResponse for every certificate asked about, and RFC 8954 wants the
// request's nonce echoed. encoding/asn1 does the DER; x/crypto/ocsp stays
// the parser on the client side (OCSPChecker) and in the tests.

var (
	oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
)

// RFC 6960 §4.1.1.
type ocspRequestASN1 struct {
	TBSRequest        tbsRequestASN1
	OptionalSignature asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type tbsRequestASN1 struct {
	Version       int           `asn1:"explicit,tag:0,default:0,optional"`
	RequestorName asn1.RawValue `asn1:"explicit,tag:1,optional"`
	RequestList   []singleRequestASN1
	Extensions    []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type singleRequestASN1 struct {
	CertID     certIDASN1
	Extensions []pkix.Extension `asn1:"explicit,tag:0,optional"`
}

type certIDASN1 struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

// RFC 6960 §4.2.1.
type responseASN1 struct {
	Status   asn1.Enumerated
	Response responseBytesASN1 `asn1:"explicit,tag:0,optional"`
}

type responseBytesASN1 struct {
	ResponseType asn1.ObjectIdentifier
	Response     []byte
}

type basicResponseASN1 struct {
	TBSResponseData    asn1.RawValue // the DER that was signed, verbatim
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type responseDataASN1 struct {
	Version        int `asn1:"optional,default:0,explicit,tag:0"`
	RawResponderID asn1.RawValue
	ProducedAt     time.Time `asn1:"generalized"`
	Responses      []singleResponseASN1
	Extensions     []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type singleResponseASN1 struct {
	CertID     certIDASN1
	Good       asn1.Flag       `asn1:"tag:0,optional"`
	Revoked    revokedInfoASN1 `asn1:"tag:1,optional"`
	Unknown    asn1.Flag       `asn1:"tag:2,optional"`
	ThisUpdate time.Time       `asn1:"generalized"`
	NextUpdate time.Time       `asn1:"generalized,explicit,tag:0,optional"`
}

type revokedInfoASN1 struct {
	RevocationTime time.Time       `asn1:"generalized"`
	Reason         asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

// hashOIDs maps the CertID hash algorithms the responder understands (see
// hashes) to their OIDs.
var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 3, 14, 3, 2, 26},
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// MaxOCSPRequestCerts bounds how many certificates one request may ask
// about: each costs an inventory lookup. Clients ask about one (RFC 5019
// even requires it); openssl about as many as it is given -cert options.
const MaxOCSPRequestCerts = 32

// maxNonceLength is RFC 8954 §2.1's upper bound on the nonce.
const maxNonceLength = 32

var errMalformedRequest = errors.New("malformed OCSP request")

// certQuery is one CertID of a request.
type certQuery struct {
	raw    certIDASN1  // echoed verbatim in the SingleResponse
	hash   crypto.Hash // 0 when the algorithm is not one of hashes
	serial *big.Int
}

// parsedRequest is what the responder needs of an OCSP request.
type parsedRequest struct {
	certs []certQuery
	nonce *pkix.Extension // the request's nonce extension, echoed as is
}

// parseOCSPRequest parses a DER OCSPRequest with every entry of its
// requestList and its nonce, if any. Signed requests are accepted and their
// signature ignored, as RFC 6960 §4.1.2 allows.
func parseOCSPRequest(der []byte) (*parsedRequest, error) {
	var req ocspRequestASN1
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil || len(rest) != 0 {
		return nil, errMalformedRequest
	}
	tbs := req.TBSRequest
	if tbs.Version != 0 || len(tbs.RequestList) == 0 || len(tbs.RequestList) > MaxOCSPRequestCerts {
		return nil, errMalformedRequest
	}
	p := &parsedRequest{}
	for _, r := range tbs.RequestList {
		id := r.CertID
		if id.SerialNumber == nil {
			return nil, errMalformedRequest
		}
		q := certQuery{raw: id, serial: id.SerialNumber}
		for h, oid := range hashOIDs {
			if id.HashAlgorithm.Algorithm.Equal(oid) {
				q.hash = h
			}
		}
		p.certs = append(p.certs, q)
	}
	for i, ext := range tbs.Extensions {
		if !ext.Id.Equal(oidOCSPNonce) {
			continue
		}
		if !validNonce(ext.Value) {
			return nil, errMalformedRequest
		}
		p.nonce = &tbs.Extensions[i]
	}
	return p, nil
}

// validNonce checks an id-pkix-ocsp-nonce extnValue: an OCTET STRING of 1
// to 32 octets (RFC 8954 §2.1). A responder must not echo an unbounded
// value into a signed response.
func validNonce(v []byte) bool {
	var nonce []byte
	rest, err := asn1.Unmarshal(v, &nonce)
	return err == nil && len(rest) == 0 && len(nonce) >= 1 && len(nonce) <= maxNonceLength
}

// singleAnswer is the status of one certificate.
type singleAnswer struct {
	id         certIDASN1
	status     int // ocsp.Good, ocsp.Revoked or ocsp.Unknown
	revokedAt  time.Time
	reason     int
	thisUpdate time.Time
	nextUpdate time.Time
}

// responseSigner is what signs a BasicOCSPResponse.
type responseSigner struct {
	key         crypto.Signer
	responderID []byte // DER of the responder certificate's subject
	certDER     []byte // the delegated responder certificate; nil when the CA signs
}

// buildResponse signs a successful OCSP response with one SingleResponse
// per answer, producedAt, and the nonce when the request had one.
func buildResponse(s responseSigner, answers []singleAnswer, producedAt time.Time, nonce *pkix.Extension) ([]byte, error) {
	data := responseDataASN1{
		RawResponderID: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: s.responderID},
		ProducedAt:     producedAt.UTC(),
	}
	for _, a := range answers {
		sr := singleResponseASN1{CertID: a.id, ThisUpdate: a.thisUpdate.UTC(), NextUpdate: a.nextUpdate.UTC()}
		switch a.status {
		case statusGood:
			sr.Good = true
		case statusRevoked:
			sr.Revoked = revokedInfoASN1{RevocationTime: a.revokedAt.UTC(), Reason: asn1.Enumerated(a.reason)}
		default:
			sr.Unknown = true
		}
		data.Responses = append(data.Responses, sr)
	}
	if nonce != nil {
		// RFC 8954 §2.1: the nonce extension is echoed, non-critical.
		data.Extensions = []pkix.Extension{{Id: oidOCSPNonce, Value: nonce.Value}}
	}
	tbs, err := asn1.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode response data: %w", err)
	}
	sigAlg, hash, err := signatureParams(s.key.Public())
	if err != nil {
		return nil, err
	}
	signed := tbs
	if hash != 0 {
		h := hash.New()
		h.Write(tbs)
		signed = h.Sum(nil)
	}
	// rand.Reader: ECDSA needs fresh randomness per signature (Go mixes in
	// its own CSPRNG regardless); RSA PKCS#1 v1.5 and Ed25519 ignore it.
	sig, err := s.key.Sign(rand.Reader, signed, hash)
	if err != nil {
		return nil, fmt.Errorf("sign response: %w", err)
	}
	basic := basicResponseASN1{
		TBSResponseData:    asn1.RawValue{FullBytes: tbs},
		SignatureAlgorithm: sigAlg,
		Signature:          asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	}
	if s.certDER != nil {
		basic.Certificates = []asn1.RawValue{{FullBytes: s.certDER}}
	}
	basicDER, err := asn1.Marshal(basic)
	if err != nil {
		return nil, fmt.Errorf("encode basic response: %w", err)
	}
	return asn1.Marshal(responseASN1{Response: responseBytesASN1{ResponseType: oidOCSPBasic, Response: basicDER}})
}

// Answer statuses, with the values of x/crypto/ocsp's Good, Revoked and
// Unknown.
const (
	statusGood    = 0
	statusRevoked = 1
	statusUnknown = 2
)

// signatureParams picks the signature algorithm for the responder's key,
// the one crypto/x509 would pick for a certificate: SHA-256 with RSA
// PKCS#1 v1.5, ECDSA with the hash matching the curve, pure Ed25519.
func signatureParams(pub crypto.PublicKey) (pkix.AlgorithmIdentifier, crypto.Hash, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11},
			Parameters: asn1.NullRawValue}, crypto.SHA256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}, crypto.SHA256, nil
		case elliptic.P384():
			return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}}, crypto.SHA384, nil
		case elliptic.P521():
			return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}}, crypto.SHA512, nil
		}
	case ed25519.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 101, 112}}, 0, nil
	}
	return pkix.AlgorithmIdentifier{}, 0, fmt.Errorf("unsupported OCSP signing key %T", pub)
}
