//go:build unix

package certstore

import "golang.org/x/sys/unix"

// dirWritable reports whether this process may create files in dir; a
// read-only mount says no even to root.
var dirWritable = func(dir string) bool { return unix.Access(dir, unix.W_OK) == nil }
