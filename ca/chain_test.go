package ca

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/securechat/scca/certstore"
)

// TestIssueChainInTheSet: with Chain the chain file is staged, linked and
// refused together with the key and certificate.
func TestIssueChainInTheSet(t *testing.T) {
	a, rec := newTestCA(t, KeyECDSAP256, true)
	base := rec.calls
	rec.failNth[base+1] = certstore.ErrDuplicate // the chain must follow the re-signed certificate
	iss, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "carol", Chain: true})
	if err != nil {
		t.Fatal(err)
	}
	if iss.ChainPath != filepath.Join(a.Dir(), "carol_chain.pem") {
		t.Fatalf("chain path %q", iss.ChainPath)
	}
	chain, err := os.ReadFile(iss.ChainPath)
	if err != nil {
		t.Fatal(err)
	}
	want := append(certPEM(iss.Cert.Raw), certPEM(a.Intermediate.Raw)...)
	if !bytes.Equal(chain, want) {
		t.Error("chain file is not the accepted certificate followed by the intermediate")
	}
	if got := readCert(t, iss.CertPath); got.SerialNumber.Text(16) != iss.Serial {
		t.Error("certificate file holds a refused serial")
	}

	// A chain file in the way refuses the whole issuance up front: no row,
	// no file.
	if err := os.WriteFile(filepath.Join(a.Dir(), "dave_chain.pem"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, rows := dirSnapshot(t, a.Dir()), rec.count()
	_, err = a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "dave", Chain: true})
	if !errors.Is(err, ErrFileExists) {
		t.Fatalf("issue over an existing chain file: %v, want ErrFileExists", err)
	}
	if rec.count() != rows || !maps.Equal(before, dirSnapshot(t, a.Dir())) {
		t.Error("a refused issuance recorded a row or changed the directory")
	}
	// Without Chain no chain file is written.
	iss, err = a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "erin"})
	if err != nil || iss.ChainPath != "" {
		t.Fatalf("issue without chain: %v, chain %q", err, iss.ChainPath)
	}
	if _, err := os.Stat(filepath.Join(a.Dir(), "erin_chain.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("chain file written without Chain: %v", err)
	}
}

// TestRecoverPlacesTheChain: a crash after the insert leaves the staged
// chain in the journal, and recovery links it with the key and certificate.
func TestRecoverPlacesTheChain(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, true)
	s, err := a.leafSpec(IssueRequest{Profile: ProfileClient, CN: "frank"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(KeyECDSAP256, nil)
	keyPEM, _ := EncodeKeyPEM(key, nil)
	cert, err := a.signLeaf(s, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := a.newPending(keyPEM, true, journalFile{Role: roleKey, Path: filepath.Join(a.Dir(), "frank_key.pem")},
		journalFile{Role: roleCert, Path: filepath.Join(a.Dir(), "frank_cert.pem")})
	if err := p.prepare(cert); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Insert(context.Background(), a.record(cert, "client", "test")); err != nil {
		t.Fatal(err)
	}
	p.j.release() // killed here: the kernel drops the lock, nothing is cleaned up

	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Completed) != 1 || rep.Completed[0].Serial != serialHex(cert) {
		t.Fatalf("report = %+v", rep)
	}
	chain, err := os.ReadFile(filepath.Join(a.Dir(), "frank_chain.pem"))
	if err != nil || !bytes.Equal(chain, a.ChainPEM(cert)) {
		t.Fatalf("chain after recovery: %v", err)
	}
	checkConsistent(t, a, mem, "frank")
}
