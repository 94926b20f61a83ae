package main

// The SQL drivers the inventory can use (--db sqlite:, mysql://,
// postgres://): the library links none; the program links them here.
import (
	_ "github.com/securechat/scca/certstore/dialect/mysql"
	_ "github.com/securechat/scca/certstore/dialect/postgres"
	_ "github.com/securechat/scca/certstore/dialect/sqlite"
)
