package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/securechat/scca/certstore"
)

// auditJSON is the JSON shape of one audit entry (scca audit -o json).
type auditJSON struct {
	ID          int64           `json:"id"`
	At          time.Time       `json:"at"`
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	IssuerKeyID string          `json:"issuer_key_id"`
	Serial      string          `json:"serial"`
	Details     json.RawMessage `json:"details"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

var auditColumns = []column{
	{name: "id"}, {name: "time utc", drop: 3}, {name: "actor", drop: 4}, {name: "action"},
	{name: "serial"}, {name: "details", drop: 2, shrink: true}, {name: "hash", drop: 5},
}

// listAudit prints the audit log (the newest --limit entries, oldest first)
// as a table, JSON or CSV.
func (e *env) listAudit(ctx context.Context, st *certstore.Store) error {
	format := e.v.GetString("output")
	if format != "table" && format != "json" && format != "csv" {
		return fmt.Errorf("unknown output format %q: use table, json or csv", format)
	}
	limit := e.v.GetInt("limit")
	if limit < 0 {
		return fmt.Errorf("--limit must not be negative")
	}
	var entries []certstore.AuditEntry
	err := st.Audit(ctx, func(a certstore.AuditEntry) error {
		entries = append(entries, a)
		if limit > 0 && len(entries) > 2*limit { // keep memory bounded by the limit
			entries = append(entries[:0], entries[len(entries)-limit:]...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if limit > 0 && len(entries) > limit {
		entries = entries[len(entries)-limit:]
	}
	switch format {
	case "json":
		return writeAuditJSON(e.stdout, entries)
	case "csv":
		return writeAuditCSV(e.stdout, entries, !e.v.GetBool("no-headers"))
	}
	rows := make([][]string, len(entries))
	for i, a := range entries {
		hash := a.Hash
		if len(hash) > 16 {
			hash = hash[:16] // a malformed (short) hash is shown whole; --verify names it
		}
		rows[i] = []string{itoa(a.ID), a.At.UTC().Format(time.DateTime), a.Actor, a.Action, displaySerial(a.Serial), a.Details, hash}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(e.stderr, "no audit entries")
		return err
	}
	return renderFitted(e.stdout, auditColumns, rows, e.tableStyle())
}

func writeAuditJSON(w io.Writer, entries []certstore.AuditEntry) error {
	out := make([]auditJSON, len(entries))
	for i, a := range entries {
		details := json.RawMessage(a.Details)
		if !json.Valid(details) { // a tampered row: shown as text, --verify names it
			b, _ := json.Marshal(a.Details)
			details = b
		}
		out[i] = auditJSON{ID: a.ID, At: a.At.UTC(), Actor: a.Actor, Action: a.Action, IssuerKeyID: a.IssuerKeyID,
			Serial: a.Serial, Details: details, PrevHash: a.PrevHash, Hash: a.Hash}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeAuditCSV(w io.Writer, entries []certstore.AuditEntry, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write([]string{"id", "at", "actor", "action", "issuer_key_id", "serial", "details", "prev_hash", "hash"}); err != nil {
			return err
		}
	}
	for _, a := range entries {
		if err := cw.Write(csvSafe([]string{itoa(a.ID), a.At.UTC().Format(time.RFC3339Nano), a.Actor, a.Action,
			a.IssuerKeyID, a.Serial, a.Details, a.PrevHash, a.Hash})); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
