package ca

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/atomicfile"
)

// crashAt runs an issuance for cn up to step and then "dies": the journal's
// lock is released and nothing is cleaned up, as after kill -9.
func crashAt(t *testing.T, a *Authority, cn string, step int) {
	t.Helper()
	ctx := context.Background()
	s, err := a.leafSpec(IssueRequest{Profile: ProfileClient, CN: cn})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(a.Dir(), cn+"_key.pem")
	certPath := filepath.Join(a.Dir(), cn+"_cert.pem")
	key, _ := GenerateKey(KeyECDSAP256, nil)
	keyPEM, _ := EncodeKeyPEM(key, nil)
	cert, err := a.signLeaf(s, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The steps of pendingIssue.prepare, one at a time.
	p := a.newPending(keyPEM, false, journalFile{Role: roleKey, Path: keyPath}, journalFile{Role: roleCert, Path: certPath})
	if p.j, err = a.beginJournal(p.targets, serialHex(cert)); err != nil {
		t.Fatal(err)
	}
	defer p.j.release() // the kernel drops a dead process's locks
	if step == 0 {
		return
	}
	if err := p.stage(roleKey, keyPEM, keyFileMode); err != nil {
		t.Fatal(err)
	}
	if step == 1 {
		return
	}
	if err := p.stage(roleCert, certPEM(cert.Raw), certFileMode); err != nil {
		t.Fatal(err)
	}
	if err := p.files.syncDirs(a.Dir()); err != nil {
		t.Fatal(err)
	}
	if step == 2 {
		return
	}
	if err := a.store.Insert(ctx, a.record(cert, "client", "test")); err != nil {
		t.Fatal(err)
	}
	if step == 3 {
		return
	}
	// Step 4: the key is linked, the certificate not yet.
	if err := atomicfile.Commit(p.files.staged[0].tmp, keyPath, true); err != nil {
		t.Fatal(err)
	}
}

// checkConsistent asserts the invariant Recover restores: every row of the
// inventory has both files, no file exists without a row, and neither a
// journal nor a temporary file is left.
func checkConsistent(t *testing.T, a *Authority, mem *memRecorder, cns ...string) {
	t.Helper()
	recorded := map[string]certstore.Record{}
	for _, r := range mem.records() {
		recorded[r.CN] = r
	}
	for _, cn := range cns {
		rec, hasRow := recorded[cn]
		for _, f := range []string{cn + "_key.pem", cn + "_cert.pem"} {
			_, err := os.Stat(filepath.Join(a.Dir(), f))
			if hasRow && rec.Status == certstore.StatusActive && err != nil {
				t.Errorf("%s: active row without %s", cn, f)
			}
			if !hasRow && err == nil {
				t.Errorf("%s: %s without a row", cn, f)
			}
		}
		if hasRow {
			cert := readCert(t, filepath.Join(a.Dir(), cn+"_cert.pem"))
			if cert.SerialNumber.Text(16) != rec.Serial {
				t.Errorf("%s: file serial %s, row %s", cn, cert.SerialNumber.Text(16), rec.Serial)
			}
		}
	}
	for _, n := range dirNames(t, a.Dir()) {
		if atomicfile.IsTemp(n) || strings.HasPrefix(n, journalPrefix) {
			t.Errorf("left behind: %s", n)
		}
	}
}

func TestRecoverAfterCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		name                string
		completed, discards int
	}{
		{"journal written", 0, 1},
		{"key staged", 0, 1},
		{"certificate staged (serial in the journal since step 0)", 0, 1},
		{"row committed", 1, 0},
		{"key linked", 1, 0},
	}
	for step, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			a, mem := newTestCA(t, KeyECDSAP256, false)
			crashAt(t, a, "victim", step)
			rep, err := a.Recover(context.Background(), RecoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Completed) != tc.completed || rep.Discarded != tc.discards || len(rep.Revoked) != 0 {
				t.Errorf("report = %+v", rep)
			}
			checkConsistent(t, a, mem, "victim")
			// Re-issuing the name must not create a second active row.
			_, err = a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "victim"})
			if tc.completed == 1 && !errors.Is(err, ErrFileExists) {
				t.Errorf("re-issue after a completed recovery: %v, want ErrFileExists", err)
			}
			if tc.completed == 0 && err != nil {
				t.Errorf("re-issue after a discarded issuance: %v", err)
			}
		})
	}
}

func TestRecoverRevokesRowWhoseFilesAreTaken(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, false)
	crashAt(t, a, "victim", 3)
	// Someone else wrote the certificate path meanwhile.
	certPath := filepath.Join(a.Dir(), "victim_cert.pem")
	if err := os.WriteFile(certPath, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Revoked) != 1 || !strings.Contains(rep.Revoked[0].Why, "another file") {
		t.Fatalf("report = %+v", rep)
	}
	rows := mem.records()
	if rows[len(rows)-1].Status != certstore.StatusRevoked {
		t.Error("orphaned row left active")
	}
	if data, _ := os.ReadFile(certPath); string(data) != "theirs" {
		t.Error("the other file was replaced")
	}
}

func TestRecoverLeavesLiveIssuanceAlone(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	p := a.newPending(nil, false, journalFile{Role: roleKey, Path: filepath.Join(a.Dir(), "live_key.pem")})
	var err error
	if p.j, err = a.beginJournal(p.targets, "01"); err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if err := p.stage(roleKey, []byte("k"), keyFileMode); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Recover(context.Background(), RecoverOptions{StaleAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Busy != 1 || !rep.Empty() {
		t.Errorf("report = %+v, want one busy issuance and nothing done", rep)
	}
	if _, err := os.Stat(p.files.staged[0].tmp); err != nil {
		t.Errorf("live issuance's staged key removed: %v", err)
	}
}

func TestRecoverKeepsJournalWhenInventoryCannotBeAsked(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, false)
	crashAt(t, a, "victim", 3)
	mem.getErr = errStoreDown
	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unsettled) != 1 || rep.Discarded != 0 {
		t.Fatalf("report = %+v", rep)
	}
	var temps int
	for _, n := range dirNames(t, a.Dir()) {
		if atomicfile.IsTemp(n) {
			temps++
		}
	}
	if temps != 2 {
		t.Errorf("%d staged files left, want both kept for a later recovery", temps)
	}
	mem.getErr = nil
	if _, err := a.Recover(context.Background(), RecoverOptions{}); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, a, mem, "victim")
}

func TestRecoverDryRunChangesNothing(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	crashAt(t, a, "victim", 3)
	before := dirNames(t, a.Dir())
	rep, err := a.Recover(context.Background(), RecoverOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Completed) != 1 {
		t.Errorf("report = %+v", rep)
	}
	if got := dirNames(t, a.Dir()); !slices.Equal(got, before) {
		t.Errorf("dry run changed files: %v -> %v", before, got)
	}
}

func TestRecoverRemovesStaleStrayTemps(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	old := filepath.Join(a.Dir(), ".crl.pem.tmp-123")
	fresh := filepath.Join(a.Dir(), ".crl.der.tmp-456")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * DefaultStaleAfter)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0] != old {
		t.Errorf("removed %v, want only the stale one", rep.Removed)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh temporary file (maybe a live writer's) was removed")
	}
}

func TestIssueLostCommitReplyKeepsFiles(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, false)
	mem.commitThenFail = errors.New("connection reset after commit")
	is, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "lost"})
	if err != nil {
		t.Fatalf("Issue: %v (the row exists: the lost reply must not fail the issuance)", err)
	}
	checkConsistent(t, a, mem, "lost")
	if is.Serial != mem.records()[len(mem.records())-1].Serial {
		t.Error("wrong serial")
	}
}

func TestIssueLostCommitReplyUnknownOutcome(t *testing.T) {
	a, mem := newTestCA(t, KeyECDSAP256, false)
	mem.commitThenFail = errors.New("connection reset after commit")
	mem.getErrAfterInsert, mem.insertsBefore = errStoreDown, mem.calls
	_, err := a.Issue(context.Background(), IssueRequest{Profile: ProfileClient, CN: "lost"})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
	}
	// The row exists: its staged files must survive for recovery.
	mem.getErrAfterInsert, mem.commitThenFail = nil, nil
	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Completed) != 1 {
		t.Errorf("report = %+v", rep)
	}
	checkConsistent(t, a, mem, "lost")
}

var _ Inventory = (*certstore.Store)(nil)

// TestRecoverKeepsTempsOfAFileSetJournal: an identity enrolled into the CA's
// own directory whose renewal crashed has a journal naming its staged files
// (package enroll); they are the identity's to finish, not strays, however
// old. Unnamed ones still go.
func TestRecoverKeepsTempsOfAFileSetJournal(t *testing.T) {
	a, _ := newTestCA(t, KeyECDSAP256, false)
	staged := filepath.Join(a.Dir(), ".alice_key.pem.tmp-0011223344556677")
	stray := filepath.Join(a.Dir(), ".alice_cert.pem.tmp-8899aabbccddeeff")
	journal := `{"files":[{"path":"` + filepath.Join(a.Dir(), "alice_key.pem") + `","tmp":"` + staged + `"}]}`
	if err := os.WriteFile(filepath.Join(a.Dir(), ".alice_cert.pem.journal"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * DefaultStaleAfter)
	for _, p := range []string{staged, stray} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Recover(context.Background(), RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0] != stray {
		t.Errorf("removed %v, want only the unnamed %s", rep.Removed, stray)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Errorf("a staged file the journal names was removed: %v", err)
	}
}
