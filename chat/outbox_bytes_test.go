package chat

import (
	"bytes"
	"testing"
)

// A session's outbox is bounded in bytes as well as records: a slow reader
// cannot pin 1024 records of ~190 KiB each. One record larger than the
// bound is still taken into an empty queue.
func TestOutboxBoundedInBytes(t *testing.T) {
	o := startOutbox(nil, 1024, 100, func(error) {})
	o.started = true // no writer: the queue only fills
	rec := func(n int) outRecord { return outRecord{typ: typeDeliver, pt: bytes.Repeat([]byte("x"), n)} }
	if !o.push(rec(200)) {
		t.Fatal("a record over the bound was refused by an empty queue")
	}
	if o.push(rec(1)) {
		t.Fatal("queue over its byte bound took another record")
	}
	r, ok := o.next()
	if !ok || len(r.pt) != 200 || o.bytes != 0 {
		t.Fatalf("next = %d bytes, %v; %d bytes left", len(r.pt), ok, o.bytes)
	}
	for i := range 2 {
		if !o.push(rec(50)) {
			t.Fatalf("record %d within the bound refused", i)
		}
	}
	if o.push(rec(1)) {
		t.Fatal("101st byte accepted")
	}
}
