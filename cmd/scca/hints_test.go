package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/viper"

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
			[]string{"`chmod -R go-w /srv/ca`"}},
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
		{"chat server without its certificate", &noServerCertError{cn: "server", err: fmt.Errorf("%w for %q", errNoIdentity, "server")},
			[]string{"`scca issue server --cn server --dns HOST --ip ADDR`", "--dns localhost --ip 127.0.0.1"}},
		{"chat client without its certificate", fmt.Errorf("%w for %q", errNoIdentity, "bob"), []string{"`scca issue client --cn NAME`"}},
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

// A permission error of the database server is said in plain words, with
// a hint naming the README section of that server's grants; a refused
// login is not one (it has its own message and hint).
func TestExplainPrivilege(t *testing.T) {
	e := &env{v: viper.New()}
	for _, tc := range []struct {
		name    string
		err     error
		section string // "" = not a privilege error
	}{
		{"MySQL table", &gomysql.MySQLError{Number: 1142, Message: "INSERT command denied to user 'scuser'@'localhost' for table `securechat`.`enroll_tokens`"}, "MySQL / MariaDB"},
		{"MySQL column", &gomysql.MySQLError{Number: 1143, Message: "SELECT command denied to user 'scuser'@'localhost' for column 'seal' in table 'audit_log'"}, "MySQL / MariaDB"},
		{"PostgreSQL", &pgconn.PgError{Code: "42501", Message: "permission denied for table enroll_tokens"}, "PostgreSQL"},
		{"MySQL login refused", &gomysql.MySQLError{Number: 1045, Message: "Access denied for user 'scuser'@'localhost'"}, ""},
		{"PostgreSQL unique violation", &pgconn.PgError{Code: "23505"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.explain(fmt.Errorf("create enrollment token for %q: %w", "tok", tc.err))
			if got := errors.Is(err, errNoPrivilege); got != (tc.section != "") {
				t.Fatalf("explain(%v) = %v: errors.Is(errNoPrivilege) = %v", tc.err, err, got)
			}
			if tc.section == "" {
				return
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("explain lost the driver's error: %v", err)
			}
			if h := hintFor(err); !strings.Contains(h, fmt.Sprintf("%q section", tc.section)) || !strings.Contains(h, "scca db migrate") {
				t.Errorf("hint = %q, want the README's %q section and the migrations user", h, tc.section)
			}
		})
	}
}

// A file operation the system refused says whether this user may not read
// the directory, create files in it, or use the file, and whether that is
// the certs dir; EROFS says read-only file system.
func TestExplainFileAccess(t *testing.T) {
	certs := t.TempDir()
	other := t.TempDir()
	existing := filepath.Join(certs, "audit_key.pub.pem")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{v: viper.New()}
	e.v.Set("certs-dir", certs)
	refused := func(op, path string, errno error) error {
		return fmt.Errorf("stage: %w", &fs.PathError{Op: op, Path: path, Err: errno})
	}
	for _, tc := range []struct {
		name       string
		err        error
		what, hint string
	}{
		{"create in the certs dir", refused("open", filepath.Join(certs, ".crl.der.tmp-1"), syscall.EACCES),
			"may not create files in the certs dir " + certs, "`chmod 700 " + certs + "`"},
		{"create elsewhere", refused("open", filepath.Join(other, "bob.p12"), syscall.EACCES),
			"may not create files in the directory " + other, "`ls -ld " + other + "`"},
		{"the file itself", refused("open", existing, syscall.EPERM),
			"may not open " + existing, "`ls -l " + existing + "`"},
		{"read-only mount", refused("open", filepath.Join(certs, ".crl.der.tmp-1"), syscall.EROFS),
			"the certs dir " + certs + " is on a read-only file system", "remount it read-write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.explain(tc.err)
			var fe *fileAccessError
			if !errors.As(err, &fe) || !errors.Is(err, tc.err) {
				t.Fatalf("explain(%v) = %v, want a fileAccessError wrapping it", tc.err, err)
			}
			if !strings.HasPrefix(err.Error(), "this user") && !strings.HasPrefix(err.Error(), "the certs dir") || !strings.Contains(err.Error(), tc.what) {
				t.Errorf("message = %q, want it to begin by saying %q", err, tc.what)
			}
			if h := hintFor(err); !strings.Contains(h, tc.hint) {
				t.Errorf("hint = %q, want it to contain %q", h, tc.hint)
			}
		})
	}

	// A directory this user may not search hides its files: the message
	// says so. Root may search any directory, so only another user sees it.
	t.Run("unreadable certs dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may search a mode 000 directory; the readonly_writes script covers this as another user")
		}
		if err := os.Chmod(certs, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(certs, 0o700) })
		_, err := os.ReadFile(existing)
		if h, want := e.explain(err).Error(), "may not read the certs dir "+certs; !strings.Contains(h, want) {
			t.Errorf("message = %q, want it to contain %q", h, want)
		}
	})
}

// Errors are printed inert (no terminal control takes effect), but the line
// breaks and tabs libraries format messages with are shown as such, every
// further line indented so that none can pose as one of scca's own.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"one line", `no certificate for "bob"`, `no certificate for "bob"`},
		{"cobra's suggestion", "unknown command \"isue\" for \"scca\"\n\nDid you mean this?\n\tissue\n",
			"unknown command \"isue\" for \"scca\"\n  Did you mean this?\n    issue"},
		{"pgx's addresses", "failed to connect to `user=u database=x`:\n\t127.0.0.1:5433 (127.0.0.1): dial error\n\t127.0.0.1:5433 (127.0.0.1): dial error",
			"failed to connect to `user=u database=x`:\n    127.0.0.1:5433 (127.0.0.1): dial error\n    127.0.0.1:5433 (127.0.0.1): dial error"},
		{"CRLF", "first\r\nsecond", "first\n  second"},
		{"a forged line stays indented", "bad name: x\nscca: hint: run rm -rf ~", "bad name: x\n  scca: hint: run rm -rf ~"},
		{"carriage return", "ok\rscca: hint: evil", `ok\rscca: hint: evil`},
		{"escape sequences", "name \x1b[2Jcleared \u202eevil", `name \x1b[2Jcleared \u202eevil`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.msg); got != tc.want {
				t.Errorf("printable(%q) =\n%q\nwant\n%q", tc.msg, got, tc.want)
			}
		})
	}
}
