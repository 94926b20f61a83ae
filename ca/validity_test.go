package ca

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseValidity(t *testing.T) {
	day := 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"90d", 90 * day},
		{"1y", 365 * day},
		{"10y", 3650 * day},
		{"6mo", 180 * day},
		{"2w", 14 * day},
		{"2160h", 2160 * time.Hour},
		{"30min", 30 * time.Minute},
		{"45s", 45 * time.Second},
		{"1y6mo", 545 * day},
		{"292y", 292 * 365 * day},
	}
	for _, c := range good {
		if got, err := ParseValidity(c.in); err != nil || got != c.want {
			t.Errorf("ParseValidity(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"585y", "longest representable"},
		{"106752d", "longest representable"},
		{"99999999999999999999d", "too large"},
		{"292y292y", "longest representable"},
		{"1m", `"m" is ambiguous`},
		{"1h30m", `"m" is ambiguous`},
		{"0d", "positive"},
		{"-1d", "whole number"},
		{"d", "whole number"},
		{"10", "needs a unit"},
		{"1.5y", "unit"},
		{"1fortnight", "unknown unit"},
		{"1y ", "unknown unit"},
	}
	for _, c := range bad {
		got, err := ParseValidity(c.in)
		if !errors.Is(err, ErrBadValidity) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ParseValidity(%q) = %v, %v; want ErrBadValidity saying %q", c.in, got, err, c.says)
		}
	}
}

func TestCRLValidityWarning(t *testing.T) {
	for d, warn := range map[time.Duration]bool{
		7 * 24 * time.Hour: false, 24 * time.Hour: false, 365 * 24 * time.Hour: true, time.Minute: true,
	} {
		if got := CRLValidityWarning(d) != ""; got != warn {
			t.Errorf("CRLValidityWarning(%v) warns = %v, want %v", d, got, warn)
		}
	}
}
