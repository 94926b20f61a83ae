package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/securechat/scca/certstore"
)

// env is what one invocation works with: its streams and its configuration.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	v              *viper.Viper
	logOut         io.Writer // --log-file, when given (else stderr)
}

const rootLong = `scca is the SecureChat certificate authority.

It creates a root (and optional intermediate) CA, issues server and client
certificates, signs CSRs, keeps every certificate in an inventory (an embedded
SQLite file by default, MySQL/MariaDB in production), revokes, publishes CRLs,
answers OCSP, and runs the SecureChat server and client that check each other
against that CA and inventory.

Configuration, highest precedence first: command-line flags, environment
variables SCCA_<FLAG> (for example SCCA_DB, SCCA_CERTS_DIR), the config file
(--config, or ./scca.yaml when present), then defaults. Only configuration
(certs-dir, db, base-url, actor, crl-validity, listen addresses, servers,
revocation sources, timeouts and limits, log settings) comes from the
environment or the file; confirmations (--yes, --force) and per-command
choices (--cn, --status, -o) are flags only. An unknown key in the file is
an error.

Data (tables, JSON/CSV, show, the verdicts of verify and other checks,
tokens) goes to stdout; what a command did or is doing (Issued, Revoked,
Published, Serving, warnings) goes to stderr.`

func newRootCmd(e *env) *cobra.Command {
	e.v = viper.New()
	root := &cobra.Command{
		Use:           "scca",
		Short:         "SecureChat certificate authority, inventory and chat",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.loadConfig(cmd); err != nil {
				return err
			}
			return e.checkDBTimeout()
		},
	}
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (default ./scca.yaml when present)")
	pf.String("certs-dir", "certs", "directory holding the CA, issued certificates and keys")
	pf.String("db", "", "inventory: sqlite:PATH, mysql://USER[:PASS]@HOST:PORT/DB (or a go-sql-driver DSN) or postgres://USER[:PASS]@HOST:PORT/DB (default sqlite:<certs-dir>/inventory.db)")
	pf.String("base-url", "", "public `URL` of scca serve (e.g. http://ca.example:8080); adds CRL and OCSP locations to issued certificates")
	pf.String("crl-validity", "7d", "time from a CRL's thisUpdate to its nextUpdate")
	pf.String("db-timeout", certstore.DefaultTimeout.String(), "bound on connecting to the inventory and on each exchange with it; then the command fails")
	pf.String("actor", "", "name recorded in the inventory and audit trail as who did it (default: the OS user)")

	root.AddCommand(
		newInitCmd(e), newIssueCmd(e), newSignCmd(e), newListCmd(e), newShowCmd(e),
		newVerifyCmd(e), newDBCmd(e), newRevokeCmd(e), newCRLCmd(e), newServeCmd(e),
		newAuditCmd(e), newChatCmd(e), newDemoCmd(e),
		newTokenCmd(e), newEnrollCmd(e), newRenewCmd(e), newExportCmd(e), newVersionCmd(e),
		newDoctorCmd(e),
	)
	strictGroups(root)
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	return root
}

// configKeys are the settings that may come from the environment
// (SCCA_<KEY>) and the config file: where things are, who acts, how servers
// listen and time out. Confirmations (--yes, --force) and per-command
// choices (--cn, --status, --output, ...) are flags only, so a stray
// SCCA_YES=true cannot skip a revocation prompt nor SCCA_CN filter a list.
// A new flag that is configuration is added here.
var configKeys = map[string]bool{
	"certs-dir": true, "db": true, "base-url": true, "crl-validity": true, "actor": true,
	"log-level": true, "log-format": true, "log-file": true, "listen": true, "ws-listen": true, "ws-origin": true,
	"api-listen": true, "server": true, "server-name": true, "crl": true, "ocsp": true, "root-crl": true,
	"ocsp-timeout": true, "idle-timeout": true, "first-frame-timeout": true, "max-conns": true,
	"max-handshakes": true, "max-handshakes-per-ip": true, "queue-limit": true, "ca-keys": true, "ca-url": true,
	"db-timeout": true, "api-name": true, "api-validity": true, "broker": true, "broker-creds": true,
	"broker-prefix": true, "broker-tls-ca": true, "node": true, "ticket-secret-file": true,
	"sender-quota": true, "sender-quota-bytes": true, "total-quota": true, "total-quota-bytes": true,
}

// loadConfig binds every flag of the running command to viper and the
// configuration keys to the environment and the config file, giving
// flags > env > file > defaults.
func (e *env) loadConfig(cmd *cobra.Command) error {
	v := e.v
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return bindErr
	}
	for k := range configKeys {
		if err := v.BindEnv(k, "SCCA_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))); err != nil {
			return err
		}
	}
	if err := v.BindEnv("config", "SCCA_CONFIG"); err != nil {
		return err
	}

	path := v.GetString("config")
	explicit := path != ""
	if !explicit {
		path = "scca.yaml"
	}
	file := viper.New()
	file.SetConfigFile(path)
	if err := file.ReadInConfig(); err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		var notFound viper.ConfigFileNotFoundError
		if !explicit && errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("read config %s: %w", path, err)
	}
	// Only configuration keys may come from the file: anything else is a
	// typo or a setting that must be given per command.
	for _, k := range file.AllKeys() {
		if !configKeys[k] {
			return fmt.Errorf("config %s: unknown key %q%s", path, k, nearestKey(cmd.Root(), k))
		}
		v.SetDefault(k, file.Get(k))
	}
	return nil
}

// nearestKey says that a flag is not a configuration setting, or suggests
// the configuration key closest to a mistyped one. An exact flag name wins
// over a near configuration key: `cn: alice` is --cn, not a typo of crl.
func nearestKey(root *cobra.Command, k string) string {
	if isFlag(root, k) {
		return " (not a configuration setting: give it as a flag)"
	}
	best, bestDist := "", 3 // two edits at most
	for c := range configKeys {
		if d := levenshtein.ComputeDistance(k, c); d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// isFlag reports whether any command has a flag called name.
func isFlag(c *cobra.Command, name string) bool {
	if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
		return true
	}
	for _, sub := range c.Commands() {
		if isFlag(sub, name) {
			return true
		}
	}
	return false
}

func (e *env) certsDir() string { return e.v.GetString("certs-dir") }

// dbURL is the inventory location; the default keeps it next to the CA so a
// new user needs no database server.
func (e *env) dbURL() string {
	if u := e.v.GetString("db"); u != "" {
		return u
	}
	return "sqlite:" + filepath.Join(e.certsDir(), "inventory.db")
}

func (e *env) actor() string {
	if a := e.v.GetString("actor"); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "scca"
}

// printf writes data to stdout: what a script consumes (tables, JSON/CSV,
// tokens, the reports of read-only checks such as verify, crl status, audit
// --verify, db status and doctor without --repair).
func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

// statusf writes a status line to stderr: what a command did or is doing
// (Issued, Revoked, Published, Created, Serving, warnings), so that stdout
// stays empty or data-only and `scca ... > out` captures only data.
func (e *env) statusf(format string, args ...any) { fmt.Fprintf(e.stderr, format, args...) }

// ensureCertsDir creates the certificates directory with owner-only access,
// since it holds private keys.
func (e *env) ensureCertsDir() error {
	if err := os.MkdirAll(e.certsDir(), 0o700); err != nil {
		return fmt.Errorf("create certs dir: %w", err)
	}
	return nil
}

// checkDBTimeout refuses a --db-timeout that is not a positive duration.
func (e *env) checkDBTimeout() error {
	d, err := time.ParseDuration(e.v.GetString("db-timeout"))
	if err != nil || d <= 0 {
		return fmt.Errorf("invalid --db-timeout %q: want a positive duration such as 10s", e.v.GetString("db-timeout"))
	}
	return nil
}

// explainTimeout names the database and the bound when a statement timed
// out after the connection was made (Open already says so itself).
func (e *env) explainTimeout(err error) error {
	if e.v == nil || !certstore.IsTimeout(err) {
		return err
	}
	loc, perr := certstore.ParseURL(e.dbURL())
	if perr != nil || strings.Contains(err.Error(), loc.Redacted) {
		return err
	}
	if !errors.Is(err, certstore.ErrTimeout) {
		err = fmt.Errorf("%w: %w", certstore.ErrTimeout, err)
	}
	return fmt.Errorf("%w (%s, bound %s)", err, loc.Redacted, e.dbTimeout())
}

// strictGroups makes a command that only groups others (db, chat) fail on
// an unknown subcommand: cobra would print the group's help and exit 0, so
// `scca db migrat` in a script would silently do nothing. Given no
// argument, such a command still prints its help.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
}
