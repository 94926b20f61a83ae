package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"
)

// Server side of resumption (docs/PROTOCOL.md §13.4).

// tryResume accepts the ticket offered in client_hello if every check of
// §13.4 passes. A refused ticket is not an error: the handshake goes on in
// full (the hello carries everything a full handshake needs). Only a
// certificate that is no longer good ends the handshake, since a full
// handshake would refuse it too.
func (h *serverHandshake) tryResume(ctx context.Context) (bool, error) {
	if h.ch.Ticket == "" {
		return false, nil
	}
	err := h.resume(ctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrPeerCertificate):
		return false, err
	}
	h.srv.id.logger.Info("resumption declined, full handshake", "reason", err)
	return false, nil
}

// resume runs the checks in the order of §13.4: ticket (key, integrity,
// expiry), binder, certificate identity, single use, then what can have
// changed since the ticket was issued: validity period and revocation.
func (h *serverHandshake) resume(ctx context.Context) error {
	t := h.srv.tickets
	if t == nil {
		return errTicketsOff
	}
	raw, err := b64.DecodeString(h.ch.Ticket)
	if err != nil {
		return errTicketMalformed
	}
	id := h.srv.id
	now := id.now()
	st, err := t.open(raw, now)
	if err != nil {
		return err
	}
	if st.suite != h.suite {
		return errTicketSuite
	}
	trunc, err := truncatedHello(h.chBody, h.ch.Binder)
	if err != nil {
		return err
	}
	mac, err := b64.DecodeString(h.ch.Binder)
	if err != nil || !hmac.Equal(mac, Binder(st.secret, trunc)) {
		return errBinder
	}
	chain, err := parseChain("certificate", h.ch.Certificate)
	if err != nil {
		return err
	}
	leaf := chain[0]
	if sha256.Sum256(leaf.Raw) != st.certHash {
		return errTicketCert
	}
	if err := t.markUsed(st, now); err != nil {
		return err
	}
	if err := t.spend(ctx, st); err != nil {
		return err
	}
	// The chain was verified when the ticket was issued and the trust
	// anchors of a Server do not change, so no signature is checked again;
	// the ticket's expiry is already capped at the chain's NotAfter.
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: certificate is outside its validity period", ErrPeerCertificate)
	}
	if err := id.checker.Check(ctx, leaf); err != nil {
		return fmt.Errorf("%w: %w", ErrPeerCertificate, err)
	}
	cn := leaf.Subject.CommonName
	if h.ch.ClientID != "" && h.ch.ClientID != cn {
		return fmt.Errorf("%w: client_id %q does not match certificate CN %q", ErrPeerCertificate, truncate(h.ch.ClientID, maxIDLen), cn)
	}
	h.peer, h.rs, h.parentExpiry = chain, st.secret, st.expires
	return nil
}

// checkResumedFinish verifies a resumed handshake's finish message: a
// Finished MAC and no signature.
func checkResumedFinish(f finish, hs []byte, macLabel string, th []byte) error {
	if f.hasSignature {
		return fmt.Errorf("%w: signature in a resumed handshake", ErrProtocol)
	}
	mac, err := decodeB64("finished", f.Finished, 32)
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, FinishedMAC(hs, macLabel, th)) {
		return fmt.Errorf("%w: finished MAC mismatch", ErrHandshake)
	}
	return nil
}

// sendTicket sends the new_ticket record promised in server_hello
// (§13.2): a fresh ticket id, this session's resumption secret, and an
// expiry capped by the lifetime, the ticket this session resumed from (so
// one full handshake authorises resumptions for at most one lifetime) and
// the certificates' NotAfter.
func (h *serverHandshake) sendTicket(s *Session) error {
	if !h.promised {
		return nil
	}
	t, id := h.srv.tickets, h.srv.id
	now := id.now()
	expires := now.Add(t.cfg.Lifetime)
	if !h.parentExpiry.IsZero() && h.parentExpiry.Before(expires) {
		expires = h.parentExpiry
	}
	for _, c := range h.peer {
		if c.NotAfter.Before(expires) {
			expires = c.NotAfter
		}
	}
	st := &ticketState{suite: h.suite, secret: ResumptionSecret(h.hs, h.thCF), issued: now,
		expires: expires.Truncate(time.Second), certHash: sha256.Sum256(h.peer[0].Raw)}
	if _, err := io.ReadFull(id.rand, st.id[:]); err != nil {
		return fmt.Errorf("ticket id: %w", err)
	}
	sealed, err := t.seal(st, now)
	if err != nil {
		return err
	}
	body := marshal(newTicketBody{Ticket: b64.EncodeToString(sealed), LifetimeS: max(st.expires.Unix()-now.Unix(), 0)})
	return WriteRecord(s, typeNewTicket, body)
}
