package channel

import (
	"testing"
)

// Parser benchmarks (docs/PROTOCOL.md §2): the general JSON paths that the
// canonical record fast path does not cover.

func BenchmarkParse(b *testing.B) {
	w := newWorld(b)
	hello := marshal(clientHelloExt{clientHello: goodHello(w), TicketRequest: true})
	b.Run("client_hello", func(b *testing.B) {
		b.SetBytes(int64(len(hello)))
		for b.Loop() {
			var ch clientHelloExt
			if err := decodeFrame(hello, typeClientHello, &ch); err != nil {
				b.Fatal(err)
			}
		}
	})
	rec := []byte(`{ "type": "message", "seq": 12345, "ciphertext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }`)
	b.Run("record_json", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseRecordJSON(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
