package ca

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrBadValidity is returned for a validity period ParseValidity refuses.
var ErrBadValidity = errors.New("invalid duration")

// validityUnits are the units a validity may be written in. "m" is not one
// of them: it reads as minutes to Go and as months to a person writing a
// certificate lifetime, so it is refused with a pointer to "min" and "mo".
// Months and years are fixed lengths (30 and 365 days), as in the
// CA/Browser Forum's day counts.
var validityUnits = []struct {
	name string
	unit time.Duration
}{
	{"s", time.Second},
	{"min", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"mo", 30 * 24 * time.Hour},
	{"y", 365 * 24 * time.Hour},
}

// ParseValidity parses a lifetime such as "90d", "1y", "2160h", "30min" or
// "1y6mo": one or more whole numbers, each followed by a unit (s, min, h,
// d, w, mo = 30 days, y = 365 days). "" is 0 (the default). It refuses the
// ambiguous "m", zero and negative values, and anything longer than
// time.Duration can hold (about 292 years) instead of wrapping around.
func ParseValidity(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("%w %q: %s (use e.g. 90d, 1y, 6mo, 2160h or 30min)", ErrBadValidity, s, why)
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		if i == 0 {
			return bad("each part must start with a whole number")
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return bad("number too large")
		}
		unitName := rest[i:j]
		unit, ok := lookupUnit(unitName)
		switch {
		case unitName == "m":
			return bad(`unit "m" is ambiguous: write "min" for minutes or "mo" for months`)
		case unitName == "":
			return bad("a number needs a unit")
		case !ok:
			return bad(fmt.Sprintf("unknown unit %q", unitName))
		case n > int64(math.MaxInt64-total)/int64(unit):
			return bad("longer than the longest representable period (about 292 years)")
		}
		total += time.Duration(n) * unit
		rest = rest[j:]
	}
	if total <= 0 {
		return bad("must be positive")
	}
	return total, nil
}

func lookupUnit(name string) (time.Duration, bool) {
	for _, u := range validityUnits {
		if u.name == name {
			return u.unit, true
		}
	}
	return 0, false
}

// CRLValidityWarning returns why a CRL validity (thisUpdate to nextUpdate)
// is unusual, or "". Relying parties cache a CRL until nextUpdate, so a long
// one delays every revocation by as much; a very short one makes the CRL
// expire between two publications.
func CRLValidityWarning(d time.Duration) string {
	switch {
	case d > maxSensibleCRLValidity:
		return fmt.Sprintf("a CRL valid for %d days lets relying parties miss a revocation for that long (CA/B Forum: at most 10 days)", d/(24*time.Hour))
	case d < minSensibleCRLValidity:
		return fmt.Sprintf("a CRL valid for only %s expires unless it is republished that often", d)
	}
	return ""
}

// Bounds outside which CRLValidityWarning speaks up.
const (
	maxSensibleCRLValidity = 31 * 24 * time.Hour
	minSensibleCRLValidity = time.Hour
)
