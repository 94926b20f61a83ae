package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/web"
)

// WebSocket transport for `scca chat` (docs/PROTOCOL.md §14).

// serveWebSocket starts serving WebSocket clients on --ws-listen, if given,
// with the same server as TCP clients; Shutdown stops it. With --web the
// same address also serves the browser client (package web), and with
// --ca-url it relays the page's enrolment to the online CA.
func (e *env) serveWebSocket(srv *chat.Server, cas *ca.Certificates) error {
	addr := e.v.GetString("ws-listen")
	if addr == "" {
		if e.v.GetBool("web") {
			return errors.New("--web needs --ws-listen: the page is served on the WebSocket address")
		}
		return nil
	}
	opts := chat.WebSocketOptions{OriginPatterns: e.v.GetStringSlice("ws-origin")}
	handler := srv.WebSocketHandler(opts)
	if e.v.GetBool("web") {
		var err error
		if handler, err = e.webHandler(handler, cas); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ws-listen: %w", err)
	}
	e.printf("[Server] WebSocket listening on ws://%s/\n", ln.Addr())
	if e.v.GetBool("web") {
		e.printf("[Server] Browser client at http://%s/\n", ln.Addr())
	}
	go func() { _ = srv.ServeHandler(ln, handler) }() // returns ErrServerClosed on Shutdown
	return nil
}

// webHandler serves the page next to the WebSocket; the root it offers for
// the first-visit pin is this CA's.
func (e *env) webHandler(ws http.Handler, cas *ca.Certificates) (http.Handler, error) {
	o := web.Options{WebSocket: ws, RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cas.Root.Raw}),
		NoEnrollReason: noEnrollReason}
	if caURL := e.v.GetString("ca-url"); caURL != "" {
		relay, err := web.NewSignRelay(web.RelayOptions{CAURL: caURL, Roots: cas.Trust().Roots, Logger: e.logger()})
		if err != nil {
			return nil, err
		}
		o.Enroll = relay
	}
	return web.Handler(o), nil
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
