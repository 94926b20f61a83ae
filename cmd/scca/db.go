package main

import (
	"github.com/spf13/cobra"
)

func newDBCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the inventory database schema",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (embedded in the binary)",
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
			if s.Current != s.Latest {
				e.printf("run `scca db migrate` to bring the schema up to date\n")
			}
			return nil
		},
	})
	return cmd
}
