// Package revocation answers "is this certificate good right now, and if not,
// why?" and publishes the data that lets others answer it: RFC 5280 CRLs
// generated from the inventory, an RFC 6960 OCSP responder, and the small HTTP
// server that serves both.
//
// Every Checker fails closed: a certificate that the source does not know, or
// a source that cannot be reached, parsed or trusted right now, is "not good",
// with an error that says which. The package reads the inventory only through
// small interfaces declared here; it never prints, exits or reads flags.
package revocation
