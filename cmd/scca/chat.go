package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/enroll"
)

func newChatCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Run the SecureChat server or client",
		Long: `SecureChat: a server and client that authenticate each other with certificates
from this CA, checked against the CA and the inventory during the handshake,
then exchange AES-256-GCM encrypted messages (docs/PROTOCOL.md).

Both take the CA and the inventory from the same --certs-dir / --db / config
file as the CA commands, so they need no extra flags next to ` + "`scca issue`.",
	}
	cmd.AddCommand(newChatServerCmd(e), newChatClientCmd(e))
	return cmd
}

func newChatServerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the SecureChat server",
		Long: `Listen for SecureChat clients. A client is accepted only if its certificate
chains to the CA, has clientAuth, is not a CA, and the inventory knows its
serial with the same fingerprint and status active — checked on every
handshake, so a revocation takes effect at once; live sessions of a certificate
revoked by any scca process against the same inventory are ended within 2 s.
Messages are printed with the sender's authenticated CN.

The server relays direct messages and room messages between clients. Direct
messages to an offline user are kept in the inventory database (at most
--queue-limit per user; beyond that the sender is told queue_full; at most
--sender-quota messages and --sender-quota-bytes bytes per sender and
--total-quota/--total-quota-bytes in all; beyond those quota_exceeded) and
delivered in order when that user connects, also across server restarts.
With --ws-listen the same server also accepts WebSocket clients, who share
rooms and direct messages with TCP clients. Clients may resume sessions with
a ticket (valid for at most an hour, single use, lost on restart). With
--web the WebSocket address also serves the browser client (README,
"SecureChat in the browser"); --ca-url lets it enrol through the online CA.
Stops gracefully on SIGINT/SIGTERM.

With --broker several servers on the same inventory act as one: rooms,
presence, direct messages, live revocation and (with a shared
--ticket-secret-file) resumption span them (docs/CLUSTER.md).

The terminal shows the human lines ("[Server] ...") on stdout; structured
logs go to stderr, or with --log-file to a file, as JSON or with
--log-format text as key=value lines.`,
		Example: `  scca issue server --cn server --dns localhost --ip 127.0.0.1
  scca chat server --listen 0.0.0.0:5000
  scca chat server --listen 0.0.0.0:5000 --ws-listen 0.0.0.0:5080 --queue-limit 500
  scca chat server --ws-listen 127.0.0.1:5080 --web --ca-url https://127.0.0.1:8443
  scca chat server --listen :5000 --broker nats://127.0.0.1:4222 --node chat-a --ticket-secret-file ticket.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.checkServerLimits(); err != nil {
				return err
			}
			closeLog, err := e.setupLog()
			if err != nil {
				return err
			}
			defer closeLog()
			chain, key, err := e.chatIdentity(chatServerID)
			if errors.Is(err, errNoIdentity) {
				return &noServerCertError{cn: chatServerID, err: err}
			}
			if err != nil {
				return err
			}
			cas, err := loadServiceCertificates(e.certsDir())
			if err != nil {
				return err
			}
			st, err := e.openChatServerStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			log := e.logger()
			clusterCfg, tickets, leave, err := e.chatCluster(log)
			if err != nil {
				return err
			}
			defer leave()
			srv, err := chat.NewServer(chat.ServerConfig{
				Cluster: clusterCfg, Tickets: tickets,
				Chain: append(chain, intermediates(cas)...), Key: key, Roots: cas.Trust().Roots, Intermediates: cas.Trust().Intermediates,
				Checker: inventoryChain(cas, st),
				// The inventory database also keeps direct messages for
				// offline users and feeds live revocation (PROTOCOL.md §12).
				Mailbox: st, Revocations: st, QueueLimit: e.v.GetInt("queue-limit"),
				SenderQuota: e.v.GetInt("sender-quota"), SenderQuotaBytes: e.v.GetInt64("sender-quota-bytes"),
				TotalQuota: e.v.GetInt("total-quota"), TotalQuotaBytes: e.v.GetInt64("total-quota-bytes"),
				MaxConns: e.v.GetInt("max-conns"), IdleTimeout: e.v.GetDuration("idle-timeout"),
				MaxHandshakes: e.v.GetInt("max-handshakes"), MaxHandshakesPerIP: e.v.GetInt("max-handshakes-per-ip"),
				FirstFrameTimeout: e.v.GetDuration("first-frame-timeout"),
				Logger:            log,
				OnMessage: func(from, text string) {
					e.printf("[Server] Received secure message from %s: %s\n", chat.EscapeLine(from), chat.EscapeMessage(text))
				},
				OnAccept: func(remote, cn string) { e.printf("[Server] Client %q authenticated from %s\n", cn, remote) },
				OnReject: e.printReject,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", e.v.GetString("listen"))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			e.printf("[Server] Listening on %s\n", ln.Addr())
			if err := e.serveWebSocket(srv, cas); err != nil {
				return err
			}
			return serveUntilDone(cmd.Context(), srv, ln, e)
		},
	}
	f := cmd.Flags()
	f.String("listen", "0.0.0.0:5000", "address to listen on")
	f.String("ws-listen", "", "also serve WebSocket clients on this address (ws://ADDR/)")
	f.Bool("web", false, "also serve the browser client at http://<ws-listen>/ (needs --ws-listen)")
	f.String("ca-url", "", "with --web: relay the page's enrolment (POST /v1/sign) to this online CA API, https://HOST:PORT, verified against the CA root")
	f.StringSlice("ws-origin", nil, "browser origin host pattern allowed to connect over WebSocket (repeatable; default: same origin only)")
	f.String("cert", "", "server certificate (default <certs-dir>/server_cert.pem)")
	f.String("key", "", "server key (default <certs-dir>/server_key.pem)")
	f.Int("max-conns", chat.DefaultMaxConns, "maximum concurrent established sessions")
	f.Int("max-handshakes", chat.DefaultMaxHandshakes, "maximum connections still in the handshake")
	f.Int("max-handshakes-per-ip", chat.DefaultMaxHandshakesPerIP, "maximum connections in the handshake from one source address")
	f.Duration("first-frame-timeout", chat.DefaultFirstFrameTimeout, "time a new connection has to send its complete client_hello")
	f.Int("queue-limit", chat.DefaultQueueLimit, "messages kept per offline recipient; further direct messages to them are rejected (queue_full)")
	f.Int("sender-quota", chat.DefaultSenderQuota, "messages one sender may have waiting for offline recipients (quota_exceeded beyond; -1: no limit)")
	f.Int64("sender-quota-bytes", chat.DefaultSenderQuotaBytes, "bytes of message text one sender may have waiting for offline recipients (-1: no limit)")
	f.Int("total-quota", chat.DefaultTotalQuota, "messages waiting for offline recipients from all senders together (-1: no limit)")
	f.Int64("total-quota-bytes", chat.DefaultTotalQuotaBytes, "bytes of message text waiting for offline recipients from all senders together (-1: no limit)")
	f.Duration("idle-timeout", chat.DefaultIdleTimeout, "close sessions idle for this long")
	addLogFlags(f, "info")
	addBrokerFlags(f)
	f.String("node", "", "this server's name in the cluster, in every log line (default: the host name)")
	f.String("ticket-secret-file", "", "file (0600, 32+ random bytes) shared by the cluster's servers so tickets resume on any of them")
	return cmd
}

// openChatServerStore opens the inventory read-write, or read-only when it
// is an SQLite file on a read-only mount (docker run -v certs:/certs:ro):
// the server then authenticates as usual but cannot queue direct messages
// for offline users (store_unavailable), and, opened immutable, does not
// see revocations made after it started.
func (e *env) openChatServerStore(ctx context.Context) (*certstore.Store, error) {
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil {
		return nil, err
	}
	if !certstore.ReadOnlyLocation(loc) {
		return e.openStore(ctx)
	}
	st, err := e.openStoreRO(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "warning: %s is read-only: direct messages for offline users are refused (store_unavailable)\n", loc.Redacted)
	if st.Immutable() {
		fmt.Fprintf(e.stderr, "warning: revocations made after the start are not seen until a restart; give the server a writable inventory or MySQL/PostgreSQL for live revocation\n")
	}
	return st, nil
}

func (e *env) printReject(remote string, err error) {
	if errors.Is(err, chat.ErrPeerCertificate) {
		e.printf("[Server] Certificate validation failed: %s (from %s)\n", chat.EscapeLine(err.Error()), remote)
		return
	}
	e.printf("[Server] Handshake failed: %s (from %s)\n", chat.EscapeLine(err.Error()), remote)
}

// serveUntilDone runs the chat server until the context ends (SIGINT or
// SIGTERM), then shuts it down gracefully: sessions finish the message in
// flight and are told the server is closing.
func serveUntilDone(ctx context.Context, srv *chat.Server, ln net.Listener, e *env) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.printf("[Server] Shutting down\n")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, chat.ErrServerClosed) {
		return err
	}
	return nil
}

func newChatClientCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Connect to a SecureChat server and send messages",
		Long: `Connect to a SecureChat server with a client certificate from this CA. The
server's certificate must chain to the CA, have serverAuth, match
--server-name (default: the host of --server) and be good per the inventory,
or per --crl/--ocsp when given; without any revocation source the client
refuses to connect (fail closed).

On a terminal it prompts "Enter message: " and understands:
  /msg CN TEXT   direct message (kept for CN if offline, delivered on connect)
  /join ROOM     join a room (plain text then goes to the room)
  /leave         leave the current room
  /who [ROOM]    who is in the room (or online)
  /rooms         list rooms
  /quit          leave
Plain text goes to the current room, or to the server when in none. Incoming
messages print with their server id, as "[dm #12] alice: ..." and
"[room #13] alice: ..."; a direct message the server sends again (after a
lost confirmation) is printed once.

Otherwise it sends each line of standard input (to the server, or with --to /
--room) and exits when input ends, after the server has acknowledged every
message: exit status 0 means all were delivered; an interrupt ends the
input. If the server ends the session (because the certificate was revoked,
the server shuts down or the connection drops) it says why at once, also
while it waits for input that has not ended, and exits non-zero.`,
		Example: `  scca chat client --id client123
  echo "Hello Secure Server!" | scca chat client --server 127.0.0.1:5000 --id client123
  echo "see you at 5" | scca chat client --id client123 --to client456
  scca chat client --id client456 --receive < /dev/null
  scca chat client --id alice --server ws://127.0.0.1:5080/
  scca chat client --cert me.pem --key me.key --server chat.example.com:5000 --crl http://ca.example:8080/crl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runChatClient(cmd)
		},
	}
	f := cmd.Flags()
	f.String("server", "127.0.0.1:5000", "server address HOST:PORT, or ws://HOST:PORT/PATH for WebSocket")
	f.String("server-name", "", "name the server certificate must match (default: host of --server)")
	f.String("id", "", "use <certs-dir>/<ID>_cert.pem and <ID>_key.pem")
	f.String("cert", "", "client certificate file")
	f.String("key", "", "client key file")
	f.String("crl", "", "check the server against this CRL (file or URL) instead of the inventory")
	f.String("ocsp", "", "check the server with this OCSP responder instead of the inventory")
	f.String("root-crl", "", "with --crl and an intermediate: the root's CRL (file or URL) the intermediate is checked against")
	addLogFlags(f, "warn")
	f.String("to", "", "send each line of input as a direct message to this CN")
	f.String("room", "", "join this room and send each line of input to it")
	f.Bool("receive", false, "after the input, stay connected and print incoming messages until interrupted")
	cmd.MarkFlagsMutuallyExclusive("to", "room")
	cmd.MarkFlagsMutuallyExclusive("id", "cert")
	cmd.MarkFlagsMutuallyExclusive("crl", "ocsp")
	return cmd
}

func (e *env) runChatClient(cmd *cobra.Command) error {
	closeLog, err := e.setupLog()
	if err != nil {
		return err
	}
	defer closeLog()
	chain, key, err := e.chatIdentity("")
	if err != nil {
		return err
	}
	cas, err := ca.LoadCertificates(e.certsDir())
	if err != nil {
		return err
	}
	addr := e.v.GetString("server")
	dial, host, err := chatDialer(addr)
	if err != nil {
		return err
	}
	name := e.v.GetString("server-name")
	if name == "" {
		name = host
	}
	checker, _, closeFn, err := e.revocationChecker(cmd, cas)
	if err != nil {
		return fmt.Errorf("no revocation source for the server certificate (refusing to connect): %w", err)
	}
	defer closeFn()
	conn, err := dial(cmd.Context(), addr, chat.ClientConfig{
		Chain: append(chain, intermediates(cas)...), Key: key, Roots: cas.Trust().Roots, Intermediates: cas.Trust().Intermediates, Checker: checker,
		ServerName: name, Logger: e.logger(),
	})
	if err != nil {
		return e.reportDialError(addr, err)
	}
	defer conn.Close()
	e.printf("[Client] Connected to %s as %q; server %q authenticated\n", addr, chain[0].Subject.CommonName, conn.PeerCN())
	return e.runChatSession(cmd.Context(), conn)
}

// chatServerID is the CN whose certificate and key `scca chat server`
// loads from the certs dir when --cert and --key are not given.
const chatServerID = "server"

// noServerCertError: the chat server's own certificate is missing. It is
// made with `scca issue server` (the hint says so), where a missing
// client's is made with issue client.
type noServerCertError struct {
	cn  string
	err error
}

func (se *noServerCertError) Error() string { return se.err.Error() }
func (se *noServerCertError) Unwrap() error { return se.err }

// errNoChatServer: nothing answered at the server address.
var errNoChatServer = errors.New("no SecureChat server answered")

func (e *env) reportDialError(addr string, err error) error {
	var remote *chat.RemoteError
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w at %s (%v)", errNoChatServer, addr, err)
	case errors.As(err, &remote) && remote.Code == chat.CodeCertificateRejected:
		e.printf("[Client] Server rejected certificate – closing connection\n")
		return fmt.Errorf("server said: %s", chat.EscapeLine(remote.Reason))
	case errors.Is(err, chat.ErrPeerCertificate):
		e.printf("[Client] Server certificate rejected – sending nothing\n")
	}
	return err
}

// chatIdentity loads the certificate and key to authenticate with: --cert and
// --key, or --id CN (files from scca issue), or for the server the default
// server_cert.pem / server_key.pem.
func (e *env) chatIdentity(defaultID string) ([]*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := e.v.GetString("cert"), e.v.GetString("key")
	id := e.v.GetString("id")
	if id == "" && certPath == "" {
		id = defaultID
	}
	if id != "" {
		// A renewal a crash interrupted (scca renew's journal) is
		// finished first, so the key and certificate load as a pair.
		if done, err := enroll.Recover(e.certsDir(), id); err != nil {
			return nil, nil, err
		} else if done {
			e.statusf("Finished the interrupted replacement of %s's files first\n", id)
		}
		return identityIn(e.certsDir(), id)
	}
	if certPath == "" || keyPath == "" {
		return nil, nil, errors.New("give --id CN, or both --cert and --key")
	}
	cert, err := readCertFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := ca.LoadPrivateKeyFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return []*x509.Certificate{cert}, key, nil
}

func intermediates(cas *ca.Certificates) []*x509.Certificate {
	if cas.Intermediate != nil {
		return []*x509.Certificate{cas.Intermediate}
	}
	return nil
}

// checkServerLimits refuses limits that cannot mean anything: a server
// that takes no session, or a timeout that ends every connection at once.
// (The library would quietly use its default for them.) The quotas take
// -1 for no limit.
func (e *env) checkServerLimits() error {
	for _, name := range []string{"max-conns", "max-handshakes", "max-handshakes-per-ip", "queue-limit"} {
		if n := e.v.GetInt(name); n < 1 {
			return fmt.Errorf("--%s must be at least 1, not %d", name, n)
		}
	}
	for _, name := range []string{"sender-quota", "sender-quota-bytes", "total-quota", "total-quota-bytes"} {
		if n := e.v.GetInt64(name); n < -1 {
			return fmt.Errorf("--%s must be -1 (no limit) or more, not %d", name, n)
		}
	}
	for _, name := range []string{"idle-timeout", "first-frame-timeout"} {
		if d := e.v.GetDuration(name); d <= 0 {
			return fmt.Errorf("--%s must be positive, not %v", name, d)
		}
	}
	return nil
}
