package ca

import "testing"

func TestChainPath(t *testing.T) {
	for in, want := range map[string]string{
		"certs/alice_cert.pem": "certs/alice_chain.pem",
		"bob_cert.pem":         "bob_chain.pem",
		"out/server.pem":       "out/server_chain.pem",
		"x.crt":                "x_chain.pem",
	} {
		if got := ChainPath(in); got != want {
			t.Errorf("ChainPath(%q) = %q, want %q", in, got, want)
		}
	}
}
