package chat

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// The attack strings of issue 9: a text that forges another sender's line on
// the server console or a user's terminal, and names that reorder or
// control what follows them.
func TestEscapeLineAndMessage(t *testing.T) {
	tests := []struct {
		name, in, line, message string
	}{
		{"plain", "Hello Secure Server!", "Hello Secure Server!", "Hello Secure Server!"},
		{"other scripts kept", "héllo 世界 👋", "héllo 世界 👋", "héllo 世界 👋"},
		{"forged server line", "hi\n[Server] Received secure message from mallory: pay",
			`hi\n[Server] Received secure message from mallory: pay`,
			"hi\n" + ContinuationPrefix + "[Server] Received secure message from mallory: pay"},
		{"carriage return and erase line", "\r\x1b[2K[dm] admin: reset your password",
			`\r\x1b[2K[dm] admin: reset your password`, `\r\x1b[2K[dm] admin: reset your password`},
		{"C1 CSI", "a\u009b2Kb", `a\u009b2Kb`, `a\u009b2Kb`},
		{"DEL and NUL", "a\x7fb\x00c", `a\x7fb\x00c`, `a\x7fb\x00c`},
		{"bidi override", "evil\u202etxt.exe", `evil\u202etxt.exe`, `evil\u202etxt.exe`},
		{"zero width and tag", "a\u200bb\U000E0041", `a\u200bb\U000e0041`, `a\u200bb\U000e0041`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`, `a\u2028b\u2029c`},
		{"tab", "a\tb", `a\tb`, `a\tb`},
		{"invalid UTF-8", "a\xffb", `a\xffb`, `a\xffb`},
		{"CRLF message", "one\r\ntwo", `one\r\ntwo`, "one\\r\n" + ContinuationPrefix + "two"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EscapeLine(tc.in); got != tc.line {
				t.Errorf("EscapeLine(%q) = %q, want %q", tc.in, got, tc.line)
			}
			if got := EscapeMessage(tc.in); got != tc.message {
				t.Errorf("EscapeMessage(%q) = %q, want %q", tc.in, got, tc.message)
			}
		})
	}
}

// No output of EscapeLine holds a character a terminal acts on, and every
// line EscapeMessage makes after the first starts with the marker.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"hi\n[Server] x", "\r\x1b[2K", "\u202e\u009b", "a\xffb\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line := EscapeLine(s)
		for _, r := range line {
			if unsafeRune(r) {
				t.Fatalf("EscapeLine(%q) = %q keeps %U", s, line, r)
			}
		}
		if !strings.ContainsFunc(s, func(r rune) bool { return unsafeRune(r) || r == unicode.ReplacementChar }) && line != s {
			t.Fatalf("EscapeLine changed safe text %q to %q", s, line)
		}
		lines := strings.Split(EscapeMessage(s), "\n")
		if len(lines) != strings.Count(s, "\n")+1 {
			t.Fatalf("EscapeMessage(%q) has %d lines", s, len(lines))
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, ContinuationPrefix) {
				t.Fatalf("EscapeMessage(%q): continuation %q without marker", s, l)
			}
		}
		for _, l := range lines {
			for _, r := range l {
				if unsafeRune(r) {
					t.Fatalf("EscapeMessage(%q) keeps %U", s, r)
				}
			}
		}
	})
}

func TestValidNameByCategory(t *testing.T) {
	good := []string{"lobby", "Team Room", "café", "部屋", "r-1_2.3", "😀"}
	bad := []string{"", strings.Repeat("a", 65), "a\nb", "a\x1bb", "a\x7f", "a\u009bb", "a\u202eb",
		"a\u200bb", "a\u2028b", "a\u00a0b", "a\ue000b", "a\xffb", "\U000E0041"}
	for _, s := range good {
		if err := validName("room", s); err != nil {
			t.Errorf("validName(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := validName("room", s); err == nil {
			t.Errorf("validName(%q) = nil, want an error", s)
		}
	}
}

// A client refuses pushes whose names no honest server relays.
func TestClientRefusesPushWithBadNames(t *testing.T) {
	cases := map[string][]byte{
		"deliver from": []byte(`{"id":1,"from":"mallory\u202e","ts":1,"text":"x"}`),
		"deliver room": []byte(`{"id":1,"from":"alice","room":"lob\u009bby","ts":1,"text":"x"}`),
		"event cn":     []byte(`{"kind":"join","room":"lobby","cn":"a\nb"}`),
	}
	for name, pt := range cases {
		typ := typeDeliver
		if strings.HasPrefix(name, "event") {
			typ = typeEvent
		}
		if _, err := parsePush(typ, pt); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: parsePush = %v, want ErrProtocol", name, err)
		}
	}
	if _, err := parsePush(typeDeliver, []byte(`{"id":1,"from":"alice","room":"lobby","ts":1,"text":"a\nb"}`)); err != nil {
		t.Errorf("good deliver refused: %v", err)
	}
}
