package certstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLockCRLExcludesOtherHosts: on MySQL a second store (another host, in
// effect) cannot take an issuer's CRL lock while the first holds it, gets it
// once released, and a lock on another issuer is independent.
func TestLockCRLExcludesOtherHosts(t *testing.T) {
	for _, be := range []backend{mysqlBackend(), postgresBackend()} {
		t.Run(be.name, func(t *testing.T) { testLockCRLExcludesOtherHosts(t, be) })
	}
}

func testLockCRLExcludesOtherHosts(t *testing.T, be backend) {
	url := be.newURL(t)
	a, b := openAt(t, url, nil), openAt(t, url, nil)
	ctx := context.Background()
	unlock, err := a.LockCRL(ctx, "ab12")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := b.LockCRL(short, "ab12"); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second LockCRL while held = %v, want ErrLockTimeout", err)
	}
	other, err := b.LockCRL(ctx, "cd34")
	if err != nil {
		t.Fatalf("lock on another issuer: %v", err)
	}
	other()
	unlock()
	again, err := b.LockCRL(ctx, "ab12")
	if err != nil {
		t.Fatalf("LockCRL after release: %v", err)
	}
	again()
}

func TestLastCRLNumberAndLockName(t *testing.T) {
	for _, be := range []backend{sqliteBackend(), mysqlBackend()} {
		t.Run(be.name, func(t *testing.T) {
			s := openAt(t, be.newURL(t), nil)
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if n, err := s.LastCRLNumber(ctx, "ab12"); err != nil || n != 0 {
				t.Fatalf("LastCRLNumber before any = %d, %v", n, err)
			}
			for range 3 {
				if _, err := s.NextCRLNumber(ctx, "ab12"); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.LastCRLNumber(ctx, "ab12"); err != nil || n != 3 {
				t.Fatalf("LastCRLNumber = %d, %v; want 3", n, err)
			}
			unlock, err := s.LockCRL(ctx, "ab12")
			if err != nil {
				t.Fatal(err)
			}
			unlock()
		})
	}
	if n := crlLockName(strings.Repeat("a", 64)); len(n) > 64 {
		t.Errorf("lock name %q longer than MySQL's 64 characters", n)
	}
}
