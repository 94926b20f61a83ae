// Package channel is the secure channel of SecureChat (securechat/1,
// docs/PROTOCOL.md §2–§8): framing, cipher suites, the key schedule, the
// replay cache and the protocol's error codes. It knows nothing of the
// messaging application built on it (package chat, §12), the way
// crypto/tls knows nothing of net/http: the dependency only goes from chat
// to channel, and a test in this package keeps it so.
package channel
