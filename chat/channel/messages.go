package channel

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Protocol constants (docs/PROTOCOL.md §1).
const (
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
	// Go's decoder skips CR and LF even in strict mode; §2 allows none.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: %s is not base64: contains a line break", ErrProtocol, field)
	}
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
	// Decoding only: the error object as received, and the presence of
	// members whose zero value cannot say "absent".
	errBody                             wireError
	hasError, hasTimestamp, hasMaxFrame bool
}

// finish is server_finish (§4.3) and client_finish (§4.4).
type finish struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
	Finished  string `json:"finished"`
	// hasSignature: the member was present (a resumed handshake's finish
	// must not have one, §13.1).
	hasSignature bool
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

// Member tables for decodeObject (§4, §6, §8): exact names, JSON types
// from the Go types, required members marked.

func (m *clientHello) fieldList() []Field {
	return []Field{
		{Name: "type", Dst: &m.Type, Req: true},
		{Name: "version", Dst: &m.Version, Req: true},
		{Name: "suites", Dst: &m.Suites, Req: true},
		{Name: "client_id", Dst: &m.ClientID},
		{Name: "certificate", Dst: &m.Certificate, Req: true},
		{Name: "client_random", Dst: &m.ClientRandom, Req: true},
		{Name: "timestamp", Dst: &m.Timestamp, Req: true},
		{Name: "key_share", Dst: &m.KeyShare, Req: true},
		{Name: "max_frame", Dst: &m.MaxFrame, Req: true},
	}
}

func (m *clientHello) Fields() []Field { return m.fieldList() }

// fieldList of server_hello: which members a successful one needs is
// checked by the client after parsing (serverHello.missing).
func (m *serverHello) fieldList() []Field {
	return []Field{
		{Name: "type", Dst: &m.Type, Req: true},
		{Name: "version", Dst: &m.Version, Req: true},
		{Name: "status", Dst: &m.Status, Req: true},
		{Name: "error", Dst: &m.errBody, Seen: &m.hasError},
		{Name: "suite", Dst: &m.Suite},
		{Name: "server_certificate", Dst: &m.ServerCertificate},
		{Name: "server_random", Dst: &m.ServerRandom},
		{Name: "timestamp", Dst: &m.Timestamp, Seen: &m.hasTimestamp},
		{Name: "key_share", Dst: &m.KeyShare},
		{Name: "max_frame", Dst: &m.MaxFrame, Seen: &m.hasMaxFrame},
	}
}

func (m *serverHello) Fields() []Field { return m.fieldList() }

// missing names the first member a successful server_hello lacks (§4.2);
// a resumed one has no certificate.
func (m *serverHello) missing(resumed bool) string {
	switch {
	case m.Suite == "":
		return "suite"
	case m.ServerCertificate == "" && !resumed:
		return "server_certificate"
	case m.ServerRandom == "":
		return "server_random"
	case !m.hasTimestamp:
		return "timestamp"
	case m.KeyShare == "":
		return "key_share"
	case !m.hasMaxFrame:
		return "max_frame"
	}
	return ""
}

func (m *finish) Fields() []Field {
	return []Field{
		{Name: "type", Dst: &m.Type, Req: true},
		{Name: "signature", Dst: &m.Signature, Seen: &m.hasSignature},
		{Name: "finished", Dst: &m.Finished, Req: true},
	}
}

func (m *wireError) Fields() []Field {
	return []Field{
		{Name: "type", Dst: &m.Type},
		{Name: "code", Dst: &m.Code, Req: true},
		{Name: "reason", Dst: &m.Reason},
	}
}

func (m *recordFrame) Fields() []Field {
	return []Field{
		{Name: "type", Dst: &m.Type, Req: true},
		{Name: "seq", Dst: &m.Seq, Req: true},
		{Name: "ciphertext", Dst: &m.Ciphertext, Req: true},
	}
}

// frameType checks that body is a single UTF-8 JSON object with distinct
// member names (§2) and returns its "type", which must be a string.
// Duplicates are refused because two parsers could pick different values
// for the same transcript bytes.
func frameType(body []byte) (string, error) {
	if !utf8.Valid(body) {
		return "", fmt.Errorf("%w: frame is not UTF-8", ErrProtocol)
	}
	var t TypeOnly
	if err := DecodeObject(body, t.Fields()); err != nil {
		return "", fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if t.Type == "" {
		return "", fmt.Errorf("%w: frame has no type", ErrProtocol)
	}
	return t.Type, nil
}

// decodeFrame parses body as message type want into v. An error frame in
// its place is returned as a *RemoteError.
func decodeFrame(body []byte, want string, v WireObject) error {
	typ, err := frameType(body)
	if err != nil {
		return err
	}
	if typ == typeError && want != typeError {
		return decodeRemoteError(body)
	}
	if typ != want {
		return fmt.Errorf("%w: got %q, want %q", ErrProtocol, truncate(typ, 32), want)
	}
	if err := DecodeObject(body, v.Fields()); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, want, err)
	}
	return nil
}

// decodeRemoteError parses an error frame (§8): code is required and, like
// reason, a string.
func decodeRemoteError(body []byte) error {
	var e wireError
	if err := DecodeObject(body, e.Fields()); err != nil || e.Code == "" {
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

// Marshal is json.Marshal for the fixed struct types of messages and
// record plaintexts, which cannot fail to encode.
func Marshal(v any) []byte { return marshal(v) }

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

// parseChainPEM parses the blocks of a certificate field, each exactly as
// pem.Encode writes it (RFC 7468 strict form: no headers, 64-character
// lines, LF line ends) and nothing before, between or after them (§4.1):
// one spelling per chain, as for every other value on the wire.
func parseChainPEM(field, s string) ([]*x509.Certificate, error) {
	rest := []byte(s)
	var chain []*x509.Certificate
	for len(rest) > 0 {
		block, after := pem.Decode(rest)
		if block == nil || len(block.Headers) != 0 ||
			!bytes.Equal(pem.EncodeToMemory(block), rest[:len(rest)-len(after)]) {
			return nil, fmt.Errorf("%w: %s: not a sequence of strict PEM blocks", ErrProtocol, field)
		}
		if block.Type != "CERTIFICATE" || len(chain) == maxChainLen {
			return nil, fmt.Errorf("%w: %s: unexpected PEM block %q or too many certificates", ErrProtocol, field, truncate(block.Type, 32))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPeerCertificate, field, err)
		}
		chain = append(chain, c)
		rest = after
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: %s: no certificate", ErrProtocol, field)
	}
	return chain, nil
}

// DecodePlain parses a record plaintext of type typ into v. It must be one
// UTF-8 JSON object with the rules of frames (§2: distinct names, exact
// member names, fixed types, no trailing data): the sender authenticated
// these exact bytes, and two readers must not see two meanings in them.
func DecodePlain(typ string, pt []byte, v WireObject) error {
	if !utf8.Valid(pt) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrProtocol, typ)
	}
	if err := DecodeObject(pt, v.Fields()); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, typ, err)
	}
	return nil
}

// MaxReasonLen is the longest error or close reason kept from a peer.
const MaxReasonLen = maxTextErr

// Truncate cuts s to at most n bytes (peer-supplied text in errors).
func Truncate(s string, n int) string { return truncate(s, n) }
