//go:build !linux

package certstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// moveNoReplace gives tmp the name out unless out exists: a hard link
// where the file system has them, else a check and a rename.
func moveNoReplace(tmp, out string) error {
	err := os.Link(tmp, out)
	switch {
	case err == nil:
		os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	}
	return checkAndRename(tmp, out)
}
