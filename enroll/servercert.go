package enroll

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/securechat/scca/ca"
)

// defaultServerCertValidity is the API certificate's lifetime: short, since
// it is renewed automatically and costs nothing to replace.
const defaultServerCertValidity = 7 * 24 * time.Hour

// serverCert is the API's own TLS certificate, issued by the CA it serves
// (a server-profile leaf recorded in the inventory like any other) with a
// key that lives only in memory. It is renewed at two thirds of its life,
// on the first handshake after that point; if renewal fails the current
// certificate is served until it expires, and renewal is retried at most
// once a minute.
type serverCert struct {
	a        *ca.Authority
	dns      []string
	ips      []net.IP
	cn       string
	validity time.Duration
	now      func() time.Time

	mu        sync.Mutex
	current   *tls.Certificate
	notAfter  time.Time
	renewAt   time.Time
	lastTried time.Time
}

func newServerCert(cfg ServerConfig) *serverCert {
	c := &serverCert{a: cfg.Authority, validity: cfg.ServerCertValidity, now: cfg.Now, cn: cfg.Names[0]}
	if c.validity <= 0 {
		c.validity = defaultServerCertValidity
	}
	for _, n := range cfg.Names {
		if ip := net.ParseIP(n); ip != nil {
			c.ips = append(c.ips, ip)
		} else {
			c.dns = append(c.dns, n)
		}
	}
	return c
}

// get returns the certificate to present, renewing it when due.
func (c *serverCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.current != nil && now.Before(c.renewAt) {
		return c.current, nil
	}
	if c.current != nil && now.Before(c.notAfter) && now.Sub(c.lastTried) < time.Minute {
		return c.current, nil
	}
	c.lastTried = now
	cert, err := c.issue()
	if err != nil {
		if c.current != nil && now.Before(c.notAfter) {
			return c.current, nil
		}
		return nil, err
	}
	c.current = cert
	return cert, nil
}

func (c *serverCert) issue() (*tls.Certificate, error) {
	key, err := ca.GenerateKey(ca.KeyECDSAP256, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leaf, err := c.a.Certify(ctx, key.Public(), ca.IssueRequest{
		Profile: ca.ProfileServer, CN: c.cn, DNSNames: c.dns, IPs: c.ips, Validity: c.validity, Actor: "scca-api",
	})
	if err != nil {
		return nil, fmt.Errorf("issue the API server certificate: %w", err)
	}
	// The chain ends with the root, which a TLS server normally leaves
	// out: an enrolling client has no root yet and pins it by fingerprint
	// from this very handshake (see Client).
	chain := [][]byte{leaf.Raw}
	for _, ca := range c.a.Chain() {
		chain = append(chain, ca.Raw)
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	c.notAfter = leaf.NotAfter
	c.renewAt = leaf.NotBefore.Add(life * 2 / 3)
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
