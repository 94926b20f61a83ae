package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/securechat/scca/chat"
)

// WebSocket transport for `scca chat` (docs/PROTOCOL.md §14).

// serveWebSocket starts serving WebSocket clients on --ws-listen, if given,
// with the same server as TCP clients; Shutdown stops it.
func (e *env) serveWebSocket(srv *chat.Server) error {
	addr := e.v.GetString("ws-listen")
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ws-listen: %w", err)
	}
	e.printf("[Server] WebSocket listening on ws://%s/\n", ln.Addr())
	opts := chat.WebSocketOptions{OriginPatterns: e.v.GetStringSlice("ws-origin")}
	go func() { _ = srv.ServeWebSocket(ln, opts) }() // returns ErrServerClosed on Shutdown
	return nil
}

type dialFunc func(ctx context.Context, addr string, cfg chat.ClientConfig) (*chat.Conn, error)

// chatDialer picks the transport from --server (HOST:PORT, or a ws:// or
// wss:// URL) and returns the host the server certificate must match.
func chatDialer(server string) (dialFunc, string, error) {
	if strings.HasPrefix(server, "ws://") || strings.HasPrefix(server, "wss://") {
		u, err := url.Parse(server)
		if err != nil || u.Hostname() == "" {
			return nil, "", fmt.Errorf("--server %q: not a WebSocket URL", server)
		}
		return chat.DialWebSocket, u.Hostname(), nil
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, "", fmt.Errorf("--server %q: %w", server, err)
	}
	return chat.Dial, host, nil
}
