//go:build linux

package certstore

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames tmp to out unless out exists, atomically with
// renameat2(RENAME_NOREPLACE), or, where the file system does not support
// that, after a check.
func renameNoReplace(tmp, out string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return checkAndRename(tmp, out)
	}
	return fmt.Errorf("backup to %s: %w", out, err)
}
