// Package confusables computes the Unicode UTS #39 confusable skeleton of a
// string, exactly as github.com/mtibben/confusables does (its test checks
// that), with the mapping held as a sorted array generated from that
// package's table (gen.go). The upstream package builds a map of ~6,000
// entries in a package initializer, which every scca process paid at start
// whether or not it compared identities; this table is static data, looked
// up by binary search.
package confusables

import (
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

//go:generate go run gen.go

// entry maps one source character to its prototype string.
type entry struct {
	r rune
	s string
}

// Skeleton converts s to its skeleton (UTS #39 §4): NFD, each character
// mapped to its prototype, NFD again. Two strings with the same skeleton are
// confusable.
func Skeleton(s string) string {
	return norm.NFD.String(mapRunes(norm.NFD.String(s)))
}

func mapRunes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if p, ok := prototype(r); ok {
			b.WriteString(p)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// prototype returns the string r maps to, if it is a confusable source.
func prototype(r rune) (string, bool) {
	i := sort.Search(len(table), func(i int) bool { return table[i].r >= r })
	if i < len(table) && table[i].r == r {
		return table[i].s, true
	}
	return "", false
}
