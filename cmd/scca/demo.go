package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/revocation"
)

func newDemoCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show the whole thing in a scratch directory: CA, certificates, chat, revocation",
		Long: `Run SecureChat end to end in a scratch directory on the embedded store: create a
CA, issue a server and two client certificates, start the chat server, send
"Hello Secure Server!", then show a revoked client and a certificate from a
foreign CA being refused. Nothing is left running; the scratch directory is
removed unless --keep is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "scca-demo-")
			if err != nil {
				return err
			}
			if e.v.GetBool("keep") {
				e.printf("(keeping %s)\n", dir)
			} else {
				defer os.RemoveAll(dir)
			}
			d := &demo{e: e, dir: dir}
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().Bool("keep", false, "keep the scratch directory and print its path")
	return cmd
}

// demo is the scripted walk-through; each step prints what it does.
type demo struct {
	e      *env
	dir    string
	store  *certstore.Store
	ca     *ca.Authority
	server *chat.Server
	addr   string
	step   int
}

func (d *demo) say(format string, args ...any) {
	d.step++
	d.e.printf("\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	steps := []func(context.Context) error{
		d.createCA, d.issueCertificates, d.startServer, d.sendHello, d.revokedClient, d.forgedClient,
	}
	defer d.stop()
	for _, s := range steps {
		if err := s(ctx); err != nil {
			return err
		}
	}
	d.e.printf("\nDone: the good client was heard, the revoked and the forged ones were refused.\n")
	return nil
}

func (d *demo) createCA(ctx context.Context) error {
	d.say("Create a CA and its inventory in %s (embedded SQLite, nothing to install)", d.dir)
	st, err := certstore.Open(ctx, "sqlite:"+filepath.Join(d.dir, "inventory.db"), certstore.Options{})
	if err != nil {
		return err
	}
	d.store = st
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	a, err := ca.Init(ctx, ca.InitRequest{Dir: d.dir, CN: "SecureChat Demo Root CA", Store: st, Actor: "demo"})
	if err != nil {
		return err
	}
	d.ca = a
	d.e.printf("   root CA %q, key %s\n", a.Root.Subject.CommonName, filepath.Join(d.dir, ca.RootKeyFile))
	return nil
}

func (d *demo) issueCertificates(ctx context.Context) error {
	d.say("Issue a server certificate and client certificates for client123 and mallory")
	reqs := []ca.IssueRequest{
		{Profile: ca.ProfileServer, CN: "server", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}},
		{Profile: ca.ProfileClient, CN: "client123"},
		{Profile: ca.ProfileClient, CN: "mallory"},
	}
	for _, r := range reqs {
		is, err := d.ca.Issue(ctx, r)
		if err != nil {
			return err
		}
		d.e.printf("   %-7s %-10s serial %s\n", r.Profile, r.CN, is.Serial)
	}
	return nil
}

func (d *demo) startServer(context.Context) error {
	d.say("Start the chat server; it checks every client against the CA and the inventory")
	chain, key, err := identityIn(d.dir, "server")
	if err != nil {
		return err
	}
	srv, err := chat.NewServer(chat.ServerConfig{
		Chain: chain, Key: key, Roots: d.ca.Trust().Roots, Intermediates: d.ca.Trust().Intermediates, Checker: &revocation.InventoryChecker{Store: d.store},
		OnMessage: func(from, text string) { d.e.printf("   [Server] Received secure message from %s: %s\n", from, text) },
		OnReject: func(_ string, err error) {
			d.e.printf("   [Server] Certificate validation failed: %v\n", err)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.server, d.addr = srv, ln.Addr().String()
	go srv.Serve(ln)
	d.e.printf("   [Server] Listening on %s\n", d.addr)
	return nil
}

func (d *demo) sendHello(ctx context.Context) error {
	d.say("client123 connects and sends a message")
	conn, err := d.dial(ctx, d.dir, "client123")
	if err != nil {
		return fmt.Errorf("client123 should have been accepted: %w", err)
	}
	defer conn.Close()
	d.e.printf("   [Client] Enter message: Hello Secure Server!\n")
	if err := conn.Send(ctx, "Hello Secure Server!"); err != nil {
		return err
	}
	d.e.printf("   [Client] delivered (acknowledged by the server)\n")
	return nil
}

func (d *demo) revokedClient(ctx context.Context) error {
	d.say("Revoke mallory (keyCompromise); mallory tries to connect")
	rv := &revocation.Revoker{Store: d.store, CRLs: map[string]revocation.CRLTarget{
		d.ca.IssuerKeyID(): {CRLConfig: revocation.CRLConfig{Issuer: d.ca.Issuer(), Signer: d.ca.Signer()},
			PEMPath: filepath.Join(d.dir, "crl.pem"), DERPath: filepath.Join(d.dir, "crl.der")},
	}}
	cert, err := readCertFile(filepath.Join(d.dir, "mallory_cert.pem"))
	if err != nil {
		return err
	}
	_, info, err := rv.Revoke(ctx, revocation.RevokeRequest{
		Serial: fmt.Sprintf("%x", cert.SerialNumber), Reason: certstore.ReasonKeyCompromise, Actor: "demo"})
	if err != nil {
		return err
	}
	d.e.printf("   revoked; CRL #%d published with %d entry\n", info.Number, info.Entries)
	return d.expectRefused(ctx, d.dir, "mallory")
}

func (d *demo) forgedClient(ctx context.Context) error {
	d.say("A foreign CA forges a certificate for client123; the forger tries to connect")
	foreign := filepath.Join(d.dir, "foreign")
	if err := os.Mkdir(foreign, 0o700); err != nil {
		return err
	}
	st, err := certstore.Open(ctx, "sqlite:"+filepath.Join(foreign, "inventory.db"), certstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fca, err := ca.Init(ctx, ca.InitRequest{Dir: foreign, CN: "SecureChat Demo Root CA", Store: st})
	if err != nil {
		return err
	}
	if _, err := fca.Issue(ctx, ca.IssueRequest{Profile: ca.ProfileClient, CN: "client123"}); err != nil {
		return err
	}
	return d.expectRefused(ctx, foreign, "client123")
}

func (d *demo) expectRefused(ctx context.Context, dir, id string) error {
	conn, err := d.dial(ctx, dir, id)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%s was accepted but must be refused", id)
	}
	var remote *chat.RemoteError
	if !errors.As(err, &remote) {
		return fmt.Errorf("%s: unexpected failure: %w", id, err)
	}
	d.e.printf("   [Client] Server rejected certificate – closing connection (%s)\n", chat.EscapeLine(remote.Reason))
	return nil
}

func (d *demo) dial(ctx context.Context, dir, id string) (*chat.Conn, error) {
	chain, key, err := identityIn(dir, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chat.Dial(ctx, d.addr, chat.ClientConfig{
		Chain: chain, Key: key, Roots: d.ca.Trust().Roots, Intermediates: d.ca.Trust().Intermediates, Checker: &revocation.InventoryChecker{Store: d.store},
		ServerName: "localhost",
	})
}

// errNoIdentity: --id names a CN with no certificate in the certs dir.
var errNoIdentity = errors.New("no certificate")

// identityIn loads <dir>/<id>_cert.pem and <id>_key.pem.
func identityIn(dir, id string) ([]*x509.Certificate, crypto.Signer, error) {
	// The same CN-to-file mapping as scca issue (ca.FileStem), so --id
	// team/alice finds what issue --cn team/alice wrote.
	stem := ca.FileStem(id)
	certPath := filepath.Join(dir, stem+"_cert.pem")
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w for %q in %s (%s)", errNoIdentity, id, dir, certPath)
	}
	cert, err := readCertFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := ca.LoadPrivateKeyFile(filepath.Join(dir, stem+"_key.pem"))
	if err != nil {
		return nil, nil, err
	}
	return []*x509.Certificate{cert}, key, nil
}

func (d *demo) stop() {
	if d.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.server.Shutdown(ctx)
		d.e.printf("\n   [Server] stopped\n")
	}
	if d.store != nil {
		d.store.Close()
	}
}
