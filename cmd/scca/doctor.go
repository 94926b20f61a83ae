package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
)

func newDoctorCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Find (and with --repair settle) issuances interrupted by a crash",
		Long: `An issuance killed part-way leaves a journal and staged files in the certs
dir. doctor asks the inventory what became of each: a certificate that was
recorded gets its files put in place (or, if that path is taken, is revoked
as cessationOfOperation, never handed out); one that was not is discarded.
Abandoned temporary files are removed. Without --repair it only reports.

Every command that issues, signs, publishes or serves does the same repair
on its way in, so doctor is for cron checks and after a crash.`,
		Example: `  scca doctor
  scca doctor --repair`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			stale, err := time.ParseDuration(e.v.GetString("stale-after"))
			if err != nil {
				return fmt.Errorf("--stale-after: %w", err)
			}
			repair := e.v.GetBool("repair")
			rep, err := ca.Recover(cmd.Context(), e.certsDir(), st, ca.RecoverOptions{
				DryRun: !repair, StaleAfter: stale, Actor: e.actor(),
			})
			if err != nil {
				return err
			}
			// The check's report is data (stdout); what --repair did is
			// status (stderr), like every command that changes something.
			w := e.stdout
			if repair {
				w = e.stderr
			}
			if rep.Empty() {
				fmt.Fprintf(w, "%s: no interrupted issuance, no stray temporary file", e.certsDir())
				if rep.Busy > 0 {
					fmt.Fprintf(w, " (%d issuance(s) in progress)", rep.Busy)
				}
				fmt.Fprintln(w)
				return nil
			}
			writeRecovery(w, rep, !repair)
			if !repair {
				e.printf("run `scca doctor --repair` to settle them\n")
			}
			if len(rep.Unsettled) > 0 {
				return errUnsettled
			}
			return nil
		},
	}
	cmd.Flags().Bool("repair", false, "settle what is found (default: report only)")
	cmd.Flags().String("stale-after", ca.DefaultStaleAfter.String(), "age after which an unclaimed temporary file is abandoned")
	return cmd
}

var errUnsettled = errors.New("some interrupted issuances could not be settled yet; run `scca doctor --repair` again once the inventory answers")

// recoverOnOpen settles interrupted issuances before a command that writes
// in the certs dir, and tells the operator what it did.
func (e *env) recoverOnOpen(ctx context.Context, a *ca.Authority) {
	rep, err := a.Recover(ctx, ca.RecoverOptions{})
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: %v\n", err)
		return
	}
	if !rep.Empty() {
		writeRecovery(e.stderr, rep, false)
	}
}

// writeRecovery explains a Recovery in a few lines.
func writeRecovery(w io.Writer, rep *ca.Recovery, dryRun bool) {
	verb := func(done, would string) string {
		if dryRun {
			return would
		}
		return done
	}
	for _, c := range rep.Completed {
		fmt.Fprintf(w, "recovery: certificate %s for %q was recorded before a crash; %s %s\n",
			c.Serial, c.CN, verb("its files are now in place at", "its files would be put in place at"), c.Path)
	}
	for _, c := range rep.Revoked {
		fmt.Fprintf(w, "recovery: certificate %s for %q was recorded before a crash but %s; %s (cessationOfOperation)\n",
			c.Serial, c.CN, c.Why, verb("it was revoked", "it would be revoked"))
	}
	if rep.Discarded > 0 {
		fmt.Fprintf(w, "recovery: %d interrupted issuance(s) never reached the inventory; %s\n",
			rep.Discarded, verb("their staged files were removed", "their staged files would be removed"))
	}
	for _, u := range rep.Unsettled {
		fmt.Fprintf(w, "recovery: cannot settle yet (kept for the next run): %s\n", u)
	}
	if n := len(rep.Removed); n > 0 {
		fmt.Fprintf(w, "recovery: %s %d abandoned temporary file(s)\n", verb("removed", "would remove"), n)
	}
}
