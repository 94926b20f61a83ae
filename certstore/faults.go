package certstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/securechat/scca/certstore/sqldriver"
)

// Faults of the database or its disk, in plain words (see package
// sqldriver, where each driver maps its own codes to them). They wrap the
// driver's error; the CLI adds what to do about each.
var (
	ErrTimeout      = sqldriver.ErrTimeout
	ErrDiskFull     = sqldriver.ErrDiskFull
	ErrReadOnly     = sqldriver.ErrReadOnly
	ErrDiskIO       = sqldriver.ErrDiskIO
	ErrCannotOpen   = sqldriver.ErrCannotOpen
	ErrCorrupt      = sqldriver.ErrCorrupt
	ErrAccessDenied = sqldriver.ErrAccessDenied
	ErrNoDatabase   = sqldriver.ErrNoDatabase
)

// fault names the database or disk fault behind err, or returns nil. A
// driver's error type is only ever produced by that driver, so asking every
// registered one is exact.
func fault(err error) error {
	for _, d := range dialects {
		if drv := sqldriver.Lookup(d.name); drv != nil && drv.Fault != nil {
			if f := drv.Fault(err); f != nil {
				return f
			}
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return ErrDiskFull
	case errors.Is(err, syscall.EROFS):
		return ErrReadOnly
	case errors.Is(err, syscall.EIO):
		return ErrDiskIO
	case IsTimeout(err):
		return ErrTimeout
	}
	return nil
}

// explain prefixes err with its fault in plain words, when it has one.
func explain(err error) error {
	if f := fault(err); f != nil && !errors.Is(err, f) {
		return fmt.Errorf("%w: %w", f, err)
	}
	return err
}

// DefaultTimeout bounds each database exchange when Options.Timeout is 0:
// connecting, and every read or write on the connection (so a statement
// whose answer stops coming fails after this long instead of hanging).
const DefaultTimeout = 15 * time.Second

// timeout returns the effective deadline of opts.
func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// applyTimeout puts the deadline into the driver's settings (its Bound),
// when the driver has a way to.
func applyTimeout(drv *sqldriver.Driver, loc Location, d time.Duration) (Location, error) {
	if drv.Bound == nil {
		return loc, nil
	}
	return drv.Bound(loc, d)
}

// IsTimeout reports whether err means the database did not answer in time:
// a deadline passed, or the MySQL driver gave up on a connection that
// stopped answering (it reports a read timeout as an invalid connection).
func IsTimeout(err error) bool {
	var ne net.Error
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || (errors.As(err, &ne) && ne.Timeout()) {
		return true
	}
	for _, d := range dialects {
		if drv := sqldriver.Lookup(d.name); drv != nil && drv.Fault != nil && drv.Fault(err) == ErrTimeout {
			return true
		}
	}
	return false
}

// unreachable explains a failed first contact without leaking the password:
// the dialect's words, preceded by the fault in plain words when there is
// one. A refused login or an unknown database is not "cannot reach": the
// server answered.
func (s *Store) unreachable(drv *sqldriver.Driver, err error, timeout time.Duration) error {
	f := fault(err)
	switch f {
	case nil:
		return drv.Unreachable(s.loc, err)
	case ErrTimeout:
		return fmt.Errorf("%w (%s, bound %s): %w", f, s.loc.Redacted, timeout, drv.Unreachable(s.loc, err))
	}
	u := drv.Unreachable(s.loc, err)
	if errors.Is(u, f) {
		return u // the driver said it in its own words (a login refused is not "cannot reach")
	}
	return fmt.Errorf("%w: %w", f, u)
}
