// Package certstore is the certificate inventory: every certificate scca
// issues is recorded here, in MySQL/MariaDB (production) or an embedded
// SQLite file (the default, so a new user needs nothing installed).
//
// Because the chat server shares the inventory's database, the package also
// keeps the chat's durable per-recipient message queue (Enqueue, Pending,
// AckDelivered) and a feed of revocations read from the audit log
// (RevocationsSince), so any process's revocation reaches live sessions.
//
// It owns the SQL and the schema version check; it knows nothing about how
// certificates are made or checked, and it never prints or exits.
package certstore
