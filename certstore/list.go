package certstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/securechat/scca/inventory"
)

// Filter selects certificates for List and Count. Zero values select all.
type Filter struct {
	// Status is "", StatusAll, StatusActive (stored active and not yet
	// expired), StatusRevoked or StatusExpired (stored active, past NotAfter).
	Status string
	// Type is one of inventory.Types, or "" for all.
	Type string
	// CNContains matches common names containing it (case-insensitive for
	// ASCII on both databases).
	CNContains string
	// ExpiringWithin > 0 selects active certificates whose NotAfter falls
	// between now and now+ExpiringWithin.
	ExpiringWithin time.Duration
	// Limit caps the number of rows; 0 means no limit.
	Limit int
}

// Fragments List and Count assemble; every value is a bound parameter.
const (
	listSelect       = "SELECT id, " + recordColumns + " FROM certificates"
	listSelectHinted = listSelect + "%s"
	countSelect      = "SELECT COUNT(*) FROM certificates"
	listOrder        = " ORDER BY id DESC"
	condActive       = "status = 'active' AND not_after >= ?"
	condExpired      = "status = 'active' AND not_after < ?"
	condRevoked      = "status = 'revoked'"
	condType         = "type = ?"
	condExpiringSoon = "status = 'active' AND not_after >= ? AND not_after <= ?"
)

// List streams the certificates matching f, newest issued first, into fn
// one at a time; it never holds the result set in memory. An error from fn
// stops the listing and is returned as is.
func (s *Store) List(ctx context.Context, f Filter, fn func(Record) error) error {
	where, args, err := s.where(f)
	if err != nil {
		return err
	}
	q := listSelect
	if f.Status == StatusActive && f.ExpiringWithin == 0 {
		// Most of an inventory is active, so the (status, not_after) index
		// would match nearly every row and force a sort of all of them
		// (seconds at a million rows); walking the primary key backwards
		// finds the newest Limit rows after reading little more than that.
		q = fmt.Sprintf(listSelectHinted, s.d.scanByID)
	}
	q += where + listOrder
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return s.queryRecords(ctx, fn, q, args...)
}

// Count returns how many certificates match f (ignoring f.Limit).
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	where, args, err := s.where(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, countSelect+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count inventory: %w", err)
	}
	return n, nil
}

// where turns f into a WHERE clause (with leading space, or empty) and its
// arguments.
func (s *Store) where(f Filter) (string, []any, error) {
	if f.Limit < 0 {
		return "", nil, fmt.Errorf("negative list limit %d", f.Limit)
	}
	clock := s.now()
	now := timeArg(clock)
	var conds []string
	var args []any
	switch f.Status {
	case "", StatusAll:
	case StatusActive:
		conds, args = append(conds, condActive), append(args, now)
	case StatusExpired:
		conds, args = append(conds, condExpired), append(args, now)
	case StatusRevoked:
		conds = append(conds, condRevoked)
	default:
		return "", nil, fmt.Errorf("unknown status filter %q (want %s, %s, %s or %s)",
			f.Status, StatusActive, StatusRevoked, StatusExpired, StatusAll)
	}
	switch {
	case f.Type == "":
	case inventory.ValidType(f.Type):
		conds, args = append(conds, condType), append(args, f.Type)
	default:
		return "", nil, fmt.Errorf("unknown certificate type filter %q", f.Type)
	}
	if f.CNContains != "" {
		conds, args = append(conds, s.d.cnContains), append(args, "%"+escapeLike(f.CNContains)+"%")
	}
	if f.ExpiringWithin < 0 {
		return "", nil, fmt.Errorf("negative expiry window %s", f.ExpiringWithin)
	}
	if f.ExpiringWithin > 0 {
		conds = append(conds, condExpiringSoon)
		args = append(args, now, timeArg(clock.Add(f.ExpiringWithin)))
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '!'.
// '!' is used rather than backslash because MySQL treats backslash in
// string literals specially and SQLite does not.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
