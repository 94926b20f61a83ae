package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeIdentity is a certificate on "disk" that Renew replaces.
type fakeIdentity struct {
	mu      sync.Mutex
	cert    *x509.Certificate
	life    time.Duration
	renewed []time.Time
	fail    int // fail this many renewals first
}

func (f *fakeIdentity) current() (*x509.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cert, nil
}

func (f *fakeIdentity) renew(context.Context) (*x509.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("CA unreachable")
	}
	now := time.Now()
	f.renewed = append(f.renewed, now)
	f.cert = &x509.Certificate{SerialNumber: big.NewInt(int64(len(f.renewed))), NotBefore: now, NotAfter: now.Add(f.life)}
	return f.cert, nil
}

func TestRenewerRenewsAtTwoThirds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		id := &fakeIdentity{life: 90 * time.Hour}
		id.cert = &x509.Certificate{NotBefore: start, NotAfter: start.Add(90 * time.Hour)}
		var ran int
		r := &Renewer{Current: id.current, Renew: id.renew, Jitter: func() float64 { return 0 },
			OnRenew: func(*x509.Certificate) error { ran++; return nil }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(200 * time.Hour) // fake time: three renewals, at 60h, 120h and 180h
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{60 * time.Hour, 120 * time.Hour, 180 * time.Hour}
		if len(id.renewed) != len(want) || ran != len(want) {
			t.Fatalf("renewed at %v (OnRenew %d times), want at %v", id.renewed, ran, want)
		}
		for i, at := range id.renewed {
			if got := at.Sub(start); got != want[i] {
				t.Errorf("renewal %d at %s, want %s", i, got, want[i])
			}
		}
	})
}

func TestRenewerJitterIsEarlierNeverLater(t *testing.T) {
	now := time.Now()
	c := &x509.Certificate{NotBefore: now, NotAfter: now.Add(60 * time.Hour)}
	if at := RenewAt(c, 0.999); at.Before(now.Add(37*time.Hour)) || !at.Before(now.Add(40*time.Hour)) {
		t.Errorf("RenewAt with maximal jitter = +%s, want within (37h, 40h]", at.Sub(now))
	}
}

func TestRenewerBacksOffThenGivesUpAtExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		id := &fakeIdentity{life: 3 * time.Hour, fail: 3}
		id.cert = &x509.Certificate{NotBefore: start, NotAfter: start.Add(3 * time.Hour)}
		var errs []time.Duration
		r := &Renewer{Current: id.current, Renew: id.renew, Jitter: func() float64 { return 0 },
			OnError: func(error) { errs = append(errs, time.Since(start)) }}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(2*time.Hour + 8*time.Minute)
		synctest.Wait()
		// Failures at 2h, then +1m, +2m; success at +4m = 2h07m.
		want := []time.Duration{2 * time.Hour, 2*time.Hour + time.Minute, 2*time.Hour + 3*time.Minute}
		if len(errs) != 3 || errs[0] != want[0] || errs[1] != want[1] || errs[2] != want[2] {
			t.Fatalf("failures at %v, want %v", errs, want)
		}
		if len(id.renewed) != 1 || id.renewed[0].Sub(start) != 2*time.Hour+7*time.Minute {
			t.Fatalf("renewed at %v, want once at 2h07m", id.renewed)
		}
		cancel()
		<-done

		// A CA that never answers: the loop stops at expiry with ErrExpired.
		id2 := &fakeIdentity{life: time.Hour, fail: 1 << 30}
		now := time.Now()
		id2.cert = &x509.Certificate{NotBefore: now, NotAfter: now.Add(time.Hour)}
		r2 := &Renewer{Current: id2.current, Renew: id2.renew}
		if err := r2.Run(t.Context()); !errors.Is(err, ErrExpired) {
			t.Fatalf("got %v, want ErrExpired", err)
		}
	})
}
