//go:build linux

package certstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// moveNoReplace gives tmp the name out unless out exists: a hard link
// (then tmp is removed) where the file system has them, else
// renameat2(RENAME_NOREPLACE) (vfat and exFAT, typical of the USB sticks
// an offline CA backs up to, have no hard links), else, where that is not
// supported either, a check and a rename.
func moveNoReplace(tmp, out string) error {
	err := os.Link(tmp, out)
	if err == nil {
		os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	return checkAndRename(tmp, out)
}
