package channel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// Parsing frames and plaintexts exactly as docs/PROTOCOL.md §2 says. The
// RFC 8259 grammar, UTF-8 (also of escaped text: no lone surrogates) and
// duplicate member names (compared byte for byte after unescaping) are
// checked by jsontext, the tokenizer of encoding/json/v2; this file maps
// members to fields by their exact name and enforces the JSON type of each:
// null is never a string, number or boolean, and integers are written
// without fraction, exponent or "-0".

// Parser errors; callers wrap them in ErrProtocol.
var (
	errJSONNotObject = errors.New("not a JSON object")
	errJSONTrailing  = errors.New("trailing data after JSON object")
	errJSONType      = errors.New("wrong JSON type")
	errJSONInteger   = errors.New("not an integer")
	ErrJSONMissing   = errors.New("missing member")
)

// Field binds the member name to dst, one of *string, *int64, *int,
// *uint64, *bool, *[]string or a wireObject (a nested object). A required
// Field that is absent is an error; seen, if set, records presence.
type Field struct {
	Name string
	Dst  any
	Req  bool
	Seen *bool
}

// WireObject is a message whose members decodeObject can fill in.
type WireObject interface{ Fields() []Field }

// objDecoder is a pooled jsontext decoder reading straight from the body
// (a bytes.Buffer is parsed in place, without a copy).
type objDecoder struct {
	dec jsontext.Decoder
	buf bytes.Buffer
	tmp []byte
}

var decoderPool = sync.Pool{New: func() any { return new(objDecoder) }}

// DecodeObject parses b as exactly one JSON object and stores the members
// named in fs; other members are checked (valid JSON, distinct names) and
// ignored.
func DecodeObject(b []byte, fs []Field) error {
	d := decoderPool.Get().(*objDecoder)
	defer d.release()
	d.buf = *bytes.NewBuffer(b)
	// Default options: duplicate names and invalid UTF-8 are errors.
	d.dec.Reset(&d.buf)
	if d.dec.PeekKind() != '{' {
		if _, err := d.dec.ReadToken(); err != nil {
			return err
		}
		return errJSONNotObject
	}
	if err := d.object(fs); err != nil {
		return err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return errJSONTrailing
	}
	return nil
}

// release returns d to the pool without a reference to the body, and
// without unescaped text (message text must not linger, see releaseRead).
func (d *objDecoder) release() {
	d.buf = bytes.Buffer{}
	d.dec.Reset(&d.buf)
	clear(d.tmp)
	decoderPool.Put(d)
}

// object reads one object, from its '{' through its '}'.
func (d *objDecoder) object(fs []Field) error {
	if _, err := d.dec.ReadToken(); err != nil {
		return err
	}
	var present uint64 // bit i: fs[i] seen (fs has at most 64 entries)
	for d.dec.PeekKind() != '}' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		i := d.lookup(name, fs)
		if i < 0 {
			if err := d.dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		present |= 1 << i
		if fs[i].Seen != nil {
			*fs[i].Seen = true
		}
		if err := d.value(fs[i]); err != nil {
			return err
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return err
	}
	for i, f := range fs {
		if f.Req && present&(1<<i) == 0 {
			return fmt.Errorf("%w %q", ErrJSONMissing, f.Name)
		}
	}
	return nil
}

// lookup returns the index of the field whose name equals the member name
// byte for byte after unescaping, or -1.
func (d *objDecoder) lookup(quoted jsontext.Value, fs []Field) int {
	name := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		var err error
		if d.tmp, err = jsontext.AppendUnquote(d.tmp[:0], quoted); err != nil {
			return -1 // cannot happen: the decoder validated the name
		}
		name = d.tmp
	}
	for i := range fs {
		if string(name) == fs[i].Name {
			return i
		}
	}
	return -1
}

// value reads the member value for f, refusing any other JSON type.
func (d *objDecoder) value(f Field) error {
	k := d.dec.PeekKind()
	var want string
	switch dst := f.Dst.(type) {
	case *string:
		if k != '"' {
			want = "a string"
			break
		}
		s, err := d.str()
		*dst = s
		return err
	case *int64, *int, *uint64:
		if k != '0' {
			want = "an integer"
			break
		}
		return d.integer(f.Name, dst)
	case *bool:
		if k != 't' && k != 'f' {
			want = "a boolean"
			break
		}
		tok, err := d.dec.ReadToken()
		*dst = err == nil && tok.Bool()
		return err
	case *[]string:
		if k != '[' {
			want = "an array of strings"
			break
		}
		return d.strings(f.Name, dst)
	case WireObject:
		if k != '{' {
			want = "an object"
			break
		}
		return d.object(dst.Fields())
	default:
		panic(fmt.Sprintf("chat: field %q has unsupported type %T", f.Name, f.Dst))
	}
	if k == jsontext.KindInvalid {
		_, err := d.dec.ReadValue() // the syntax error
		return err
	}
	return fmt.Errorf("%w: %q must be %s, not %s", errJSONType, f.Name, want, kindName(k))
}

func (d *objDecoder) str() (string, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", err
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	u, err := jsontext.AppendUnquote(d.tmp[:0], v)
	d.tmp = u
	return string(u), err
}

func (d *objDecoder) strings(name string, dst *[]string) error {
	if _, err := d.dec.ReadToken(); err != nil {
		return err
	}
	var out []string
	for d.dec.PeekKind() != ']' {
		if k := d.dec.PeekKind(); k != '"' {
			if k == jsontext.KindInvalid {
				_, err := d.dec.ReadValue()
				return err
			}
			return fmt.Errorf("%w: %q must be an array of strings, not hold %s", errJSONType, name, kindName(k))
		}
		s, err := d.str()
		if err != nil {
			return err
		}
		out = append(out, s)
	}
	*dst = out
	_, err := d.dec.ReadToken()
	return err
}

func (d *objDecoder) integer(name string, dst any) error {
	v, err := d.dec.ReadValue()
	if err != nil {
		return err
	}
	neg, mag, ok := parseJSONInteger(v)
	if !ok {
		return fmt.Errorf("%w: %q is %.32s", errJSONInteger, name, v)
	}
	switch dst := dst.(type) {
	case *uint64:
		if neg {
			return fmt.Errorf("%w: %q is negative", errJSONInteger, name)
		}
		*dst = mag
	case *int64:
		n, ok := toInt64(neg, mag)
		if !ok {
			return fmt.Errorf("%w: %q is out of range", errJSONInteger, name)
		}
		*dst = n
	case *int:
		n, ok := toInt64(neg, mag)
		if !ok || int64(int(n)) != n {
			return fmt.Errorf("%w: %q is out of range", errJSONInteger, name)
		}
		*dst = int(n)
	}
	return nil
}

// parseJSONInteger reads a JSON number that is an integer in the only
// spelling §2 allows: -?(0|[1-9][0-9]*), not "-0", magnitude < 2^64. The
// number grammar itself was checked by the decoder.
func parseJSONInteger(v []byte) (neg bool, mag uint64, ok bool) {
	if len(v) > 0 && v[0] == '-' {
		neg, v = true, v[1:]
	}
	if neg && string(v) == "0" {
		return false, 0, false
	}
	mag, ok = CanonicalDigits(v)
	return neg, mag, ok
}

func toInt64(neg bool, mag uint64) (int64, bool) {
	if !neg {
		return int64(mag), mag <= 1<<63-1
	}
	return -int64(mag), mag <= 1<<63 // -2^63 wraps to itself
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "invalid"
}

// TypeOnly is the view of any frame that frameType needs.
type TypeOnly struct{ Type string }

func (t *TypeOnly) Fields() []Field { return []Field{{Name: "type", Dst: &t.Type}} }

// EmptyObject is a plaintext without members (§12.1 rooms).
type EmptyObject struct{}

func (EmptyObject) Fields() []Field { return nil }

// CanonicalDigits parses a JSON non-negative integer in canonical form (no
// sign, no leading zero, no fraction or exponent).
func CanonicalDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	return ParseDigits(b)
}

// ParseDigits parses decimal digits as a uint64 without allocating;
// ok is false on overflow.
func ParseDigits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
