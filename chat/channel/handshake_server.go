package channel

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/securechat/scca/internal/leafcheck"
)

// serverHandshake runs the server side of docs/PROTOCOL.md §3 as a linear
// script: readClientHello, checkClientCertificate (concurrently with
// building the server flight, serverFlight), readClientFinish, then the
// traffic keys.
type serverHandshake struct {
	srv    *Server
	conn   net.Conn
	br     *bufio.Reader
	hdr    [FrameHeaderLen]byte
	th     *Transcript
	ch     clientHelloExt
	chBody []byte // client_hello as received, for the binder (§13.3)
	peer   []*x509.Certificate
	peerMx int
	// suite and binary are what server_hello announces: the first suite
	// of the client's list we know, and binary record bodies if offered.
	suite  *Suite
	binary bool
	hs     []byte
	thCF   []byte
	// Resumption (§13): rs is the ticket's resumption secret when the
	// ticket was accepted, parentExpiry its expiry; promised is set when
	// server_hello announced a new_ticket record.
	rs           []byte
	parentExpiry time.Time
	promised     bool
	// onHello, if set, is called once the client_hello frame has arrived.
	onHello func()
	// sentHello is set once server_hello went out, after which errors are
	// reported with an error frame instead of a rejected server_hello.
	sentHello bool
}

func (h *serverHandshake) run(ctx context.Context) (*Session, string, error) {
	h.th = NewTranscript()
	if err := h.readClientHello(); err != nil {
		return nil, "", err
	}
	resumed, err := h.tryResume(ctx)
	if err != nil {
		return nil, "", err
	}
	flight, err := h.serverFlight(ctx, resumed)
	if err != nil {
		return nil, "", err
	}
	h.sentHello = true
	if _, err := h.conn.Write(flight); err != nil {
		return nil, "", err
	}
	s, err := h.readClientFinish()
	if err != nil {
		return nil, "", err
	}
	s.peer, s.resumed = h.peer, h.rs != nil
	if err := h.sendTicket(s); err != nil {
		return nil, "", err
	}
	return s, h.peer[0].Subject.CommonName, nil
}

// readClientHello reads and checks client_hello (§4.1) up to, not
// including, the certificate.
func (h *serverHandshake) readClientHello() error {
	body, err := ReadFrame(h.br, &h.hdr, MaxHandshakeFrame)
	if err != nil {
		return err
	}
	if h.onHello != nil {
		h.onHello()
	}
	if err := decodeFrame(body, typeClientHello, &h.ch); err != nil {
		return err
	}
	h.chBody = body
	h.th.Add(body)
	ch := &h.ch
	if ch.Version != ProtocolVersion {
		return WithCode(CodeUnsupportedVersion, fmt.Errorf("%w: client speaks %q", ErrHandshake, truncate(ch.Version, 32)))
	}
	if len(ch.Suites) <= maxSuites {
		h.suite = ChooseSuite(ch.Suites)
	}
	if h.suite == nil {
		return WithCode(CodeNoCommonSuite, fmt.Errorf("%w: no common cipher suite", ErrHandshake))
	}
	h.binary = ch.BinaryRecords
	if ch.MaxFrame < MinMaxFrame {
		return fmt.Errorf("%w: max_frame %d is below %d", ErrProtocol, ch.MaxFrame, MinMaxFrame)
	}
	h.peerMx = ch.MaxFrame
	random, err := decodeB64("client_random", ch.ClientRandom, RandomLen)
	if err != nil {
		return err
	}
	if _, err := decodeB64("key_share", ch.KeyShare, keyShareLen); err != nil {
		return err
	}
	now := h.srv.id.now()
	if err := checkTimestamp(ch.Timestamp, now, h.srv.id.window); err != nil {
		return err
	}
	// The random is remembered only after the hello parsed, so garbage
	// cannot fill the cache; it expires when its timestamp leaves the window.
	if !h.srv.replay.Add(random, time.Unix(ch.Timestamp, 0).Add(h.srv.id.window), now) {
		return fmt.Errorf("%w: client_random was already used", ErrReplay)
	}
	return nil
}

// checkTimestamp enforces |timestamp - now| <= window (§7).
func checkTimestamp(ts int64, now time.Time, window time.Duration) error {
	d := now.Sub(time.Unix(ts, 0))
	if d > window || d < -window {
		return fmt.Errorf("%w: timestamp is %s away from local clock (window %s)", ErrReplay, d.Round(time.Second), window)
	}
	return nil
}

// checkClientCertificate validates the client's chain (docs/PROTOCOL.md
// §7): chains to the CA now, clientAuth, not a CA, positive serial (all in
// leafcheck.Verify), then the PeerChecker (inventory: known serial, same
// fingerprint, active), and client_id equal to the CN if present.
func (h *serverHandshake) checkClientCertificate(ctx context.Context) error {
	chain, err := parseChain("certificate", h.ch.Certificate)
	if err != nil {
		return err
	}
	verified, err := verifyPeer(ctx, h.srv.id, chain, x509.ExtKeyUsageClientAuth, "")
	if err != nil {
		return err
	}
	cn := chain[0].Subject.CommonName
	if h.ch.ClientID != "" && h.ch.ClientID != cn {
		return fmt.Errorf("%w: client_id %q does not match certificate CN %q", ErrPeerCertificate, truncate(h.ch.ClientID, maxIDLen), cn)
	}
	h.peer = verified
	return nil
}

// verifyPeer is the certificate check both sides share. It returns the
// verified chain, leaf first and trust anchor last: what the status check
// saw, and what the session reports as the peer (a live revocation of any
// certificate in it ends the session).
func verifyPeer(ctx context.Context, id identity, chain []*x509.Certificate, eku x509.ExtKeyUsage, name string) ([]*x509.Certificate, error) {
	// Extra certificates the peer sent may only serve as intermediates
	// below our configured roots.
	verified, err := verifiedChains.Verify(id.roots, id.inter, chain[1:], chain[0], eku, name, id.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerCertificate, err)
	}
	return verified, checkStatus(ctx, id, verified)
}

// verifiedChains remembers the chains peers' certificates verified to
// (docs/PROTOCOL.md §7.4): a peer that comes back with the same
// certificates, which parseChain then answers with the same values, is not
// verified again signature by signature; validity is checked on every use,
// and the status check (inventory, revocation) always runs.
var verifiedChains = leafcheck.NewCache(maxCachedChains, 10*time.Minute)

// checkStatus asks the PeerChecker, within id.statusTimeout. A check that
// could not be made (the source is unavailable or too slow) is not a
// verdict on the certificate: the peer is told store_unavailable (§8.1),
// so it retries later instead of taking its certificate for rejected.
func checkStatus(ctx context.Context, id identity, verified []*x509.Certificate) error {
	if id.statusTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, id.statusTimeout)
		defer cancel()
	}
	err := CheckPeerChain(ctx, id.checker, verified)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCheckUnavailable) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return WithCode(CodeStoreUnavailable, fmt.Errorf("%w: status check: %w", ErrPeerCertificate, err))
	}
	return fmt.Errorf("%w: %w", ErrPeerCertificate, err)
}

// serverFlight returns server_hello and server_finish for one write. In a
// full handshake the client certificate check (chain and inventory, mostly
// waiting on the database) runs concurrently with building the flight
// (key exchange and signing, all CPU); the flight is released only after
// the check passed, so nothing is sent, and no session starts, for a
// certificate the check refuses: the wire is as if they ran in sequence.
func (h *serverHandshake) serverFlight(ctx context.Context, resumed bool) ([]byte, error) {
	if resumed {
		return h.buildServerFlight()
	}
	checked := make(chan error, 1)
	go func() { checked <- h.checkClientCertificate(ctx) }()
	flight, err := h.buildServerFlight()
	if cerr := <-checked; cerr != nil {
		return nil, cerr // the check's verdict comes first, as in sequence
	}
	return flight, err
}

// buildServerFlight makes server_hello and server_finish (§4.2, §4.3): our
// random and key share, then a signature and Finished MAC over the
// transcript through server_hello. A resumed handshake (§13.4) sends no
// certificate and no signature: the Finished MAC, keyed from the ticket's
// resumption secret, authenticates the server. It does not read h.peer,
// which the concurrent certificate check sets.
func (h *serverHandshake) buildServerFlight() ([]byte, error) {
	id := h.srv.id
	random := make([]byte, RandomLen)
	if _, err := io.ReadFull(id.rand, random); err != nil {
		return nil, fmt.Errorf("server random: %w", err)
	}
	priv, err := newKeyShare(id.rand)
	if err != nil {
		return nil, err
	}
	peerShare, _ := b64.DecodeString(h.ch.KeyShare) // checked in readClientHello
	shared, err := x25519(priv, peerShare)
	if err != nil {
		return nil, err
	}
	resumed := h.rs != nil
	h.promised = h.ch.TicketRequest && h.srv.tickets != nil
	sh := serverHelloExt{serverHello: serverHello{
		Type: typeServerHello, Version: ProtocolVersion, Status: "ok",
		Suite:        h.suite.Name,
		ServerRandom: b64.EncodeToString(random),
		Timestamp:    id.now().Unix(),
		KeyShare:     b64.EncodeToString(priv.PublicKey().Bytes()),
		MaxFrame:     id.max,
	}, BinaryRecords: h.binary, Resumed: resumed, NewTicket: h.promised}
	if !resumed {
		sh.ServerCertificate = id.certField
	}
	shBody := marshal(sh)
	h.th.Add(shBody)
	thSH := h.th.Sum()
	var sf []byte
	if resumed {
		h.hs = ResumedHandshakeSecret(h.rs, shared)
		sf = marshal(resumedFinish{Type: typeServerFinish, Finished: b64.EncodeToString(FinishedMAC(h.hs, "s finished", thSH))})
	} else {
		h.hs = HandshakeSecret(shared)
		sig, err := Sign(id.rand, id.key, ServerSignatureContext, thSH)
		if err != nil {
			return nil, fmt.Errorf("sign transcript: %w", err)
		}
		sf = marshal(finish{Type: typeServerFinish, Signature: b64.EncodeToString(sig),
			Finished: b64.EncodeToString(FinishedMAC(h.hs, "s finished", thSH))})
	}
	h.th.Add(sf)
	return AppendFrame(AppendFrame(nil, shBody), sf), nil
}

// readClientFinish verifies the client's signature (proof of possession of
// the certificate's key) and Finished MAC (proof it derived the same shared
// secret) over the transcript through server_finish (§4.4), then derives
// the traffic keys from the transcript including client_finish.
func (h *serverHandshake) readClientFinish() (*Session, error) {
	body, err := ReadFrame(h.br, &h.hdr, MaxHandshakeFrame)
	if err != nil {
		return nil, err
	}
	var cf finish
	if err := decodeFrame(body, typeClientFinish, &cf); err != nil {
		return nil, err
	}
	thSF := h.th.Sum()
	if h.rs != nil {
		err = checkResumedFinish(cf, h.hs, "c finished", thSF)
	} else {
		err = checkFinish(cf, h.peer[0], ClientSignatureContext, h.hs, "c finished", thSF)
	}
	if err != nil {
		return nil, err
	}
	h.th.Add(body)
	h.thCF = h.th.Sum()
	return newSession(h.conn, h.br, h.hs, h.thCF, false, h.srv.id, sessionParams{suite: h.suite, binary: h.binary, peerMax: h.peerMx})
}

// checkFinish verifies a finish message's signature and MAC.
func checkFinish(f finish, peer *x509.Certificate, sigContext string, hs []byte, macLabel string, th []byte) error {
	if !f.hasSignature {
		return fmt.Errorf("%w: %s: %w \"signature\"", ErrProtocol, f.Type, ErrJSONMissing)
	}
	sig, err := decodeB64("signature", f.Signature, -1)
	if err != nil {
		return err
	}
	mac, err := decodeB64("finished", f.Finished, 32)
	if err != nil {
		return err
	}
	if !Verify(peer.PublicKey, sigContext, th, sig) {
		return fmt.Errorf("%w: transcript signature does not verify with the certificate's key", ErrHandshake)
	}
	if !hmac.Equal(mac, FinishedMAC(hs, macLabel, th)) {
		return fmt.Errorf("%w: finished MAC mismatch", ErrHandshake)
	}
	return nil
}

// newKeyShare makes an ephemeral X25519 key from 32 bytes of rand, one per
// connection, never reused: this is what gives forward secrecy. Reading the
// bytes ourselves (instead of ecdh.GenerateKey) keeps Rand injectable, so
// test vectors are reproducible.
func newKeyShare(rand io.Reader) (*ecdh.PrivateKey, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(b)
}

// x25519 computes the shared secret; crypto/ecdh refuses a low-order peer
// key (all-zero output), which would make the secret predictable.
func x25519(priv *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: key_share: %w", ErrHandshake, err)
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: key_share: %w", ErrHandshake, err)
	}
	return shared, nil
}
