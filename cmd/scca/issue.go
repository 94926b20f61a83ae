package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
)

func newIssueCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issue server|client|ocsp-signer|email",
		Short: "Issue a certificate of one profile with a fresh key",
		Long: `Generate a key pair and a certificate for the given profile, record the
certificate in the inventory, then write <certs-dir>/<cn>_cert.pem and
<cn>_key.pem (mode 0600), and <cn>_chain.pem (the certificate followed by
the intermediate, for servers that send their chain). The files appear only once the inventory row is
committed, all three together; existing files are never overwritten.

Profiles: server (serverAuth; DNS/IP names as SANs, the CN too when it is a
valid name), client (clientAuth), ocsp-signer (OCSPSigning and ocsp-nocheck,
30 days, no SANs; a delegated OCSP responder) and email (emailProtection; the
CN is the e-mail address). All are digitalSignature, never a CA.`,
		Example: `  scca issue server --cn chat.example.com --dns chat.example.com --ip 10.0.0.5
  scca issue client --cn client123
  scca issue client --cn alice --validity 30d --cert-out alice.pem --key-out alice.key`,
		ValidArgs: profileNames(),
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := e.issueRequest(args[0])
			if err != nil {
				return err
			}
			st, a, err := e.openCA(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			is, err := a.Issue(cmd.Context(), req)
			if err != nil {
				return err
			}
			e.statusf("Issued %s certificate for %q\n  serial:      %s\n  not after:   %s\n  certificate: %s\n  key:         %s\n  chain:       %s\n",
				req.Profile, req.CN, displaySerial(is.Serial), is.Cert.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"), is.CertPath, is.KeyPath, is.ChainPath)
			e.reportIssued(is)
			return e.publishAfterReplace(cmd.Context(), st, a, is)
		},
	}
	f := cmd.Flags()
	f.String("cn", "", "subject common name (required)")
	f.StringSlice("dns", nil, "DNS name to include as a SAN (repeatable or comma-separated)")
	f.StringSlice("ip", nil, "IP address to include as a SAN (repeatable or comma-separated)")
	f.String("validity", "", "validity, e.g. 90d or 2160h (default: server 397d, client 365d; never beyond the CA)")
	f.String("key-type", "ecdsa-p256", "key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096")
	f.String("cert-out", "", "certificate output path (default <certs-dir>/<cn>_cert.pem)")
	f.String("key-out", "", "key output path (default <certs-dir>/<cn>_key.pem)")
	f.Bool("replace", false, "take over a client CN (or look-alike) held by an active certificate, revoking it as superseded")
	_ = cmd.RegisterFlagCompletionFunc("key-type", completeKeyTypes)
	return cmd
}

func (e *env) issueRequest(profile string) (ca.IssueRequest, error) {
	p, err := ca.ParseProfile(profile)
	if err != nil {
		return ca.IssueRequest{}, err
	}
	kt, err := ca.ParseKeyType(e.v.GetString("key-type"))
	if err != nil {
		return ca.IssueRequest{}, err
	}
	validity, err := parseValidity(e.v.GetString("validity"))
	if err != nil {
		return ca.IssueRequest{}, err
	}
	var ips []net.IP
	for _, s := range e.v.GetStringSlice("ip") {
		ip := net.ParseIP(s)
		if ip == nil {
			return ca.IssueRequest{}, fmt.Errorf("%w: %q is not an IP address", ca.ErrInvalidName, s)
		}
		ips = append(ips, ip)
	}
	return ca.IssueRequest{
		Profile: p, CN: e.v.GetString("cn"), DNSNames: e.v.GetStringSlice("dns"), IPs: ips,
		Validity: validity, KeyType: kt, CertOut: e.v.GetString("cert-out"), KeyOut: e.v.GetString("key-out"),
		Actor: e.actor(), Replace: e.v.GetBool("replace"), Chain: true,
	}, nil
}

// reportIssued tells what else issuing did: a superseded certificate, a
// validity cut short by the CA's own expiry.
func (e *env) reportIssued(is *ca.Issued) {
	if r := is.Replaced; r != nil {
		e.statusf("  replaced:    %s (%q), revoked as superseded\n", displaySerial(r.Serial), r.CN)
	}
	if is.Clamped {
		fmt.Fprintf(e.stderr, "warning: the requested validity runs past the CA's expiry; the certificate ends with the CA on %s\n",
			is.Cert.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"))
	}
}

func newSignCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --csr FILE --profile server|client",
		Short: "Sign a certificate signing request (the requester keeps its key)",
		Long: `Check the CSR's signature, then issue a certificate for its subject CN and
SANs under the chosen profile. The profile, not the CSR, decides key usages,
extended key usages and basic constraints.`,
		Example: `  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=bob -out bob.csr
  scca sign --csr bob.csr --profile client --out bob_cert.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := ca.ParseProfile(e.v.GetString("profile"))
			if err != nil {
				return err
			}
			validity, err := parseValidity(e.v.GetString("validity"))
			if err != nil {
				return err
			}
			csr, err := os.ReadFile(e.v.GetString("csr"))
			if err != nil {
				return fmt.Errorf("read csr: %w", err)
			}
			st, a, err := e.openCA(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			is, err := a.SignCSR(cmd.Context(), ca.SignRequest{
				CSRPEM: csr, Profile: p, Validity: validity, Out: e.v.GetString("out"), Actor: e.actor(),
				Replace: e.v.GetBool("replace"), Chain: true,
			})
			if err != nil {
				return err
			}
			e.statusf("Signed %s certificate for %q\n  serial:      %s\n  not after:   %s\n  certificate: %s\n  chain:       %s\n",
				p, is.Cert.Subject.CommonName, displaySerial(is.Serial), is.Cert.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"), is.CertPath, is.ChainPath)
			e.reportIssued(is)
			return e.publishAfterReplace(cmd.Context(), st, a, is)
		},
	}
	f := cmd.Flags()
	f.String("csr", "", "PEM certificate signing request (required)")
	f.String("profile", "", "one of "+strings.Join(profileNames(), ", ")+" (required)")
	f.String("validity", "", "validity, e.g. 90d (default by profile; never beyond the CA)")
	f.String("out", "", "certificate output path (default <certs-dir>/<cn>_cert.pem)")
	f.Bool("replace", false, "take over a client CN (or look-alike) held by an active certificate, revoking it as superseded")
	_ = cmd.MarkFlagRequired("csr")
	_ = cmd.MarkFlagRequired("profile")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return profileNames(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// profileNames lists the CA's profiles for arguments and completion.
func profileNames() []string {
	var out []string
	for _, p := range ca.Profiles() {
		out = append(out, string(p))
	}
	return out
}
