package revocation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetchRefusesOversizedAndNon200 pins the bounds both checkers rely on:
// a body over the limit and a non-200 answer are errors, a body at the limit
// is not.
func TestFetchRefusesOversizedAndNon200(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/exact":
			w.Write([]byte(strings.Repeat("a", 100)))
		case "/big":
			w.Write([]byte(strings.Repeat("a", 101)))
		default:
			http.Error(w, "gone", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	get := func(path string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		return fetch(nil, 0, req, "thing", 100)
	}
	if b, err := get("/exact"); err != nil || len(b) != 100 {
		t.Fatalf("body at the limit: %d bytes, %v", len(b), err)
	}
	if _, err := get("/big"); !errors.Is(err, errTooLarge) {
		t.Fatalf("oversized body: %v, want refusal", err)
	}
	if _, err := get("/missing"); err == nil {
		t.Fatal("404 accepted")
	}
}

// TestOCSPCheckerRefusesOversizedResponse: a responder answering with more
// than maxOCSPResponseSize bytes makes the check fail closed.
func TestOCSPCheckerRefusesOversizedResponse(t *testing.T) {
	root := newRootCA(t, "", "root", nil)
	leaf := root.leaf(t, "", "leaf")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(make([]byte, maxOCSPResponseSize+1))
	}))
	t.Cleanup(srv.Close)
	c := &OCSPChecker{URL: srv.URL, Issuer: root.cert}
	err := c.Check(context.Background(), leaf.cert)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errTooLarge) {
		t.Fatalf("oversized OCSP response: %v, want ErrUnavailable naming the size", err)
	}
}
