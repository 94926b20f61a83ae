package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdSetStdout sets VAR to the previous command's stdout, trimmed.
func cmdSetStdout(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: setstdout VAR")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

// cmdRootFingerprint sets VAR to the hex SHA-256 of the DER of the first
// certificate in a PEM file, computed here independently of scca.
func cmdRootFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rootfp VAR FILE")
	}
	block, _ := pem.Decode([]byte(ts.ReadFile(args[1])))
	if block == nil {
		ts.Fatalf("%s: no PEM block", args[1])
	}
	sum := sha256.Sum256(block.Bytes)
	ts.Setenv(args[0], hex.EncodeToString(sum[:]))
}
