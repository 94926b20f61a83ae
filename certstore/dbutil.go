package certstore

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is how times are sent to both databases: UTC, microseconds,
// fixed width. MySQL stores it in DATETIME(6); SQLite keeps the text, whose
// byte order is then time order.
const timeLayout = "2006-01-02 15:04:05.000000"

// dbTime is t in the precision and zone the database keeps.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeArg formats t as a query argument.
func timeArg(t time.Time) string { return dbTime(t).Format(timeLayout) }

// nullTimeArg is timeArg for a nullable column.
func nullTimeArg(t *time.Time) driver.Value {
	if t == nil {
		return nil
	}
	return timeArg(*t)
}

// timeLayouts are the text forms a time column may come back in: ours, and
// the shorter one SQLite's datetime('now') writes (goose's version table).
var timeLayouts = []string{timeLayout, "2006-01-02 15:04:05.999999999", time.RFC3339Nano}

// scanTime scans a (nullable) time column from either driver: MySQL with
// parseTime returns time.Time, modernc returns time.Time or text.
type scanTime struct {
	t     *time.Time
	valid bool
}

func (st *scanTime) Scan(src any) error {
	st.valid = src != nil
	switch v := src.(type) {
	case nil:
		return nil
	case time.Time:
		*st.t = dbTime(v)
		return nil
	case []byte:
		return st.parse(string(v))
	case string:
		return st.parse(v)
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
}

func (st *scanTime) parse(v string) error {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			*st.t = dbTime(t)
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", v)
}
