package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/securechat/scca/internal/golden"
	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
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
	caKey, sKey, cKey := fixedKey(1), fixedKey(2), fixedKey(3)
	root := fixedCert(t, 1, "Vector Root CA", true, 0, caKey.Public(), caKey, nil)
	sCert := fixedCert(t, 2, "chat.example", false, x509.ExtKeyUsageServerAuth, sKey.Public(), caKey, root)
	cCert := fixedCert(t, 3, "client123", false, x509.ExtKeyUsageClientAuth, cKey.Public(), caKey, root)
	inv := testchat.NewInventory()
	inv.Add(sCert)
	inv.Add(cCert)
	now := func() time.Time { return vectorTime }
	srv, err := newTestServer(testServerConfig{ServerConfig: ServerConfig{Config: Config{Chain: []*x509.Certificate{sCert}, Key: sKey,
		Roots: testpki.PoolOf(root), Checker: inv, Now: now, Rand: &counterReader{next: 0x80}}}, OnMessage: func(string, string) {}})
	if err != nil {
		t.Fatal(err)
	}
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
		ServerCert: sCert, ClientCert: cCert.Raw, Suite: SuiteX25519AES256GCMSHA256})

	sEnd, cEnd := net.Pipe()
	sRec, cRec := &recorder{Conn: sEnd}, &recorder{Conn: cEnd}
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&serverConn{srv: srv, conn: sRec, remote: "pipe"}).serve()
	}()
	c, err := clientConn(cRec, ClientConfig{JSONRecords: true, Config: Config{Chain: []*x509.Certificate{cCert}, Key: cKey, Roots: testpki.PoolOf(root),
		Checker: inv, Now: now, Rand: &counterReader{}}, ServerName: "chat.example", ClientID: "client123", Tickets: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Resumed() {
		t.Fatal("vector session did not resume")
	}
	const text = "Hello Secure Server!"
	if err := c.Send(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-done
	cf, sf := splitFrames(cRec.written), splitFrames(sRec.written)
	body := func(f []byte) string { return string(f[FrameHeaderLen:]) }
	th := NewTranscript()
	th.Add(cf[0][4:])
	th.Add(sf[0][4:])
	thSH := th.Sum()
	th.Add(sf[1][4:])
	thSF := th.Sum()
	th.Add(cf[1][4:])
	thCF := th.Sum()
	cPriv, _ := newKeyShare(&counterReader{next: 32})
	sPriv, _ := newKeyShare(&counterReader{next: 0x80 + 32})
	shared, err := cPriv.ECDH(sPriv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	hs := ResumedHandshakeSecret(rs, shared)
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
		THServerHello:  x(thSH), THServerFinish: x(thSF), THClientFinish: x(thCF),
		SharedSecret: x(shared), HSecret: x(hs),
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
