package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
)

func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the tamper-evident audit trail, or verify its hash chain",
		Long: `Every issuance and revocation appends an entry to the audit trail in the same
transaction as the change itself. Each entry carries the SHA-256 hash of the
one before, and is signed with the audit key (audit_key.pem beside the CA
keys, never in the database); audit_anchor.json beside it records the newest
entry, and every command that writes refuses an inventory that no longer
holds it (emptied, deleted, restored from an older copy). --verify checks
every entry's hash, link and signature, that nothing lies past the head and
nothing was cut off before the anchor, and that the certificates table says
what the log says (status, revocation time and reason, fingerprint); it exits
non-zero naming the first discrepancy.

The table fits the terminal (or $COLUMNS, or 80 columns) by dropping the
hash, actor and time columns and shortening the details; --wide shows all.
-o json and -o csv give every field of each entry (details as the JSON text
the entry holds).

--create-key creates the audit key for a CA made before audit keys existed;
entries written before it stay unsealed and are reported as such.`,
		Example: `  scca audit
  scca audit --limit 20 --wide
  scca audit -o json --limit 100
  scca audit --verify
  scca audit --create-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.v.GetBool("create-key") {
				head, err := e.auditHead(cmd.Context())
				if err != nil {
					return err
				}
				created, err := e.ensureAuditKey(head + 1)
				if err != nil {
					return err
				}
				if !created {
					return errors.New("the certs dir already has an audit key")
				}
				e.statusf("Created audit key %s; new audit entries will be sealed with it\n",
					filepath.Join(e.certsDir(), certstore.AuditKeyFile))
				return nil
			}
			st, err := e.openStoreRO(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if e.v.GetBool("verify") {
				r, err := st.CheckAudit(cmd.Context())
				if err != nil {
					return err
				}
				e.printAuditReport(r)
				return nil
			}
			return e.listAudit(cmd.Context(), st)
		},
	}
	cmd.Flags().StringP("output", "o", "table", "output format: table, json or csv")
	cmd.Flags().Int("limit", 0, "only the newest N entries, oldest first (0 = all)")
	cmd.Flags().Bool("wide", false, "table: every column, nothing shortened (default: fit the terminal, or $COLUMNS, or 80 columns)")
	cmd.Flags().Bool("no-headers", false, "table and csv: no header line")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "csv"))
	cmd.Flags().Bool("verify", false, "verify the log (chain, seals, anchor) and the certificates table against it")
	cmd.Flags().Bool("create-key", false, "create the audit key for an existing CA")
	return cmd
}

// printAuditReport says what --verify checked, and what it could not.
func (e *env) printAuditReport(r certstore.AuditReport) {
	e.printf("audit trail OK: %d entries, hash chain intact; %d certificates match the log\n", r.Entries, r.Certificates)
	switch {
	case !r.SealChecked:
		e.statusf("warning: no audit key in %s: seals not checked (create one with scca audit --create-key)\n", e.certsDir())
	case r.Legacy > 0:
		e.printf("seals: %d entries sealed; the first %d predate the audit key and are unsealed\n", r.Sealed, r.Legacy)
	default:
		e.printf("seals: all %d entries sealed by the audit key\n", r.Sealed)
	}
	if r.SealChecked && !r.Anchored {
		e.statusf("warning: no audit anchor in %s: a cut-off tail would not be seen from this host\n", e.certsDir())
	}
}

// auditHead is the newest entry of the inventory's audit log.
func (e *env) auditHead(ctx context.Context) (int64, error) {
	st, err := e.openStore(ctx)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.AuditHead(ctx)
}
