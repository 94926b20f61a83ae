package main

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
)

func newShowCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show SERIAL|CN",
		Short: "Show one certificate from the inventory in detail",
		Long: `Show a certificate from the inventory: subject, issuer, validity, key,
names, usages, extensions, fingerprint and inventory status. The argument is a
serial number (hex, with or without colons or leading zeros) or a common
name. -o json is always an array (one element per matching certificate).`,
		Example: `  scca show 5f:3a:09:...
  scca show client123 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := e.v.GetString("output")
			if format != "text" && format != "json" {
				return fmt.Errorf("unknown output format %q: use text or json", format)
			}
			st, err := e.openStoreRO(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			var recs []certstore.Record
			if serial, serr := certstore.NormalizeSerial(args[0]); serr == nil {
				if recs, err = st.FindBySerial(cmd.Context(), serial); err != nil {
					return err
				}
			}
			if len(recs) == 0 {
				if recs, err = st.FindByCN(cmd.Context(), args[0]); err != nil {
					return err
				}
			}
			if len(recs) == 0 {
				return fmt.Errorf("%q: %w", args[0], certstore.ErrNotFound)
			}
			return showRecords(e.stdout, format, recs, time.Now())
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	return cmd
}

// detail is the JSON shape of `scca show`: the list fields plus what the
// certificate itself says.
type detail struct {
	jsonRecord
	Issuer       string   `json:"issuer"`
	IssuerKeyID  string   `json:"issuer_key_id"`
	SubjectKeyID string   `json:"subject_key_id"`
	KeyAlgorithm string   `json:"key_algorithm"`
	SigAlgorithm string   `json:"signature_algorithm"`
	IsCA         bool     `json:"is_ca"`
	KeyUsage     []string `json:"key_usage"`
	ExtKeyUsage  []string `json:"ext_key_usage"`
	CRLDP        []string `json:"crl_distribution_points,omitempty"`
	OCSP         []string `json:"ocsp_servers,omitempty"`
	IssuedAt     string   `json:"issued_at"`
	IssuedBy     string   `json:"issued_by"`
	RevokedBy    string   `json:"revoked_by,omitempty"`
	PEM          string   `json:"pem"`
}

func toDetail(r certstore.Record, now time.Time) (detail, error) {
	c, err := x509.ParseCertificate(r.DER)
	if err != nil {
		return detail{}, fmt.Errorf("inventory row %s holds an unparsable certificate: %w", r.Serial, err)
	}
	return detail{
		jsonRecord: toJSON(r, now), Issuer: c.Issuer.String(), IssuerKeyID: r.IssuerKeyID,
		SubjectKeyID: hex.EncodeToString(c.SubjectKeyId), KeyAlgorithm: keyDescription(c),
		SigAlgorithm: c.SignatureAlgorithm.String(), IsCA: c.IsCA, KeyUsage: keyUsageNames(c.KeyUsage),
		ExtKeyUsage: extKeyUsageNames(c.ExtKeyUsage), CRLDP: c.CRLDistributionPoints, OCSP: c.OCSPServer,
		IssuedAt: r.IssuedAt.UTC().Format(time.RFC3339), IssuedBy: r.IssuedBy, RevokedBy: r.RevokedBy,
		PEM: string(pemCert(r.DER)),
	}, nil
}

func showRecords(w io.Writer, format string, recs []certstore.Record, now time.Time) error {
	details := make([]detail, 0, len(recs))
	for _, r := range recs {
		d, err := toDetail(r, now)
		if err != nil {
			return err
		}
		details = append(details, d)
	}
	if format == "json" {
		// Always an array, one element per match, so a script reads one
		// shape whatever the inventory holds.
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(details)
	}
	for i, d := range details {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeDetail(w, d)
	}
	return nil
}

func writeDetail(w io.Writer, d detail) {
	line := func(k, v string) { fmt.Fprintf(w, "%-22s %s\n", k+":", v) }
	line("Serial", displaySerial(d.Serial))
	line("Type", d.Type)
	line("Subject CN", d.CN)
	line("Issuer", d.Issuer)
	line("Status", d.Status)
	line("Not before", d.NotBefore.Format(time.RFC3339))
	line("Not after", d.NotAfter.Format(time.RFC3339))
	if d.RevokedAt != nil {
		reason := ""
		if d.Reason != nil {
			reason = *d.Reason
		}
		line("Revoked", fmt.Sprintf("%s (%s) by %s", d.RevokedAt.UTC().Format(time.RFC3339), reason, d.RevokedBy))
	}
	line("SANs", strings.Join(d.SANs, ", "))
	line("Key", d.KeyAlgorithm)
	line("Signature algorithm", d.SigAlgorithm)
	line("CA", fmt.Sprint(d.IsCA))
	line("Key usage", strings.Join(d.KeyUsage, ", "))
	line("Extended key usage", strings.Join(d.ExtKeyUsage, ", "))
	line("Subject key ID", d.SubjectKeyID)
	line("Authority key ID", d.IssuerKeyID)
	if len(d.CRLDP) > 0 {
		line("CRL", strings.Join(d.CRLDP, ", "))
	}
	if len(d.OCSP) > 0 {
		line("OCSP", strings.Join(d.OCSP, ", "))
	}
	line("SHA-256 fingerprint", d.Fingerprint)
	line("Issued", d.IssuedAt+" by "+d.IssuedBy)
}

var errNoPEM = errors.New("no PEM certificate found")
