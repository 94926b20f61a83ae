package ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// memRecorder is an in-memory inventory with the uniqueness rule of the real
// one: (issuer key id, serial) may be recorded once.
type memRecorder struct {
	mu      sync.Mutex
	rows    map[string]certstore.Record
	order   []string
	calls   int
	failNth map[int]error // call number (1-based) -> error to return
	// commitThenFail, when set, is returned by Insert after the row is
	// stored: a commit whose reply was lost.
	commitThenFail error
	getErr         error // returned by Get when set: the inventory cannot be asked
	// getErrAfterInsert is returned by Get once Insert was called more
	// than insertsBefore times: the database went away after a commit.
	getErrAfterInsert error
	insertsBefore     int
}

var (
	_ Recorder  = (*memRecorder)(nil)
	_ Inventory = (*memRecorder)(nil)
)

func (m *memRecorder) Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getErr != nil {
		return certstore.Record{}, m.getErr
	}
	if m.getErrAfterInsert != nil && m.calls > m.insertsBefore {
		return certstore.Record{}, m.getErrAfterInsert
	}
	rec, ok := m.rows[issuerKeyID+"/"+serial]
	if !ok {
		return certstore.Record{}, fmt.Errorf("%s: %w", serial, certstore.ErrNotFound)
	}
	return rec, nil
}

func (m *memRecorder) Revoke(ctx context.Context, r certstore.Revocation) (certstore.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.IssuerKeyID + "/" + r.Serial
	rec, ok := m.rows[k]
	switch {
	case !ok:
		return rec, certstore.ErrNotFound
	case rec.Status == certstore.StatusRevoked:
		return rec, certstore.ErrAlreadyRevoked
	}
	rec.Status = certstore.StatusRevoked
	reason := r.Reason
	rec.Reason = &reason
	m.rows[k] = rec
	return rec, nil
}

func newMemRecorder() *memRecorder {
	return &memRecorder{rows: map[string]certstore.Record{}, failNth: map[int]error{}}
}

func (m *memRecorder) Insert(ctx context.Context, rec certstore.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if err := m.failNth[m.calls]; err != nil {
		return err
	}
	k := rec.IssuerKeyID + "/" + rec.Serial
	if _, ok := m.rows[k]; ok {
		return fmt.Errorf("insert %s: %w", rec.Serial, certstore.ErrDuplicate)
	}
	m.rows[k] = rec
	m.order = append(m.order, k)
	return m.commitThenFail
}

func (m *memRecorder) records() []certstore.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]certstore.Record, 0, len(m.order))
	for _, k := range m.order {
		out = append(out, m.rows[k])
	}
	return out
}

func (m *memRecorder) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// failRecorder always fails.
type failRecorder struct{ err error }

func (f failRecorder) Insert(context.Context, certstore.Record) error { return f.err }

var errStoreDown = errors.New("inventory unavailable")

// testNow is a fixed clock for tests that pin time.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// seededRand is a deterministic reader for tests that pin randomness.
func seededRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// newTestCA creates a CA in a temp dir with an in-memory recorder.
func newTestCA(t testing.TB, kt KeyType, intermediate bool) (*Authority, *memRecorder) {
	t.Helper()
	rec := newMemRecorder()
	a, err := Init(context.Background(), InitRequest{
		Dir: t.TempDir(), KeyType: kt, Intermediate: intermediate, Store: rec,
		BaseURL: "http://ca.scca.test:8080",
	})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return a, rec
}

// dirSnapshot maps every file name in dir to its content and mode.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		snap[rel] = fmt.Sprintf("%v|%s", fi.Mode(), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for n := range dirSnapshot(t, dir) {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func passphrase(s string) PassphraseFunc {
	return func() ([]byte, error) { return []byte(s), nil }
}

func pemBody(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM block in %q", data)
	}
	return block.Bytes
}
