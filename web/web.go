// Package web serves the SecureChat browser client: a static page (built
// from web/src with web/build.sh and embedded here) that speaks
// securechat/1 itself with WebCrypto over the chat server's WebSocket
// (docs/PROTOCOL.md §11, §14). The server only hands out the files; the
// page authenticates the server against its pinned root and signs with a
// key that never leaves the browser.
//
// The handler sets a strict Content-Security-Policy (same-origin scripts,
// styles and connections only, no inline script, no framing), passes
// WebSocket upgrades to the chat server, serves the CA root for the
// first-visit pin, and relays enrolment (POST /v1/sign) to the online CA.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// ContentSecurityPolicy is sent with every response. 'self' in
// connect-src also covers ws:// and wss:// to the page's own host
// (CSP Level 3), which is the only place the page connects to.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options configures Handler.
type Options struct {
	// WebSocket serves every WebSocket upgrade request, whatever its path
	// (chat.Server.WebSocketHandler, which keeps its origin check).
	WebSocket http.Handler
	// RootPEM is the CA root the page pins on its first visit (served at
	// /ca.pem). The page shows its fingerprint; once pinned, it no longer
	// takes the server's word for it.
	RootPEM []byte
	// Enroll serves POST /v1/sign (see NewSignRelay); nil: enrolment is
	// not offered and the request gets 404 with NoEnrollReason.
	Enroll http.Handler
	// NoEnrollReason is the error the page shows when Enroll is nil (the
	// embedding program's advice); empty: "enrolment is not offered by
	// this server".
	NoEnrollReason string
}

// Handler returns the http.Handler for the page and the WebSocket.
func Handler(o Options) http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic("web: embedded files: " + err.Error()) // the directory is compiled in
	}
	mux := http.NewServeMux()
	fileServer := http.FileServerFS(static)
	mux.Handle("GET /{$}", fileServer)
	mux.Handle("GET /app.js", fileServer)
	mux.Handle("GET /style.css", fileServer)
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		if len(o.RootPEM) == 0 {
			http.NotFound(w, nil)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(o.RootPEM)
	})
	mux.HandleFunc("POST /v1/sign", func(w http.ResponseWriter, r *http.Request) {
		if o.Enroll == nil {
			reason := o.NoEnrollReason
			if reason == "" {
				reason = "enrolment is not offered by this server"
			}
			writeJSONError(w, http.StatusNotFound, reason)
			return
		}
		o.Enroll.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) && o.WebSocket != nil {
			o.WebSocket.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		mux.ServeHTTP(w, r)
	})
}

// isWebSocketUpgrade: Connection has the token "upgrade" and Upgrade is
// "websocket" (RFC 6455 §4.1), case-insensitively.
func isWebSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
