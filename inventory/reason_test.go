package inventory

import "testing"

func TestNormalizeSerial(t *testing.T) {
	good := map[string]string{
		"0A:1b:FF":   "a1bff",
		"0x0a1b":     "a1b",
		"0X0A1B":     "a1b",
		"0a1b":       "a1b",
		"  7f  ":     "7f",
		"00":         "0",
		"0000000001": "1",
		"00" + "ffffffffffffffffffffffffffffffffffffffff": "ffffffffffffffffffffffffffffffffffffffff",
	}
	for in, want := range good {
		got, err := NormalizeSerial(in)
		if err != nil || got != want {
			t.Errorf("NormalizeSerial(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0x", ":", "xyz", "12g4", "-1", "1 2",
		"1ffffffffffffffffffffffffffffffffffffffff"} {
		if got, err := NormalizeSerial(in); err == nil {
			t.Errorf("NormalizeSerial(%q) = %q, want error", in, got)
		}
	}
}

func TestReasons(t *testing.T) {
	codes := map[string]int{
		"unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
		"superseded": 4, "cessationOfOperation": 5, "certificateHold": 6,
		"privilegeWithdrawn": 9, "aACompromise": 10,
	}
	for name, code := range codes {
		if got := ReasonName(code); got != name {
			t.Errorf("ReasonName(%d) = %q, want %q", code, got, name)
		}
		if got, err := ParseReason(name); err != nil || got != code {
			t.Errorf("ParseReason(%q) = %d, %v; want %d", name, got, err, code)
		}
	}
	if got, err := ParseReason("KEYCOMPROMISE"); err != nil || got != 1 {
		t.Errorf("ParseReason is case-sensitive: %d, %v", got, err)
	}
	if got, err := ParseReason("4"); err != nil || got != 4 {
		t.Errorf("ParseReason(\"4\") = %d, %v", got, err)
	}
	if ReasonName(8) != "removeFromCRL" || ReasonName(7) != "reason(7)" {
		t.Errorf("ReasonName(8), (7) = %q, %q", ReasonName(8), ReasonName(7))
	}
	for _, bad := range []string{"removeFromCRL", "8", "7", "11", "", "compromised"} {
		if got, err := ParseReason(bad); err == nil {
			t.Errorf("ParseReason(%q) = %d, want error", bad, got)
		}
	}
}
