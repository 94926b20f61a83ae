//go:build !unix

package certstore

// dirWritable: without access(2), assume the directory is writable, so the
// -shm file is created or the open fails with SQLite's own error.
var dirWritable = func(string) bool { return true }
