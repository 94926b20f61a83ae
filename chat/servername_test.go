package chat

import (
	"context"
	"errors"
	"net"
	"testing"
)

// Dial, DialWebSocket and Client refuse a config without ServerName before
// sending anything: without it any serverAuth certificate of the CA would
// pass as the server.
func TestDialRequiresServerName(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cfg.ServerName = ""
	ctx := context.Background()
	if _, err := Dial(ctx, addr, cfg); !errors.Is(err, ErrNoServerName) {
		t.Errorf("Dial: %v, want ErrNoServerName", err)
	}
	if _, err := DialWebSocket(ctx, "ws://"+addr+"/", cfg); !errors.Is(err, ErrNoServerName) {
		t.Errorf("DialWebSocket: %v, want ErrNoServerName", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Client(a, cfg); !errors.Is(err, ErrNoServerName) {
		t.Errorf("Client: %v, want ErrNoServerName", err)
	}
}
