package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/securechat/scca/chat"
)

// Spender is a chat.TicketSpender on a JetStream key-value bucket: Create
// succeeds only for a key that is not there, atomically on the NATS
// server, so two servers offered the same ticket at once cannot both
// accept it. Entries expire after the bucket's TTL, the longest a ticket
// lives (chat.TicketConfig.Lifetime), so the bucket holds only ids that
// could still be presented.
type Spender struct {
	n   *NATS
	ttl time.Duration

	mu sync.Mutex
	kv jetstream.KeyValue // nil until the bucket was reached once
}

var _ chat.TicketSpender = (*Spender)(nil)

// Spender returns the cluster's used-ticket record; ttl must be at least
// the tickets' lifetime. The bucket is created on first use, so a broker
// that is down now only refuses resumptions until it returns.
func (n *NATS) Spender(ttl time.Duration) *Spender { return &Spender{n: n, ttl: ttl} }

func (s *Spender) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	js, err := jetstream.New(s.n.nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      strings.ReplaceAll(s.n.cfg.Prefix, ".", "_") + "_tickets",
		Description: "SecureChat resumption ticket ids already used (single use across servers)",
		TTL:         s.ttl, History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("ticket bucket: %w", err)
	}
	s.kv = kv
	return kv, nil
}

// Spend implements chat.TicketSpender.
func (s *Spender) Spend(ctx context.Context, id []byte, _ time.Time) (bool, error) {
	if !s.n.Up() {
		return false, errors.New("cluster broker unreachable")
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return false, err
	}
	_, err = kv.Create(ctx, hex.EncodeToString(id), []byte(s.n.cfg.Node))
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
