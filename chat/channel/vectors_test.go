package channel

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/securechat/scca/internal/golden"
	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
)

// counterReader yields start, start+1, ... (mod 256): a randomness stream
// any implementation can reproduce.
type counterReader struct{ next byte }

func (r *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// vectors is chat/channel/testdata/vectors.json, quoted in docs/PROTOCOL.md §10.
type vectors struct {
	Note           string `json:"note"`
	Time           string `json:"time"`
	ClientRand     string `json:"client_rand"`
	ServerRand     string `json:"server_rand"`
	CACert         string `json:"ca_certificate"`
	ServerCert     string `json:"server_certificate"`
	ClientCert     string `json:"client_certificate"`
	ServerKeySeed  string `json:"server_ed25519_seed"`
	ClientKeySeed  string `json:"client_ed25519_seed"`
	ClientHello    string `json:"client_hello"`
	ServerHello    string `json:"server_hello"`
	ServerFinish   string `json:"server_finish"`
	ClientFinish   string `json:"client_finish"`
	THServerHello  string `json:"transcript_hash_server_hello"`
	THServerFinish string `json:"transcript_hash_server_finish"`
	THClientFinish string `json:"transcript_hash_client_finish"`
	SharedSecret   string `json:"x25519_shared_secret"`
	HSecret        string `json:"handshake_secret"`
	CKey           string `json:"client_to_server_key"`
	CIV            string `json:"client_to_server_iv"`
	SKey           string `json:"server_to_client_key"`
	SIV            string `json:"server_to_client_iv"`
	Plaintext      string `json:"message_plaintext"`
	MessageFrame   string `json:"message_frame,omitempty"`
	AckFrame       string `json:"ack_frame,omitempty"`
	// Only in the vectors of other suites and record bodies (§10.2): the
	// suite chosen, the record body, and binary frame bodies in hex.
	Suite           string `json:"suite,omitempty"`
	RecordBody      string `json:"record_body,omitempty"`
	MessageFrameHex string `json:"message_frame_hex,omitempty"`
	AckFrameHex     string `json:"ack_frame_hex,omitempty"`
}

var vectorTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fixedKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func fixedCert(t *testing.T, serial int64, cn string, isCA bool, eku x509.ExtKeyUsage, pub, parentKey any, parent *x509.Certificate) *x509.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: vectorTime.AddDate(-1, 0, 0), NotAfter: vectorTime.AddDate(10, 0, 0),
		BasicConstraintsValid: true, IsCA: isCA, KeyUsage: x509.KeyUsageDigitalSignature}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		tmpl.DNSNames = []string{cn}
	}
	if parent == nil {
		parent = tmpl
	}
	return testpki.MustCreate(t, tmpl, parent, pub, parentKey.(ed25519.PrivateKey))
}

// vectorText is the message every vector session sends.
const vectorText = "Hello Secure Server!"

// vectorPeers are the pinned identities (Ed25519 keys, so signatures are
// deterministic), clock and randomness of the vector sessions: the
// server's stream is bytes 0x80.., the client's bytes 0x00...
type vectorPeers struct {
	root, sCert, cCert *x509.Certificate
	sKey, cKey         ed25519.PrivateKey
	srv                *Server
	ccfg               ClientConfig // JSON records, no tickets
}

func newVectorPeers(t *testing.T) *vectorPeers {
	caKey := fixedKey(1)
	p := &vectorPeers{sKey: fixedKey(2), cKey: fixedKey(3)}
	p.root = fixedCert(t, 1, "Vector Root CA", true, 0, caKey.Public(), caKey, nil)
	p.sCert = fixedCert(t, 2, "chat.example", false, x509.ExtKeyUsageServerAuth, p.sKey.Public(), caKey, p.root)
	p.cCert = fixedCert(t, 3, "client123", false, x509.ExtKeyUsageClientAuth, p.cKey.Public(), caKey, p.root)
	inv := testchat.NewInventory()
	inv.Add(p.sCert)
	inv.Add(p.cCert)
	now := func() time.Time { return vectorTime }
	srv, err := newTestServer(testServerConfig{ServerConfig: ServerConfig{Config: Config{Chain: []*x509.Certificate{p.sCert}, Key: p.sKey,
		Roots: testpki.PoolOf(p.root), Checker: inv, Now: now, Rand: &counterReader{next: 0x80}}}, OnMessage: func(string, string) {}})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	p.ccfg = ClientConfig{JSONRecords: true, Config: Config{Chain: []*x509.Certificate{p.cCert}, Key: p.cKey, Roots: testpki.PoolOf(p.root),
		Checker: inv, Now: now, Rand: &counterReader{}}, ServerName: "chat.example", ClientID: "client123"}
	return p
}

// vectorSession is one recorded session: the client, each side's frames,
// the transcript hashes through server_hello, server_finish and
// client_finish, and the X25519 shared secret.
type vectorSession struct {
	c                *testConn
	cf, sf           [][]byte
	thSH, thSF, thCF []byte
	shared           []byte
}

// run serves one connection of p.srv over a recorded pipe, runs the client
// handshake with ccfg, sends vectorText and closes.
func (p *vectorPeers) run(t *testing.T, ccfg ClientConfig) vectorSession {
	sEnd, cEnd := net.Pipe()
	sRec, cRec := &recorder{Conn: sEnd}, &recorder{Conn: cEnd}
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&serverConn{srv: p.srv, conn: sRec, remote: "pipe"}).serve()
	}()
	c, err := clientConn(cRec, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), vectorText); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-done
	s := vectorSession{c: c, cf: splitFrames(cRec.written), sf: splitFrames(sRec.written)}
	th := NewTranscript()
	th.Add(s.cf[0][4:])
	th.Add(s.sf[0][4:])
	s.thSH = th.Sum()
	th.Add(s.sf[1][4:])
	s.thSF = th.Sum()
	th.Add(s.cf[1][4:])
	s.thCF = th.Sum()
	// The X25519 private keys follow the 32-byte randoms in each stream.
	cPriv, _ := newKeyShare(&counterReader{next: 32})
	sPriv, _ := newKeyShare(&counterReader{next: 0x80 + 32})
	if s.shared, err = cPriv.ECDH(sPriv.PublicKey()); err != nil {
		t.Fatal(err)
	}
	return s
}

// frameBody is f without its 4-byte length.
func frameBody(f []byte) string { return string(f[FrameHeaderLen:]) }

// runVectorSession runs a handshake and one message with pinned clock,
// randomness and Ed25519 keys (deterministic signatures) and records it.
func runVectorSession(t *testing.T) vectors { return runVectorSessionWith(t, nil) }

// runVectorSessionWith is runVectorSession with the client configuration
// changed by mod (another suite, binary records).
func runVectorSessionWith(t *testing.T, mod func(*ClientConfig)) vectors {
	p := newVectorPeers(t)
	ccfg := p.ccfg
	if mod != nil {
		mod(&ccfg)
	}
	s := p.run(t, ccfg)
	c, cf, sf, body := s.c, s.cf, s.sf, frameBody
	hs := HandshakeSecret(s.shared)
	st := c.sess.out.keys.Suite
	c2s := NewTrafficKeys(st, ExpandLabel(hs, "c ap traffic", s.thCF, 32))
	s2c := NewTrafficKeys(st, ExpandLabel(hs, "s ap traffic", s.thCF, 32))
	x := hex.EncodeToString
	v := vectors{
		Note:       "securechat/1 test vectors: see docs/PROTOCOL.md §10; frames are JSON bodies without the 4-byte length",
		Time:       vectorTime.Format(time.RFC3339),
		ClientRand: "bytes 0x00, 0x01, 0x02, ... (client_random, then X25519 private key)",
		ServerRand: "bytes 0x80, 0x81, 0x82, ... (server_random, then X25519 private key)",
		CACert:     encodeChain([]*x509.Certificate{p.root}), ServerCert: encodeChain([]*x509.Certificate{p.sCert}),
		ClientCert: encodeChain([]*x509.Certificate{p.cCert}), ServerKeySeed: x(p.sKey.Seed()), ClientKeySeed: x(p.cKey.Seed()),
		ClientHello: body(cf[0]), ServerHello: body(sf[0]), ServerFinish: body(sf[1]), ClientFinish: body(cf[1]),
		THServerHello: x(s.thSH), THServerFinish: x(s.thSF), THClientFinish: x(s.thCF),
		SharedSecret: x(s.shared), HSecret: x(hs),
		CKey: x(c2s.Key), CIV: x(c2s.IV), SKey: x(s2c.Key), SIV: x(s2c.IV),
		Plaintext: vectorText, MessageFrame: body(cf[2]), AckFrame: body(sf[2]),
	}
	if mod == nil {
		return v
	}
	v.Note = "securechat/1 test vectors of other suites and record bodies: see docs/PROTOCOL.md §10.2; frame bodies without the 4-byte length (binary ones in hex)"
	v.Suite, v.RecordBody = st.Name, "json"
	if c.sess.binary {
		v.RecordBody = "binary"
		v.MessageFrameHex, v.AckFrameHex = x(cf[2][FrameHeaderLen:]), x(sf[2][FrameHeaderLen:])
		v.MessageFrame, v.AckFrame = "", ""
	}
	return v
}

func TestVectors(t *testing.T) {
	want := golden.JSON(t, filepath.Join("testdata", "vectors.json"), runVectorSession(t))
	// Decrypt the message frame from the stored values alone, spelling out
	// the record format with nothing but crypto/aes (§6.2).
	key, _ := hex.DecodeString(want.CKey)
	iv, _ := hex.DecodeString(want.CIV)
	var rf recordFrame
	if err := json.Unmarshal([]byte(want.MessageFrame), &rf); err != nil || rf.Seq != 0 {
		t.Fatalf("message frame %q: %v", want.MessageFrame, err)
	}
	ct, _ := b64.DecodeString(rf.Ciphertext)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	ad := append([]byte("securechat/1\x00C\x07message"), 0, 0, 0, 0, 0, 0, 0, 0)
	pt, err := gcm.Open(nil, iv, ct, ad) // seq 0: nonce = iv
	if err != nil || string(pt) != want.Plaintext {
		t.Fatalf("independent decryption: %q, %v", pt, err)
	}
	th := sha256.New()
	for _, f := range []string{want.ClientHello, want.ServerHello} {
		th.Write(AppendFrame(nil, []byte(f)))
	}
	if x := hex.EncodeToString(th.Sum(nil)); x != want.THServerHello {
		t.Fatalf("transcript hash through server_hello %s, want %s", x, want.THServerHello)
	}
}
