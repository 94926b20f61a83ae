package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
)

func newListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the certificate inventory",
		Long: `List certificates from the inventory, newest first, as a table (default),
JSON or CSV. JSON and CSV are streamed, so listing millions of rows needs no
more memory than listing ten.

Status "expired" means not revoked but past its not-after date; "active"
excludes expired certificates.`,
		Example: `  scca list
  scca list --status revoked --type client
  scca list --expiring 30d -o json
  scca list --cn client --limit 20 -o csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := e.listFilter()
			if err != nil {
				return err
			}
			out, err := newRecordWriter(e.v.GetString("output"), e.stdout)
			if err != nil {
				return err
			}
			st, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			now := time.Now()
			if err := st.List(cmd.Context(), f, func(r certstore.Record) error { return out.write(r, now) }); err != nil {
				return err
			}
			return out.close()
		},
	}
	fl := cmd.Flags()
	fl.String("status", "all", "active, revoked, expired or all")
	fl.String("type", "", "ca, server, client or ocsp-signer (default all)")
	fl.String("cn", "", "only certificates whose CN contains this text")
	fl.String("expiring", "", "only active certificates expiring within this duration, e.g. 30d")
	fl.Int("limit", 0, "at most this many rows (0 = no limit)")
	fl.StringP("output", "o", "table", "output format: table, json or csv")
	_ = cmd.RegisterFlagCompletionFunc("status", fixedCompletion("active", "revoked", "expired", "all"))
	_ = cmd.RegisterFlagCompletionFunc("type", fixedCompletion("ca", "server", "client", "ocsp-signer"))
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "csv"))
	return cmd
}

func fixedCompletion(vals ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vals, cobra.ShellCompDirectiveNoFileComp
	}
}

func (e *env) listFilter() (certstore.Filter, error) {
	f := certstore.Filter{
		Status:     e.v.GetString("status"),
		Type:       e.v.GetString("type"),
		CNContains: e.v.GetString("cn"),
		Limit:      e.v.GetInt("limit"),
	}
	switch f.Status {
	case certstore.StatusActive, certstore.StatusRevoked, certstore.StatusExpired, certstore.StatusAll:
	default:
		return f, fmt.Errorf("unknown --status %q: use active, revoked, expired or all", f.Status)
	}
	switch f.Type {
	case "", certstore.TypeCA, certstore.TypeServer, certstore.TypeClient, certstore.TypeOCSPSigner:
	default:
		return f, fmt.Errorf("unknown --type %q: use ca, server, client or ocsp-signer", f.Type)
	}
	if f.Limit < 0 {
		return f, fmt.Errorf("--limit must not be negative")
	}
	if s := e.v.GetString("expiring"); s != "" {
		d, err := parseValidity(s)
		if err != nil {
			return f, fmt.Errorf("--expiring: %w", err)
		}
		f.ExpiringWithin = d
	}
	return f, nil
}

// jsonRecord is the documented JSON shape of one inventory row.
type jsonRecord struct {
	Serial      string     `json:"serial"`
	Type        string     `json:"type"`
	CN          string     `json:"cn"`
	SANs        []string   `json:"sans"`
	Status      string     `json:"status"`
	NotBefore   time.Time  `json:"not_before"`
	NotAfter    time.Time  `json:"not_after"`
	RevokedAt   *time.Time `json:"revoked_at"`
	Reason      *string    `json:"reason"`
	Fingerprint string     `json:"fingerprint"`
}

func toJSON(r certstore.Record, now time.Time) jsonRecord {
	j := jsonRecord{
		Serial: r.Serial, Type: r.Type, CN: r.CN, SANs: r.SANs, Status: r.StatusAt(now),
		NotBefore: r.NotBefore.UTC(), NotAfter: r.NotAfter.UTC(), RevokedAt: r.RevokedAt, Fingerprint: r.Fingerprint,
	}
	if j.SANs == nil {
		j.SANs = []string{}
	}
	if r.Reason != nil {
		name := certstore.ReasonName(*r.Reason)
		j.Reason = &name
	}
	return j
}

// recordWriter renders inventory rows in one output format.
type recordWriter struct {
	write func(certstore.Record, time.Time) error
	close func() error
}

var tableHeader = []string{"serial", "type", "cn", "status", "not before", "not after", "revoked at", "reason"}

func newRecordWriter(format string, w io.Writer) (*recordWriter, error) {
	switch format {
	case "table":
		return tableWriter(w), nil
	case "json":
		return jsonWriter(w), nil
	case "csv":
		return csvWriter(w), nil
	}
	return nil, fmt.Errorf("unknown output format %q: use table, json or csv", format)
}

func tableRow(r certstore.Record, now time.Time) []string {
	revoked, reason := "", ""
	if r.RevokedAt != nil {
		revoked = r.RevokedAt.UTC().Format(time.DateTime)
	}
	if r.Reason != nil {
		reason = certstore.ReasonName(*r.Reason)
	}
	return []string{r.Serial, r.Type, r.CN, r.StatusAt(now),
		r.NotBefore.UTC().Format(time.DateTime), r.NotAfter.UTC().Format(time.DateTime), revoked, reason}
}

// tableWriter buffers rows: a table needs every width before it can draw.
// Use -o json/csv (streamed) for large inventories.
func tableWriter(w io.Writer) *recordWriter {
	var rows [][]string
	return &recordWriter{
		write: func(r certstore.Record, now time.Time) error { rows = append(rows, tableRow(r, now)); return nil },
		close: func() error {
			if len(rows) == 0 {
				_, err := fmt.Fprintln(w, "no certificates match")
				return err
			}
			if err := renderTable(w, tableHeader, rows); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "%d certificate(s)\n", len(rows))
			return err
		},
	}
}

func jsonWriter(out io.Writer) *recordWriter {
	n := 0
	w := bufio.NewWriterSize(out, 64<<10)
	return &recordWriter{
		write: func(r certstore.Record, now time.Time) error {
			b, err := json.Marshal(toJSON(r, now))
			if err != nil {
				return err
			}
			sep := ",\n  "
			if n == 0 {
				sep = "[\n  "
			}
			n++
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		},
		close: func() error {
			end := "\n]\n"
			if n == 0 {
				end = "[]\n"
			}
			if _, err := io.WriteString(w, end); err != nil {
				return err
			}
			return w.Flush()
		},
	}
}

func csvWriter(w io.Writer) *recordWriter {
	cw := csv.NewWriter(w)
	header := false
	return &recordWriter{
		write: func(r certstore.Record, now time.Time) error {
			if !header {
				header = true
				if err := cw.Write([]string{"serial", "type", "cn", "sans", "status", "not_before", "not_after", "revoked_at", "reason", "fingerprint"}); err != nil {
					return err
				}
			}
			j := toJSON(r, now)
			revoked, reason := "", ""
			if j.RevokedAt != nil {
				revoked = j.RevokedAt.UTC().Format(time.RFC3339)
			}
			if j.Reason != nil {
				reason = *j.Reason
			}
			return cw.Write([]string{j.Serial, j.Type, j.CN, strings.Join(j.SANs, " "), j.Status,
				j.NotBefore.Format(time.RFC3339), j.NotAfter.Format(time.RFC3339), revoked, reason, j.Fingerprint})
		},
		close: func() error {
			cw.Flush()
			return cw.Error()
		},
	}
}

func renderTable(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewWriter(w)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
