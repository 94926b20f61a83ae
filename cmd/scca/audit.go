package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
)

func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the tamper-evident audit trail, or verify its hash chain",
		Long: `Every issuance and revocation appends an entry to the audit trail in the same
transaction as the change itself. Each entry carries the SHA-256 hash of the
one before, so editing or deleting an entry breaks the chain: --verify checks
the whole chain and exits non-zero naming the first entry that does not fit.`,
		Example: `  scca audit
  scca audit --verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if e.v.GetBool("verify") {
				n, err := st.VerifyAudit(cmd.Context())
				if err != nil {
					return err
				}
				e.printf("audit trail OK: %d entries, hash chain intact\n", n)
				return nil
			}
			tw := newAuditTable(e)
			if err := st.Audit(cmd.Context(), tw.add); err != nil {
				return err
			}
			return tw.render()
		},
	}
	cmd.Flags().Bool("verify", false, "verify the hash chain instead of listing")
	return cmd
}

type auditTable struct {
	e    *env
	rows [][]string
}

func newAuditTable(e *env) *auditTable { return &auditTable{e: e} }

func (t *auditTable) add(a certstore.AuditEntry) error {
	details := a.Details
	if r := []rune(details); len(r) > 60 {
		details = string(r[:59]) + "…"
	}
	t.rows = append(t.rows, []string{itoa(a.ID), a.At.UTC().Format(time.DateTime), a.Actor, a.Action, a.Serial, details, a.Hash[:16]})
	return nil
}

func (t *auditTable) render() error {
	return renderTable(t.e.stdout, []string{"id", "time utc", "actor", "action", "serial", "details", "hash"}, t.rows)
}
