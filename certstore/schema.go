package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/securechat/scca/migrations"
)

// gooseTable is goose's default version table, so the goose CLI can inspect
// an scca database too.
const gooseTable = goose.DefaultTablename

const (
	selectAppliedVersions = "SELECT version_id, tstamp FROM " + gooseTable +
		" WHERE is_applied AND version_id > 0 ORDER BY version_id"
	tableExistsSQLite = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	tableExistsMySQL  = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"

	// MySQL's named locks are server-wide, so the name includes the
	// database; GET_LOCK names are limited to 64 characters.
	migrationLockName = "LEFT(CONCAT('scca_migrate.', DATABASE()), 64)"
	getMigrationLock  = "SELECT GET_LOCK(" + migrationLockName + ", ?)"
	releaseMigration  = "SELECT RELEASE_LOCK(" + migrationLockName + ")"
)

// migrationLockWait is how long Migrate waits for another process's Migrate.
const migrationLockWait = 60 // seconds

// SchemaStatus describes the database schema against this binary's migrations.
type SchemaStatus struct {
	Current int64           // highest applied version, 0 if never migrated
	Latest  int64           // highest version this binary ships
	Applied []MigrationInfo // every migration this binary knows, in order
}

// MigrationInfo is one migration; AppliedAt is nil while it is pending.
type MigrationInfo struct {
	Version   int64
	Name      string
	AppliedAt *time.Time
}

// Migrate brings the schema up to this binary's latest version. It is
// idempotent; on MySQL concurrent callers are serialised by a named lock.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s inventory: %w", s.d.name, err)
	}
	return nil
}

// SchemaStatus reports applied and pending migrations without changing the
// database (it does not create goose's version table).
func (s *Store) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	p, err := s.provider()
	if err != nil {
		return SchemaStatus{}, err
	}
	applied, err := s.appliedVersions(ctx)
	if err != nil {
		return SchemaStatus{}, err
	}
	var st SchemaStatus
	for _, src := range p.ListSources() {
		mi := MigrationInfo{Version: src.Version, Name: path.Base(src.Path)}
		if at, ok := applied[src.Version]; ok {
			mi.AppliedAt = &at
		}
		st.Applied = append(st.Applied, mi)
		st.Latest = max(st.Latest, src.Version)
	}
	for v := range applied {
		st.Current = max(st.Current, v)
	}
	return st, nil
}

// CheckSchema returns an error wrapping ErrSchemaVersion unless the database
// is at exactly the version this binary was built for.
func (s *Store) CheckSchema(ctx context.Context) error {
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Current == st.Latest:
		return nil
	case st.Current < st.Latest:
		return fmt.Errorf("%w: at version %d, binary needs %d; run `scca db migrate`", ErrSchemaVersion, st.Current, st.Latest)
	default:
		return fmt.Errorf("%w: at version %d, binary needs %d; the database was migrated by a newer scca", ErrSchemaVersion, st.Current, st.Latest)
	}
}

// appliedVersions reads goose's version table, if it exists.
func (s *Store) appliedVersions(ctx context.Context) (map[int64]time.Time, error) {
	q := tableExistsSQLite
	if s.d.name == DriverMySQL {
		q = tableExistsMySQL
	}
	var n int
	if err := s.db.QueryRowContext(ctx, q, gooseTable).Scan(&n); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	out := map[int64]time.Time{}
	if n == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, selectAppliedVersions)
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		var at time.Time
		if err := rows.Scan(&v, &scanTime{t: &at}); err != nil {
			return nil, fmt.Errorf("read schema version: %w", err)
		}
		out[v] = at
	}
	return out, rows.Err()
}

// provider builds a goose Provider for this store: no global goose state,
// no logging, and on MySQL a session lock against concurrent migrations.
func (s *Store) provider() (*goose.Provider, error) {
	fsys, err := migrations.FS(s.d.name)
	if err != nil {
		return nil, err
	}
	gd := goose.DialectSQLite3
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(silentLogger{}),
	}
	if s.d.name == DriverMySQL {
		gd = goose.DialectMySQL
		opts = append(opts, goose.WithSessionLocker(mysqlMigrationLock{}))
	}
	p, err := goose.NewProvider(gd, s.db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", s.d.name, err)
	}
	return p, nil
}

// mysqlMigrationLock serialises Migrate across processes with GET_LOCK,
// held by the connection goose runs the migrations on.
type mysqlMigrationLock struct{}

func (mysqlMigrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, getMigrationLock, migrationLockWait).Scan(&got); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("take migration lock: another process has been migrating this database for over a minute")
	}
	return nil
}

func (mysqlMigrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, releaseMigration).Scan(&released); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}

// silentLogger keeps goose quiet: a library must not print.
type silentLogger struct{}

func (silentLogger) Printf(string, ...any) {}
func (silentLogger) Fatalf(string, ...any) {} // the Provider API reports errors instead
