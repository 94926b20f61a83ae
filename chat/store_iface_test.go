package chat

import "github.com/securechat/scca/certstore"

// The SQL inventory implements the interfaces the server consumes; the
// assertions live in a test so package chat itself links no SQL driver.
var (
	_ Mailbox        = (*certstore.Store)(nil)
	_ RevocationFeed = (*certstore.Store)(nil)
	_ Directory      = (*certstore.Store)(nil)
)
