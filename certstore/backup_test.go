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
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".backup.db.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
