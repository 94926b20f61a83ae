package chat

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text a peer controls — message bodies, names, rejection reasons — ends up
// on terminals: the server's console, other users' screens, the client's
// stderr. A terminal interprets some characters instead of showing them: a
// newline or carriage return starts what looks like a fresh line with
// another sender's prefix, ESC and CSI (C1 U+009B) sequences move the cursor
// or erase lines, bidi overrides (U+202E) reorder what follows. EscapeLine
// and EscapeMessage make such text inert (docs/PROTOCOL.md §11.1); the
// command-line tools pass every peer-controlled string through one of them.

// ContinuationPrefix starts every line of a multi-line message after the
// first (EscapeMessage), so that no line of a message can begin where the
// terminal shows a prefix such as "[Server] ..." or "[dm] alice:".
const ContinuationPrefix = "  | "

// EscapeLine returns s as one inert line: C0 controls (including line feed,
// carriage return, tab and ESC), DEL, C1 controls, Unicode format characters
// (category Cf: bidi embeddings and overrides, zero-width characters, tag
// characters), line and paragraph separators, and bytes that are not UTF-8
// are replaced by visible Go-style escapes (\n, \x1b, \u202e, \U000e0001,
// \xff). Everything else, letters and symbols of any script included, is
// kept. Text without such characters is returned unchanged.
func EscapeLine(s string) string {
	i := firstUnsafe(s, false)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	appendEscaped(&b, s[i:], false)
	return b.String()
}

// EscapeMessage returns a message body for display after a prefix: like
// EscapeLine, except that line feeds are kept as line breaks and every line
// after the first starts with ContinuationPrefix. A carriage return is
// escaped (it would rewind to the prefix's column).
func EscapeMessage(s string) string {
	i := firstUnsafe(s, true)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	appendEscaped(&b, s[i:], true)
	return b.String()
}

// firstUnsafe is the byte offset of the first character EscapeLine (or,
// with lines, EscapeMessage) would change, or -1.
func firstUnsafe(s string, lines bool) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
		if unsafeRune(r) || (lines && r == '\n') {
			return i
		}
	}
	return -1
}

// unsafeRune reports characters a terminal may act on rather than show.
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

func appendEscaped(b *strings.Builder, s string, lines bool) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(b, `\x%02x`, s[0])
		case r == '\n' && lines:
			b.WriteString("\n" + ContinuationPrefix)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff && unsafeRune(r):
			fmt.Fprintf(b, `\u%04x`, r)
		case unsafeRune(r):
			fmt.Fprintf(b, `\U%08x`, r)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

// validName checks a room name or recipient CN (§12.1): 1-64 bytes of
// valid UTF-8, every character printable by Unicode category — a letter,
// mark, number, punctuation or symbol, or the ASCII space — the same rule
// the CA applies to a common name. So control (Cc), format (Cf, e.g. bidi
// overrides), separator other than U+0020, private-use and unassigned
// characters are refused.
func validName(kind, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%s must be 1 to %d bytes", kind, maxNameLen)
	}
	return printableName(kind, s)
}

// printableName is validName's character rule.
func printableName(kind, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not UTF-8", kind)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s contains the non-printable character %U", kind, r)
		}
	}
	return nil
}
