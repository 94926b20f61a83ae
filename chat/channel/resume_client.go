package channel

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Client side of resumption (docs/PROTOCOL.md §13).

// SessionTicket is what a client keeps to resume a session with a server.
// Secret is as sensitive as a private key: whoever holds it and Ticket can
// resume as the client (until the ticket expires or is used).
type SessionTicket struct {
	Ticket  []byte    // opaque, sealed by the server
	Secret  []byte    // resumption secret
	Expires time.Time // by the client's clock
	// ServerCert is the server certificate verified in the handshake that
	// produced the ticket; a resumption re-checks its validity and
	// revocation with ClientConfig.Checker.
	ServerCert *x509.Certificate
	// ClientCert is the DER of the client certificate the ticket is bound
	// to; it is used only with that certificate.
	ClientCert []byte
	// Suite is the cipher suite of the session that produced the ticket:
	// the ticket is offered only when that suite is, and resumes only with
	// it (§13.2).
	Suite string
}

// TicketCache stores at most one ticket per server name. A client takes a
// ticket out (Get, then Delete) before using it, so it is offered at most
// once, and Puts the ticket the server sends after every handshake.
type TicketCache interface {
	Get(serverName string) *SessionTicket
	Put(serverName string, t *SessionTicket)
	Delete(serverName string)
}

// MemoryTicketCache is an in-memory TicketCache; the zero value is ready.
type MemoryTicketCache struct {
	mu sync.Mutex
	m  map[string]*SessionTicket
}

var _ TicketCache = (*MemoryTicketCache)(nil)

// Get returns the ticket for serverName, or nil.
func (c *MemoryTicketCache) Get(serverName string) *SessionTicket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[serverName]
}

// Put stores t for serverName, replacing any previous ticket.
func (c *MemoryTicketCache) Put(serverName string, t *SessionTicket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*SessionTicket)
	}
	c.m[serverName] = t
}

// Delete forgets the ticket for serverName.
func (c *MemoryTicketCache) Delete(serverName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, serverName)
}

// takeTicket removes and returns a ticket usable now with our certificate.
func (h *clientHandshake) takeTicket() *SessionTicket {
	cache := h.cfg.Tickets
	t := cache.Get(h.cfg.ServerName)
	if t == nil {
		return nil
	}
	cache.Delete(h.cfg.ServerName) // single use, whatever happens next
	if !h.id.now().Before(t.Expires) || t.ServerCert == nil || len(t.Secret) != BinderLen ||
		!bytes.Equal(t.ClientCert, h.id.chain[0].Raw) || !slices.Contains(h.suites, t.Suite) {
		return nil
	}
	return t
}

// checkResumedServer re-checks the server certificate remembered with the
// ticket: the server proves it is the one that issued the ticket through
// the Finished MAC; what can have changed is validity and revocation.
func (h *clientHandshake) checkResumedServer(ctx context.Context) error {
	cert := h.offered.ServerCert
	now := h.id.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: server certificate is outside its validity period", ErrPeerCertificate)
	}
	if err := h.id.checker.Check(ctx, cert); err != nil {
		return fmt.Errorf("%w: %w", ErrPeerCertificate, err)
	}
	h.peer = []*x509.Certificate{cert}
	return nil
}

// readNewTicket reads the new_ticket record the server announced in
// server_hello (its first record) and stores the ticket (§13.2).
func (h *clientHandshake) readNewTicket(s *Session) error {
	body, err := ReadFrame(h.br, &h.hdr, h.id.max)
	if err != nil {
		return err
	}
	r, err := parseNewTicketRecord(body, s.in.binary)
	if err != nil {
		return err
	}
	pt, err := s.in.open(r)
	if err != nil {
		return err
	}
	var nt newTicketBody
	if err := DecodePlain(typeNewTicket, pt, &nt); err != nil {
		return err
	}
	ticket, err := decodeB64("ticket", nt.Ticket, -1)
	if err != nil {
		return err
	}
	if nt.LifetimeS < 0 || nt.LifetimeS > int64(7*24*time.Hour/time.Second) {
		return fmt.Errorf("%w: new_ticket lifetime %d s", ErrProtocol, nt.LifetimeS)
	}
	h.cfg.Tickets.Put(h.cfg.ServerName, &SessionTicket{
		Ticket: ticket, Secret: ResumptionSecret(h.hs, h.thCF),
		Expires:    h.id.now().Add(time.Duration(nt.LifetimeS) * time.Second),
		ServerCert: h.peer[0], ClientCert: h.id.chain[0].Raw, Suite: h.suite.Name,
	})
	return nil
}

// parseNewTicketRecord decodes the new_ticket record frame in the session's
// body format.
func parseNewTicketRecord(body []byte, isBinary bool) (record, error) {
	if !isBinary {
		return parseRecordFrame(body, typeNewTicket)
	}
	r, err := parseBinaryRecord(body)
	if err == nil && r.Type != typeNewTicket {
		return record{}, fmt.Errorf("%w: got %q, want %q", ErrProtocol, r.Type, typeNewTicket)
	}
	return r, err
}

// parseRecordFrame decodes a record frame that must be of type want
// (record types outside the session's set, like new_ticket, are read
// here rather than by the session).
func parseRecordFrame(body []byte, want string) (record, error) {
	var rf recordFrame
	if err := decodeFrame(body, want, &rf); err != nil {
		return record{}, err
	}
	ct, err := decodeB64("ciphertext", rf.Ciphertext, -1)
	if err != nil {
		return record{}, err
	}
	return record{Type: rf.Type, Seq: rf.Seq, Ciphertext: ct}, nil
}
