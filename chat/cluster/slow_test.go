package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/securechat/scca/chat"
)

// stalled wraps a Broker so the node's event handling blocks until gate
// closes: a server that cannot keep up.
type stalled struct {
	chat.Broker
	gate chan struct{}
}

func (s *stalled) Start(h chat.BrokerHandler) error {
	ev := h.Event
	h.Event = func(node string, b []byte) {
		<-s.gate
		ev(node, b)
	}
	return s.Broker.Start(h)
}

// TestSlowServerCannotStallOthers: one server stops reading the cluster's
// events. The other two keep relaying at full speed (latency measured),
// and the stalled one, once its bounded queue overflows, ends its room
// sessions with slow_consumer instead of delivering with a silent gap.
func TestSlowServerCannotStallOthers(t *testing.T) {
	w := newWorld(t, dbSQLite(t), "x", "y", "z")
	gate := make(chan struct{})
	a, b := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{})
	c := w.startNode(t, "chat-c", nodeOpts{maxPending: 100, wrap: func(b chat.Broker) chat.Broker { return &stalled{Broker: b, gate: gate} }})
	t.Cleanup(func() { close(gate) })
	x, y := w.dial(t, a, "x", false), w.dial(t, b, "y", false)
	z := w.dial(t, c, "z", false)
	for _, m := range []*chat.Conn{z, x, y} {
		if _, err := m.Join(bg, "r"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "room seen on chat-a", func() bool { m, _ := x.Who(bg, "r"); return len(m) == 3 })

	const n = 2000
	done := make(chan []time.Duration)
	go func() {
		lat := make([]time.Duration, 0, n)
		for len(lat) < n {
			ev := receive(t, y)
			if ev.Kind != chat.EventMessage {
				continue
			}
			sent, _ := strconv.ParseInt(ev.Text, 10, 64)
			lat = append(lat, time.Since(time.Unix(0, sent)))
		}
		done <- lat
	}()
	start := time.Now()
	for range n {
		if _, err := x.SendRoom(bg, "r", fmt.Sprint(time.Now().UnixNano())); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	lat := <-done
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("with chat-c stalled: %d room messages in %v (%.0f/s), chat-b latency p50 %v p99 %v", n, elapsed, float64(n)/elapsed.Seconds(), p50, p99)
	if p99 > time.Second {
		t.Fatalf("p99 latency %v on a healthy server while another is stalled", p99)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var re *chat.RemoteError
	for {
		_, err := z.Receive(ctx)
		if err == nil {
			continue
		}
		if !errors.As(err, &re) || re.Code != chat.CodeSlowConsumer {
			t.Fatalf("stalled server's member ended with %v, want slow_consumer", err)
		}
		break
	}
}
