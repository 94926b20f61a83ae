package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/atomicfile"
)

// Errors callers branch on (the CLI turns them into hints).
var (
	ErrNoFingerprint       = errors.New("no root fingerprint given: the CA's root is never trusted on first use")
	ErrFingerprintMismatch = errors.New("the server's root certificate does not match the pinned fingerprint")
	ErrTokenRejected       = errors.New("the CA rejected the token")
	ErrRenewalRefused      = errors.New("the CA refused the renewal")
	ErrEnrollRefused       = errors.New("the CA refused the enrollment")
	ErrIdentityHeld        = errors.New("the CA refused: this identity already has an active certificate")
	ErrRateLimited         = errors.New("the CA is rate-limiting this client")
	ErrBadResponse         = errors.New("the CA's answer does not match the request")
)

// APIError is an error answer from the CA.
type APIError struct {
	Status  int
	Message string
	Path    string // the endpoint, e.g. /v1/sign
}

func (e *APIError) Error() string { return fmt.Sprintf("CA answered %d: %s", e.Status, e.Message) }

// Is maps the status to this package's sentinels.
func (e *APIError) Is(target error) bool {
	switch e.Status {
	case http.StatusUnauthorized:
		return target == ErrTokenRejected
	case http.StatusForbidden:
		if e.Path == "/v1/sign" {
			return target == ErrEnrollRefused
		}
		return target == ErrRenewalRefused
	case http.StatusConflict:
		return target == ErrIdentityHeld
	case http.StatusTooManyRequests:
		return target == ErrRateLimited
	}
	return false
}

// Client talks to the API of an online CA.
type Client struct {
	// URL is the API's base URL, https://host:port.
	URL string
	// Fingerprint pins the CA's root: the lower-case or upper-case hex
	// SHA-256 of its DER, colons allowed. Required unless Roots is set.
	Fingerprint string
	// Roots, when set, are trusted as the CA's roots (renewal, with
	// root_ca.pem from the certs dir).
	Roots []*x509.Certificate
	// Certificate authenticates the client (renewal).
	Certificate *tls.Certificate
	Timeout     time.Duration // per request; 0 = 30 s
	Rand        io.Reader     // key generation and CSR signatures; nil = crypto/rand

	once    sync.Once
	http    *http.Client
	initErr error
	mu      sync.Mutex
	pinned  *x509.Certificate // the root matched by fingerprint
}

func (c *Client) init() error {
	c.once.Do(func() {
		u, err := url.Parse(c.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			c.initErr = fmt.Errorf("CA URL %q must be https://host[:port]", c.URL)
			return
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		switch {
		case len(c.Roots) > 0:
			pool := x509.NewCertPool()
			for _, r := range c.Roots {
				pool.AddCert(r)
			}
			cfg.RootCAs = pool
		case c.Fingerprint != "":
			want, err := parseFingerprint(c.Fingerprint)
			if err != nil {
				c.initErr = err
				return
			}
			// Verification is not skipped but replaced: VerifyConnection
			// checks the chain against the root whose SHA-256 is pinned,
			// which the server sends at the end of its chain.
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error { return c.verifyPinned(cs, want) }
		default:
			c.initErr = ErrNoFingerprint
			return
		}
		if c.Certificate != nil {
			cert := c.Certificate
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		timeout := c.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		c.http = &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	})
	return c.initErr
}

func parseFingerprint(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q is not a hex SHA-256 (64 digits, colons allowed)", s)
	}
	return b, nil
}

// Fingerprint returns the hex SHA-256 of a certificate's DER, the form
// `scca enroll --fingerprint` takes.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

func (c *Client) verifyPinned(cs tls.ConnectionState, want []byte) error {
	var root *x509.Certificate
	inter := x509.NewCertPool()
	for _, cert := range cs.PeerCertificates[1:] {
		if sum := sha256.Sum256(cert.Raw); bytes.Equal(sum[:], want) {
			root = cert
		} else {
			inter.AddCert(cert)
		}
	}
	if root == nil || !root.IsCA {
		return ErrFingerprintMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: cs.ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("CA server certificate: %w", err)
	}
	c.mu.Lock()
	c.pinned = root
	c.mu.Unlock()
	return nil
}

// trustedRoot returns the root this client trusts: the pinned one, or the
// first of Roots.
func (c *Client) trustedRoot() *x509.Certificate {
	if len(c.Roots) > 0 {
		return c.Roots[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pinned
}

// post sends a JSON request and decodes a CertResponse.
func (c *Client) post(ctx context.Context, path string, body any) (*CertResponse, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contact CA: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read CA answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		_ = json.Unmarshal(data, &e)
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error, Path: path}
	}
	var out CertResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return &out, nil
}

// EnrollRequest asks for a first certificate with a token.
type EnrollRequest struct {
	Token   string
	CN      string
	KeyType ca.KeyType // "" = ecdsa-p256
	Dir     string     // certs dir the files go to
}

// Result says what an enrollment or renewal wrote.
type Result struct {
	Cert  *x509.Certificate
	Paths Paths
	// Recovered is set when an earlier enrollment or renewal of the
	// identity had been interrupted (a crash between its renames) and was
	// finished first (Recover).
	Recovered bool
}

// Enroll generates a key here (it never leaves this process except into
// the 0600 key file), has the CA certify it with the one-time token, checks
// the answer against the pinned root, and writes <cn>_key.pem,
// <cn>_cert.pem, <cn>_chain.pem, root_ca.pem (and intermediate_ca.pem when
// the CA has one) into Dir.
func (c *Client) Enroll(ctx context.Context, req EnrollRequest) (*Result, error) {
	if err := ca.CheckCN(req.CN); err != nil {
		return nil, err
	}
	paths := PathsFor(req.Dir, req.CN)
	recovered, err := Recover(req.Dir, req.CN)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(paths.Cert); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, paths.Cert)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, csrPEM, err := c.newKeyAndCSR(req.KeyType, req.CN, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, "/v1/sign", SignBody{Token: req.Token, CSR: string(csrPEM)})
	if err != nil {
		return nil, err
	}
	leaf, inter, err := c.checkAnswer(resp, key.Public(), req.CN)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.EncodeKeyPEM(key, nil)
	if err != nil {
		return nil, err
	}
	files := identityFiles{keyPEM: keyPEM, leaf: leaf, chainPEM: []byte(resp.Chain), root: c.trustedRoot(), intermediate: inter}
	if err := files.write(req.Dir, paths); err != nil {
		return nil, err
	}
	return &Result{Cert: leaf, Paths: paths, Recovered: recovered}, nil
}

// newKeyAndCSR generates a key (or reuses key) and a CSR carrying only the
// CN: the CA's profile decides everything else.
func (c *Client) newKeyAndCSR(kt ca.KeyType, cn string, key crypto.Signer) (crypto.Signer, []byte, error) {
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if key == nil {
		var err error
		if key, err = ca.GenerateKey(kt, rnd); err != nil {
			return nil, nil, err
		}
	}
	der, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// checkAnswer checks that the certificate is for our key and CN and chains
// to the trusted root, and returns it with the intermediate, if any.
func (c *Client) checkAnswer(resp *CertResponse, pub crypto.PublicKey, cn string) (*x509.Certificate, *x509.Certificate, error) {
	certs, err := parseCerts([]byte(resp.Chain))
	if err != nil || len(certs) == 0 {
		return nil, nil, fmt.Errorf("%w: no certificate chain", ErrBadResponse)
	}
	leaf := certs[0]
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return nil, nil, fmt.Errorf("%w: certificate is for another key", ErrBadResponse)
	}
	if leaf.Subject.CommonName != cn {
		return nil, nil, fmt.Errorf("%w: certificate is for %q", ErrBadResponse, leaf.Subject.CommonName)
	}
	root := c.trustedRoot()
	if root == nil {
		return nil, nil, fmt.Errorf("%w: no trusted root", ErrBadResponse)
	}
	var inter *x509.Certificate
	trust := ca.NewTrust(root)
	if len(certs) > 1 {
		inter = certs[1]
		trust = ca.NewTrust(root, inter)
	}
	purpose := x509.ExtKeyUsageClientAuth
	if len(leaf.ExtKeyUsage) > 0 && leaf.ExtKeyUsage[0] == x509.ExtKeyUsageServerAuth {
		purpose = x509.ExtKeyUsageServerAuth
	}
	if _, err := trust.VerifyLeaf(leaf, purpose, "", time.Now()); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return leaf, inter, nil
}

// RenewRequest asks for a new certificate for an identity in a certs dir.
type RenewRequest struct {
	Dir     string
	ID      string     // the CN whose files to renew
	SameKey bool       // keep the key; default is a new one
	KeyType ca.KeyType // for the new key; "" = ecdsa-p256
}

// Renew authenticates with the identity's current certificate (mutual TLS)
// and replaces its key (unless SameKey), certificate and chain as one set
// (a crash leaves the old set or the new one; Recover, which Renew runs
// first, finishes an interrupted one). The CA supersedes the previous
// certificate in the same transaction that records the new one.
func Renew(ctx context.Context, c *Client, req RenewRequest) (*Result, error) {
	paths := PathsFor(req.Dir, req.ID)
	recovered, err := Recover(req.Dir, req.ID)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(paths.Cert, paths.Key)
	if err != nil {
		return nil, fmt.Errorf("load current certificate: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("current key cannot sign")
	}
	if c.Roots == nil && c.Fingerprint == "" {
		cas, err := ca.LoadCertificates(req.Dir)
		if err != nil {
			return nil, err
		}
		c.Roots = []*x509.Certificate{cas.Root}
	}
	c.Certificate = &pair
	keep := signer
	if !req.SameKey {
		if keep, err = c.requestKey(paths, req.KeyType); err != nil {
			return nil, err
		}
	}
	key, csrPEM, err := c.newKeyAndCSR(req.KeyType, req.ID, keep)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, "/v1/renew", RenewBody{CSR: string(csrPEM)})
	if err != nil {
		return nil, err
	}
	leaf, _, err := c.checkAnswer(resp, key.Public(), req.ID)
	if err != nil {
		return nil, err
	}
	files := identityFiles{leaf: leaf, chainPEM: []byte(resp.Chain)}
	if !req.SameKey {
		if files.keyPEM, err = ca.EncodeKeyPEM(key, nil); err != nil {
			return nil, err
		}
	}
	if err := files.write(req.Dir, paths); err != nil {
		return nil, err
	}
	// The key is in place: a later renewal makes a new one.
	if err := os.Remove(requestKeyPath(paths)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove %s: %w", requestKeyPath(paths), err)
	}
	return &Result{Cert: leaf, Paths: paths, Recovered: recovered}, nil
}

// requestKeyPath is where a renewal keeps the new key of its request until
// the key is in place (hidden, 0600, next to the key file).
func requestKeyPath(p Paths) string {
	return filepath.Join(filepath.Dir(p.Key), "."+filepath.Base(p.Key)+".next")
}

// requestKey is the new key of a renewal: the one an earlier attempt
// stored, if any (its reply may have been lost after the CA superseded the
// current certificate: the CA answers the same request again, see
// replay.go), else a fresh one, stored durably before it is used.
func (c *Client) requestKey(p Paths, kt ca.KeyType) (crypto.Signer, error) {
	path := requestKeyPath(p)
	if data, err := os.ReadFile(path); err == nil {
		if key, err := ca.ParseKeyPEM(data, nil); err == nil {
			return key, nil
		}
		// Unreadable: no request can have been sent with it.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ca.GenerateKey(kt, rnd)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.EncodeKeyPEM(key, nil)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, keyPEM, 0o600); err != nil {
		return nil, err
	}
	return key, atomicfile.SyncDir(filepath.Dir(path))
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
