package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/atomicfile"
)

var errCrash = errors.New("simulated crash")

// enrolled is alice enrolled in a fresh certs dir of c.
func enrolled(t *testing.T, c *testCA) (dir string, res *Result) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "alice-machine")
	res, err := c.client().Enroll(context.Background(), EnrollRequest{Token: c.token(t, "alice", 0), CN: "alice", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// crashRenew runs a renewal that stops, as a crash would, once its journal
// is durable and before any rename.
func crashRenew(t *testing.T, c *testCA, dir string) {
	t.Helper()
	crashHook = func() error { return errCrash }
	defer func() { crashHook = nil }()
	if _, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"}); !errors.Is(err, errCrash) {
		t.Fatalf("renew with the crash hook: %v", err)
	}
}

// pairLoads reports the identity's key and certificate as a pair that
// loads (the certificate's key is the key), and the certificate.
func pairLoads(t *testing.T, p Paths) bool {
	t.Helper()
	_, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	return err == nil
}

// temps lists the temporary and journal files left in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) || strings.HasSuffix(e.Name(), ".journal") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestRenewCrashBetweenRenamesIsFinished: a renewal that crashed after a new
// key was renamed into place but before the certificate (the pair no longer
// loads, which bricked the identity before the journal) is finished by the
// next renewal, which then renews again; nothing temporary is left.
func TestRenewCrashBetweenRenamesIsFinished(t *testing.T) {
	c := newTestCA(t, caOptions{})
	dir, res := enrolled(t, c)
	crashRenew(t, c, dir)
	if !pairLoads(t, res.Paths) {
		t.Fatal("after a crash before the renames the old pair does not load")
	}
	// The crash fell after the key's rename: new key, old certificate.
	data, err := os.ReadFile(journalPath(res.Paths))
	if err != nil {
		t.Fatal(err)
	}
	var keyTmp string
	for _, line := range strings.Split(string(data), `{"path":`) {
		if strings.HasPrefix(line, `"`+res.Paths.Key+`"`) {
			keyTmp = strings.Split(strings.Split(line, `"tmp":"`)[1], `"`)[0]
		}
	}
	if keyTmp == "" {
		t.Fatalf("journal %s names no staged key", data)
	}
	if err := os.Rename(keyTmp, res.Paths.Key); err != nil {
		t.Fatal(err)
	}
	if pairLoads(t, res.Paths) {
		t.Fatal("test setup: the new key still matches the old certificate")
	}

	res2, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
	if err != nil {
		t.Fatalf("renewal after the crash: %v", err)
	}
	if !res2.Recovered {
		t.Error("the renewal did not report finishing the interrupted one")
	}
	if !pairLoads(t, res.Paths) {
		t.Fatal("after recovery and renewal the pair does not load")
	}
	if left := temps(t, dir); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if got := c.get(t, res2.Cert); got.Status != "active" {
		t.Fatalf("renewed certificate is %s", got.Status)
	}
}

// TestRecoverFinishesOrCleans: Recover rolls a durable journal forward (the
// new set appears whole), removes staged files no journal names (the old set
// stays), and refuses a damaged or foreign journal without touching files.
func TestRecoverFinishesOrCleans(t *testing.T) {
	t.Run("journal rolled forward", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir, res := enrolled(t, c)
		oldCert, _ := os.ReadFile(res.Paths.Cert)
		crashRenew(t, c, dir)
		done, err := Recover(dir, "alice")
		if err != nil || !done {
			t.Fatalf("Recover = %v, %v; want true, nil", done, err)
		}
		newCert, _ := os.ReadFile(res.Paths.Cert)
		if string(newCert) == string(oldCert) || !pairLoads(t, res.Paths) {
			t.Fatal("the new set is not in place as a pair")
		}
		if left := temps(t, dir); len(left) > 0 {
			t.Fatalf("left behind: %v", left)
		}
		if done, err := Recover(dir, "alice"); done || err != nil {
			t.Fatalf("second Recover = %v, %v; want nothing to do", done, err)
		}
	})
	t.Run("staged files without a journal removed", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir, res := enrolled(t, c)
		oldCert, _ := os.ReadFile(res.Paths.Cert)
		for _, p := range []string{res.Paths.Key, res.Paths.Cert} {
			if _, err := atomicfile.Stage(p, []byte("half-written"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if done, err := Recover(dir, "alice"); done || err != nil {
			t.Fatalf("Recover = %v, %v; want false, nil", done, err)
		}
		if cert, _ := os.ReadFile(res.Paths.Cert); string(cert) != string(oldCert) || !pairLoads(t, res.Paths) {
			t.Fatal("the old set changed")
		}
		if left := temps(t, dir); len(left) > 0 {
			t.Fatalf("left behind: %v", left)
		}
	})
	for name, content := range map[string]string{
		"damaged journal":     `{"files":[{"path":`,
		"foreign journal":     `{"files":[{"path":"/etc/passwd","tmp":"/tmp/x"}]}`,
		"foreign staged file": `{"files":[{"path":"CERT","tmp":"/tmp/.alice_cert.pem.tmp-1"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestCA(t, caOptions{})
			dir, res := enrolled(t, c)
			oldCert, _ := os.ReadFile(res.Paths.Cert)
			content = strings.ReplaceAll(content, "CERT", res.Paths.Cert)
			if err := os.WriteFile(journalPath(res.Paths), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Recover(dir, "alice")
			if err == nil || !strings.Contains(err.Error(), journalPath(res.Paths)) {
				t.Fatalf("Recover = %v, want an error naming the journal", err)
			}
			if cert, _ := os.ReadFile(res.Paths.Cert); string(cert) != string(oldCert) {
				t.Fatal("files changed")
			}
			if _, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"}); err == nil {
				t.Fatal("renew went ahead past a journal it cannot read")
			}
		})
	}
}

// TestRenewRetriedAfterLostReply: the CA superseded alice's certificate but
// its answer never arrived (the connection dropped after the commit). The
// next renewal sends the same request (the key was kept) and gets the very
// certificate the lost answer carried: nothing new is issued, alice keeps
// one active certificate, and the identity is not lost. A retry with
// another key, or after ReplayWindow, is refused like any revoked
// certificate.
func TestRenewRetriedAfterLostReply(t *testing.T) {
	lose := func(t *testing.T, c *testCA, dir string) *x509.Certificate {
		t.Helper()
		paths := PathsFor(dir, "alice")
		pair, err := tls.LoadX509KeyPair(paths.Cert, paths.Key)
		if err != nil {
			t.Fatal(err)
		}
		cl := &Client{URL: c.url, Certificate: &pair, Roots: []*x509.Certificate{c.a.Root}}
		key, err := cl.requestKey(paths, "")
		if err != nil {
			t.Fatal(err)
		}
		_, csr, err := cl.newKeyAndCSR("", "alice", key)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cl.post(context.Background(), "/v1/renew", RenewBody{CSR: string(csr)})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := parseCerts([]byte(resp.Certificate))
		if err != nil || len(certs) == 0 {
			t.Fatalf("the CA's answer: %v", err)
		}
		return certs[0] // what the client never saw
	}
	activeAlice := func(t *testing.T, c *testCA) int64 {
		t.Helper()
		n, err := c.st.Count(context.Background(), certstore.Filter{Type: certstore.TypeClient, CNContains: "alice", Status: certstore.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("same request answered again", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir, res := enrolled(t, c)
		lost := lose(t, c, dir)
		res2, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
		if err != nil {
			t.Fatalf("renewal retried after the lost answer: %v", err)
		}
		if res2.Cert.SerialNumber.Cmp(lost.SerialNumber) != 0 {
			t.Fatalf("retry got serial %x, want the lost answer's %x", res2.Cert.SerialNumber, lost.SerialNumber)
		}
		if !pairLoads(t, res.Paths) {
			t.Fatal("the files are not a pair after the retry")
		}
		if n := activeAlice(t, c); n != 1 {
			t.Fatalf("%d active certificates for alice, want 1", n)
		}
		if _, err := os.Stat(requestKeyPath(res.Paths)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the request key is still kept after the renewal: %v", err)
		}
		// And the identity renews normally from there.
		if _, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"}); err != nil {
			t.Fatalf("next renewal: %v", err)
		}
	})
	t.Run("another key refused", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir, res := enrolled(t, c)
		lose(t, c, dir)
		os.Remove(requestKeyPath(res.Paths))
		_, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
		if !errors.Is(err, ErrRenewalRefused) || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("retry with another key: %v, want refused as superseded", err)
		}
		if n := activeAlice(t, c); n != 1 {
			t.Fatalf("%d active certificates for alice, want 1", n)
		}
	})
	t.Run("after the window refused", func(t *testing.T) {
		c := newTestCA(t, caOptions{})
		dir, _ := enrolled(t, c)
		lose(t, c, dir)
		c.clock.Advance(ReplayWindow + time.Minute)
		_, err := Renew(context.Background(), &Client{URL: c.url}, RenewRequest{Dir: dir, ID: "alice"})
		if !errors.Is(err, ErrRenewalRefused) {
			t.Fatalf("retry after the window: %v, want refused", err)
		}
	})
}
