package revocation

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPublishCrashBetweenRenames kills a publishing process (SIGKILL, as
// kill -9) between renaming crl.der and crl.pem: the DER is the newer CRL,
// CheckCRLPair reports the mismatch, and the next publish repairs the pair
// and removes the dead publisher's temp file.
func TestPublishCrashBetweenRenames(t *testing.T) {
	if dir := os.Getenv("SCCA_CRASH_DIR"); dir != "" {
		crashingPublisher(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublishCrashBetweenRenames$")
	cmd.Env = append(os.Environ(), "SCCA_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("publisher was not killed: %v\n%s", err, out)
	}
	pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
	if err := CheckCRLPair(pemPath, derPath); !errors.Is(err, ErrCRLPairMismatch) {
		t.Fatalf("CheckCRLPair after the crash = %v, want ErrCRLPairMismatch", err)
	}
	root := loadCrashCA(t, dir)
	if n, _ := publishedNumber(root.cert, derPath); n != 2 {
		t.Fatalf("crl.der is #%d, want #2 (DER is renamed first)", n)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".crl.pem.tmp-*")); len(tmps) != 1 {
		t.Fatalf("temp files after the crash: %v, want the staged crl.pem", tmps)
	}
	st := newFakeStore()
	st.crlNums[root.keyID()] = 2 // what the inventory had allocated
	info, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath)
	if err != nil || info.Number != 3 {
		t.Fatalf("repairing publish = %+v, %v", info, err)
	}
	if err := CheckCRLPair(pemPath, derPath); err != nil {
		t.Errorf("pair after repair: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmps) != 0 {
		t.Errorf("stale temp files not removed: %v", tmps)
	}
}

// crashingPublisher runs in the child: it publishes CRL #1, then kills
// itself while publishing #2, between the renames.
func crashingPublisher(t *testing.T, dir string) {
	root := newRootCA(t, dir, "root", nil)
	der, err := x509.MarshalPKCS8PrivateKey(root.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "root.key"), "PRIVATE KEY", der)
	st := newFakeStore()
	pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
	if _, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath); err != nil {
		t.Fatal(err)
	}
	publishHook = func(string) { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath)
	t.Fatal("survived the crash point")
}

func loadCrashCA(t *testing.T, dir string) *testCA {
	t.Helper()
	certPEM, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "root.key"))
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatal("child left no CA")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key.(crypto.Signer)}
}

// TestPublishNeverGoesBack: an inventory whose CRL counter is behind the
// published CRL (restored from a backup) cannot replace it.
func TestPublishNeverGoesBack(t *testing.T) {
	dir := t.TempDir()
	root := newRootCA(t, dir, "root", nil)
	pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
	st := newFakeStore()
	for range 3 {
		if _, err := PublishCRL(context.Background(), st, crlConfig(root), pemPath, derPath); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadFile(derPath)
	restored := newFakeStore()
	restored.crlNums[root.keyID()] = 1
	if _, err := PublishCRL(context.Background(), restored, crlConfig(root), pemPath, derPath); !errors.Is(err, ErrCRLWentBack) {
		t.Fatalf("publish #2 over #3 = %v, want ErrCRLWentBack", err)
	}
	if after, _ := os.ReadFile(derPath); string(after) != string(before) {
		t.Error("the published CRL was replaced by a lower number")
	}
}
