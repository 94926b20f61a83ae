// Package certstore is the certificate inventory: every certificate scca
// issues is recorded here, in MySQL/MariaDB (production) or an embedded
// SQLite file (the default, so a new user needs nothing installed).
//
// It owns the SQL and the schema version check; it knows nothing about how
// certificates are made or checked, and it never prints or exits.
package certstore
