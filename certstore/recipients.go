package certstore

import (
	"context"
	"fmt"
)

// selectActiveClientCNs finds active, unexpired client certificates by CN.
// The comparison is repeated in Go: MySQL's cn column collates without
// regard to case, and message queues are keyed byte for byte.
const selectActiveClientCNs = "SELECT cn FROM certificates" +
	" WHERE cn = ? AND type = 'client' AND status = 'active' AND not_after >= ? LIMIT 16"

// ActiveClient reports whether cn, compared byte for byte, names a client
// certificate that is active (not revoked) and not expired now: someone the
// chat server may keep direct messages for.
func (s *Store) ActiveClient(ctx context.Context, cn string) (bool, error) {
	rows, err := s.db.QueryContext(ctx, selectActiveClientCNs, cn, timeArg(s.now()))
	if err != nil {
		return false, fmt.Errorf("look up client %q: %w", cn, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var got string
		if err := rows.Scan(&got); err != nil {
			return false, fmt.Errorf("look up client %q: %w", cn, err)
		}
		found = found || got == cn
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("look up client %q: %w", cn, err)
	}
	return found, nil
}
