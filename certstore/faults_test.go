package certstore

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/securechat/scca/internal/testdb"
)

// A statement on a connection that stops answering after it was opened
// fails within the timeout, as ErrTimeout, on every server database.
func TestStatementDeadlineOnBlackholedServer(t *testing.T) {
	for _, driver := range testdb.Servers {
		t.Run(driver, func(t *testing.T) {
			viaProxy, proxy := testdb.Proxied(t, testdb.Server(t, driver, "scca_stmt_deadline"))
			ctx := context.Background()
			st, err := Open(ctx, viaProxy, Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			proxy.Swallow()
			start := time.Now()
			_, err = st.FindByCN(ctx, "x")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s with a 1s timeout", took)
			}
			if !IsTimeout(err) {
				t.Errorf("err = %v, want a timeout", err)
			}
		})
	}
}

// Opening a MySQL inventory with a wrong password or an unknown database
// says what the server answered, not that it cannot be reached.
func TestOpenMySQLLoginFaults(t *testing.T) {
	admin := testdb.AdminDSN(t)
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bad := cfg.Clone()
	bad.DBName = "scca_no_such_db_e"
	_, err = Open(ctx, bad.FormatDSN(), Options{})
	if !errors.Is(err, ErrNoDatabase) || errors.Is(err, ErrUnreachable) {
		t.Errorf("unknown database: %v, want ErrNoDatabase only", err)
	}
	bad = cfg.Clone()
	bad.User, bad.Passwd, bad.DBName = "scca_nobody_e", "wrong-secret", "mysql"
	_, err = Open(ctx, bad.FormatDSN(), Options{})
	if !errors.Is(err, ErrAccessDenied) {
		t.Errorf("wrong password: %v, want ErrAccessDenied", err)
	}
	if err != nil && (strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "cannot reach")) {
		t.Errorf("error leaks the password or says unreachable: %v", err)
	}
}

// Opening a PostgreSQL inventory as an unknown role or naming an unknown
// database says what the server answered, not that it cannot be reached.
func TestOpenPostgresLoginFaults(t *testing.T) {
	admin, err := url.Parse(testdb.AdminPostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bad := *admin
	bad.Path = "/scca_no_such_db_e"
	_, err = Open(ctx, bad.String(), Options{})
	if !errors.Is(err, ErrNoDatabase) || errors.Is(err, ErrUnreachable) {
		t.Errorf("unknown database: %v, want ErrNoDatabase only", err)
	}
	bad = *admin
	bad.User = url.UserPassword("scca_nobody_e", "wrong-secret")
	_, err = Open(ctx, bad.String(), Options{})
	if !errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrUnreachable) {
		t.Errorf("unknown role: %v, want ErrAccessDenied only", err)
	}
	if err != nil && (strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "cannot reach")) {
		t.Errorf("error leaks the password or says unreachable: %v", err)
	}
	// A server that is not there is still "cannot reach".
	gone := *admin
	gone.Host = "127.0.0.1:1"
	_, err = Open(ctx, gone.String(), Options{})
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNoDatabase) {
		t.Errorf("no server: %v, want ErrUnreachable", err)
	}
}

// A full disk under the SQLite inventory is reported as such. The disk is
// a 1 MiB tmpfs (needs root; skipped elsewhere).
func TestSQLiteDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(mnt, "inv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Fill the rest of the disk.
	filler, _ := os.Create(filepath.Join(mnt, "filler"))
	buf := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()
	var lastErr error
	for i := 0; i < 200 && lastErr == nil; i++ {
		lastErr = st.Insert(ctx, testRecord(i, time.Now()))
	}
	if !errors.Is(lastErr, ErrDiskFull) {
		t.Errorf("insert on a full disk: %v, want ErrDiskFull", lastErr)
	}
}

// A read-only inventory (here: a read-only file) says so.
func TestSQLiteReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		mnt := t.TempDir()
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v)", err)
		}
		t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
		ctx := context.Background()
		path := filepath.Join(mnt, "inv.db")
		st, err := Open(ctx, "sqlite:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("cannot remount read-only (%v)", err)
		}
		st, err = Open(ctx, "sqlite:"+path, Options{})
		if err == nil {
			defer st.Close()
			err = st.Insert(ctx, testRecord(1, time.Now()))
		}
		if !errors.Is(err, ErrReadOnly) && !errors.Is(err, ErrCannotOpen) {
			t.Errorf("write on a read-only mount: %v, want ErrReadOnly", err)
		}
		return
	}
	t.Skip("needs root to mount a read-only tmpfs")
}
