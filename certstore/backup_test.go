package certstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestBackup: the copy is one 0600 file holding every commit, those a
// short-lived store left in the WAL included, readable alone; an existing
// output is refused and left as it was.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now, ShortLived: true})
	recs := []Record{testRecord(1, clk.Now()), testRecord(2, clk.Now())}
	for _, r := range recs {
		mustInsert(t, s, r)
	}
	s.Close() // a short-lived store leaves the rows in the WAL (cgo build)
	b := openAt(t, "sqlite:"+path, clk.Now)
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := b.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(out + "-wal"); err == nil {
		t.Error("the backup has a WAL; want one self-contained file")
	}
	for _, r := range recs {
		if err := copyDBAlone(t, out, r); err != nil {
			t.Errorf("the backup alone lacks %s: %v", r.Serial, err)
		}
	}
	before, _ := os.ReadFile(out)
	if err := b.Backup(ctx, out); !errors.Is(err, fs.ErrExist) {
		t.Errorf("backup over an existing file: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Error("a refused backup changed the existing file")
	}
}

// TestBackupReadOnlyStore: a read-only store backs up (nothing is written
// to the inventory, and no schema check is involved).
func TestBackupReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now})
	rec := testRecord(1, clk.Now())
	mustInsert(t, s, rec)
	s.Close()
	r, err := Open(ctx, "sqlite:"+path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "b.db")
	if err := r.Backup(ctx, out); err != nil {
		t.Fatalf("backup from a read-only store: %v", err)
	}
	if err := copyDBAlone(t, out, rec); err != nil {
		t.Errorf("the backup lacks the row: %v", err)
	}
}

// TestBackupFailureLeavesNothing: a backup that fails in VACUUM INTO (here
// a cancelled context) reports it and leaves neither the output nor a
// temporary file.
func TestBackupFailureLeavesNothing(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now})
	defer s.Close()
	mustInsert(t, s, testRecord(1, clk.Now()))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Backup(ctx, filepath.Join(dir, "b.db")); err == nil {
		t.Fatal("backup with a cancelled context succeeded")
	}
	if left := dirNames(t, dir); len(left) != 0 {
		t.Errorf("a failed backup left %v", left)
	}
}

// TestBackupFileColonDir: an output directory whose relative name starts
// with "file:" is not taken as an SQLite URI (the copy would be written
// elsewhere, 0644, and an empty file reported as the backup).
func TestBackupFileColonDir(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now})
	defer s.Close()
	rec := testRecord(1, clk.Now())
	mustInsert(t, s, rec)
	t.Chdir(t.TempDir())
	if err := os.Mkdir("file:uq", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, "file:uq/x.db"); err != nil {
		t.Fatal(err)
	}
	if err := copyDBAlone(t, "file:uq/x.db", rec); err != nil {
		t.Errorf("the backup under file:uq lacks the row: %v", err)
	}
	if left := dirNames(t, "file:uq"); len(left) != 1 {
		t.Errorf("file:uq holds %v, want only x.db", left)
	}
}

// TestRenameNoReplace: the fallback for file systems without hard links
// (vfat, exFAT) moves the copy into place and never replaces an existing
// file.
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	tmp, out := filepath.Join(dir, "tmp"), filepath.Join(dir, "out")
	if err := os.WriteFile(tmp, []byte("copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := renameNoReplace(tmp, out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "copy" {
		t.Fatalf("out = %q", got)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tmp still there: %v", err)
	}
	if err := os.WriteFile(tmp, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := renameNoReplace(tmp, out); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("over an existing file: %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "copy" {
		t.Errorf("the existing file was replaced: %q", got)
	}
}
