package sqldriver

import "testing"

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1": "SELECT 1",
		"SELECT a FROM t WHERE b = ? AND c IN (?, ?)": "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)",
		"SELECT '?', \"a?\" FROM t WHERE x = ?":       "SELECT '?', \"a?\" FROM t WHERE x = $1",
		"SELECT 'it''s ?' WHERE y LIKE ? ESCAPE '!'":  "SELECT 'it''s ?' WHERE y LIKE $1 ESCAPE '!'",
		"SELECT ? -- is it?\nFROM t WHERE z = ?":      "SELECT $1 -- is it?\nFROM t WHERE z = $2",
		"SELECT x FROM t WHERE a = $1":                "SELECT x FROM t WHERE a = $1",
	} {
		if got := Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
	}
}
