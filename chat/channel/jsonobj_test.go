package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// probe has one field of every kind decodeObject supports.
type probe struct {
	S  string
	I  int64
	N  int
	U  uint64
	B  bool
	L  []string
	E  probeError
	hE bool
}

func (p *probe) Fields() []Field {
	return []Field{{Name: "s", Dst: &p.S, Req: true}, {Name: "i", Dst: &p.I}, {Name: "n", Dst: &p.N},
		{Name: "u", Dst: &p.U}, {Name: "b", Dst: &p.B}, {Name: "l", Dst: &p.L}, {Name: "e", Dst: &p.E, Seen: &p.hE}}
}

func TestDecodeObjectRules(t *testing.T) {
	tests := []struct {
		name, body string
		err        error // nil: accepted; errAny: any error
		check      func(p *probe) bool
	}{
		{"all kinds", `{"s":"x","i":-7,"n":3,"u":18446744073709551615,"b":true,"l":["a","b"],"e":{"code":"c"}}`, nil,
			func(p *probe) bool {
				return p.S == "x" && p.I == -7 && p.N == 3 && p.U == 1<<64-1 && p.B && len(p.L) == 2 && p.hE && p.E.Code == "c"
			}},
		{"whitespace", " {\n\t\"s\" : \"x\" }\r\n", nil, func(p *probe) bool { return p.S == "x" }},
		{"escaped name matches", `{"\u0073":"x"}`, nil, func(p *probe) bool { return p.S == "x" }},
		{"escaped value", `{"s":"a\u0062\n"}`, nil, func(p *probe) bool { return p.S == "ab\n" }},
		{"upper-case name is unknown", `{"s":"x","I":5}`, nil, func(p *probe) bool { return p.I == 0 }},
		{"upper-case name is no duplicate", `{"s":"x","S":"y"}`, nil, func(p *probe) bool { return p.S == "x" }},
		{"upper-case name does not fill a required field", `{"S":"x"}`, ErrJSONMissing, nil},
		{"missing required", `{"i":1}`, ErrJSONMissing, nil},
		{"duplicate", `{"s":"x","s":"y"}`, errAny, nil},
		{"duplicate after unescaping", `{"s":"x","\u0073":"y"}`, errAny, nil},
		{"nested duplicate", `{"s":"x","z":{"a":1,"\u0061":2}}`, errAny, nil},
		{"null string", `{"s":null}`, errJSONType, nil},
		{"null integer", `{"s":"x","i":null}`, errJSONType, nil},
		{"null boolean", `{"s":"x","b":null}`, errJSONType, nil},
		{"null array", `{"s":"x","l":null}`, errJSONType, nil},
		{"null in array", `{"s":"x","l":["a",null]}`, errJSONType, nil},
		{"null object", `{"s":"x","e":null}`, errJSONType, nil},
		{"number as string", `{"s":1}`, errJSONType, nil},
		{"string as integer", `{"s":"x","i":"1"}`, errJSONType, nil},
		{"fraction", `{"s":"x","i":1.0}`, errJSONInteger, nil},
		{"exponent", `{"s":"x","i":1e3}`, errJSONInteger, nil},
		{"minus zero", `{"s":"x","i":-0}`, errJSONInteger, nil},
		{"negative unsigned", `{"s":"x","u":-1}`, errJSONInteger, nil},
		{"unsigned overflow", `{"s":"x","u":18446744073709551616}`, errJSONInteger, nil},
		{"signed overflow", `{"s":"x","i":9223372036854775808}`, errJSONInteger, nil},
		{"signed minimum", `{"s":"x","i":-9223372036854775808}`, nil, func(p *probe) bool { return p.I == -1<<63 }},
		{"leading zero", `{"s":"x","i":01}`, errAny, nil},
		{"missing code in nested object", `{"s":"x","e":{"reason":"r"}}`, ErrJSONMissing, nil},
		{"lone surrogate", `{"s":"\ud800"}`, errAny, nil},
		{"invalid UTF-8", "{\"s\":\"\xff\"}", errAny, nil},
		{"trailing object", `{"s":"x"}{}`, errJSONTrailing, nil},
		{"trailing garbage", `{"s":"x"} x`, errJSONTrailing, nil},
		{"array", `["s"]`, errJSONNotObject, nil},
		{"empty", ``, errAny, nil},
		{"unterminated", `{"s":"x"`, errAny, nil},
		{"trailing comma", `{"s":"x",}`, errAny, nil},
		{"too deep", `{"s":"x","d":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, errAny, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p probe
			err := DecodeObject([]byte(tt.body), p.Fields())
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err == nil && !tt.check(&p):
				t.Fatalf("decoded %+v", p)
			case tt.err != nil && err == nil:
				t.Fatalf("accepted: %+v", p)
			case tt.err != nil && tt.err != errAny && !errors.Is(err, tt.err):
				t.Fatalf("error %v, want %v", err, tt.err)
			}
		})
	}
}

var errAny = errors.New("any error")

// FuzzDecodeObject checks decodeObject against a reference built from
// encoding/json (v1) alone: a valid object whose names are distinct at
// every level after unescaping, compared byte for byte; each known member
// of the right JSON type (null never), integers without fraction,
// exponent or "-0", strings without lone surrogates. Both must agree on
// acceptance and on every decoded value.
func FuzzDecodeObject(f *testing.F) {
	f.Add([]byte(`{"s":"x","i":-7,"n":3,"u":1,"b":true,"l":["a"],"e":{"code":"c","reason":"r"}}`))
	f.Add([]byte(`{"\u0073":"x","S":"y","i":1.0}`))
	f.Add([]byte(`{"s":"x","e":{"code":null},"z":[{"a":1,"a":2}]}`))
	f.Add([]byte(`{"s":"\ud83d\ude00","i":-0}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // frameType and decodePlain refuse it first
		}
		var p probe
		err := DecodeObject(body, p.Fields())
		ok, sure := referenceAccepts(body, p.Fields())
		if err == nil && !ok {
			t.Fatalf("decodeObject accepted %q, reference refuses", body)
		}
		if err != nil && ok && sure {
			t.Fatalf("decodeObject refused %q (%v), reference accepts", body, err)
		}
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			t.Fatalf("reference cannot read %q", body)
		}
		for _, fl := range p.Fields() {
			raw, has := m[fl.Name]
			if !has {
				continue
			}
			want := reflect.New(reflect.TypeOf(fl.Dst).Elem())
			if json.Unmarshal(raw, want.Interface()) != nil {
				t.Fatalf("%s: reference cannot read %s", fl.Name, raw)
			}
			got := reflect.ValueOf(fl.Dst).Elem().Interface()
			if fl.Name == "e" { // compare the members, not the decoder's bookkeeping
				got = probeError{Type: p.E.Type, Code: p.E.Code, Reason: p.E.Reason}
			}
			if !reflect.DeepEqual(got, want.Elem().Interface()) {
				t.Fatalf("%s: decoded %#v, reference %#v", fl.Name, got, want.Elem().Interface())
			}
		}
	})
}

// referenceAccepts applies the rules of §2 with encoding/json. sure is
// false when the body has \u escapes of surrogates, which encoding/json
// replaces instead of refusing.
func referenceAccepts(body []byte, fs []Field) (ok, sure bool) {
	sure = !bytes.Contains(bytes.ToLower(body), []byte(`\ud`))
	if !json.Valid(body) || !distinctNames(body) {
		return false, sure
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false, sure // not an object
	}
	for _, f := range fs {
		raw, has := m[f.Name]
		if !has {
			if f.Req {
				return false, sure
			}
			continue
		}
		if !rawHasType(raw, f.Dst) {
			return false, sure
		}
	}
	return true, sure
}

func rawHasType(raw json.RawMessage, dst any) bool {
	switch dst.(type) {
	case *string:
		return raw[0] == '"'
	case *bool:
		return raw[0] == 't' || raw[0] == 'f'
	case *[]string:
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil || raw[0] != '[' {
			return false
		}
		for _, e := range l {
			if e[0] != '"' {
				return false
			}
		}
		return true
	case *probeError:
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil || raw[0] != '{' {
			return false
		}
		var e probeError
		for _, fl := range e.Fields() {
			r, has := m[fl.Name]
			if (!has && fl.Req) || (has && r[0] != '"') {
				return false
			}
		}
		return true
	}
	// Integers: the digits alone, in range for the Go type.
	s := string(raw)
	if strings.ContainsAny(s, ".eE") || s == "-0" {
		return false
	}
	return json.Unmarshal(raw, reflect.New(reflect.TypeOf(dst).Elem()).Interface()) == nil
}

// distinctNames walks every object in a valid JSON text with
// encoding/json's tokenizer (which unescapes names) and reports whether
// each object's names are distinct.
func distinctNames(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type level struct {
		names   map[string]bool // nil for an array
		wantKey bool
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				if n > 1 && stack[n-2].names != nil {
					stack[n-2].wantKey = true
				}
				continue
			}
			name := tok.(string)
			if stack[n-1].names[name] {
				return false
			}
			stack[n-1].names[name] = true
			stack[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{names: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantKey = true // a member's value is complete
		}
	}
}

// probeError is a nested object for the probe, shaped like the error
// object of §8.
type probeError struct {
	Type   string `json:"type,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

func (m *probeError) Fields() []Field {
	return []Field{{Name: "type", Dst: &m.Type}, {Name: "code", Dst: &m.Code, Req: true}, {Name: "reason", Dst: &m.Reason}}
}
