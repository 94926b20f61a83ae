package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// clock is a settable clock for renewal tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestInitMakesOCSPResponders checks that init leaves every CA with a
// delegated responder of profile ProfileOCSPSigner, recorded in the
// inventory, in a 0600 file.
func TestInitMakesOCSPResponders(t *testing.T) {
	for _, inter := range []bool{false, true} {
		t.Run(map[bool]string{false: "root only", true: "intermediate"}[inter], func(t *testing.T) {
			rec := newMemRecorder()
			a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: rec, Intermediate: inter, Now: fixedClock, Actor: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			issuers := map[bool]*x509.Certificate{false: a.Root}
			if inter {
				issuers[true] = a.Intermediate
			}
			for isInter, issuer := range issuers {
				path := OCSPResponderPath(a.Dir(), isInter)
				if m := fileMode(t, path); m != 0o600 {
					t.Errorf("%s mode %o, want 600", path, m)
				}
				r, err := LoadOCSPResponder(path, issuer)
				if err != nil {
					t.Fatal(err)
				}
				checkOCSPSignerProfile(t, r.Cert, issuer)
				if !slices.ContainsFunc(rec.records(), func(row certstore.Record) bool {
					return row.Type == certstore.TypeOCSPSigner && row.Serial == serialHex(r.Cert) && row.IssuedBy == "alice"
				}) {
					t.Errorf("responder of %q not recorded as %s", issuer.Subject.CommonName, certstore.TypeOCSPSigner)
				}
			}
		})
	}
}

func checkOCSPSignerProfile(t *testing.T, c, issuer *x509.Certificate) {
	t.Helper()
	var nocheck []byte
	for _, e := range c.Extensions {
		if e.Id.Equal(oidOCSPNoCheck) {
			if e.Critical {
				t.Error("id-pkix-ocsp-nocheck is critical")
			}
			nocheck = e.Value
		}
	}
	switch {
	case c.CheckSignatureFrom(issuer) != nil:
		t.Error("not signed by its CA")
	case !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) || len(c.UnknownExtKeyUsage) != 0:
		t.Errorf("EKU %v %v, want OCSPSigning only", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	case c.KeyUsage != x509.KeyUsageDigitalSignature:
		t.Errorf("KU %v", c.KeyUsage)
	case c.IsCA || !c.BasicConstraintsValid:
		t.Error("not CA:FALSE")
	case !bytes.Equal(nocheck, asn1.NullBytes):
		t.Errorf("id-pkix-ocsp-nocheck = %x, want NULL", nocheck)
	case !bytes.Equal(c.AuthorityKeyId, issuer.SubjectKeyId) || len(c.SubjectKeyId) == 0:
		t.Error("AKI/SKI")
	case c.NotAfter.Sub(c.NotBefore) != DefaultOCSPResponderValidity+time.Minute:
		t.Errorf("validity %v, want %v + 1m skew", c.NotAfter.Sub(c.NotBefore), DefaultOCSPResponderValidity)
	case len(c.CRLDistributionPoints) != 0 || len(c.OCSPServer) != 0:
		t.Error("a nocheck responder certificate carries revocation pointers")
	case c.Subject.CommonName != issuer.Subject.CommonName+" OCSP Responder":
		t.Errorf("CN %q", c.Subject.CommonName)
	}
}

func TestRenewOCSPResponders(t *testing.T) {
	clk := &clock{t: testNow}
	rec := newMemRecorder()
	a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: rec, Intermediate: true, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := LoadRootSigner(a.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	interPath, rootPath := OCSPResponderPath(a.Dir(), true), OCSPResponderPath(a.Dir(), false)
	before, _ := os.ReadFile(interPath)

	// Fresh from init: more than half the life left, nothing to do.
	clk.set(testNow.Add(DefaultOCSPResponderValidity/2 - time.Hour))
	if made, err := a.RenewOCSPResponders(ctx, rootKey); err != nil || len(made) != 0 {
		t.Fatalf("renewed %d early: %v", len(made), err)
	}
	// Past half: the issuer's is renewed; the root's only with its key.
	clk.set(testNow.Add(DefaultOCSPResponderValidity/2 + time.Hour))
	made, err := a.RenewOCSPResponders(ctx, nil)
	if err != nil || len(made) != 1 || !bytes.Equal(made[0].AuthorityKeyId, a.Intermediate.SubjectKeyId) {
		t.Fatalf("renewed %v: %v", made, err)
	}
	if after, _ := os.ReadFile(interPath); bytes.Equal(before, after) {
		t.Error("responder file not replaced")
	}
	r, err := LoadOCSPResponder(interPath, a.Intermediate)
	if err != nil || !r.Cert.Equal(made[0]) || !r.Cert.NotBefore.Equal(clk.now().Add(-time.Minute)) {
		t.Fatalf("file holds another certificate: %v", err)
	}
	if m := fileMode(t, interPath); m != 0o600 {
		t.Errorf("renewed file mode %o", m)
	}
	made, err = a.RenewOCSPResponders(ctx, rootKey)
	if err != nil || len(made) != 1 || !bytes.Equal(made[0].AuthorityKeyId, a.Root.SubjectKeyId) {
		t.Fatalf("root: renewed %v: %v", made, err)
	}
	if _, err := LoadOCSPResponder(rootPath, a.Root); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RenewOCSPResponders(ctx, a.signer); err == nil {
		t.Error("renewed the root's responder with the intermediate's key")
	}

	t.Run("broken file is replaced", func(t *testing.T) {
		if err := os.WriteFile(interPath, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		if made, err := a.RenewOCSPResponders(ctx, nil); err != nil || len(made) != 1 {
			t.Fatalf("renewed %d: %v", len(made), err)
		}
	})
	t.Run("inventory down: no file written", func(t *testing.T) {
		clk.set(testNow.Add(2 * DefaultOCSPResponderValidity))
		old, _ := os.ReadFile(interPath)
		a.store = failRecorder{errStoreDown}
		defer func() { a.store = rec }()
		if _, err := a.RenewOCSPResponders(ctx, nil); !errors.Is(err, errStoreDown) {
			t.Fatalf("err = %v", err)
		}
		if now, _ := os.ReadFile(interPath); !bytes.Equal(old, now) {
			t.Error("unrecorded responder certificate written")
		}
	})
}

func TestLoadOCSPResponderRefuses(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	other, _ := newTestCA(t, KeyECDSAP256, false)
	path := OCSPResponderPath(a.Dir(), false)
	good, _ := os.ReadFile(path)
	client, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "c"})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := os.ReadFile(client.CertPath)
	clientKey, _ := os.ReadFile(client.KeyPath)
	otherKey, _ := os.ReadFile(filepath.Join(other.Dir(), RootKeyFile))
	certOnly := good[:bytes.Index(good, []byte("-----BEGIN PRIVATE KEY"))]
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		want error
	}{
		{"group readable", good, 0o640, ErrKeyPermissions},
		{"no key", certOnly, 0o600, nil},
		{"key of another certificate", append(slices.Clone(certOnly), otherKey...), 0o600, nil},
		{"not an OCSP signer", append(clientCert, clientKey...), 0o600, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.pem")
			if err := os.WriteFile(p, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tt.mode)
			_, err := LoadOCSPResponder(p, a.Root)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := LoadOCSPResponder(path, other.Root); err == nil {
		t.Error("accepted a responder of another CA")
	}
	if _, err := LoadOCSPResponder(filepath.Join(t.TempDir(), "none.pem"), a.Root); !errors.Is(err, ErrNoOCSPResponder) {
		t.Errorf("missing file: %v", err)
	}
}

// TestResponderSource checks serve's view of a responder: read-only sources
// pick up a file renewed by another process at once; a source holding the
// CA key renews by itself, and keeps signing with the current certificate
// (retrying a minute later) when the inventory is down.
func TestResponderSource(t *testing.T) {
	clk := &clock{t: testNow}
	rec := newMemRecorder()
	a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: rec, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	cas, err := LoadCertificates(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := NewResponderSource(a.Dir(), cas, true, nil); !errors.Is(err, ErrNoCA) {
		t.Errorf("intermediate of a root-only CA: %v", err)
	}
	ro, err := NewResponderSource(a.Dir(), cas, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := ro.Delegate(ctx, clk.now())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("read-only source sees another process's renewal", func(t *testing.T) {
		clk.set(testNow.Add(DefaultOCSPResponderValidity * 3 / 4))
		made, err := a.RenewOCSPResponders(ctx, nil)
		if err != nil || len(made) != 1 {
			t.Fatalf("renew: %v", err)
		}
		cert, key, err := ro.Delegate(ctx, clk.now())
		if err != nil || !cert.Equal(made[0]) || !publicKeysEqual(key.Public(), cert.PublicKey) {
			t.Fatalf("still the old certificate (%v)", err)
		}
		if cert.Equal(first) {
			t.Fatal("no change")
		}
	})

	var logs bytes.Buffer
	rw, err := a.ResponderSource(ctx, false, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	current, _, _ := rw.Delegate(ctx, clk.now())

	t.Run("renewal fails: current certificate kept, retried after a minute", func(t *testing.T) {
		clk.set(clk.now().Add(DefaultOCSPResponderValidity * 3 / 4))
		a.store = failRecorder{errStoreDown}
		cert, _, err := rw.Delegate(ctx, clk.now())
		if err != nil || !cert.Equal(current) {
			t.Fatalf("Delegate = %v", err)
		}
		if !strings.Contains(logs.String(), "renewing the responder certificate failed") {
			t.Errorf("failure not logged: %q", logs.String())
		}
		a.store = rec
		n := rec.count()
		if cert, _, _ := rw.Delegate(ctx, clk.now().Add(30*time.Second)); !cert.Equal(current) || rec.count() != n {
			t.Error("retried before a minute passed")
		}
	})
	t.Run("source with the CA key renews by itself", func(t *testing.T) {
		clk.set(clk.now().Add(renewRetry))
		cert, _, err := rw.Delegate(ctx, clk.now())
		if err != nil || cert.Equal(current) || !cert.NotBefore.Equal(clk.now().Add(-time.Minute)) {
			t.Fatalf("not renewed: %v", err)
		}
		if ro, _, _ := ro.Delegate(ctx, clk.now()); !ro.Equal(cert) {
			t.Error("the read-only source did not follow")
		}
	})
}
