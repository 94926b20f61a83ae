package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
)

func newDBCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the inventory database: schema, backup",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (embedded in the binary)",
		Long: `Apply pending schema migrations (embedded in the binary). An inventory that
does not hold the audit entry audit_anchor.json records (emptied, lost,
rolled back or replaced) is refused and left as it is: it must be restored
from a backup, not made into a new one.`,
		Example: `  scca db migrate
  scca --db 'mysql://scuser:scpass@127.0.0.1:3306/securechat' db migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := e.openStoreNoCheck(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return err
			}
			s, err := st.SchemaStatus(cmd.Context())
			if err != nil {
				return err
			}
			e.statusf("%s: schema at version %d\n", st.Location().Redacted, s.Current)
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Show the schema version and applied migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := e.openStoreNoCheck(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.SchemaStatus(cmd.Context())
			if err != nil {
				return err
			}
			e.printf("database: %s (%s)\nschema:   version %d, binary supports %d\n", st.Location().Redacted, st.Dialect(), s.Current, s.Latest)
			for _, m := range s.Applied {
				state := "pending"
				if m.AppliedAt != nil {
					state = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05")
				}
				e.printf("  %05d %-30s %s\n", m.Version, m.Name, state)
			}
			// An inventory that lost what the audit anchor records is
			// restored, never migrated: say that rather than "migrate".
			if err := st.CheckAnchor(cmd.Context()); err != nil {
				return err
			}
			if s.Current != s.Latest {
				e.printf("run `scca db migrate` to bring the schema up to date\n")
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the embedded inventory to a new file",
		Long: `Write a consistent copy of the embedded (SQLite) inventory to FILE, a new
file (0600): one file holding every commit, including those still in the
WAL, which can be copied and opened alone (read-only media included).
Copying inventory.db and its -wal file by hand while commands run is not a
backup. For MySQL, MariaDB and PostgreSQL use their own dump tools.`,
		Example: `  scca db backup /srv/backup/inventory-$(date +%F).db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := e.openStoreForBackup(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Backup(cmd.Context(), args[0]); err != nil {
				return err
			}
			e.statusf("%s backed up to %s\n", st.Location().Redacted, args[0])
			return nil
		},
	})
	return cmd
}

// openStoreForBackup opens an SQLite inventory read-only for `db backup`:
// no schema check (a backup before `db migrate` after an upgrade is the
// point), no audit key (the copy needs none), nothing written to the
// inventory, so it works on a read-only mount too. A server inventory is
// refused before connecting.
func (e *env) openStoreForBackup(ctx context.Context) (*certstore.Store, error) {
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil {
		return nil, err
	}
	if loc.Driver != certstore.DriverSQLite {
		return nil, fmt.Errorf("%w (use mysqldump, mariadb-dump or pg_dump for %s)", certstore.ErrBackupUnsupported, loc.Redacted)
	}
	if err := e.inventoryExists(loc); err != nil {
		return nil, err
	}
	opts := e.storeOptions()
	opts.ReadOnly = true
	return certstore.Open(ctx, e.dbURL(), opts)
}
