//go:build !linux

package certstore

// renameNoReplace renames tmp to out unless out exists (checked first).
func renameNoReplace(tmp, out string) error { return checkAndRename(tmp, out) }
