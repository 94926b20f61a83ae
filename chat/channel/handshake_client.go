package channel

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// clientHandshake runs the client side of docs/PROTOCOL.md §3:
// sendClientHello, readServerHello, checkServerCertificate,
// readServerFinish, sendClientFinish.
type clientHandshake struct {
	cfg   *ClientConfig
	id    identity
	conn  net.Conn
	br    *bufio.Reader
	hdr   [FrameHeaderLen]byte
	th    *Transcript
	priv  *ecdh.PrivateKey
	sh    serverHelloExt
	peer  []*x509.Certificate
	hs    []byte
	thSH  []byte
	thCF  []byte
	peerM int
	// offered is the ticket sent in client_hello, if any; resumed is set
	// when the server accepted it (§13).
	offered *SessionTicket
	resumed bool
	// suites and binary are what client_hello offered; suite is the one
	// the server chose.
	suites []string
	binary bool
	suite  *Suite
}

func (h *clientHandshake) run(ctx context.Context) (*Session, error) {
	h.th = NewTranscript()
	if err := h.sendClientHello(); err != nil {
		return nil, err
	}
	if err := h.readServerHello(); err != nil {
		return nil, err
	}
	check := h.checkServerCertificate
	if h.resumed {
		check = h.checkResumedServer
	}
	if err := check(ctx); err != nil {
		h.abort(err)
		return nil, err
	}
	if err := h.readServerFinish(); err != nil {
		h.abort(err)
		return nil, err
	}
	s, err := h.sendClientFinish()
	if err != nil {
		return nil, err
	}
	s.peer, s.resumed = h.peer, h.resumed
	if h.sh.NewTicket {
		if err := h.readNewTicket(s); err != nil {
			h.abort(err)
			return nil, err
		}
	}
	return s, nil
}

// abort tells the server why we give up (an error frame, §8).
func (h *clientHandshake) abort(err error) {
	var re *RemoteError
	if errors.As(err, &re) || IsTimeout(err) || errors.Is(err, io.EOF) {
		return
	}
	code := CodeOf(err)
	sendError(h.conn, code, PublicReason(code))
}

// sendClientHello sends our random, timestamp, ephemeral key share and
// certificate chain (§4.1); with a ticket cache, also a ticket request and
// a ticket with its binder when one is at hand (§13.1).
func (h *clientHandshake) sendClientHello() error {
	random := make([]byte, RandomLen)
	if _, err := io.ReadFull(h.id.rand, random); err != nil {
		return fmt.Errorf("client random: %w", err)
	}
	var err error
	if h.suites, err = h.cfg.offeredSuites(); err != nil {
		return err
	}
	if h.priv, err = newKeyShare(h.id.rand); err != nil {
		return err
	}
	h.binary = !h.cfg.JSONRecords
	ch := clientHelloExt{clientHello: clientHello{
		Type: typeClientHello, Version: ProtocolVersion,
		Suites:       h.suites,
		ClientID:     h.cfg.ClientID,
		Certificate:  h.id.certField,
		ClientRandom: b64.EncodeToString(random),
		Timestamp:    h.id.now().Unix(),
		KeyShare:     b64.EncodeToString(h.priv.PublicKey().Bytes()),
		MaxFrame:     h.id.max,
	}, BinaryRecords: h.binary}
	var body []byte
	if h.cfg.Tickets != nil {
		ch.TicketRequest = true
		h.offered = h.takeTicket()
	}
	if h.offered != nil {
		ch.Ticket = b64.EncodeToString(h.offered.Ticket)
		body = marshalHelloWithBinder(ch, h.offered.Secret)
	} else {
		body = marshal(ch)
	}
	h.th.Add(body)
	return WriteFrame(h.conn, body)
}

// readServerHello reads server_hello (§4.2); a rejection is returned as a
// *RemoteError, which wraps ErrRejectedByServer.
func (h *clientHandshake) readServerHello() error {
	body, err := ReadFrame(h.br, &h.hdr, MaxHandshakeFrame)
	if err != nil {
		return err
	}
	if err := decodeFrame(body, typeServerHello, &h.sh); err != nil {
		return err
	}
	sh := &h.sh
	if sh.Status != "ok" {
		if !sh.hasError {
			return fmt.Errorf("%w: server_hello status %q without error", ErrProtocol, truncate(sh.Status, 32))
		}
		return remoteError(sh.errBody)
	}
	if name := sh.missing(sh.Resumed); name != "" {
		return fmt.Errorf("%w: server_hello: %w %q", ErrProtocol, ErrJSONMissing, name)
	}
	if (sh.Resumed && h.offered == nil) || (sh.NewTicket && h.cfg.Tickets == nil) || (sh.BinaryRecords && !h.binary) {
		return fmt.Errorf("%w: server_hello answers a field the client did not send", ErrProtocol)
	}
	h.resumed = sh.Resumed
	h.binary = sh.BinaryRecords
	if slices.Contains(h.suites, sh.Suite) {
		h.suite = SuiteByName(sh.Suite)
	}
	// A resumption runs under the ticket's suite only (§13.2).
	if sh.Version != ProtocolVersion || h.suite == nil || (h.resumed && h.offered.Suite != h.suite.Name) {
		return fmt.Errorf("%w: server chose %q / %q", ErrHandshake, truncate(sh.Version, 32), truncate(sh.Suite, 64))
	}
	if sh.MaxFrame < MinMaxFrame {
		return fmt.Errorf("%w: max_frame %d is below %d", ErrProtocol, sh.MaxFrame, MinMaxFrame)
	}
	h.peerM = sh.MaxFrame
	if _, err := decodeB64("server_random", sh.ServerRandom, RandomLen); err != nil {
		return err
	}
	share, err := decodeB64("key_share", sh.KeyShare, keyShareLen)
	if err != nil {
		return err
	}
	if err := checkTimestamp(sh.Timestamp, h.id.now(), h.id.window); err != nil {
		return err
	}
	h.th.Add(body)
	h.thSH = h.th.Sum()
	shared, err := x25519(h.priv, share)
	if err != nil {
		return err
	}
	if h.resumed {
		h.hs = ResumedHandshakeSecret(h.offered.Secret, shared)
	} else {
		h.hs = HandshakeSecret(shared)
	}
	return nil
}

// checkServerCertificate: chains to the CA, serverAuth, valid for
// ServerName, not a CA, and good per the PeerChecker (§7).
func (h *clientHandshake) checkServerCertificate(ctx context.Context) error {
	chain, err := parseChain("server_certificate", h.sh.ServerCertificate)
	if err != nil {
		return err
	}
	verified, err := verifyPeer(ctx, h.id, chain, x509.ExtKeyUsageServerAuth, h.cfg.ServerName)
	if err != nil {
		return err
	}
	h.peer = verified
	return nil
}

// readServerFinish checks the server's proof of possession and Finished
// MAC over the transcript through server_hello (§4.3).
func (h *clientHandshake) readServerFinish() error {
	body, err := ReadFrame(h.br, &h.hdr, MaxHandshakeFrame)
	if err != nil {
		return err
	}
	var sf finish
	if err := decodeFrame(body, typeServerFinish, &sf); err != nil {
		return err
	}
	if h.resumed {
		err = checkResumedFinish(sf, h.hs, "s finished", h.thSH)
	} else {
		err = checkFinish(sf, h.peer[0], ServerSignatureContext, h.hs, "s finished", h.thSH)
	}
	if err != nil {
		return err
	}
	h.th.Add(body)
	return nil
}

// sendClientFinish signs the transcript through server_finish with our
// certificate's key and adds our Finished MAC (§4.4); a resumed handshake
// sends the MAC alone (§13.4).
func (h *clientHandshake) sendClientFinish() (*Session, error) {
	thSF := h.th.Sum()
	mac := b64.EncodeToString(FinishedMAC(h.hs, "c finished", thSF))
	var body []byte
	if h.resumed {
		body = marshal(resumedFinish{Type: typeClientFinish, Finished: mac})
	} else {
		sig, err := Sign(h.id.rand, h.id.key, ClientSignatureContext, thSF)
		if err != nil {
			return nil, fmt.Errorf("sign transcript: %w", err)
		}
		body = marshal(finish{Type: typeClientFinish, Signature: b64.EncodeToString(sig), Finished: mac})
	}
	h.th.Add(body)
	if err := WriteFrame(h.conn, body); err != nil {
		return nil, err
	}
	h.thCF = h.th.Sum()
	return newSession(h.conn, h.br, h.hs, h.thCF, true, h.id, sessionParams{suite: h.suite, binary: h.binary, peerMax: h.peerM})
}

// handshakeDeadline is the earlier of ctx's deadline and now+timeout.
func handshakeDeadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}
