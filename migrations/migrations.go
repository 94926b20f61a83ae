// Package migrations holds the versioned SQL schema of the certificate
// inventory, one directory per SQL dialect, embedded in the binary.
//
// Files are in goose's SQL format (`-- +goose Up` / `-- +goose Down`) and are
// applied by package certstore through a goose Provider; this package only
// ships the files and must not open databases or hold any state.
//
// Rules for new migrations: never edit a released file, add the next number
// (00002_....sql) for every dialect in the same change, keep the schemas
// meaning the same thing, and keep MySQL strict-mode clean (no zero dates).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

// Dialects with a migration directory.
const (
	MySQL    = "mysql"
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Dialects lists every dialect with a migration directory.
var Dialects = []string{MySQL, SQLite, Postgres}

//go:embed mysql/*.sql sqlite/*.sql postgres/*.sql
var files embed.FS

// FS returns the migration files of dialect (one of Dialects) as a flat
// file system, ready for goose.NewProvider.
func FS(dialect string) (fs.FS, error) {
	if !slices.Contains(Dialects, dialect) {
		return nil, fmt.Errorf("no migrations for SQL dialect %q (want one of %v)", dialect, Dialects)
	}
	return fs.Sub(files, dialect)
}
