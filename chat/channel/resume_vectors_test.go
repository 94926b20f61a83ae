package channel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/securechat/scca/internal/golden"
)

// resumeVectors is chat/channel/testdata/resume_vectors.json, quoted in
// docs/PROTOCOL.md §13.6. Certificates and keys are those of vectors.json.
type resumeVectors struct {
	Note             string `json:"note"`
	Ticket           string `json:"ticket"`
	ResumptionSecret string `json:"resumption_secret"`
	BinderKey        string `json:"binder_key"`
	Binder           string `json:"binder"`
	ClientHello      string `json:"client_hello"`
	ServerHello      string `json:"server_hello"`
	ServerFinish     string `json:"server_finish"`
	ClientFinish     string `json:"client_finish"`
	NewTicketFrame   string `json:"new_ticket_frame"`
	THServerHello    string `json:"transcript_hash_server_hello"`
	THServerFinish   string `json:"transcript_hash_server_finish"`
	THClientFinish   string `json:"transcript_hash_client_finish"`
	SharedSecret     string `json:"x25519_shared_secret"`
	HSecret          string `json:"resumed_handshake_secret"`
	CKey             string `json:"client_to_server_key"`
	CIV              string `json:"client_to_server_iv"`
	SKey             string `json:"server_to_client_key"`
	SIV              string `json:"server_to_client_iv"`
	NextSecret       string `json:"next_resumption_secret"`
	MessageFrame     string `json:"message_frame"`
}

func runResumeVectorSession(t *testing.T) resumeVectors {
	p := newVectorPeers(t)
	srv, cCert := p.srv, p.cCert
	var err error
	// Pinned ticket key (bytes 0x40...: 32 key bytes, then the 8-byte key
	// id) and a ticket sealed with nonce bytes 0xc0...
	if srv.tickets.current, err = newTicketKey(&counterReader{next: 0x40}, vectorTime); err != nil {
		t.Fatal(err)
	}
	srv.tickets.rand = &counterReader{next: 0xc0}
	rs := bytes.Repeat([]byte{0x20}, BinderLen)
	st := &ticketState{suite: SuiteAES256GCM, secret: rs, issued: vectorTime, expires: vectorTime.Add(time.Hour), certHash: sha256.Sum256(cCert.Raw)}
	copy(st.id[:], bytes.Repeat([]byte{0x60}, ticketIDLen))
	ticket, err := srv.tickets.seal(st, vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	srv.tickets.rand = srv.id.rand
	cache := &MemoryTicketCache{}
	cache.Put("chat.example", &SessionTicket{Ticket: ticket, Secret: rs, Expires: vectorTime.Add(time.Hour),
		ServerCert: p.sCert, ClientCert: cCert.Raw, Suite: SuiteX25519AES256GCMSHA256})
	ccfg := p.ccfg
	ccfg.Tickets = cache
	s := p.run(t, ccfg)
	if !s.c.Resumed() {
		t.Fatal("vector session did not resume")
	}
	cf, sf, body, thCF := s.cf, s.sf, frameBody, s.thCF
	hs := ResumedHandshakeSecret(rs, s.shared)
	c2s := NewTrafficKeys(SuiteAES256GCM, ExpandLabel(hs, "c ap traffic", thCF, 32))
	s2c := NewTrafficKeys(SuiteAES256GCM, ExpandLabel(hs, "s ap traffic", thCF, 32))
	var ch clientHelloExt
	if err := json.Unmarshal(cf[0][4:], &ch); err != nil {
		t.Fatal(err)
	}
	x := hex.EncodeToString
	return resumeVectors{
		Note: "securechat/1 resumption test vectors: see docs/PROTOCOL.md §13.6; identities, time and random " +
			"streams as in vectors.json; ticket key bytes 0x40.. (key, then 8-byte id), ticket nonce bytes 0xc0..",
		Ticket: b64.EncodeToString(ticket), ResumptionSecret: x(rs),
		BinderKey: x(ExpandLabel(rs, "res binder", nil, BinderLen)), Binder: ch.Binder,
		ClientHello: body(cf[0]), ServerHello: body(sf[0]), ServerFinish: body(sf[1]), ClientFinish: body(cf[1]),
		NewTicketFrame: body(sf[2]),
		THServerHello:  x(s.thSH), THServerFinish: x(s.thSF), THClientFinish: x(s.thCF),
		SharedSecret: x(s.shared), HSecret: x(hs),
		CKey: x(c2s.Key), CIV: x(c2s.IV), SKey: x(s2c.Key), SIV: x(s2c.IV),
		NextSecret: x(ResumptionSecret(hs, thCF)), MessageFrame: body(cf[2]),
	}
}

func TestResumeVectors(t *testing.T) {
	want := golden.JSON(t, filepath.Join("testdata", "resume_vectors.json"), runResumeVectorSession(t))
	// The binder, recomputed from the stored values alone (§13.3).
	rs, _ := hex.DecodeString(want.ResumptionSecret)
	hello := []byte(want.ClientHello)
	tr, err := truncatedHello(hello, want.Binder)
	if err != nil {
		t.Fatal(err)
	}
	if b64.EncodeToString(Binder(rs, tr)) != want.Binder {
		t.Fatal("binder does not recompute from the resumption secret and truncated hello")
	}
}
