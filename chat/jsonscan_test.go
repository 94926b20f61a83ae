package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScanObject(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	tests := []struct {
		name, body, typ string
		err             error
	}{
		{"minimal", `{"type":"ack"}`, "ack", nil},
		{"spaces", " \t\r\n{ \"type\" : \"ack\" , \"n\" : [1, -2.5e+3, true, false, null, {\"a\":{}}] }\n", "ack", nil},
		{"escaped type value", `{"type":"a\u0063k"}`, "ack", nil},
		{"escaped type key", `{"typ\u0065":"ack"}`, "ack", nil},
		{"no type", `{"a":1}`, "", nil},
		{"empty object", `{}`, "", nil},
		{"duplicate key", `{"type":"ack","type":"close"}`, "", errJSONDupKey},
		{"escaped duplicate", `{"type":"ack","typ\u0065":"close"}`, "", errJSONDupKey},
		{"case-folded duplicate", `{"type":"ack","TYPE":"close"}`, "", errJSONDupKey},
		{"kelvin-folded duplicate", `{"k":1,"\u212a":2}`, "", errJSONDupKey},
		{"duplicate past small set", manyKeys(40, true), "", errJSONDupKey},
		{"many distinct keys", manyKeys(40, false), "ack", nil},
		{"nested duplicates allowed", `{"type":"ack","x":{"a":1,"a":2}}`, "ack", nil},
		{"type not string", `{"type":1}`, "", errJSONTypeKind},
		{"array", `["type"]`, "", errJSONNotObject},
		{"empty", ``, "", errJSONNotObject},
		{"trailing object", `{"type":"ack"}{}`, "", errJSONTrailing},
		{"trailing garbage", `{"type":"ack"} x`, "", errJSONTrailing},
		{"unterminated", `{"type":"ack"`, "", errJSONSyntax},
		{"trailing comma", `{"type":"ack",}`, "", errJSONSyntax},
		{"leading zero", `{"type":"ack","n":01}`, "", errJSONSyntax},
		{"bare fraction", `{"type":"ack","n":1.}`, "", errJSONSyntax},
		{"control char", "{\"type\":\"a\x01ck\"}", "", errJSONSyntax},
		{"bad escape", `{"type":"a\xck"}`, "", errJSONSyntax},
		{"short unicode escape", `{"type":"\u12"}`, "", errJSONSyntax},
		{"bad literal", `{"type":"ack","b":tru}`, "", errJSONSyntax},
		{"too deep", `{"type":"ack","d":` + deep + `}`, "", errJSONDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := scanObject([]byte(tt.body))
			if !errors.Is(err, tt.err) || typ != tt.typ {
				t.Fatalf("scanObject(%.60q) = %q, %v; want %q, %v", tt.body, typ, err, tt.typ, tt.err)
			}
			if err == nil && !json.Valid([]byte(tt.body)) {
				t.Fatalf("accepted invalid JSON")
			}
		})
	}
}

func manyKeys(n int, dup bool) string {
	var b strings.Builder
	b.WriteString(`{"type":"ack"`)
	for i := range n {
		b.WriteString(`,"k`)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`":1`)
	}
	if dup {
		b.WriteString(`,"K":2`)
	}
	b.WriteString("}")
	return b.String()
}

// FuzzScanObject checks scanObject against encoding/json: it accepts
// exactly the JSON objects whose keys are distinct after unescaping and
// case folding, and finds the same "type".
func FuzzScanObject(f *testing.F) {
	f.Add([]byte(`{"type":"client_finish","signature":"AA==","finished":"AA=="}`))
	f.Add([]byte(`{"typ\u0065":"x","a":[1,{"b":null}],"c":-0.5E-2}`))
	f.Add([]byte(`{"type":"x","TYPE":"y"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // frameType refuses it before scanning
		}
		typ, err := scanObject(body)
		want, wantOK := referenceScan(body)
		if (err == nil) != wantOK {
			t.Fatalf("scanObject(%q) err = %v, reference ok = %v", body, err, wantOK)
		}
		if err == nil && typ != want {
			t.Fatalf("scanObject(%q) type = %q, reference %q", body, typ, want)
		}
	})
}

// referenceScan is the check built from encoding/json alone.
func referenceScan(body []byte) (string, bool) {
	if !json.Valid(body) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	typ := ""
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		k := foldKey(key)
		if seen[k] {
			return "", false
		}
		seen[k] = true
		var raw json.RawMessage
		_ = dec.Decode(&raw)
		if key == "type" {
			if raw[0] != '"' {
				return "", false
			}
			_ = json.Unmarshal(raw, &typ)
		}
	}
	return typ, true
}
