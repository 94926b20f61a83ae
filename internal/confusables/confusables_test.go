package confusables

import (
	"testing"
	"unicode/utf8"

	upstream "github.com/mtibben/confusables"
)

// TestMatchesUpstream: for each confusable source and its neighbours, every
// character below U+0800, a sample of the rest, and mixed strings,
// Skeleton is what github.com/mtibben/confusables computes.
func TestMatchesUpstream(t *testing.T) {
	var runes []rune
	for _, e := range table {
		runes = append(runes, e.r-1, e.r, e.r+1)
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r < 0x800 || r%97 == 0 {
			runes = append(runes, r)
		}
	}
	for _, r := range runes {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		if got, want := Skeleton(s), upstream.Skeleton(s); got != want {
			t.Fatalf("Skeleton(%U) = %+q, upstream %+q", r, got, want)
		}
	}
	for _, s := range []string{"paypal", "pаypal", "ℌello wørld", "bob", "b0b", "ᏴᎾᏴ", "rn", "m", "ｆｕｌｌｗｉｄｔｈ", ""} {
		if got, want := Skeleton(s), upstream.Skeleton(s); got != want {
			t.Errorf("Skeleton(%q) = %+q, upstream %+q", s, got, want)
		}
	}
	if Skeleton("pаypal") != Skeleton("paypal") {
		t.Error("a Cyrillic а is not confusable with a Latin a")
	}
}

func TestTableIsSorted(t *testing.T) {
	for i := 1; i < len(table); i++ {
		if table[i-1].r >= table[i].r {
			t.Fatalf("table[%d] = %U after %U", i, table[i].r, table[i-1].r)
		}
	}
}
