package revocation

// The tests open inventories on every database, so they link every driver
// (the package itself links none).
import (
	_ "github.com/securechat/scca/certstore/dialect/mysql"
	_ "github.com/securechat/scca/certstore/dialect/postgres"
	_ "github.com/securechat/scca/certstore/dialect/sqlite"
)
