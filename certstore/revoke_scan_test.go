package certstore

import (
	"testing"
	"time"
)

func TestParseTimeLayout(t *testing.T) {
	want := time.Date(2026, 2, 28, 23, 59, 58, 123456000, time.UTC)
	for _, in := range []any{"2026-02-28 23:59:58.123456", []byte("2026-02-28 23:59:58.123456")} {
		var got time.Time
		if err := (&revokedTime{t: &got}).Scan(in); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Scan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "2026-02-30 00:00:00.000000", "2026-13-01 00:00:00.000000",
		"2026-01-01 24:00:00.000000", "2026-01-01 00:60:00.000000", "2026-01-01 00:00:60.000000",
		"2026-01-01T00:00:00.000000", "2026-01-01 00:00:00.00000x", "+026-01-01 00:00:00.000000"} {
		if _, ok := parseTimeLayout(bad); ok {
			t.Errorf("parseTimeLayout(%q) accepted", bad)
		}
	}
	// Other layouts still go through scanTime.
	var got time.Time
	if err := (&revokedTime{t: &got}).Scan("2026-02-28 23:59:58"); err != nil || !got.Equal(want.Truncate(time.Second)) {
		t.Errorf("Scan(short layout) = %v, %v", got, err)
	}
	if err := (&revokedTime{t: &got}).Scan("yesterday"); err == nil {
		t.Error("Scan(\"yesterday\") succeeded")
	}
}

func TestNullReasonScan(t *testing.T) {
	for _, c := range []struct {
		in   any
		want int
	}{{nil, 0}, {int64(4), 4}, {[]byte("9"), 9}, {"1", 1}} {
		n := nullReason{code: 77}
		if err := n.Scan(c.in); err != nil || n.code != c.want {
			t.Errorf("Scan(%v) = %d, %v; want %d", c.in, n.code, err, c.want)
		}
	}
	if err := (&nullReason{}).Scan("x"); err == nil {
		t.Error("Scan(\"x\") succeeded")
	}
}
