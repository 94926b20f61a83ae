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
}

const rootLong = `scca is the SecureChat certificate authority.

It creates a root (and optional intermediate) CA, issues server and client
certificates, signs CSRs, keeps every certificate in an inventory (an embedded
SQLite file by default, MySQL/MariaDB in production), revokes, publishes CRLs,
answers OCSP, and runs the SecureChat server and client that check each other
against that CA and inventory.

Configuration, highest precedence first: command-line flags, environment
variables SCCA_<FLAG> (for example SCCA_DB, SCCA_CERTS_DIR), the config file
(--config, or ./scca.yaml when present), then defaults.`

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
	pf.String("db", "", "inventory: sqlite:PATH or mysql://USER[:PASS]@HOST:PORT/DB or a go-sql-driver DSN (default sqlite:<certs-dir>/inventory.db)")
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
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	return root
}

// loadConfig binds every flag of the running command to viper, then reads
// the environment and the config file, giving flags > env > file > defaults.
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
	v.SetEnvPrefix("SCCA")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	path := v.GetString("config")
	explicit := path != ""
	if !explicit {
		path = "scca.yaml"
	}
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		var notFound viper.ConfigFileNotFoundError
		if !explicit && errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("read config %s: %w", path, err)
	}
	return nil
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

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

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
