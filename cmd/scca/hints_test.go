package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
)

// The libraries say what went wrong; the advice (a command to run, a flag
// to pass) is the CLI's, printed as `scca: hint:`.
func TestHintsOwnTheAdvice(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want []string // in the hint
	}{
		{"group-writable CA dir", fmt.Errorf("load CA: %w", &ca.DirPermissionError{Dir: "/srv/ca", Mode: 0o775, Owner: -1}),
			[]string{"`chmod go-w /srv/ca`"}},
		{"CA dir of another user", &ca.DirPermissionError{Dir: "/srv/ca", Mode: 0o700, Owner: 65534, You: 1000},
			[]string{"`sudo chown -R 1000 /srv/ca`"}},
		{"server without host name", fmt.Errorf("issue: %w (CN %q is neither)", ca.ErrNoHostName, "My Server"),
			[]string{"--dns NAME", "--ip ADDR"}},
		{"empty PKCS#12 password", ca.ErrNoPKCS12Password, []string{"SCCA_P12_PASSWORD"}},
		{"audit key missing", fmt.Errorf("append audit entry: %w", certstore.ErrAuditKeyNotLoaded),
			[]string{certstore.AuditKeyFile, "--certs-dir"}},
		{"audit key readable by others", certstore.ErrAuditKeyPermissions, []string{"chmod 600"}},
		{"CA key readable by others", ca.ErrKeyPermissions, []string{"chmod 600"}},
		{"no inventory", errNoInventory, []string{"`scca init`"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hintFor(tc.err)
			for _, w := range tc.want {
				if !strings.Contains(h, w) {
					t.Errorf("hint for %v = %q, want it to contain %q", tc.err, h, w)
				}
			}
		})
	}
	if h := hintFor(errors.New("something else")); h != "" {
		t.Errorf("hint for an unknown error: %q", h)
	}
	// A DirPermissionError is also an ErrDirPermissions; a plain
	// ErrDirPermissions has no directory to name, so no command.
	if h := hintFor(ca.ErrDirPermissions); h != "" {
		t.Errorf("hint for a bare ErrDirPermissions: %q", h)
	}
}

// The errors the hints replace no longer carry CLI advice themselves.
func TestLibraryErrorsCarryNoAdvice(t *testing.T) {
	for _, err := range []error{
		&ca.DirPermissionError{Dir: "/srv/ca", Mode: 0o775, Owner: -1},
		&ca.DirPermissionError{Dir: "/srv/ca", Owner: 65534, You: 1000},
		ca.ErrNoHostName, ca.ErrNoPKCS12Password, certstore.ErrAuditKeyNotLoaded,
	} {
		msg := err.Error()
		for _, advice := range []string{"run", "chmod", "chown", "--", "scca ", "add ", "give ", "check "} {
			if strings.Contains(msg, advice) {
				t.Errorf("library error %q carries advice (%q)", msg, advice)
			}
		}
	}
	for _, h := range hints {
		if h.err == nil || h.hint == "" {
			t.Errorf("hint table entry %+v is incomplete", h)
		}
	}
}
