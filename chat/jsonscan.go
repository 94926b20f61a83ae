package chat

import (
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf8"
)

// A strict single-pass scanner for the top level of a frame (docs/PROTOCOL.md
// §2): the body must be exactly one JSON object (RFC 8259) and no two of its
// keys may name the same thing. It validates every value as it goes, so a
// body it accepts is valid JSON, and it replaces a token-by-token
// encoding/json Decoder pass that allocated for every token.

// Scanner errors; callers wrap them in ErrProtocol.
var (
	errJSONNotObject = errors.New("frame is not a JSON object")
	errJSONSyntax    = errors.New("malformed JSON")
	errJSONTrailing  = errors.New("trailing data after JSON object")
	errJSONDepth     = errors.New("JSON nested too deeply")
	errJSONDupKey    = errors.New("duplicate key")
	errJSONTypeKind  = errors.New("type is not a string")
)

// maxJSONDepth is encoding/json's nesting limit: deeper input is invalid
// for json.Valid and json.Unmarshal too.
const maxJSONDepth = 10000

// smallKeys is how many keys are compared pairwise before the scanner
// switches to a map (an adversarial frame may carry thousands).
const smallKeys = 16

// objectScan is the state of one scan.
type objectScan struct {
	b   []byte
	i   int
	typ string // the value of the key "type", if any
	// keys are the folded forms of the keys seen so far (see foldKey); set
	// replaces them past smallKeys.
	keys []string
	set  map[string]struct{}
}

// scanObject checks that b is one JSON object with distinct keys and
// returns the string value of its "type" key ("" if absent). Keys are
// compared after unescaping and case folding, as encoding/json matches them
// to struct fields, so "typ\u0065" and "TYPE" both duplicate "type": two
// parsers (or two fields) could otherwise read different values from the
// same transcript bytes. b must be valid UTF-8.
func scanObject(b []byte) (string, error) {
	s := objectScan{b: b}
	s.skipSpace()
	if s.i >= len(b) || b[s.i] != '{' {
		return "", errJSONNotObject
	}
	s.i++
	if err := s.members(); err != nil {
		return "", err
	}
	s.skipSpace()
	if s.i != len(b) {
		return "", errJSONTrailing
	}
	return s.typ, nil
}

// members scans the top-level object after its '{' through its '}'.
func (s *objectScan) members() error {
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.skipSpace()
		start := s.i
		escaped, err := s.str()
		if err != nil {
			return err
		}
		key, err := unquote(s.b[start:s.i], escaped)
		if err != nil {
			return err
		}
		if err := s.addKey(key); err != nil {
			return err
		}
		s.skipSpace()
		if s.peek() != ':' {
			return errJSONSyntax
		}
		s.i++
		s.skipSpace()
		vstart := s.i
		if key == "type" {
			if s.peek() != '"' {
				return errJSONTypeKind
			}
			esc, err := s.str()
			if err != nil {
				return err
			}
			if s.typ, err = unquote(s.b[vstart:s.i], esc); err != nil {
				return err
			}
		} else if err := s.value(1); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// addKey records a key, refusing one that folds to a key already seen.
func (s *objectScan) addKey(key string) error {
	k := foldKey(key)
	if s.set == nil {
		for _, seen := range s.keys {
			if seen == k {
				return errJSONDupKey
			}
		}
		if len(s.keys) < smallKeys {
			s.keys = append(s.keys, k)
			return nil
		}
		s.set = make(map[string]struct{}, 2*smallKeys)
		for _, seen := range s.keys {
			s.set[seen] = struct{}{}
		}
	}
	if _, dup := s.set[k]; dup {
		return errJSONDupKey
	}
	s.set[k] = struct{}{}
	return nil
}

// foldKey is encoding/json's key folding (ASCII upper case, other runes to
// the smallest rune of their case-folding orbit): two keys fold equal
// exactly when json.Unmarshal could match them to the same struct field.
func foldKey(k string) string {
	plain := true
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= utf8.RuneSelf || ('a' <= c && c <= 'z') {
			plain = false
			break
		}
	}
	if plain {
		return k
	}
	out := make([]byte, 0, len(k))
	for _, r := range k {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// unquote returns the contents of a scanned JSON string; escapes (rare on
// the wire) go through encoding/json so they decode exactly as it decodes
// them.
func unquote(quoted []byte, escaped bool) (string, error) {
	if !escaped {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var v string
	if err := json.Unmarshal(quoted, &v); err != nil {
		return "", errJSONSyntax
	}
	return v, nil
}

func (s *objectScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *objectScan) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans any JSON value at nesting depth d.
func (s *objectScan) value(d int) error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{' || c == '[':
		return s.container(d)
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return errJSONSyntax
}

// container scans a nested object or array.
func (s *objectScan) container(d int) error {
	if d++; d > maxJSONDepth {
		return errJSONDepth
	}
	closing := byte(']')
	isObject := s.b[s.i] == '{'
	if isObject {
		closing = '}'
	}
	s.i++
	s.skipSpace()
	if s.peek() == closing {
		s.i++
		return nil
	}
	for {
		s.skipSpace()
		if isObject {
			if _, err := s.str(); err != nil {
				return err
			}
			s.skipSpace()
			if s.peek() != ':' {
				return errJSONSyntax
			}
			s.i++
			s.skipSpace()
		}
		if err := s.value(d); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case closing:
			s.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// str scans a string starting at its opening quote and reports whether it
// contains escapes. Control characters must be escaped (RFC 8259 §7).
func (s *objectScan) str() (escaped bool, err error) {
	if s.peek() != '"' {
		return false, errJSONSyntax
	}
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, nil
		case c < 0x20:
			return false, errJSONSyntax
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return false, errJSONSyntax
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return false, errJSONSyntax
				}
				i += 4
			default:
				return false, errJSONSyntax
			}
		}
	}
	return false, errJSONSyntax
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *objectScan) number() error {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return errJSONSyntax
	}
	if s.peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return errJSONSyntax
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return errJSONSyntax
		}
	}
	return nil
}

func (s *objectScan) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

func (s *objectScan) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return errJSONSyntax
	}
	s.i += len(lit)
	return nil
}
