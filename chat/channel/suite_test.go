package channel

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/securechat/scca/internal/golden"
)

// TestSuiteRegistry guards the values every suite must agree with: the
// AEAD's real key, nonce and tag sizes, unique names and ticket codes, and
// a key update interval far below every per-key record limit.
func TestSuiteRegistry(t *testing.T) {
	names, codes := map[string]bool{}, map[byte]bool{}
	for _, s := range suites {
		aead, err := s.NewAEAD(make([]byte, s.KeyLen))
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if aead.NonceSize() != s.NonceLen || s.NonceLen < 8 || aead.Overhead() != 16 {
			t.Errorf("%s: nonce %d (declared %d), tag %d", s.Name, aead.NonceSize(), s.NonceLen, aead.Overhead())
		}
		if _, err := s.NewAEAD(make([]byte, s.KeyLen-1)); err == nil {
			t.Errorf("%s: accepts a short key", s.Name)
		}
		if names[s.Name] || codes[s.TicketCode] || s.TicketCode == 0 {
			t.Errorf("%s: duplicate name or ticket code %#x", s.Name, s.TicketCode)
		}
		names[s.Name], codes[s.TicketCode] = true, true
		if DefaultKeyUpdateAfter*2 > s.MaxRecords || SuiteByName(s.Name) != s || SuiteByTicketCode(s.TicketCode) != s {
			t.Errorf("%s: registry lookups or limits inconsistent", s.Name)
		}
	}
	if SuiteByName(SuiteX25519AES256GCMSHA256) != SuiteAES256GCM || suites[0] != SuiteAES256GCM {
		t.Error("AES-256-GCM is not the first (default) suite")
	}
	if MaxSuiteNonceLen() != 12 || MinSuiteRecords() != 1<<24 {
		t.Errorf("derived bounds: nonce %d, records %d", MaxSuiteNonceLen(), MinSuiteRecords())
	}
}

// TestRecordBoundsFromRegistry guards the bounds derived from the record
// type registry: the additional data of every type fits the scratch buffer
// without growing it, and the longest plaintext maxPlaintext allows fits a
// frame for every type, suite, body format and sequence number, while one
// more block does not.
func TestRecordBoundsFromRegistry(t *testing.T) {
	longest := ""
	for _, typ := range []string{typeMessage, typeAck, typeKeyUpdate, typeClose, typeNewTicket} {
		if _, ok := anyRecordTypeOf([]byte(typ)); !ok {
			t.Errorf("record type %q is not in the registry", typ)
		}
	}
	for _, typ := range append(slices.Clone(recordTypes), typeNewTicket) {
		if len(typ) > len(longest) {
			longest = typ
		}
		h, err := newHalfConn(dirClientToServer, NewTrafficKeys(SuiteAES256GCM, make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		ad := additionalData(h.adBuf, h.dir, typ, math.MaxUint64)
		if len(ad) > maxADLen || &ad[:1][0] != &h.adBuf[:1][0] {
			t.Errorf("additional data for %q (%d bytes) outgrows the %d-byte scratch", typ, len(ad), maxADLen)
		}
	}
	if maxRecordTypeLen != len(longest) || maxADLen != len(ProtocolVersion)+3+len(longest)+8 {
		t.Fatalf("maxRecordTypeLen %d, maxADLen %d; longest type %q", maxRecordTypeLen, maxADLen, longest)
	}
	for _, st := range suites {
		for _, isBinary := range []bool{false, true} {
			for _, max := range []int{MinMaxFrame, DefaultMaxFrame, DefaultMaxFrame + 1, DefaultMaxFrame + 2} {
				h, err := newHalfConn(dirClientToServer, NewTrafficKeys(st, make([]byte, 32)))
				if err != nil {
					t.Fatal(err)
				}
				h.binary = isBinary
				n := maxPlaintext(max, isBinary, 16)
				for _, typ := range append(slices.Clone(recordTypes), typeNewTicket) {
					h.seq = math.MaxUint64
					if got := len(h.seal(typ, make([]byte, n))) - FrameHeaderLen; got > max {
						t.Errorf("%s binary=%v max %d: %q record of %d bytes is %d > max", st.Name, isBinary, max, typ, n, got)
					}
				}
				step := 3 // base64 grows in 3-byte blocks
				if isBinary {
					step = 1
				}
				h.seq = math.MaxUint64
				if got := len(h.seal(longest, make([]byte, n+step))) - FrameHeaderLen; got <= max {
					t.Errorf("%s binary=%v max %d: bound %d is not tight (%d more bytes fit)", st.Name, isBinary, max, n, step)
				}
			}
		}
	}
}

// TestSuiteNegotiation: the server takes the first suite of the client's
// list it knows; AES-256-GCM is the default, a ChaCha20-Poly1305-only
// client is served with it, in both record body formats.
func TestSuiteNegotiation(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	cases := []struct {
		offer []string
		want  *Suite
	}{
		{nil, SuiteAES256GCM},
		{[]string{SuiteX25519ChaCha20Poly1305SHA256}, SuiteChaCha20Poly1305},
		{[]string{SuiteX25519ChaCha20Poly1305SHA256, SuiteX25519AES256GCMSHA256}, SuiteChaCha20Poly1305},
		{[]string{SuiteX25519AES256GCMSHA256, SuiteX25519ChaCha20Poly1305SHA256}, SuiteAES256GCM},
	}
	for _, tc := range cases {
		for _, jsonRecords := range []bool{false, true} {
			cfg := w.clientConfig()
			cfg.Suites, cfg.JSONRecords = tc.offer, jsonRecords
			c := dialT(t, addr, cfg)
			if c.sess.out.keys.Suite != tc.want || c.sess.in.keys.Suite != tc.want || c.sess.binary == jsonRecords {
				t.Fatalf("offer %v json=%v: suite %s binary %v", tc.offer, jsonRecords, c.sess.out.keys.Suite.Name, c.sess.binary)
			}
			// Enough records to cross key updates client to server.
			c.sess.rekeyAfter = 2
			for i := range 5 {
				if err := c.Send(context.Background(), strings.Repeat("x", 100*i)); err != nil {
					t.Fatalf("offer %v: send %d: %v", tc.offer, i, err)
				}
			}
			c.Close()
		}
	}
	if n := len(rec.Messages()); n != len(cases)*2*5 {
		t.Fatalf("server got %d messages", n)
	}
	cfg := w.clientConfig()
	cfg.Suites = []string{"SC1_X25519_DES_MD5"}
	if _, err := dialConn(context.Background(), addr, cfg); err == nil || !strings.Contains(err.Error(), "unknown cipher suite") {
		t.Fatalf("unknown suite in config: %v", err)
	}
}

// TestServerSkipsUnknownSuites: names the server does not know are skipped,
// a list of only unknown ones is no_common_suite.
func TestServerSkipsUnknownSuites(t *testing.T) {
	if s := ChooseSuite([]string{"SC2_FUTURE", SuiteX25519ChaCha20Poly1305SHA256}); s != SuiteChaCha20Poly1305 {
		t.Fatalf("chose %v", s)
	}
	if s := ChooseSuite([]string{"SC2_FUTURE", ""}); s != nil {
		t.Fatalf("chose %v from unknown suites", s.Name)
	}
}

// TestTicketResumesOnlyWithItsSuite: a ticket from a ChaCha20-Poly1305
// session resumes a ChaCha20-Poly1305 handshake; when the server picks
// another suite it is refused (full handshake), and a client that no longer
// offers the suite does not send it.
func TestTicketResumesOnlyWithItsSuite(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cfg.Suites = []string{SuiteX25519ChaCha20Poly1305SHA256}
	cache := fullThenTicket(t, addr, cfg)
	if got := cache.Get("localhost").Suite; got != SuiteX25519ChaCha20Poly1305SHA256 {
		t.Fatalf("ticket suite %q", got)
	}
	cfg.Tickets = cache
	cfg.Suites = []string{SuiteX25519AES256GCMSHA256, SuiteX25519ChaCha20Poly1305SHA256}
	if c := dialT(t, addr, cfg); c.Resumed() || c.sess.out.keys.Suite != SuiteAES256GCM {
		t.Fatal("ChaCha20-Poly1305 ticket resumed an AES-256-GCM session")
	}
	// The full handshake above left an AES ticket: a ChaCha-only client
	// does not offer it.
	cfg.Suites = []string{SuiteX25519ChaCha20Poly1305SHA256}
	if c := dialT(t, addr, cfg); c.Resumed() {
		t.Fatal("AES-256-GCM ticket offered by a ChaCha20-Poly1305-only client")
	}
	if c := dialT(t, addr, cfg); !c.Resumed() || c.sess.out.keys.Suite != SuiteChaCha20Poly1305 {
		t.Fatal("ChaCha20-Poly1305 ticket did not resume a ChaCha20-Poly1305 handshake")
	}
	// Server side, directly: the sealed state carries the suite.
	tk := newTicketer(TicketConfig{}, nil)
	tk.rand = bytes.NewReader(make([]byte, 1024))
	for _, st := range suites {
		sealed, err := tk.seal(&ticketState{suite: st, secret: make([]byte, BinderLen), expires: vectorTime.AddDate(1, 0, 0)}, vectorTime)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tk.open(sealed, vectorTime)
		if err != nil || got.suite != st {
			t.Fatalf("%s: reopened %v, %v", st.Name, got, err)
		}
	}
}

// frameProxy connects to addr and returns the client end of a proxy that
// passes frames through, rewriting client->server frame i with c2s and
// server->client frame i with s2c (nil: unchanged).
func frameProxy(t *testing.T, addr string, c2s, s2c func(i int, body []byte) []byte) net.Conn {
	t.Helper()
	srv, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cli, mid := net.Pipe()
	pump := func(dst, src net.Conn, rw func(int, []byte) []byte) {
		defer dst.Close()
		var hdr [FrameHeaderLen]byte
		for i := 0; ; i++ {
			body, err := ReadFrame(src, &hdr, 1<<20)
			if err != nil {
				return
			}
			if rw != nil {
				body = rw(i, body)
			}
			if _, err := dst.Write(AppendFrame(nil, body)); err != nil {
				return
			}
		}
	}
	go pump(srv, mid, c2s)
	go pump(mid, srv, s2c)
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli
}

// TestBinaryRecordsNoDowngrade: an attacker who strips the offer of binary
// records from client_hello (so the server answers with JSON records)
// changes the transcript, and the client refuses the server's signature;
// one who adds binary_records to a server_hello answering a JSON client is
// refused outright.
func TestBinaryRecordsNoDowngrade(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	strip := func(i int, b []byte) []byte {
		if i == 0 {
			return bytes.Replace(b, []byte(`,"binary_records":true`), nil, 1)
		}
		return b
	}
	_, err := clientConn(frameProxy(t, addr, strip, nil), w.clientConfig())
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("stripped offer: %v, want ErrHandshake", err)
	}
	add := func(i int, b []byte) []byte {
		if i == 0 {
			return bytes.Replace(b, []byte(`"max_frame":`), []byte(`"binary_records":true,"max_frame":`), 1)
		}
		return b
	}
	cfg := w.clientConfig()
	cfg.JSONRecords = true
	_, err = clientConn(frameProxy(t, addr, nil, add), cfg)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("unrequested binary_records: %v, want ErrProtocol", err)
	}
	// Sanity: the proxy itself does not break a handshake.
	c, err := clientConn(frameProxy(t, addr, nil, nil), w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), "through the proxy"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(rec.Messages()) != 1 {
		t.Fatalf("server got %q", rec.Messages())
	}
}

// suiteVectorFiles are the vectors of §10.2: the handshake of §10 under
// the second suite (JSON records), and under the default suite with binary
// record bodies.
var suiteVectorFiles = []struct {
	file string
	mod  func(*ClientConfig)
}{
	{"vectors_chacha20poly1305.json", func(c *ClientConfig) { c.Suites = []string{SuiteX25519ChaCha20Poly1305SHA256} }},
	{"vectors_binary_records.json", func(c *ClientConfig) { c.JSONRecords = false }},
}

func TestSuiteVectors(t *testing.T) {
	for _, vf := range suiteVectorFiles {
		t.Run(vf.file, func(t *testing.T) {
			want := golden.JSON(t, filepath.Join("testdata", vf.file), runVectorSessionWith(t, vf.mod))
			checkVectorRecords(t, want)
		})
	}
}

// checkVectorRecords decrypts the stored message and ack frames from the
// stored keys alone, with nothing but the AEAD packages: the record format
// of §6.2 and §6.7 spelled out independently.
func checkVectorRecords(t *testing.T, v vectors) {
	open := func(keyHex, ivHex string, dir byte, typ string, frame []byte) string {
		key, _ := hex.DecodeString(keyHex)
		iv, _ := hex.DecodeString(ivHex)
		var aead cipher.AEAD
		if v.Suite == SuiteX25519ChaCha20Poly1305SHA256 {
			aead, _ = chacha20poly1305.New(key)
		} else {
			block, _ := aes.NewCipher(key)
			aead, _ = cipher.NewGCM(block)
		}
		var ct []byte
		if v.RecordBody == "binary" {
			// uint8 len ‖ type ‖ uint64 seq (0) ‖ ciphertext
			hdr := append([]byte{byte(len(typ))}, typ...)
			hdr = binary.BigEndian.AppendUint64(hdr, 0)
			if !bytes.HasPrefix(frame, hdr) {
				t.Fatalf("binary %s frame %x does not start with %x", typ, frame, hdr)
			}
			ct = frame[len(hdr):]
		} else {
			var rf recordFrame
			if err := json.Unmarshal(frame, &rf); err != nil || rf.Seq != 0 || rf.Type != typ {
				t.Fatalf("%s frame %q: %v", typ, frame, err)
			}
			ct, _ = b64.DecodeString(rf.Ciphertext)
		}
		ad := append([]byte("securechat/1\x00"), dir, byte(len(typ)))
		ad = append(append(ad, typ...), 0, 0, 0, 0, 0, 0, 0, 0)
		pt, err := aead.Open(nil, iv, ct, ad) // seq 0: nonce = iv
		if err != nil {
			t.Fatalf("independent decryption of %s: %v", typ, err)
		}
		return string(pt)
	}
	msg, ack := []byte(v.MessageFrame), []byte(v.AckFrame)
	if v.RecordBody == "binary" {
		msg, _ = hex.DecodeString(v.MessageFrameHex)
		ack, _ = hex.DecodeString(v.AckFrameHex)
	}
	if got := open(v.CKey, v.CIV, 'C', typeMessage, msg); got != v.Plaintext {
		t.Fatalf("message plaintext %q", got)
	}
	if got := open(v.SKey, v.SIV, 'S', typeAck, ack); got != `{"id":1}` {
		t.Fatalf("ack plaintext %q", got)
	}
}
