//go:build unix

package ca

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCADirMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o775, 0o757, 0o777} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Init(t.Context(), InitRequest{Dir: dir, Store: newMemRecorder()})
		var de *DirPermissionError
		if !errors.Is(err, ErrDirPermissions) || !errors.As(err, &de) || de.Dir != dir || de.Mode != mode || de.Owner != -1 ||
			!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "writable by group or others") {
			t.Errorf("Init in a %04o dir = %v, want a DirPermissionError naming the dir and its mode", mode, err)
		}
	}
	os.Chmod(dir, 0o700)
	if _, err := Init(t.Context(), InitRequest{Dir: dir, Store: newMemRecorder()}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o770)
	if _, err := Load(LoadOptions{Dir: dir}); !errors.Is(err, ErrDirPermissions) {
		t.Errorf("Load from a group-writable dir = %v, want ErrDirPermissions", err)
	}
	os.Chmod(dir, 0o750) // group may read; nobody but the owner may write
	if _, err := Load(LoadOptions{Dir: dir}); err != nil {
		t.Errorf("Load from a 0750 dir = %v", err)
	}
}

func TestCADirOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	dir := t.TempDir()
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Init(t.Context(), InitRequest{Dir: dir, Store: newMemRecorder()})
	var de *DirPermissionError
	if !errors.Is(err, ErrDirPermissions) || !errors.As(err, &de) || de.Dir != dir || de.Owner != 65534 || de.You != 0 ||
		!strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("Init in a dir owned by uid 65534 = %v, want a DirPermissionError naming the owner", err)
	}
}
