package main

import (
	"crypto/x509"
	"math/big"
	"testing"
)

// Serials print in whole octets, as openssl shows them: a serial whose hex
// has an odd number of digits gets its leading zero back, wherever scca
// prints a certificate's serial (init, issue, verify, enroll, OCSP renewal).
func TestCertSerialWholeOctets(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0x0abc, "0abc"},
		{0x0a, "0a"},
		{0xabcd, "abcd"},
		{0x1, "01"},
		{0x7f00, "7f00"},
	} {
		c := &x509.Certificate{SerialNumber: big.NewInt(tc.n)}
		if got := certSerial(c); got != tc.want {
			t.Errorf("certSerial(%#x) = %q, want %q", tc.n, got, tc.want)
		}
	}
	long, _ := new(big.Int).SetString("0e2f4c19d1b9b0f1a2c3d4e5f6a7b8c9", 16)
	if got := certSerial(&x509.Certificate{SerialNumber: long}); got != "0e2f4c19d1b9b0f1a2c3d4e5f6a7b8c9" {
		t.Errorf("128-bit serial with a leading zero nibble: %q", got)
	}
}
