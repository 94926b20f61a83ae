package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/enroll"
)

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token --cn NAME [--type client|server]",
		Short: "Mint a one-time enrollment token for the online CA",
		Long: `Create a single-use token that lets its holder get one certificate for the
given CN and profile through ` + "`scca serve --api-listen`" + ` (see scca enroll). Only
its SHA-256 is stored; the token is printed once and cannot be shown again.
It expires after --ttl (default 1h, at most 7d) or at first use.`,
		Example: `  scca token --cn alice --type client --ttl 1h
  scca token --cn web1.example.com --type server --dns web1.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := parseValidity(e.v.GetString("ttl"))
			if err != nil {
				return err
			}
			var ips []net.IP
			for _, s := range e.v.GetStringSlice("ip") {
				ip := net.ParseIP(s)
				if ip == nil {
					return fmt.Errorf("%w: %q is not an IP address", ca.ErrInvalidName, s)
				}
				ips = append(ips, ip)
			}
			st, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			tok, t, err := enroll.NewToken(cmd.Context(), st, enroll.TokenRequest{
				CN: e.v.GetString("cn"), Profile: ca.Profile(e.v.GetString("type")), DNSNames: e.v.GetStringSlice("dns"),
				IPs: ips, TTL: ttl, Actor: e.actor(),
			})
			if err != nil {
				return err
			}
			e.printf("%s\n", tok)
			fmt.Fprintf(e.stderr, "token %s for %s %q, valid until %s; it is shown only now\n",
				t.ID, t.Type, t.CN, t.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.String("cn", "", "common name the certificate will carry (required)")
	f.String("type", "client", "profile: client or server")
	f.String("ttl", "1h", "lifetime of the token (at most 7d)")
	f.StringSlice("dns", nil, "DNS name the certificate will carry (server profile)")
	f.StringSlice("ip", nil, "IP address the certificate will carry (server profile)")
	_ = cmd.MarkFlagRequired("cn")
	return cmd
}

func newEnrollCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enroll --ca-url URL --fingerprint SHA256 --token TOKEN --cn NAME",
		Short: "Get a first certificate from an online CA, with a key made here",
		Long: `Generate a key on this machine (it never leaves it), send a CSR with the
one-time token to the CA's API, and write <cn>_key.pem (0600), <cn>_cert.pem,
<cn>_chain.pem (leaf and intermediates), root_ca.pem (and intermediate_ca.pem)
into --certs-dir. The CA's root is pinned by --fingerprint, the SHA-256 that
` + "`scca serve --api-listen`" + ` prints (or: openssl x509 -in root_ca.pem -noout
-fingerprint -sha256); without it nothing is sent.`,
		Example: `  scca enroll --ca-url https://ca.example:8443 --fingerprint 3f2a... --token scca1_... --cn alice --certs-dir ~/.scca`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &enroll.Client{URL: e.v.GetString("ca-url"), Fingerprint: e.v.GetString("fingerprint")}
			res, err := c.Enroll(cmd.Context(), enroll.EnrollRequest{
				Token: e.v.GetString("token"), CN: e.v.GetString("cn"), Dir: e.certsDir(),
				KeyType: ca.KeyType(e.v.GetString("key-type")),
			})
			if err != nil {
				return err
			}
			printIdentity(e, "Enrolled", res)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("ca-url", "", "base URL of the CA's API, https://host:port (required)")
	f.String("fingerprint", "", "SHA-256 fingerprint of the CA's root certificate (required)")
	f.String("token", "", "one-time token from scca token (required)")
	f.String("cn", "", "common name the token was made for (required)")
	f.String("key-type", "ecdsa-p256", "key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096")
	_ = cmd.RegisterFlagCompletionFunc("key-type", completeKeyTypes)
	return cmd
}

func newRenewCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "renew --ca-url URL --id NAME",
		Short: "Renew a certificate from an online CA, authenticating with the current one",
		Long: `Authenticate to the CA's API with <id>_cert.pem and <id>_key.pem (mutual TLS),
get a new certificate for the same identity, and replace the files in
--certs-dir. A new key is made unless --same-key. The CA supersedes the old
certificate (revoked, reason superseded) in the transaction that records the
new one, so the identity always has exactly one active certificate.

With --daemon it keeps running and renews at about two thirds of each
certificate's lifetime (with jitter; failures are retried with backoff);
--exec runs a shell command after each renewal.`,
		Example: `  scca renew --ca-url https://ca.example:8443 --certs-dir ~/.scca --id alice
  scca renew --ca-url https://ca.example:8443 --id alice --daemon --exec 'systemctl reload myservice'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := enroll.RenewRequest{
				Dir: e.certsDir(), ID: e.v.GetString("id"), SameKey: e.v.GetBool("same-key"),
				KeyType: ca.KeyType(e.v.GetString("key-type")),
			}
			renew := func(ctx context.Context) (*enroll.Result, error) {
				return enroll.Renew(ctx, &enroll.Client{URL: e.v.GetString("ca-url"), Fingerprint: e.v.GetString("fingerprint")}, req)
			}
			after := func(*x509.Certificate) error {
				if c := e.v.GetString("exec"); c != "" {
					return runHook(cmd.Context(), e, c)
				}
				return nil
			}
			if !e.v.GetBool("daemon") {
				res, err := renew(cmd.Context())
				if err != nil {
					return err
				}
				printIdentity(e, "Renewed", res)
				return after(res.Cert)
			}
			logger := slog.New(slog.NewTextHandler(e.stderr, nil))
			r := &enroll.Renewer{
				Current: func() (*x509.Certificate, error) {
					// Finish an interrupted renewal first, so the
					// schedule follows the certificate in force.
					if _, err := enroll.Recover(req.Dir, req.ID); err != nil {
						return nil, err
					}
					return enroll.ReadCertificate(enroll.PathsFor(req.Dir, req.ID).Cert)
				},
				Renew: func(ctx context.Context) (*x509.Certificate, error) {
					res, err := renew(ctx)
					if err != nil {
						return nil, err
					}
					printIdentity(e, "Renewed", res)
					return res.Cert, nil
				},
				OnRenew: after,
				OnError: func(err error) { logger.Error("renewal failed", "err", err.Error()) },
			}
			return r.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.String("ca-url", "", "base URL of the CA's API, https://host:port (required)")
	f.String("fingerprint", "", "pin the root by SHA-256 instead of trusting <certs-dir>/root_ca.pem")
	f.String("id", "", "CN whose <id>_cert.pem and <id>_key.pem to renew (required)")
	f.Bool("same-key", false, "keep the current key")
	f.Bool("daemon", false, "keep running and renew at about two thirds of each lifetime")
	f.String("exec", "", "shell command to run after each renewal")
	f.String("key-type", "ecdsa-p256", "key type of the new key")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func printIdentity(e *env, verb string, res *enroll.Result) {
	if res.Recovered {
		e.statusf("Finished the interrupted replacement of %s's files first\n", res.Paths.Cert)
	}
	e.statusf("%s %q\n  serial:      %s\n  not after:   %s\n  certificate: %s\n  key:         %s\n  chain:       %s\n",
		verb, res.Cert.Subject.CommonName, certSerial(res.Cert),
		res.Cert.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"), res.Paths.Cert, res.Paths.Key, res.Paths.Chain)
}

// runHook runs --exec through the shell, its output going to ours.
func runHook(ctx context.Context, e *env, command string) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	c.Stdout, c.Stderr = e.stdout, e.stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("--exec %q: %w", command, err)
	}
	return nil
}
