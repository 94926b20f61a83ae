package channel

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/securechat/scca/internal/golden"
)

// moreVectors is chat/channel/testdata/vectors_more.json (docs/PROTOCOL.md §10.1):
// a key update, an ECDSA P-256 signature and an error frame, continuing
// the session of vectors.json.
type moreVectors struct {
	Note string `json:"note"`
	// Key update (§6.4) of the client->server direction of vectors.json.
	CAPTraffic0   string `json:"c_ap_traffic_0"`
	CAPTraffic1   string `json:"c_ap_traffic_1"`
	CKey1         string `json:"client_to_server_key_1"`
	CIV1          string `json:"client_to_server_iv_1"`
	KeyUpdate     string `json:"key_update_frame"` // seq 1 under c_ap_traffic_0
	Plaintext1    string `json:"message_plaintext_1"`
	MessageFrame1 string `json:"message_frame_1"` // seq 0 under c_ap_traffic_1
	// ECDSA P-256 signature (§5.3), verify only: ECDSA signatures are
	// randomized (and Go ignores a custom random source for them).
	ECDSAPrivate   string `json:"ecdsa_p256_private_scalar"`
	ECDSAPublic    string `json:"ecdsa_p256_public_key"` // SEC 1 uncompressed
	ECDSAContext   string `json:"ecdsa_context"`
	ECDSATH        string `json:"ecdsa_transcript_hash"`
	ECDSAContentSH string `json:"ecdsa_signed_content_sha256"`
	ECDSASignature string `json:"ecdsa_signature"` // base64 of ASN.1 DER
	// Error frame (§8), length prefix included.
	ErrorFrame string `json:"error_frame_hex"`
}

const vectorsMorePath = "testdata/vectors_more.json"

func TestMoreVectors(t *testing.T) {
	base := readVectors(t)
	hs, _ := hex.DecodeString(base.HSecret)
	thCF, _ := hex.DecodeString(base.THClientFinish)
	ap0 := ExpandLabel(hs, "c ap traffic", thCF, 32)
	keys0 := NewTrafficKeys(SuiteAES256GCM, ap0)
	if hex.EncodeToString(keys0.Key) != base.CKey {
		t.Fatal("c_ap_traffic_0 does not give the client key of vectors.json")
	}
	if golden.Updating() {
		writeMoreVectors(t, ap0)
	}
	b, err := os.ReadFile(vectorsMorePath)
	if err != nil {
		t.Fatal(err)
	}
	var v moreVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	t.Run("key update", func(t *testing.T) { checkKeyUpdateVector(t, v, ap0) })
	t.Run("ecdsa p256", func(t *testing.T) { checkECDSAVector(t, v) })
	t.Run("error frame", func(t *testing.T) { checkErrorFrameVector(t, v) })
}

func readVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorECDSAKey is the P-256 key with scalar 32 bytes 0x04.
func vectorECDSAKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorErrorFrame() []byte {
	return AppendFrame(nil, marshal(wireError{Type: typeError, Code: CodeProtocol, Reason: "protocol violation: frame has no type"}))
}

func writeMoreVectors(t *testing.T, ap0 []byte) {
	x := hex.EncodeToString
	keys0 := NewTrafficKeys(SuiteAES256GCM, ap0)
	out, err := newHalfConn(dirClientToServer, keys0)
	if err != nil {
		t.Fatal(err)
	}
	out.seq = 1 // after the message of vectors.json
	ku := out.seal(typeKeyUpdate, nil)
	if err := out.update(); err != nil {
		t.Fatal(err)
	}
	text := "Hello after a key update"
	msg := out.seal(typeMessage, []byte(text))
	keys1 := keys0.Next()
	key := vectorECDSAKey(t)
	th, _ := hex.DecodeString(readVectors(t).THServerFinish)
	sig, err := Sign(rand.Reader, key, ClientSignatureContext, th)
	if err != nil {
		t.Fatal(err)
	}
	content := sha256.Sum256(SignedContent(ClientSignatureContext, th))
	pub, _ := key.PublicKey.Bytes()
	v := moreVectors{
		Note:        "docs/PROTOCOL.md §10.1; continues vectors.json",
		CAPTraffic0: x(ap0), CAPTraffic1: x(ExpandLabel(ap0, "traffic upd", nil, 32)),
		CKey1: x(keys1.Key), CIV1: x(keys1.IV),
		KeyUpdate: string(ku[FrameHeaderLen:]), Plaintext1: text, MessageFrame1: string(msg[FrameHeaderLen:]),
		ECDSAPrivate: x(bytes.Repeat([]byte{4}, 32)), ECDSAPublic: x(pub),
		ECDSAContext: ClientSignatureContext, ECDSATH: x(th), ECDSAContentSH: x(content[:]),
		ECDSASignature: b64.EncodeToString(sig),
		ErrorFrame:     x(vectorErrorFrame()),
	}
	golden.Write(t, vectorsMorePath, v)
}

// checkKeyUpdateVector recomputes next() and opens both frames with
// nothing but crypto/aes, then through the record layer.
func checkKeyUpdateVector(t *testing.T, v moreVectors, ap0 []byte) {
	if v.CAPTraffic0 != hex.EncodeToString(ap0) {
		t.Fatalf("c_ap_traffic_0 %s, recomputed %x", v.CAPTraffic0, ap0)
	}
	ap1 := ExpandLabel(ap0, "traffic upd", nil, 32)
	keys1 := NewTrafficKeys(SuiteAES256GCM, ap1)
	if v.CAPTraffic1 != hex.EncodeToString(ap1) || v.CKey1 != hex.EncodeToString(keys1.Key) || v.CIV1 != hex.EncodeToString(keys1.IV) {
		t.Fatal("next() secret, key or iv differ from the vector")
	}
	if !bytes.Equal(NewTrafficKeys(SuiteAES256GCM, ap0).Next().Key, keys1.Key) {
		t.Fatal("trafficKeys.next disagrees with next(secret)")
	}
	open := func(keyHex, ivHex, frame, typ string, seq byte) []byte {
		key, _ := hex.DecodeString(keyHex)
		iv, _ := hex.DecodeString(ivHex)
		var rf recordFrame
		if err := json.Unmarshal([]byte(frame), &rf); err != nil || rf.Type != typ || rf.Seq != uint64(seq) {
			t.Fatalf("frame %q: %v", frame, err)
		}
		ct, _ := b64.DecodeString(rf.Ciphertext)
		block, _ := aes.NewCipher(key)
		gcm, _ := cipher.NewGCM(block)
		nonce := bytes.Clone(iv)
		nonce[11] ^= seq
		ad := append([]byte("securechat/1\x00C"), byte(len(typ)))
		ad = append(append(ad, typ...), 0, 0, 0, 0, 0, 0, 0, seq)
		pt, err := gcm.Open(nil, nonce, ct, ad)
		if err != nil {
			t.Fatalf("independent decryption of %s: %v", typ, err)
		}
		return pt
	}
	base := readVectors(t)
	if pt := open(base.CKey, base.CIV, v.KeyUpdate, typeKeyUpdate, 1); len(pt) != 0 {
		t.Fatalf("key_update plaintext %q, want empty", pt)
	}
	if pt := open(v.CKey1, v.CIV1, v.MessageFrame1, typeMessage, 0); string(pt) != v.Plaintext1 {
		t.Fatalf("message after key update: %q", pt)
	}
	// The record layer reads the same two frames.
	in, _ := newHalfConn(dirClientToServer, NewTrafficKeys(SuiteAES256GCM, ap0))
	in.seq = 1
	sess := &Session{in: in, maxRecv: DefaultMaxFrame}
	client, server := net.Pipe()
	defer client.Close()
	sess.conn, sess.br = server, nil
	go func() {
		_, _ = client.Write(append(AppendFrame(nil, []byte(v.KeyUpdate)), AppendFrame(nil, []byte(v.MessageFrame1))...))
	}()
	sess.br = bufioReader(server)
	typ, pt, err := sess.ReadRecord()
	if err != nil || typ != typeMessage || string(pt) != v.Plaintext1 {
		t.Fatalf("record layer: %s %q %v", typ, pt, err)
	}
}

// checkECDSAVector verifies the stored signature: independently over the
// spelled-out signed content, and with verify; a fresh signature verifies
// too and a changed transcript does not.
func checkECDSAVector(t *testing.T, v moreVectors) {
	key := vectorECDSAKey(t)
	pubBytes, _ := hex.DecodeString(v.ECDSAPublic)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("public key %s does not belong to the scalar: %v", v.ECDSAPublic, err)
	}
	th, _ := hex.DecodeString(v.ECDSATH)
	content := append(bytes.Repeat([]byte{0x20}, 64), v.ECDSAContext...)
	content = append(append(content, 0), th...)
	digest := sha256.Sum256(content)
	if hex.EncodeToString(digest[:]) != v.ECDSAContentSH {
		t.Fatal("signed content hash differs from the vector")
	}
	sig, err := b64.DecodeString(v.ECDSASignature)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub, digest[:], sig) || !Verify(pub, v.ECDSAContext, th, sig) {
		t.Fatal("stored ECDSA signature does not verify")
	}
	if Verify(pub, ServerSignatureContext, th, sig) {
		t.Fatal("client signature verifies as a server signature")
	}
	fresh, err := Sign(rand.Reader, key, v.ECDSAContext, th)
	if err != nil || !ecdsa.VerifyASN1(pub, digest[:], fresh) {
		t.Fatalf("fresh signature: %v", err)
	}
}

// checkErrorFrameVector: sendError writes the vector's bytes, and they
// parse back to the same code and reason.
func checkErrorFrameVector(t *testing.T, v moreVectors) {
	want, _ := hex.DecodeString(v.ErrorFrame)
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		sendError(server, CodeProtocol, "protocol violation: frame has no type")
		server.Close()
	}()
	var got bytes.Buffer
	_, _ = got.ReadFrom(client)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("sendError wrote %q, vector %q", got.Bytes(), want)
	}
	err := decodeRemoteError(want[FrameHeaderLen:])
	re, ok := err.(*RemoteError)
	if !ok || re.Code != CodeProtocol || re.Reason != "protocol violation: frame has no type" {
		t.Fatalf("parsed %v", err)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
