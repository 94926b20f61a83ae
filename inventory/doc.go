// Package inventory holds the certificate inventory's record types and the
// sentinel errors callers branch on, apart from any database: the records a
// CA writes (Record, Revocation), what a CRL or a revocation watcher reads
// (RevokedEntry, RevocationEvent), the chat's queued messages
// (QueuedMessage), and RFC 5280 reason codes and serial notation.
//
// Packages that only use an inventory (ca, chat, revocation) import this one
// and declare the small interfaces they need; the SQL implementation lives
// in certstore. This package must import no SQL driver, no migration tool
// and no database/sql: it is plain data and rules about that data.
package inventory
