package atomicfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWithMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new" {
		t.Fatalf("content = %q, %v; want new", got, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %o, want 600", fi.Mode().Perm())
	}
	assertNoTemps(t, filepath.Dir(p))
}

func TestCreateRefusesExisting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cert.pem")
	if err := Create(p, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Create(p, []byte("second"), 0o644)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "first" {
		t.Fatalf("existing file changed to %q", got)
	}
	assertNoTemps(t, filepath.Dir(p))
}

func TestStageIsInvisibleUntilCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "crl.der")
	tmp, err := Stage(p, []byte("data"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target visible before Commit: %v", err)
	}
	fi, err := os.Stat(tmp)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("staged file: %v, mode %v", err, fi)
	}
	if err := Commit(tmp, p, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "data" {
		t.Fatalf("committed content %q", got)
	}
	assertNoTemps(t, dir)
}

func TestStageInMissingDirFails(t *testing.T) {
	if _, err := Stage(filepath.Join(t.TempDir(), "nope", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("Stage into a missing directory succeeded")
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left behind: %v", matches)
	}
}

func TestWriteAtThenSyncFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	ta, tb := TempName(a, "op"), TempName(b, "op")
	if err := WriteAt(ta, a, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAt(tb, b, []byte("cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	for tmp, want := range map[string]os.FileMode{ta: 0o600, tb: 0o644} {
		if fi, err := os.Stat(tmp); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, mode %v, want %o", tmp, err, fi, want)
		}
	}
	if err := SyncFiles(ta, tb); err != nil {
		t.Fatalf("SyncFiles: %v", err)
	}
	if got, _ := os.ReadFile(tb); string(got) != "cert" {
		t.Fatalf("content %q", got)
	}
	// The caller-chosen name is exclusive: a second writer fails and leaves
	// the first one's data alone.
	if err := WriteAt(ta, a, []byte("other"), 0o600); err == nil {
		t.Fatal("WriteAt over an existing temporary file succeeded")
	}
	if got, _ := os.ReadFile(ta); string(got) != "key" {
		t.Fatalf("first writer's data changed to %q", got)
	}
}

func TestSyncFilesReportsAMissingFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := SyncFiles(ok, filepath.Join(dir, "gone"), ok)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncFiles with a missing file = %v, want ErrNotExist", err)
	}
}

func TestWriteContextDefersTheDirectorySync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "anchor.json")
	var ds DirSyncs
	ctx := WithDirSyncs(context.Background(), &ds)
	for _, data := range []string{"one", "two"} {
		if err := WriteContext(ctx, p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != data {
			t.Fatalf("content %q, want %q", got, data)
		}
	}
	if len(ds.dirs) != 2 || ds.dirs[0] != dir {
		t.Fatalf("deferred directories %v, want %s twice", ds.dirs, dir)
	}
	if err := ds.Sync(); err != nil || len(ds.dirs) != 0 {
		t.Fatalf("Sync = %v, left %v", err, ds.dirs)
	}
	assertNoTemps(t, dir)
	// Without DirSyncs in the context it is Write: nothing is deferred.
	if err := WriteContext(context.Background(), p, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(ds.dirs) != 0 {
		t.Fatalf("a write outside the context deferred %v", ds.dirs)
	}
}

func TestDirSyncsReportsAMissingDirectory(t *testing.T) {
	var ds DirSyncs
	ds.Add(filepath.Join(t.TempDir(), "gone"))
	if err := ds.Sync(); err == nil {
		t.Fatal("Sync of a missing directory succeeded")
	}
}

// One write done for several owners (the group commit's audit anchor):
// every owner gets the deferred directory, and DirSyncsFrom finds them.
func TestHandToGivesEveryOwnerTheDirectory(t *testing.T) {
	dir := t.TempDir()
	var shared, a, b DirSyncs
	ctx := WithDirSyncs(context.Background(), &shared)
	if DirSyncsFrom(ctx) != &shared || DirSyncsFrom(context.Background()) != nil {
		t.Fatal("DirSyncsFrom does not return what the context carries")
	}
	if err := WriteContext(ctx, filepath.Join(dir, "anchor.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared.HandTo(&a, &b)
	for name, d := range map[string]*DirSyncs{"a": &a, "b": &b} {
		if len(d.dirs) != 1 || d.dirs[0] != dir {
			t.Fatalf("owner %s defers %v, want [%s]", name, d.dirs, dir)
		}
		if err := d.Sync(); err != nil {
			t.Fatalf("owner %s: %v", name, err)
		}
	}
}
