package main

import (
	"bufio"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

The table fits the terminal (or $COLUMNS, or 80 columns when not a
terminal): it shows dates without times, drops the least needed columns
(not before, revoked at, reason, type, not after) and shortens long CNs
with an ellipsis; --wide shows everything. The count goes to stderr.
Serials are shown as openssl shows them, whole octets with a leading zero
("06e2..."); JSON and CSV carry the inventory's form without leading zeros
("6e2..."). Both are accepted wherever a serial is asked for.

CSV cells that a spreadsheet would run as a formula (starting with = + - @,
tab or carriage return) are prefixed with a single quote.

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
			out, err := e.newRecordWriter(e.v.GetString("output"))
			if err != nil {
				return err
			}
			st, err := e.openStoreRO(cmd.Context())
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
	fl.Bool("wide", false, "table: every column, full times, nothing shortened (default: fit the terminal, or $COLUMNS, or 80 columns)")
	fl.Bool("no-headers", false, "table and csv: no header line")
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

func (e *env) newRecordWriter(format string) (*recordWriter, error) {
	switch format {
	case "table":
		return tableWriter(e.stdout, e.stderr, e.tableStyle()), nil
	case "json":
		return jsonWriter(e.stdout), nil
	case "csv":
		return csvWriter(e.stdout, !e.v.GetBool("no-headers")), nil
	}
	return nil, fmt.Errorf("unknown output format %q: use table, json or csv", format)
}

// listColumns: serial, CN and status always stay; the rest go in the order
// of their drop number when the table is too wide.
var listColumns = []column{
	{name: "serial"}, {name: "type", drop: 3}, {name: "cn", shrink: true}, {name: "status"},
	{name: "not before", drop: 6}, {name: "not after", drop: 2}, {name: "revoked at", drop: 5}, {name: "reason", drop: 4},
}

// displaySerial writes a serial in whole octets, as openssl does ("6e2..."
// becomes "06e2..."); the inventory keeps it without leading zeros.
// certSerial is a certificate's serial as displaySerial shows it.
func certSerial(c *x509.Certificate) string { return displaySerial(c.SerialNumber.Text(16)) }

func displaySerial(s string) string {
	if len(s)%2 == 1 {
		return "0" + s
	}
	return s
}

func tableRow(r certstore.Record, now time.Time, layout string) []string {
	revoked, reason := "", ""
	if r.RevokedAt != nil {
		revoked = r.RevokedAt.UTC().Format(layout)
	}
	if r.Reason != nil {
		reason = certstore.ReasonName(*r.Reason)
	}
	return []string{displaySerial(r.Serial), r.Type, r.CN, r.StatusAt(now),
		r.NotBefore.UTC().Format(layout), r.NotAfter.UTC().Format(layout), revoked, reason}
}

// tableWriter buffers rows: a table needs every width before it can draw.
// Use -o json/csv (streamed) for large inventories. The count is status, on
// stderr, so stdout holds only the table.
func tableWriter(w, status io.Writer, st tableStyle) *recordWriter {
	var rows [][]string
	layout := time.DateTime
	if st.width > 0 {
		layout = time.DateOnly
	}
	return &recordWriter{
		write: func(r certstore.Record, now time.Time) error {
			rows = append(rows, tableRow(r, now, layout))
			return nil
		},
		close: func() error {
			if len(rows) == 0 {
				_, err := fmt.Fprintln(status, "no certificates match")
				return err
			}
			if err := renderFitted(w, listColumns, rows, st); err != nil {
				return err
			}
			_, err := fmt.Fprintf(status, "%d certificate(s)\n", len(rows))
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

var csvHeader = []string{"serial", "type", "cn", "sans", "status", "not_before", "not_after", "revoked_at", "reason", "fingerprint"}

// csvWriter writes the header first, also for an empty inventory.
func csvWriter(w io.Writer, header bool) *recordWriter {
	cw := csv.NewWriter(w)
	start := func() error {
		if !header {
			return nil
		}
		header = false
		return cw.Write(csvHeader)
	}
	return &recordWriter{
		write: func(r certstore.Record, now time.Time) error {
			if err := start(); err != nil {
				return err
			}
			j := toJSON(r, now)
			revoked, reason := "", ""
			if j.RevokedAt != nil {
				revoked = j.RevokedAt.UTC().Format(time.RFC3339)
			}
			if j.Reason != nil {
				reason = *j.Reason
			}
			return cw.Write(csvSafe([]string{j.Serial, j.Type, j.CN, strings.Join(j.SANs, " "), j.Status,
				j.NotBefore.Format(time.RFC3339), j.NotAfter.Format(time.RFC3339), revoked, reason, j.Fingerprint}))
		},
		close: func() error {
			if err := start(); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		},
	}
}

// csvSafe neutralises cells a spreadsheet would evaluate as a formula
// (OWASP "CSV injection"): a leading = + - @, tab or carriage return gets a
// single quote in front. A CN or SAN comes from whoever asked for the
// certificate, so it is untrusted.
func csvSafe(row []string) []string {
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			row[i] = "'" + c
		}
	}
	return row
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
