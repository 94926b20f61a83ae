package chat

import "github.com/securechat/scca/chat/channel"

// WebSocketOptions configures Server.WebSocketHandler (the WebSocket
// transport is the channel's, channel/ws.go).
type WebSocketOptions = channel.WebSocketOptions
