// Package ca is scca's certificate authority: it creates a root (and
// optionally an intermediate) CA, generates and stores keys, issues server and
// client certificates from fixed profiles, signs CSRs, and verifies leaves
// against the CA. Every certificate it hands out has first been committed to
// the inventory through a Recorder.
//
// It never reads flags or environment, never prints and never exits; the
// passphrase for an encrypted CA key comes through a callback.
package ca
