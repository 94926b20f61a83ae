package certstore

import "github.com/securechat/scca/certstore/sqldriver"

// Location says where the inventory lives; see sqldriver.Location.
type Location = sqldriver.Location
