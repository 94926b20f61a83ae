package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

func TestInitRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	rec := newMemRecorder()
	a, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec, Now: fixedClock, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{RootCertFile, RootKeyFile, RootOCSPResponderFile}) {
		t.Fatalf("files = %v", got)
	}
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("new CA dir mode %o, want 700", m)
	}
	if m := fileMode(t, filepath.Join(dir, RootKeyFile)); m != 0o600 {
		t.Errorf("key mode %o, want 600", m)
	}
	if m := fileMode(t, filepath.Join(dir, RootCertFile)); m != 0o644 {
		t.Errorf("cert mode %o, want 644", m)
	}
	root := a.Root
	if !bytes.Equal(readCert(t, filepath.Join(dir, RootCertFile)).Raw, root.Raw) {
		t.Error("root_ca.pem differs from Authority.Root")
	}
	if a.Intermediate != nil || a.Issuer() != root || len(a.Chain()) != 1 {
		t.Error("root-only CA has an intermediate")
	}
	ski, _ := subjectKeyID(root.PublicKey)
	switch {
	case root.Subject.CommonName != DefaultRootCN:
		t.Errorf("CN %q", root.Subject.CommonName)
	case !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != -1:
		t.Errorf("basic constraints CA=%v pathlen=%d", root.IsCA, root.MaxPathLen)
	case root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		t.Errorf("key usage %v", root.KeyUsage)
	case len(root.ExtKeyUsage) != 0:
		t.Errorf("root has EKU %v", root.ExtKeyUsage)
	case !bytes.Equal(root.SubjectKeyId, ski) || len(ski) != 20:
		t.Errorf("SKI %x, want %x", root.SubjectKeyId, ski)
	case !root.NotBefore.Equal(testNow.Add(-time.Minute)):
		t.Errorf("NotBefore %v", root.NotBefore)
	case !root.NotAfter.Equal(testNow.Add(DefaultRootValidity)):
		t.Errorf("NotAfter %v", root.NotAfter)
	case root.CheckSignatureFrom(root) != nil:
		t.Error("root is not self-signed")
	case a.IssuerKeyID() != hex.EncodeToString(ski):
		t.Errorf("IssuerKeyID %s", a.IssuerKeyID())
	}
	rows := rec.records()
	if len(rows) != 2 || rows[1].Type != certstore.TypeOCSPSigner { // the root, then its OCSP responder
		t.Fatalf("%d rows, want 2", len(rows))
	}
	r := rows[0]
	if r.Type != certstore.TypeCA || r.IssuerKeyID != hex.EncodeToString(ski) || r.Serial != root.SerialNumber.Text(16) ||
		!bytes.Equal(r.DER, root.Raw) || r.IssuedBy != "alice" || r.Status != certstore.StatusActive || r.CN != DefaultRootCN {
		t.Errorf("row = %+v", r)
	}
}

func TestInitIntermediate(t *testing.T) {
	rec := newMemRecorder()
	dir := t.TempDir()
	a, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec, Intermediate: true, Now: fixedClock,
		CN: "Acme Root CA", KeyType: KeyEd25519})
	if err != nil {
		t.Fatal(err)
	}
	in := a.Intermediate
	if in == nil || a.Issuer() != in || !slices.Equal(a.Chain(), []*x509.Certificate{in, a.Root}) {
		t.Fatal("intermediate is not the issuer")
	}
	want := []string{IntermediateCertFile, IntermediateKeyFile, IntermediateOCSPResponderFile, RootCertFile, RootKeyFile, RootOCSPResponderFile}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v", got)
	}
	switch {
	case in.Subject.CommonName != "Acme Intermediate CA":
		t.Errorf("CN %q", in.Subject.CommonName)
	case !in.IsCA || in.MaxPathLen != 0 || !in.MaxPathLenZero:
		t.Errorf("pathlen %d zero=%v", in.MaxPathLen, in.MaxPathLenZero)
	case !bytes.Equal(in.AuthorityKeyId, a.Root.SubjectKeyId):
		t.Error("AKI is not the root's SKI")
	case in.CheckSignatureFrom(a.Root) != nil:
		t.Error("intermediate not signed by root")
	case !in.NotAfter.Equal(testNow.Add(DefaultIntermediateValidity)):
		t.Errorf("NotAfter %v", in.NotAfter)
	case publicKeysEqual(a.Signer().Public(), a.Root.PublicKey):
		t.Error("signer is the root key")
	}
	rows := rec.records()
	if len(rows) != 4 || rows[1].IssuerKeyID != hex.EncodeToString(a.Root.SubjectKeyId) { // both CAs, then their OCSP responders
		t.Fatalf("rows = %+v", rows)
	}

	// A root shorter-lived than five years clamps the intermediate.
	a2, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: rec, Intermediate: true,
		Now: fixedClock, Validity: 2 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !a2.Intermediate.NotAfter.Equal(a2.Root.NotAfter) {
		t.Errorf("intermediate NotAfter %v outlives root %v", a2.Intermediate.NotAfter, a2.Root.NotAfter)
	}
}

func TestIntermediateCN(t *testing.T) {
	tests := map[string]string{
		"SecureChat Root CA":    "SecureChat Intermediate CA",
		"Acme CA":               "Acme Intermediate CA",
		"Acme":                  "Acme Intermediate CA",
		strings.Repeat("x", 64): strings.Repeat("x", 48) + " Intermediate CA",
	}
	for in, want := range tests {
		got := intermediateCN(in)
		if got != want || checkCN(got) != nil {
			t.Errorf("intermediateCN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInitBadRequest(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*InitRequest)
		want error // nil = any error
	}{
		{"65-char CN", func(r *InitRequest) { r.CN = strings.Repeat("a", 65) }, ErrInvalidName},
		{"control char in CN", func(r *InitRequest) { r.CN = "Root\tCA" }, ErrInvalidName},
		{"unknown key type", func(r *InitRequest) { r.KeyType = "rsa-1024" }, ErrUnknownKeyType},
		{"negative validity", func(r *InitRequest) { r.Validity = -time.Hour }, nil},
		{"no store", func(r *InitRequest) { r.Store = nil }, nil},
		{"bad base URL", func(r *InitRequest) { r.BaseURL = "ftp://ca.example" }, ErrBadBaseURL},
		{"base URL with query", func(r *InitRequest) { r.BaseURL = "http://ca.example/?x=1" }, ErrBadBaseURL},
		{"empty dir", func(r *InitRequest) { r.Dir = "" }, nil},
		{"empty passphrase", func(r *InitRequest) { r.Passphrase = []byte{} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			rec := newMemRecorder()
			req := InitRequest{Dir: filepath.Join(parent, "ca"), Store: rec}
			tt.mod(&req)
			_, err := Init(context.Background(), req)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if names := dirNames(t, parent); len(names) != 0 || rec.count() != 0 {
				t.Errorf("left files %v and %d rows", names, rec.count())
			}
		})
	}
}

func TestInitRefusesExistingCA(t *testing.T) {
	dir := t.TempDir()
	rec := newMemRecorder()
	if _, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec}); err != nil {
		t.Fatal(err)
	}
	before := dirSnapshot(t, dir)
	_, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec, Intermediate: true})
	if !errors.Is(err, ErrCAExists) {
		t.Fatalf("second Init err = %v, want ErrCAExists", err)
	}
	if after := dirSnapshot(t, dir); !maps.Equal(before, after) {
		t.Error("second Init changed the CA directory")
	}
	if rec.count() != 2 {
		t.Errorf("%d rows, want 2 (root and its OCSP responder)", rec.count())
	}
	// Any one CA file is enough to refuse.
	for _, name := range caFiles {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec}); !errors.Is(err, ErrCAExists) {
			t.Errorf("with only %s: err = %v", name, err)
		}
		if got := dirNames(t, dir); len(got) != 1 {
			t.Errorf("with only %s: files %v", name, got)
		}
	}
}

func TestInitRecorderFailureLeavesNothing(t *testing.T) {
	for _, failCall := range []int{1, 2} {
		rec := newMemRecorder()
		rec.failNth[failCall] = errStoreDown
		dir := t.TempDir()
		_, err := Init(context.Background(), InitRequest{Dir: dir, Store: rec, Intermediate: true})
		if !errors.Is(err, errStoreDown) {
			t.Fatalf("fail on insert %d: err = %v", failCall, err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("fail on insert %d: left files %v", failCall, names)
		}
	}
}

func TestLoad(t *testing.T) {
	for _, inter := range []bool{false, true} {
		a, _ := newTestCA(t, KeyECDSAP256, inter)
		called := false
		b, err := Load(LoadOptions{Dir: a.Dir(), Passphrase: func() ([]byte, error) { called = true; return nil, nil }})
		if err != nil {
			t.Fatalf("intermediate=%v: %v", inter, err)
		}
		if called {
			t.Error("passphrase asked for an unencrypted key")
		}
		if !bytes.Equal(b.Issuer().Raw, a.Issuer().Raw) || !publicKeysEqual(b.Signer().Public(), a.Signer().Public()) {
			t.Errorf("intermediate=%v: loaded a different CA", inter)
		}
		if (b.Intermediate != nil) != inter {
			t.Errorf("intermediate=%v: loaded intermediate %v", inter, b.Intermediate != nil)
		}
	}
}

func TestLoadOfflineRoot(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, true)
	if err := os.Remove(filepath.Join(a.Dir(), RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	b, err := Load(LoadOptions{Dir: a.Dir(), Store: newMemRecorder()})
	if err != nil {
		t.Fatalf("Load without root key: %v", err)
	}
	if _, err := b.Certify(context.Background(), b.Signer().Public(), IssueRequest{Profile: ProfileClient, CN: "c"}); err != nil {
		t.Errorf("issue with offline root: %v", err)
	}
}

func TestLoadEncrypted(t *testing.T) {
	dir := t.TempDir()
	a, err := Init(context.Background(), InitRequest{Dir: dir, Store: newMemRecorder(), Passphrase: []byte("hunter2")})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	b, err := Load(LoadOptions{Dir: dir, Passphrase: func() ([]byte, error) { calls++; return []byte("hunter2"), nil }})
	if err != nil || calls != 1 || !publicKeysEqual(b.Signer().Public(), a.Signer().Public()) {
		t.Fatalf("Load = %v after %d passphrase calls", err, calls)
	}
	_, err = Load(LoadOptions{Dir: dir, Passphrase: passphrase("hunter3")})
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase err = %v", err)
	}
	if strings.Contains(err.Error(), "hunter") {
		t.Error("error message contains the passphrase")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("empty dir", func(t *testing.T) {
		if _, err := Load(LoadOptions{Dir: t.TempDir()}); !errors.Is(err, ErrNoCA) {
			t.Fatalf("err = %v, want ErrNoCA", err)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		a, _ := newTestCA(t, KeyECDSAP256, false)
		os.Remove(filepath.Join(a.Dir(), RootKeyFile))
		if _, err := Load(LoadOptions{Dir: a.Dir()}); !errors.Is(err, ErrNoCA) {
			t.Fatalf("err = %v, want ErrNoCA", err)
		}
	})
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o601} {
		t.Run("key mode "+mode.String(), func(t *testing.T) {
			a, _ := newTestCA(t, KeyECDSAP256, false)
			key := filepath.Join(a.Dir(), RootKeyFile)
			if err := os.Chmod(key, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(LoadOptions{Dir: a.Dir()})
			if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), key) {
				t.Fatalf("err = %v, want ErrKeyPermissions naming the key", err)
			}
		})
	}
	t.Run("key of another CA", func(t *testing.T) {
		a, _ := newTestCA(t, KeyECDSAP256, false)
		other, _ := newTestCA(t, KeyECDSAP256, false)
		data, _ := os.ReadFile(filepath.Join(other.Dir(), RootKeyFile))
		if err := os.WriteFile(filepath.Join(a.Dir(), RootKeyFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(LoadOptions{Dir: a.Dir()}); err == nil {
			t.Fatal("loaded a CA with a mismatched key")
		}
	})
	t.Run("intermediate of another root", func(t *testing.T) {
		a, _ := newTestCA(t, KeyECDSAP256, true)
		other, _ := newTestCA(t, KeyECDSAP256, true)
		for _, f := range []string{IntermediateCertFile, IntermediateKeyFile} {
			data, _ := os.ReadFile(filepath.Join(other.Dir(), f))
			if err := os.WriteFile(filepath.Join(a.Dir(), f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Load(LoadOptions{Dir: a.Dir()}); err == nil {
			t.Fatal("loaded an intermediate not signed by the root")
		}
	})
	t.Run("corrupt certificate", func(t *testing.T) {
		a, _ := newTestCA(t, KeyECDSAP256, false)
		os.WriteFile(filepath.Join(a.Dir(), RootCertFile), []byte("garbage"), 0o644)
		if _, err := Load(LoadOptions{Dir: a.Dir()}); err == nil || errors.Is(err, ErrNoCA) {
			t.Fatalf("err = %v, want a parse error", err)
		}
	})
}

// TestInitDeterministic pins clock and randomness: with Ed25519 (whose key
// generation and signatures are deterministic) two CAs made from the same
// seed are byte-identical, and so are the leaves they certify.
func TestInitDeterministic(t *testing.T) {
	build := func() ([]byte, []byte) {
		a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: newMemRecorder(),
			KeyType: KeyEd25519, Now: fixedClock, Rand: seededRand(7), Intermediate: true})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := a.Certify(context.Background(), a.Signer().Public(), IssueRequest{Profile: ProfileServer, CN: "h.example"})
		if err != nil {
			t.Fatal(err)
		}
		return a.Intermediate.Raw, leaf.Raw
	}
	i1, l1 := build()
	i2, l2 := build()
	if !bytes.Equal(i1, i2) || !bytes.Equal(l1, l2) {
		t.Error("same seed and clock produced different certificates")
	}
	a, err := Init(context.Background(), InitRequest{Dir: t.TempDir(), Store: newMemRecorder(),
		KeyType: KeyEd25519, Now: fixedClock, Rand: seededRand(8), Intermediate: true})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Intermediate.Raw, i1) {
		t.Error("different seeds produced the same certificate")
	}
}
