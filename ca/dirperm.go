package ca

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrDirPermissions is returned for a CA directory that someone other than
// its owner could change.
var ErrDirPermissions = errors.New("CA directory is not private")

// checkDirPrivate refuses a CA directory that group or others may write, or
// that belongs to another user (root excepted, as OpenSSH's StrictModes
// does): whoever can write the directory can swap the CA certificate, the
// audit key or an issued certificate for their own, whatever the files'
// own modes say. The error carries the command that fixes it.
func checkDirPrivate(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check CA directory: %w", err)
	}
	if mode := fi.Mode().Perm(); mode&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, writable by group or others (run: chmod go-w %s)", ErrDirPermissions, dir, mode, dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if me := os.Geteuid(); int(st.Uid) != me && st.Uid != 0 {
		return fmt.Errorf("%w: %s is owned by uid %d, not by you (uid %d) (run: sudo chown -R %d %s)", ErrDirPermissions, dir, st.Uid, me, me, dir)
	}
	return nil
}
