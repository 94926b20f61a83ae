package chat

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func envInt(t testing.TB, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// dialUsers connects n users named u0..u<n-1>, each known to the inventory.
func dialUsers(t testing.TB, n int, cfg ServerConfig) (*msgWorld, []*Conn) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("u%d", i)
	}
	mw := newMsgWorld(t, names...)
	scfg := mw.serverConfig()
	scfg.MaxConns = n + 10
	scfg.SendQueue = max(scfg.SendQueue, cfg.SendQueue)
	addr, _, _ := startServer(t, scfg)
	conns := make([]*Conn, n)
	for i, name := range names {
		conns[i] = mw.dial(t, addr, name)
	}
	return mw, conns
}

// TestLoadRooms: clients in rooms of 10 each send messages concurrently;
// every acknowledged message must reach every other member exactly once
// and in order per sender. SCCA_LOAD_CLIENTS=1000 SCCA_LOAD_MESSAGES=100
// is the full size (README "Performance"); CI runs a small one.
func TestLoadRooms(t *testing.T) {
	clients := envInt(t, "SCCA_LOAD_CLIENTS", 40)
	perClient := envInt(t, "SCCA_LOAD_MESSAGES", 20)
	const roomSize = 10
	_, conns := dialUsers(t, clients, ServerConfig{})
	ctx := context.Background()
	room := func(i int) string { return fmt.Sprintf("room%d", i/roomSize) }
	for i, c := range conns {
		if _, err := c.Join(ctx, room(i)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		acked     atomic.Int64
		failed    atomic.Bool
	)
	start := time.Now()
	for i, c := range conns {
		members := min(roomSize, clients-i/roomSize*roomSize)
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			for k := range perClient {
				text := fmt.Sprintf("%d %d %d", i, k, time.Now().UnixNano())
				if _, err := c.SendRoom(ctx, room(i), text); err != nil {
					t.Errorf("client %d message %d: %v", i, k, err)
					failed.Store(true)
					return
				}
				acked.Add(1)
			}
		}()
		go func() { // receiver: checks exactly once, in order per sender
			defer wg.Done()
			next := make(map[int]int)
			var lat []time.Duration
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			for got := 0; got < (members-1)*perClient && !failed.Load(); {
				ev, err := c.Receive(rctx)
				if err != nil {
					t.Errorf("client %d after %d messages: %v", i, got, err)
					return
				}
				if ev.Kind != EventMessage {
					continue
				}
				var from, k int
				var sentNs int64
				if _, err := fmt.Sscan(ev.Text, &from, &k, &sentNs); err != nil {
					t.Errorf("client %d: bad text %q", i, ev.Text)
					return
				}
				lat = append(lat, time.Since(time.Unix(0, sentNs)))
				if k != next[from] {
					t.Errorf("client %d: from %d got message %d, want %d (duplicate, lost or reordered)", i, from, k, next[from])
					return
				}
				next[from]++
				got++
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.Failed() {
		return
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	t.Logf("%d clients × %d messages in rooms of %d: %d sent and acked, %d deliveries in %v: %.0f sends/s, %.0f deliveries/s; latency p50 %v p99 %v max %v",
		clients, perClient, roomSize, acked.Load(), len(latencies), elapsed.Round(time.Millisecond),
		float64(acked.Load())/elapsed.Seconds(), float64(len(latencies))/elapsed.Seconds(),
		p(0.5).Round(time.Microsecond), p(0.99).Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond))
}

// BenchmarkFanOut: one message to a room of SCCA_FANOUT_MEMBERS (default
// 1000) members; each op is the time until every member has it.
func BenchmarkFanOut(b *testing.B) {
	n := envInt(b, "SCCA_FANOUT_MEMBERS", 1000)
	_, conns := dialUsers(b, n, ServerConfig{})
	ctx := context.Background()
	for _, c := range conns {
		if _, err := c.Join(ctx, "all"); err != nil {
			b.Fatal(err)
		}
	}
	// Receivers run until their session is closed; join events are skipped.
	var loops sync.WaitGroup
	arrived := make(chan struct{}, n)
	for _, c := range conns[1:] {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for {
				ev, err := c.Receive(ctx)
				if err != nil {
					return
				}
				if ev.Kind == EventMessage && strings.HasPrefix(ev.Text, "fan") {
					arrived <- struct{}{}
				}
			}
		}()
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := conns[0].SendRoom(ctx, "all", fmt.Sprint("fan", i)); err != nil {
			b.Fatal(err)
		}
		for range n - 1 {
			<-arrived
		}
	}
	b.StopTimer()
	for _, c := range conns {
		c.Close()
	}
	loops.Wait()
}
