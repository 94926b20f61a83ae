// Package chat implements SecureChat, scca's certificate-authenticated
// encrypted messaging protocol, version "securechat/1" (docs/PROTOCOL.md).
//
// A client and a server exchange three handshake messages (client_hello,
// server_hello + server_finish, client_finish: 1.5 round trips) in which each
// side proves possession of its certificate's key by signing the transcript,
// an ephemeral X25519 exchange gives forward secrecy, and HKDF-SHA256 derives
// one AEAD key per direction for the negotiated cipher suite (AES-256-GCM by
// default, or ChaCha20-Poly1305; channel/suite.go); records have binary bodies when
// both sides agree (record_binary.go). Every message the client sends is
// acknowledged by the server, so Conn.Send returning nil means delivered.
//
// Certificates are validated against the Roots and Intermediates pools and
// a PeerChecker (inventory or CRL/OCSP) on every handshake; a checker that
// cannot answer refuses the peer. The package never reads flags or environment, never prints and never
// exits: it reports through the callbacks and the slog.Logger it is given.
//
// The secure channel is being separated into package chat/channel, which
// imports nothing of the messaging relay: errors and codes, framing, cipher
// suites, the key schedule, the replay cache and the strict JSON codec are
// there; the handshake, the record layer and tickets are still here
// (channel_compat.go gives the moved names their short spellings).
package chat
