// Package migrations holds the versioned SQL schema of the certificate
// inventory, one directory per SQL dialect, embedded in the binary.
//
// Files are in goose's SQL format (`-- +goose Up` / `-- +goose Down`) and are
// applied by package certstore through a goose Provider; this package only
// ships the files and must not open databases or hold any state.
//
// Rules for new migrations: never edit a released file, add the next number
// (00002_....sql) for both dialects in the same change, keep the two schemas
// meaning the same thing, and keep MySQL strict-mode clean (no zero dates).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

// Dialects with a migration directory.
const (
	MySQL  = "mysql"
	SQLite = "sqlite"
)

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migration files of dialect ("mysql" or "sqlite") as a flat
// file system, ready for goose.NewProvider.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case MySQL, SQLite:
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("no migrations for SQL dialect %q (want %q or %q)", dialect, MySQL, SQLite)
	}
}
