package sqldriver

import (
	"errors"
	"time"
)

// Faults of the database or its disk, in plain words. A Driver's Fault maps
// its own error codes to them; certstore wraps the driver's error with the
// matching one, and the CLI adds what to do about each.
var (
	ErrTimeout      = errors.New("the inventory did not answer in time")
	ErrDiskFull     = errors.New("the disk holding the inventory is full")
	ErrReadOnly     = errors.New("the inventory is read-only (read-only file, directory or mount, or the file was moved or replaced)")
	ErrDiskIO       = errors.New("input/output error on the inventory's disk")
	ErrCannotOpen   = errors.New("the inventory file cannot be opened")
	ErrCorrupt      = errors.New("the inventory file is damaged or not a SQLite database")
	ErrAccessDenied = errors.New("the database server refused the login")
	ErrNoDatabase   = errors.New("the database does not exist on the server, or this user may not use it")
)

// Bounder is the optional part of a Driver that puts a deadline into its
// settings: connect and I/O timeouts for a server, the busy timeout for a
// file. It returns loc with the DSN changed, never echoing it in an error.
type Bounder func(loc Location, d time.Duration) (Location, error)
