package channel

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzTicketOpen feeds arbitrary bytes to the server's ticket opener and
// the binder locator: they must refuse them with their own errors, never
// panic, and never accept a ticket the server did not seal.
func FuzzTicketOpen(f *testing.F) {
	tk := newTicketer(TicketConfig{}, &counterReader{next: 0x40})
	now := time.Unix(1767225600, 0)
	st := &ticketState{suite: SuiteAES256GCM, secret: bytes.Repeat([]byte{1}, BinderLen), issued: now, expires: now.Add(time.Hour)}
	good, err := tk.seal(st, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte(`{"binder":"`+b64.EncodeToString(make([]byte, BinderLen))+`"}`))
	f.Fuzz(func(t *testing.T, ticket, hello []byte) {
		got, err := tk.open(ticket, now)
		switch {
		case err == nil && !bytes.Equal(ticket, good):
			t.Fatalf("opened a ticket the server never sealed: %x", ticket)
		case err == nil && !bytes.Equal(got.secret, st.secret):
			t.Fatal("opened the sealed ticket to a different secret")
		case err != nil && !errors.Is(err, errTicketMalformed) && !errors.Is(err, errTicketKey) && !errors.Is(err, errTicketAuth):
			t.Fatalf("unexpected error class: %v", err)
		}
		var ch clientHelloExt
		if decodeFrame(hello, typeClientHello, &ch) == nil {
			if tr, err := truncatedHello(hello, ch.Binder); err == nil && !bytes.HasPrefix(hello, tr) {
				t.Fatal("truncated hello is not a prefix")
			}
		}
	})
}
