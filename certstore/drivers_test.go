package certstore

// The store's tests run on every database, so they link every driver, as
// cmd/scca does; certstore itself links none (TestLinksNoDriver).
import (
	_ "github.com/securechat/scca/certstore/dialect/mysql"
	_ "github.com/securechat/scca/certstore/dialect/postgres"
	_ "github.com/securechat/scca/certstore/dialect/sqlite"
)
