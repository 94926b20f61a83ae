package certstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadOnlySQLite: a read-only store reads what a writer committed, sees
// a writer's later commits while that writer has the file open (mode=ro
// shares the -shm), refuses writes, and creates no file.
func TestReadOnlySQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "inv.db")
	w := openAt(t, url, nil)
	if err := w.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustInsert(t, w, testRecord(1, now))

	before := dirNames(t, dir)
	r, err := Open(ctx, url, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer r.Close()
	if r.Immutable() {
		t.Error("a writable directory must not need an immutable open")
	}
	if got, err := r.FindBySerial(ctx, testRecord(1, now).Serial); err != nil || len(got) != 1 {
		t.Fatalf("read-only FindBySerial = %d, %v", len(got), err)
	}
	mustInsert(t, w, testRecord(2, now))
	if got, err := r.FindBySerial(ctx, testRecord(2, now).Serial); err != nil || len(got) != 1 {
		t.Fatalf("a commit by the writer is not seen by the reader: %d, %v", len(got), err)
	}
	if err := r.Insert(ctx, testRecord(3, now)); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("insert through a read-only store: %v, want a read-only error", err)
	}
	if after := dirNames(t, dir); !slices.Equal(before, after) {
		t.Errorf("read-only open changed the directory: %v -> %v", before, after)
	}

	// a missing file is an error, never created
	if _, err := Open(ctx, "sqlite:"+filepath.Join(dir, "missing.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("read-only open created the missing file")
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
