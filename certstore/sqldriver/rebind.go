package sqldriver

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
)

// Rebind rewrites the '?' placeholders the store's SQL uses into the $1,
// $2, ... that PostgreSQL expects. Question marks inside single-quoted
// strings, double-quoted identifiers and -- comments are left alone.
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte // the open quote character, 0 outside quotes
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end - 1
			continue
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// RebindConnector wraps a database/sql connector so that every statement
// sent through its connections is rebound; database/sql calls the wrapped
// connection's context-aware methods directly.
type RebindConnector struct{ driver.Connector }

// fullConn is what database/sql uses of a modern driver's connection; pgx's
// stdlib.Conn implements all of it.
type fullConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.NamedValueChecker
}

func (c RebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	fc, ok := conn.(fullConn)
	if !ok {
		conn.Close()
		return nil, errors.New("postgres driver connection lacks context-aware methods")
	}
	return rebindConn{fc}, nil
}

type rebindConn struct{ fullConn }

func (c rebindConn) Prepare(q string) (driver.Stmt, error) { return c.fullConn.Prepare(Rebind(q)) }

func (c rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.fullConn.PrepareContext(ctx, Rebind(q))
}

func (c rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.fullConn.ExecContext(ctx, Rebind(q), args)
}

func (c rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.fullConn.QueryContext(ctx, Rebind(q), args)
}
