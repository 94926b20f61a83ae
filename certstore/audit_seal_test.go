package certstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// sealedAt opens url with an audit seal whose key and anchor live in a
// fresh directory (the CA directory, which a database writer cannot write).
func sealedAt(t *testing.T, url string, clk *fakeClock, dir string) *Store {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, AuditPublicKeyFile)); err != nil {
		if err := NewAuditKey(dir, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	seal := loadSeal(t, dir)
	if seal.Key == nil {
		t.Fatalf("LoadAuditSeal of %s loaded no key", dir)
	}
	s, err := Open(context.Background(), url, Options{Now: clk.Now, AuditSeal: seal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// auditEntries reads the whole log.
func auditEntries(t *testing.T, s *Store) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	if err := s.Audit(context.Background(), func(e AuditEntry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rewriteChain is what a database writer without the audit key can do: put
// entries back with a correctly recomputed plain SHA-256 chain and head.
// keepSeals keeps each row's old seal; otherwise seals are stripped.
func rewriteChain(t *testing.T, s *Store, entries []AuditEntry, keepSeals bool) {
	t.Helper()
	ctx := context.Background()
	seals := map[int64]any{}
	rows, err := s.db.QueryContext(ctx, "SELECT id, seal FROM audit_log")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var seal any
		rows.Scan(&id, &seal)
		seals[id] = seal
	}
	rows.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("DELETE FROM audit_log")
	prev := genesisHash
	for i, e := range entries {
		e.ID, e.PrevHash = int64(i+1), prev
		e.Hash = auditHash(e)
		var seal any
		if keepSeals {
			seal = seals[e.ID]
		}
		exec(insertAudit, e.ID, timeArg(e.At), e.Actor, e.Action, e.IssuerKeyID, e.Serial, e.Details, e.PrevHash, e.Hash, seal)
		prev = e.Hash
	}
	exec(updateAuditHead, len(entries), prev)
}

// testAuditSeal: what a database writer can do to the log and the
// certificates table, and that CheckAudit names each one.
func testAuditSeal(t *testing.T, fresh func(t *testing.T) (*Store, *fakeClock, string)) {
	ctx := context.Background()
	// seed: 4 issued certificates, the third revoked: 5 sealed entries.
	seed := func(t *testing.T) (*Store, *fakeClock, string, string) {
		_, clk, url := fresh(t)
		dir := t.TempDir()
		s := sealedAt(t, url, clk, dir)
		for i := range 4 {
			mustInsert(t, s, testRecord(i, clk.Now()))
			clk.Advance(time.Second)
		}
		if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1002", Reason: ReasonKeyCompromise}); err != nil {
			t.Fatal(err)
		}
		r, err := s.CheckAudit(ctx)
		if err != nil || r.Entries != 5 || r.Sealed != 5 || r.Legacy != 0 || !r.Anchored || r.Certificates != 4 {
			t.Fatalf("CheckAudit of an honest log = %+v, %v", r, err)
		}
		return s, clk, url, dir
	}
	exec := func(t *testing.T, s *Store, q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, s *Store)
		badID  int64
		says   string
	}{
		{"tail cut off and head moved back", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			exec(t, s, "DELETE FROM audit_log WHERE id > 3")
			exec(t, s, updateAuditHead, 3, e[2].Hash)
			// The revocation went with the tail; hide it from the table too.
			exec(t, s, "UPDATE certificates SET status = 'active', revoked_at = NULL, reason = NULL, revoked_by = NULL")
			exec(t, s, "DELETE FROM certificates WHERE serial = '1003'")
		}, 4, "anchor"},
		{"entry rewritten, plain chain recomputed, seals kept", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			e[1].Actor = "mallory"
			rewriteChain(t, s, e, true)
		}, 2, "seal does not verify"},
		{"entry rewritten, plain chain recomputed, seals stripped", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			e[1].Actor = "mallory"
			rewriteChain(t, s, e, false)
		}, 1, "not sealed"},
		{"entry deleted, plain chain recomputed", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			rewriteChain(t, s, append(e[:1:1], e[2:]...), true)
		}, 2, "seal does not verify"},
		{"certificate un-revoked in the table", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE certificates SET status = 'active', revoked_at = NULL, reason = NULL, revoked_by = NULL WHERE serial = '1002'")
		}, 3, "audit entry 5 revoked it"},
		{"revocation reason changed in the table", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE certificates SET reason = 4 WHERE serial = '1002'")
		}, 3, "reason differs"},
		{"revocation time changed in the table", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE certificates SET revoked_at = ? WHERE serial = '1002'", timeArg(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)))
		}, 3, "time or reason differs"},
		{"active certificate marked revoked in the table", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE certificates SET status = 'revoked', revoked_at = ?, reason = 1 WHERE serial = '1001'", timeArg(time.Now()))
		}, 2, "no audit entry revoked it"},
		{"certificate swapped (DER and fingerprint)", func(t *testing.T, s *Store) {
			other := testRecord(99, time.Now())
			exec(t, s, "UPDATE certificates SET der = ?, fingerprint = ? WHERE serial = '1000'", other.DER, strings.Repeat("ab", 32))
		}, 1, "fingerprint"},
		{"certificate row deleted", func(t *testing.T, s *Store) {
			exec(t, s, "DELETE FROM certificates WHERE serial = '1001'")
		}, 2, "row is missing"},
		{"certificate row added", func(t *testing.T, s *Store) {
			exec(t, s, insertCertificate, "ab12", "beef", TypeServer, "x.example", "[]",
				timeArg(time.Now()), timeArg(time.Now().Add(time.Hour)), StatusActive, nil, nil, nil,
				strings.Repeat("cd", 32), []byte("x"), timeArg(time.Now()), "mallory", nil)
		}, 0, "no audit entry issued it"},
		{"row past the head", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			extra := AuditEntry{ID: 6, At: e[4].At, Actor: "mallory", Action: ActionIssue, IssuerKeyID: "ab12",
				Serial: "beef", Details: "{}", PrevHash: e[4].Hash}
			extra.Hash = auditHash(extra)
			exec(t, s, insertAudit, extra.ID, timeArg(extra.At), extra.Actor, extra.Action, extra.IssuerKeyID,
				extra.Serial, extra.Details, extra.PrevHash, extra.Hash, nil)
		}, 6, "past the audit head"},
		{"short hash", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE audit_log SET hash = 'abc' WHERE id = 2")
		}, 2, "malformed"},
		{"bad seal encoding", func(t *testing.T, s *Store) {
			exec(t, s, "UPDATE audit_log SET seal = 'zz' WHERE id = 3")
		}, 3, "seal does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, _ := seed(t)
			tc.tamper(t, s)
			_, err := s.CheckAudit(ctx)
			var ae *AuditError
			if !errors.Is(err, ErrAuditTampered) || !errors.As(err, &ae) || ae.ID != tc.badID || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("CheckAudit = %v; want an AuditError at entry %d saying %q", err, tc.badID, tc.says)
			}
		})
	}

	t.Run("malformed details are an error, not a panic", func(t *testing.T) {
		s, clk, _ := fresh(t) // unsealed: a forger can then fix up the hash
		mustInsert(t, s, testRecord(1, clk.Now()))
		e := auditEntries(t, s)
		e[0].Details = "{not json"
		rewriteChain(t, s, e, false)
		_, err := s.CheckAudit(ctx)
		var ae *AuditError
		if !errors.As(err, &ae) || ae.ID != 1 || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("CheckAudit = %v, want malformed entry 1", err)
		}
	})

	t.Run("the anchor never moves back", func(t *testing.T) {
		s, clk, url, dir := seed(t)
		other := sealedAt(t, url, clk, dir)
		mustInsert(t, other, testRecord(10, clk.Now()))
		seal, _ := LoadAuditSeal(dir)
		if err := seal.advanceAnchor(context.Background(), 2, strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
		a, ok, err := seal.readAnchor()
		if err != nil || !ok || a.ID != 6 {
			t.Fatalf("anchor = %+v, %v, %v; want entry 6", a, ok, err)
		}
		if _, err := s.CheckAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a writer without the key is refused, one without the seal is caught", func(t *testing.T) {
		s, clk, url, dir := seed(t)
		seal := loadSeal(t, dir)
		seal.Key = nil
		verifyOnly, err := Open(ctx, url, Options{Now: clk.Now, AuditSeal: seal})
		if err != nil {
			t.Fatal(err)
		}
		defer verifyOnly.Close()
		if err := verifyOnly.Insert(ctx, testRecord(20, clk.Now())); err == nil || !strings.Contains(err.Error(), "audit key is not loaded") {
			t.Errorf("Insert without the audit key = %v, want refusal", err)
		}
		unsealed := openAt(t, url, clk.Now)
		mustInsert(t, unsealed, testRecord(21, clk.Now()))
		var ae *AuditError
		if _, err := s.CheckAudit(ctx); !errors.As(err, &ae) || ae.ID != 6 || !strings.Contains(err.Error(), "not sealed") {
			t.Errorf("CheckAudit = %v, want entry 6 not sealed", err)
		}
	})

	t.Run("entries older than the key are legacy", func(t *testing.T) {
		s, clk, url := fresh(t)
		mustInsert(t, s, testRecord(1, clk.Now()))
		dir := t.TempDir()
		if err := NewAuditKey(dir, 2, nil); err != nil {
			t.Fatal(err)
		}
		sealed := sealedAt(t, url, clk, dir)
		mustInsert(t, sealed, testRecord(2, clk.Now()))
		r, err := sealed.CheckAudit(ctx)
		if err != nil || r.Entries != 2 || r.Legacy != 1 || r.Sealed != 1 {
			t.Errorf("CheckAudit = %+v, %v; want 1 legacy and 1 sealed entry", r, err)
		}
	})
}

func TestAuditKeyFiles(t *testing.T) {
	dir := t.TempDir()
	if seal, err := LoadAuditSeal(dir); seal != nil || err != nil {
		t.Fatalf("LoadAuditSeal of a dir without key = %v, %v; want nil, nil", seal, err)
	}
	if err := NewAuditKey(dir, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := NewAuditKey(dir, 1, nil); err == nil {
		t.Error("NewAuditKey replaced an existing key")
	}
	fi, err := os.Stat(filepath.Join(dir, AuditKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	os.Chmod(filepath.Join(dir, AuditKeyFile), 0o640)
	if _, err := LoadAuditSeal(dir); !errors.Is(err, ErrAuditKeyPermissions) {
		t.Errorf("LoadAuditSeal of a group-readable key = %v, want ErrAuditKeyPermissions", err)
	}
	os.Remove(filepath.Join(dir, AuditKeyFile))
	seal, err := LoadAuditSeal(dir)
	if err == nil {
		err = seal.Ready()
	}
	if err != nil || seal.Key != nil || seal.Public == nil {
		t.Errorf("LoadAuditSeal with the public key only = %+v, %v; want verify-only", seal, err)
	}
}

// TestAuditKeyMismatch: a private key that is not the public key's pair,
// or not a key at all, is reported by Ready and refused by every append,
// so nothing is sealed with it.
func TestAuditKeyMismatch(t *testing.T) {
	for name, c := range map[string]struct {
		want    string // in Ready's error
		corrupt func(dir string)
	}{
		"another key pair": {"does not match", func(dir string) {
			other := t.TempDir()
			if err := NewAuditKey(other, 1, nil); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(other, AuditKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, AuditKeyFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		"not a key": {AuditKeyFile, func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, AuditKeyFile), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := NewAuditKey(dir, 1, nil); err != nil {
				t.Fatal(err)
			}
			c.corrupt(dir)
			seal, err := LoadAuditSeal(dir)
			if err != nil {
				t.Fatalf("LoadAuditSeal = %v; the key is parsed in the background", err)
			}
			if err := seal.Ready(); err == nil || !strings.Contains(err.Error(), c.want) || seal.Key != nil {
				t.Fatalf("Ready = %v, Key set %v; want an error naming %q and no key", err, seal.Key != nil, c.want)
			}
			clk := newClock()
			s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "inv.db"), Options{Now: clk.Now, AuditSeal: seal})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := s.Insert(context.Background(), testRecord(1, clk.Now())); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Insert with an unusable audit key = %v, want the key's error", err)
			}
		})
	}
}

// TestAuditSealKeyTypes: new audit keys are ECDSA P-256 and their seals
// are 64-byte r||s signatures that verify under the public key only; an
// Ed25519 audit key made before still seals and verifies; a seal by another
// key, a flipped bit or the wrong length is refused.
func TestAuditSealKeyTypes(t *testing.T) {
	dir := t.TempDir()
	if err := NewAuditKey(dir, 1, nil); err != nil {
		t.Fatal(err)
	}
	fresh := loadSeal(t, dir)
	if k, ok := fresh.Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("new audit key is %T, want ECDSA P-256", fresh.Key)
	}
	_, legacyKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	legacy := &AuditSeal{Key: legacyKey, Public: legacyKey.Public()}
	hash := strings.Repeat("ab", 32)
	for name, seal := range map[string]*AuditSeal{"ecdsa-p256": fresh, "ed25519": legacy} {
		t.Run(name, func(t *testing.T) {
			sig, err := seal.sign(hash)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 2*sealSize {
				t.Fatalf("seal has %d hex digits, want %d (the column holds 128)", len(sig), 2*sealSize)
			}
			if !seal.verify(hash, sig) {
				t.Fatal("a fresh seal does not verify")
			}
			last := byte('0') // another last hex digit: a changed signature
			if sig[len(sig)-1] == '0' {
				last = '1'
			}
			changed := sig[:len(sig)-1] + string(last)
			for bad, s := range map[string]string{
				"other hash": sig,
				"changed":    changed,
				"short":      sig[:len(sig)-2],
				"not hex":    "zz" + sig[2:],
				"empty":      "",
			} {
				h := hash
				if bad == "other hash" {
					h = strings.Repeat("cd", 32)
				}
				if seal.verify(h, s) {
					t.Errorf("%s: verified", bad)
				}
			}
			other := legacy
			if seal == legacy {
				other = fresh
			}
			if (&AuditSeal{Public: other.Public}).verify(hash, sig) {
				t.Error("a seal verified under another audit key")
			}
		})
	}
}

// TestLegacyEd25519AuditKeyLoads: a CA directory whose audit key files were
// made when audit keys were Ed25519 still loads, signs and verifies.
func TestLegacyEd25519AuditKeyLoads(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	if err := os.WriteFile(filepath.Join(dir, AuditKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AuditPublicKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER,
		Headers: map[string]string{sealedFromHeader: "3"}}), 0o644); err != nil {
		t.Fatal(err)
	}
	seal := loadSeal(t, dir)
	if _, ok := seal.Key.(ed25519.PrivateKey); !ok || seal.SealedFrom != 3 {
		t.Fatalf("legacy key loaded as %T from %d", seal.Key, seal.SealedFrom)
	}
	hash := strings.Repeat("0f", 32)
	sig, err := seal.sign(hash)
	if err != nil || !seal.verify(hash, sig) || !ed25519.Verify(pub, []byte(auditSealDomain+hash), mustHex(t, sig)) {
		t.Fatalf("legacy seal %q, %v does not verify", sig, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnchorStagedWithCommit: a batch's anchor is written while its
// transaction commits, but the anchor file moves only after the commit: a
// failed commit leaves it where it was and no temporary file behind.
func TestAnchorStagedWithCommit(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir := t.TempDir()
	s := sealedAt(t, "sqlite:"+filepath.Join(t.TempDir(), "inv.db"), clk, dir)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, testRecord(1, clk.Now()))
	before, ok, err := s.seal.readAnchor()
	if err != nil || !ok {
		t.Fatalf("anchor after the first insert: %+v %v %v", before, ok, err)
	}
	s.commit.beforeCommit = func(*sql.Tx, int) error { return errInjected }
	if err := s.Insert(ctx, testRecord(2, clk.Now())); !errors.Is(err, errInjected) {
		t.Fatalf("Insert with a failing commit = %v", err)
	}
	if after, _, _ := s.seal.readAnchor(); after != before {
		t.Fatalf("a failed commit moved the anchor from %+v to %+v", before, after)
	}
	noTemp := func() {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in the CA directory", e.Name())
			}
		}
	}
	noTemp()
	s.commit.beforeCommit = nil
	mustInsert(t, s, testRecord(3, clk.Now()))
	after, ok, err := s.seal.readAnchor()
	if err != nil || !ok || after.ID <= before.ID {
		t.Fatalf("anchor after a committed insert = %+v %v %v, want past %+v", after, ok, err, before)
	}
	noTemp()
	if r, err := s.CheckAudit(ctx); err != nil || !r.Anchored {
		t.Fatalf("CheckAudit = %+v, %v", r, err)
	}
}

// loadSeal loads dir's audit seal and waits for its key.
func loadSeal(t *testing.T, dir string) *AuditSeal {
	t.Helper()
	seal, err := LoadAuditSeal(dir)
	if err == nil && seal != nil {
		err = seal.Ready()
	}
	if err != nil || seal == nil {
		t.Fatalf("LoadAuditSeal(%s) = %+v, %v", dir, seal, err)
	}
	return seal
}

// TestAnchorStagedRetried: a transaction the database aborts to break a
// deadlock is run again, and the anchor staged by the aborted attempt is
// discarded: the anchor moves once, to the committed entry, and no
// temporary file is left. (The deadlock is MySQL's error, which every
// store retries whatever its database; the hook raises it at the first
// commit only.)
func TestAnchorStagedRetried(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir := t.TempDir()
	s := sealedAt(t, "sqlite:"+filepath.Join(t.TempDir(), "inv.db"), clk, dir)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	s.commit.beforeCommit = func(*sql.Tx, int) error {
		attempts++
		if attempts == 1 {
			return &gomysql.MySQLError{Number: 1213, Message: "Deadlock found (injected)"}
		}
		return nil
	}
	mustInsert(t, s, testRecord(1, clk.Now()))
	if attempts != 2 {
		t.Fatalf("commit attempts = %d, want 2 (one aborted, one retried)", attempts)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left by the aborted attempt", e.Name())
		}
	}
	a, ok, err := s.seal.readAnchor()
	head, herr := s.AuditHead(ctx)
	if err != nil || herr != nil || !ok || a.ID != head {
		t.Fatalf("anchor = %+v %v %v, head %d %v; want the committed head", a, ok, err, head, herr)
	}
	if r, err := s.CheckAudit(ctx); err != nil || !r.Anchored {
		t.Fatalf("CheckAudit = %+v, %v", r, err)
	}
}
