// Package enroll is scca's online CA: one-time enrollment tokens, an HTTPS
// API (POST /v1/sign with a token and a CSR, POST /v1/renew authenticated
// by the current certificate, GET /v1/roots, /health, /metrics), and the
// client side that generates a key where it will be used, enrolls, writes
// the certificate files atomically and renews them on a schedule.
//
// The profiles of package ca decide every extension; the inventory records
// each certificate in one transaction with the token or the previous
// certificate that authorised it. The package never reads flags or the
// environment, never prints and never exits.
package enroll
