package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/chat"
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

type loadStats struct {
	sends, deliveries int
	sendRate, delRate float64
	p50, p99          time.Duration
}

func (s loadStats) String() string {
	return fmt.Sprintf("%d sends %.0f/s, %d deliveries %.0f/s, latency p50 %v p99 %v",
		s.sends, s.sendRate, s.deliveries, s.delRate, s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond))
}

func userNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return names
}

// runRoomLoad connects clients round-robin to nodes, in rooms of 10 (so
// every room spans the servers), and has each send perClient messages.
// Every member must receive every other member's messages exactly once
// and in order per sender.
func runRoomLoad(t *testing.T, w *world, nodes []*node, names []string, perClient int) loadStats {
	const roomSize = 10
	conns := make([]*chat.Conn, len(names))
	for i, n := range names {
		conns[i] = w.dial(t, nodes[i%len(nodes)], n, false)
	}
	room := func(i int) string { return fmt.Sprintf("load%d", i/roomSize) }
	for i, c := range conns {
		if _, err := c.Join(bg, room(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(conns); i += roomSize {
		want := min(roomSize, len(conns)-i)
		waitFor(t, "room "+room(i)+" complete everywhere", func() bool {
			for j := i; j < i+want; j++ {
				if m, _ := conns[j].Who(bg, room(i)); len(m) != want {
					return false
				}
			}
			return true
		})
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	var sendEnd, lastDelivery time.Time
	var sendWG sync.WaitGroup
	for i, c := range conns {
		others := min(roomSize, len(conns)-i/roomSize*roomSize) - 1
		sendWG.Go(func() {
			for j := range perClient {
				if _, err := c.SendRoom(bg, room(i), fmt.Sprintf("%d %d", j, time.Now().UnixNano())); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			next := map[string]int{}
			mine := make([]time.Duration, 0, others*perClient)
			ctx, cancel := context.WithTimeout(bg, 5*time.Minute)
			defer cancel()
			for got := 0; got < others*perClient; {
				ev, err := c.Receive(ctx)
				if err != nil {
					t.Errorf("receive: %v", err)
					return
				}
				if ev.Kind != chat.EventMessage {
					continue
				}
				f := strings.Fields(ev.Text)
				seq, _ := strconv.Atoi(f[0])
				sent, _ := strconv.ParseInt(f[1], 10, 64)
				if seq != next[ev.From] {
					t.Errorf("%s got %s's message %d, want %d (exactly once, in order)", names[i], ev.From, seq, next[ev.From])
					return
				}
				next[ev.From]++
				mine = append(mine, time.Since(time.Unix(0, sent)))
				got++
			}
			mu.Lock()
			lat = append(lat, mine...)
			lastDelivery = time.Now()
			mu.Unlock()
		})
	}
	sendWG.Wait()
	sendEnd = time.Now()
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(lat)
	st := loadStats{sends: len(conns) * perClient, deliveries: len(lat)}
	st.sendRate = float64(st.sends) / sendEnd.Sub(start).Seconds()
	st.delRate = float64(st.deliveries) / lastDelivery.Sub(start).Seconds()
	st.p50, st.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return st
}

// TestLoadClusterRooms: the room load on three servers, then the same load
// on one server, in the same run. Full size (docs/CLUSTER.md "Figures"):
// SCCA_LOAD_CLIENTS=1000 SCCA_LOAD_MESSAGES=100; CI runs a small one.
func TestLoadClusterRooms(t *testing.T) {
	clients := envInt(t, "SCCA_LOAD_CLIENTS", 30)
	per := envInt(t, "SCCA_LOAD_MESSAGES", 10)
	names := userNames("u", clients)
	w := newWorld(t, dbSQLite(t), names...)
	nodes := []*node{w.startNode(t, "l-a", nodeOpts{}), w.startNode(t, "l-b", nodeOpts{}), w.startNode(t, "l-c", nodeOpts{})}
	three := runRoomLoad(t, w, nodes, names, per)
	one := runRoomLoad(t, w, []*node{w.startNode(t, "l-alone", nodeOpts{alone: true})}, names, per)
	t.Logf("3 servers: %v", three)
	t.Logf("1 server:  %v", one)
	t.Logf("ratio 3/1: sends %.2f, deliveries %.2f", three.sendRate/one.sendRate, three.delRate/one.delRate)
}

// TestLoadClusterRevocation: revocation to session end across servers,
// over SCCA_LOAD_REVOCATIONS (default 10; 100 for the figure) revocations
// of certificates connected to three servers, with the database poll at
// its default as the fail-safe.
func TestLoadClusterRevocation(t *testing.T) {
	n := envInt(t, "SCCA_LOAD_REVOCATIONS", 10)
	names := userNames("r", n)
	w := newWorld(t, dbSQLite(t), names...)
	nodes := []*node{w.startNode(t, "v-a", nodeOpts{}), w.startNode(t, "v-b", nodeOpts{}), w.startNode(t, "v-c", nodeOpts{})}
	var lat []time.Duration
	for i, name := range names {
		c := w.dial(t, nodes[i%3], name, false)
		start := revoke(t, w, name)
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		_, err := c.Receive(ctx)
		cancel()
		var re *chat.RemoteError
		if !asRemote(err, &re) || re.Code != chat.CodeCertificateRevoked {
			t.Fatalf("%s: session ended with %v", name, err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("revocation to session end over %d revocations on 3 servers: p50 %v p99 %v max %v", n, p50, p99, lat[len(lat)-1])
	if p99 > time.Second {
		t.Fatalf("p99 %v, want < 1 s", p99)
	}
}
