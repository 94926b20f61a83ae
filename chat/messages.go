package chat

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sync"
	"unicode/utf8"
)

// Protocol constants (docs/PROTOCOL.md §1).
const (
	ProtocolVersion = "securechat/1"
	// SuiteX25519AES256GCMSHA256: X25519 key agreement, AES-256-GCM records,
	// HKDF-SHA256 and SHA-256 transcript; signatures per certificate key.
	SuiteX25519AES256GCMSHA256 = "SC1_X25519_AES256GCM_SHA256"

	randomLen   = 32 // client_random, server_random: 256 bits each
	keyShareLen = 32 // X25519 public key
	maxChainLen = 4  // leaf plus up to three CA certificates
	maxSuites   = 16
	maxIDLen    = 256
	maxTextErr  = 512 // longest error reason kept from a peer
)

// Message types (docs/PROTOCOL.md §4–§6).
const (
	typeClientHello  = "client_hello"
	typeServerHello  = "server_hello"
	typeServerFinish = "server_finish"
	typeClientFinish = "client_finish"
	typeMessage      = "message"
	typeAck          = "ack"
	typeKeyUpdate    = "key_update"
	typeClose        = "close"
	typeError        = "error"
)

// b64 is the only binary-to-text encoding on the wire: RFC 4648 §4 standard
// alphabet with padding, strict (no newlines, canonical padding bits), so
// each value has exactly one encoding.
var b64 = base64.StdEncoding.Strict()

func decodeB64(field, s string, wantLen int) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %w", ErrProtocol, field, err)
	}
	if wantLen >= 0 && len(b) != wantLen {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrProtocol, field, len(b), wantLen)
	}
	return b, nil
}

// clientHello is the first frame (§4.1).
type clientHello struct {
	Type         string   `json:"type"`
	Version      string   `json:"version"`
	Suites       []string `json:"suites"`
	ClientID     string   `json:"client_id,omitempty"`
	Certificate  string   `json:"certificate"`
	ClientRandom string   `json:"client_random"`
	Timestamp    int64    `json:"timestamp"`
	KeyShare     string   `json:"key_share"`
	MaxFrame     int      `json:"max_frame"`
}

// serverHello answers it (§4.2); on rejection only Type, Version, Status and
// Error are set.
type serverHello struct {
	Type              string     `json:"type"`
	Version           string     `json:"version"`
	Status            string     `json:"status"`
	Error             *wireError `json:"error,omitempty"`
	Suite             string     `json:"suite,omitempty"`
	ServerCertificate string     `json:"server_certificate,omitempty"`
	ServerRandom      string     `json:"server_random,omitempty"`
	Timestamp         int64      `json:"timestamp,omitempty"`
	KeyShare          string     `json:"key_share,omitempty"`
	MaxFrame          int        `json:"max_frame,omitempty"`
}

// finish is server_finish (§4.3) and client_finish (§4.4).
type finish struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
	Finished  string `json:"finished"`
}

// wireError is the error frame (§8) and the error object of a rejected
// server_hello.
type wireError struct {
	Type   string `json:"type,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// recordFrame is every frame after the handshake except error (§6).
type recordFrame struct {
	Type       string `json:"type"`
	Seq        uint64 `json:"seq"`
	Ciphertext string `json:"ciphertext"`
}

// frameType checks that body is a single JSON object without duplicate
// top-level keys and returns its "type". Duplicates are refused because two
// parsers could pick different values for the same transcript bytes. One
// pass of scanObject does it all (validity, keys, trailing data).
func frameType(body []byte) (string, error) {
	if !utf8.Valid(body) {
		return "", fmt.Errorf("%w: frame is not UTF-8", ErrProtocol)
	}
	typ, err := scanObject(body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if typ == "" {
		return "", fmt.Errorf("%w: frame has no type", ErrProtocol)
	}
	return typ, nil
}

// decodeFrame parses body as message type want into v. An error frame in
// its place is returned as a *RemoteError.
func decodeFrame(body []byte, want string, v any) error {
	typ, err := frameType(body)
	if err != nil {
		return err
	}
	if typ == typeError && want != typeError {
		return decodeRemoteError(body)
	}
	if typ != want {
		return fmt.Errorf("%w: got %q, want %q", ErrProtocol, typ, want)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, want, err)
	}
	return nil
}

func decodeRemoteError(body []byte) error {
	var e wireError
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return fmt.Errorf("%w: malformed error frame", ErrProtocol)
	}
	return remoteError(e)
}

func remoteError(e wireError) *RemoteError {
	return &RemoteError{Code: truncate(e.Code, 64), Reason: truncate(e.Reason, maxTextErr)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chat: marshal %T: %v", v, err)) // only fixed struct types reach here
	}
	return b
}

// encodeChain is the certificate field: PEM CERTIFICATE blocks, leaf first.
func encodeChain(chain []*x509.Certificate) string {
	var buf bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.String()
}

// parseChain parses a certificate field: 1 to maxChainLen CERTIFICATE
// blocks and nothing else. Parsing is a pure function of the field's
// bytes, so recently seen fields are answered from chainCache (every
// handshake still verifies the chain it gets).
func parseChain(field, s string) ([]*x509.Certificate, error) {
	if chain, ok := chains.get(s); ok {
		return chain, nil
	}
	chain, err := parseChainPEM(field, s)
	if err == nil {
		chains.put(s, chain)
	}
	return chain, err
}

// chainCache remembers the parsed form of the last few certificate fields
// (peers resume and reconnect with the same chain). It is keyed by the
// whole field, so a hit means byte-identical input; entries are never
// modified. When full it starts over, which bounds it without bookkeeping.
type chainCache struct {
	mu sync.Mutex
	m  map[string][]*x509.Certificate
}

const maxCachedChains = 64

var chains chainCache

func (c *chainCache) get(s string) ([]*x509.Certificate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	chain, ok := c.m[s]
	return chain, ok
}

func (c *chainCache) put(s string, chain []*x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedChains {
		c.m = make(map[string][]*x509.Certificate, maxCachedChains)
	}
	c.m[s] = chain
}

func parseChainPEM(field, s string) ([]*x509.Certificate, error) {
	rest := []byte(s)
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" || len(chain) == maxChainLen {
			return nil, fmt.Errorf("%w: %s: unexpected PEM block %q or too many certificates", ErrProtocol, field, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPeerCertificate, field, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: %s: no certificate or trailing data", ErrProtocol, field)
	}
	return chain, nil
}
