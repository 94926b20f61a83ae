package certstore

import (
	"context"
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
)

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
// idempotent; on MySQL and PostgreSQL concurrent callers are serialised by a
// named (advisory) lock. It first checks the audit anchor (CheckAnchor), and
// changes nothing when the anchor cannot be read or records entries the
// inventory does not hold: migrating an emptied or lost inventory would make
// it look like a new one.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.CheckAnchor(ctx); err != nil {
		return err
	}
	p, err := s.provider()
	if err != nil {
		return err
	}
	// The migrations commit outside tryTx: the WAL's name is made
	// durable before them (walName).
	if err := s.ensureWALName(ctx); err != nil {
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
// is at exactly the version this binary was built for. A database never
// migrated beside an audit anchor that records entries is not a new
// inventory but a lost one: that is an *AnchorError (CheckEmptyInventory),
// not a schema to migrate (Migrate refuses it).
func (s *Store) CheckSchema(ctx context.Context) error {
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if st.Current == 0 {
		if err := s.seal.CheckEmptyInventory(s.loc.Redacted); errors.Is(err, ErrAnchorMismatch) {
			return err
		}
	}
	switch {
	case st.Current == st.Latest:
		return nil
	case st.Current < st.Latest:
		return fmt.Errorf("%w: at version %d, binary needs %d", ErrSchemaVersion, st.Current, st.Latest)
	default:
		return fmt.Errorf("%w: at version %d, binary needs %d; the database was migrated by a newer scca", ErrSchemaVersion, st.Current, st.Latest)
	}
}

// appliedVersions reads goose's version table, if it exists.
func (s *Store) appliedVersions(ctx context.Context) (map[int64]time.Time, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.d.tableExists, gooseTable).Scan(&n); err != nil {
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
// no logging, and where the database needs one a session lock against
// concurrent migrations.
func (s *Store) provider() (*goose.Provider, error) {
	fsys, err := migrations.FS(s.d.name)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(silentLogger{}),
	}
	if s.d.migrationLock != nil {
		locker, err := s.d.migrationLock()
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose, s.db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", s.d.name, err)
	}
	return p, nil
}

// silentLogger keeps goose quiet: a library must not print.
type silentLogger struct{}

func (silentLogger) Printf(string, ...any) {}
func (silentLogger) Fatalf(string, ...any) {} // the Provider API reports errors instead
