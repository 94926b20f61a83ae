package ca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrDirPermissions is returned for a CA directory that someone other than
// its owner could change; the error is a *DirPermissionError.
var ErrDirPermissions = errors.New("CA directory is not private")

// DirPermissionError says why a CA directory is not private: its mode lets
// group or others write it (Owner < 0), or it belongs to Owner, not to the
// caller (You). It matches ErrDirPermissions.
type DirPermissionError struct {
	Dir        string
	File       string // set when it is a CA certificate in Dir, not Dir itself
	Mode       os.FileMode
	Owner, You int
}

func (e *DirPermissionError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%v: %s has mode %04o, writable by group or others", ErrDirPermissions, e.File, e.Mode)
	}
	if e.Owner >= 0 {
		return fmt.Sprintf("%v: %s is owned by uid %d, not by you (uid %d)", ErrDirPermissions, e.Dir, e.Owner, e.You)
	}
	return fmt.Sprintf("%v: %s has mode %04o, writable by group or others", ErrDirPermissions, e.Dir, e.Mode)
}

func (e *DirPermissionError) Unwrap() error { return ErrDirPermissions }

// checkDirPrivate refuses a CA directory that group or others may write, or
// that belongs to another user (root excepted, as OpenSSH's StrictModes
// does): whoever can write the directory can swap the CA certificate, the
// audit key or an issued certificate for their own, whatever the files'
// own modes say. The error says which of the two it is.
//
// Where the file system has no Unix owners and modes (Windows, whose ACLs
// the mode bits Go reports do not describe), there is nothing to check.
func checkDirPrivate(dir string) error { return checkDir(dir, true) }

// CheckDirPrivate is the check every command that holds a key from dir
// makes (Load, Init); services that read their own key from a CA directory
// (the chat server, the OCSP responder) call it too.
func CheckDirPrivate(dir string) error { return checkDirPrivate(dir) }

// checkDirNotShared refuses only a directory that group or others may
// write: the rule for relying parties (LoadCertificates), which trust the
// CA certificates in dir but hold no key of the CA's. Who owns the
// directory does not matter to them (the CA operator may, and usually
// does, own it), but anyone else who can write it can swap the root.
func checkDirNotShared(dir string) error {
	if err := checkDir(dir, false); err != nil {
		return err
	}
	// The certificates themselves too: a private directory does not help
	// a root that others may rewrite in place.
	for _, name := range []string{RootCertFile, IntermediateCertFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue // absent (no intermediate); a read error shows on reading
		}
		if _, unix := fileOwner(fi); unix && fi.Mode().Perm()&0o022 != 0 {
			return &DirPermissionError{Dir: dir, File: filepath.Join(dir, name), Mode: fi.Mode().Perm(), Owner: -1}
		}
	}
	return nil
}

func checkDir(dir string, owner bool) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check CA directory: %w", err)
	}
	uid, ok := fileOwner(fi)
	if !ok {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&0o022 != 0 {
		return &DirPermissionError{Dir: dir, Mode: mode, Owner: -1}
	}
	if me := os.Geteuid(); owner && uid != me && uid != 0 {
		return &DirPermissionError{Dir: dir, Mode: fi.Mode().Perm(), Owner: uid, You: me}
	}
	return nil
}
