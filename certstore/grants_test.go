package certstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securechat/scca/internal/testdb"
)

// runtimeGrants are the least privileges the README documents for the user
// scca runs as day to day, on MySQL/MariaDB and PostgreSQL alike: no DDL;
// the audit log and the enrollments (what authorised each certificate the
// online CA issued) are append-only, no UPDATE or DELETE. The migrations
// user (the schema's owner) runs `scca init` and `scca db migrate` only.
var runtimeGrants = []struct{ table, privileges string }{
	{"goose_db_version", "SELECT"},
	{"certificates", "SELECT, INSERT, UPDATE"},
	{"crl_numbers", "SELECT, INSERT, UPDATE"},
	{"audit_log", "SELECT, INSERT"},
	{"audit_head", "SELECT, UPDATE"},
	{"messages", "SELECT, INSERT, DELETE"},
	{"message_queues", "SELECT, INSERT, UPDATE"},
	{"message_senders", "SELECT, INSERT, UPDATE"},
	{"message_totals", "SELECT, UPDATE"},
	{"enroll_tokens", "SELECT, INSERT, UPDATE"},
	{"enrollments", "SELECT, INSERT"},
}

// runtimeWithheld are the tables of the migrated schema the runtime user
// is deliberately granted nothing on, each with the reason. There are none:
// every table is used day to day. A migration that adds a table must add it
// to runtimeGrants (and the README) or here, or TestRuntimeGrantsCoverSchema
// fails.
var runtimeWithheld = map[string]string{}

// grantDialects are the servers with least-privilege grants (SQLite has no
// users): how to make a throw-away database, a login for the runtime user
// and a GRANT, and how to read the README's grants and the schema's tables.
var grantDialects = []struct {
	name    string
	newURL  func(tb testing.TB) string
	section string // the README's, holding the runtime user's GRANTs
	// account is how a GRANT names the user; login returns the URL the
	// runtime opens as the user, and the statements that create and drop
	// the user.
	account func(user string) string
	login   func(t *testing.T, adminURL, user, pass string) (rtURL string, create, drop []string)
	// readmeGrant matches one documented grant: privileges, table.
	readmeGrant *regexp.Regexp
	// tables lists the base tables of the current database.
	tables string
	denied func(error) bool
}{
	{
		name:    DriverMySQL,
		newURL:  func(tb testing.TB) string { return testdb.MySQL(tb, "scca_grants") },
		section: "MySQL / MariaDB",
		account: func(user string) string { return "'" + user + "'@'%'" },
		login: func(t *testing.T, adminURL, user, pass string) (string, []string, []string) {
			cfg, err := mysql.ParseDSN(adminURL)
			if err != nil {
				t.Fatal(err)
			}
			rt := cfg.Clone()
			rt.User, rt.Passwd = user, pass
			account := "'" + user + "'@'%'"
			return rt.FormatDSN(), []string{"CREATE USER " + account + " IDENTIFIED BY '" + pass + "'"}, []string{"DROP USER " + account}
		},
		readmeGrant: regexp.MustCompile(`^GRANT ([A-Z, ]+) ON securechat\.(\w+) TO 'scuser'@'%';`),
		tables:      "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
		denied: func(err error) bool {
			var me *mysql.MySQLError
			return errors.As(err, &me) && (me.Number == 1142 || me.Number == 1044) // ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
		},
	},
	{
		name:    DriverPostgres,
		newURL:  func(tb testing.TB) string { return testdb.Postgres(tb, "scca_grants") },
		section: "PostgreSQL",
		account: func(user string) string { return user },
		login: func(t *testing.T, adminURL, user, pass string) (string, []string, []string) {
			u, err := url.Parse(adminURL)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(user, pass)
			// Roles belong to the server, not the database: what the role
			// was granted in this database goes first (DROP OWNED), then
			// the role.
			return u.String(), []string{"CREATE ROLE " + user + " LOGIN PASSWORD '" + pass + "'"},
				[]string{"DROP OWNED BY " + user, "DROP ROLE " + user}
		},
		readmeGrant: regexp.MustCompile(`^GRANT ([A-Z, ]+) ON (\w+) TO scuser;`),
		tables:      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
		denied: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "42501" // insufficient_privilege
		},
	},
}

// TestLeastPrivilegeRuntime: with the documented grants the runtime
// issues, revokes, numbers CRLs, queues messages, mints and spends
// enrollment tokens, renews and verifies the audit log, and the server
// itself refuses to rewrite or delete audit entries and enrollments, or to
// change the schema.
func TestLeastPrivilegeRuntime(t *testing.T) {
	for _, gd := range grantDialects {
		t.Run(gd.name, func(t *testing.T) {
			ctx := context.Background()
			adminURL := gd.newURL(t)
			admin := openAt(t, adminURL, nil)
			if err := admin.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			exec := func(q string) {
				t.Helper()
				if _, err := admin.db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			suffix := make([]byte, 4)
			rand.Read(suffix)
			user, pass := "scca_rt_"+hex.EncodeToString(suffix), hex.EncodeToString(suffix)+"-pw"
			rtURL, create, drop := gd.login(t, adminURL, user, pass)
			for _, q := range create {
				exec(q)
			}
			t.Cleanup(func() {
				for _, q := range drop {
					if _, err := admin.db.ExecContext(context.Background(), q); err != nil {
						t.Errorf("%s: %v", q, err)
					}
				}
			})
			for _, g := range runtimeGrants {
				exec(fmt.Sprintf("GRANT %s ON %s TO %s", g.privileges, g.table, gd.account(user)))
			}

			clk := newClock()
			rt := openAt(t, rtURL, clk.Now) // closed before the user is dropped
			runAsRuntime(t, rt, clk)
			for _, q := range []string{
				"UPDATE audit_log SET actor = 'mallory' WHERE id = 1",
				"DELETE FROM audit_log WHERE id = 5",
				"UPDATE enrollments SET method = 'token' WHERE id = 1",
				"DELETE FROM enrollments",
				"DROP TABLE audit_log",
				"CREATE TABLE backdoor (id INT)",
			} {
				if _, err := rt.db.ExecContext(ctx, q); !gd.denied(err) {
					t.Errorf("%q as the runtime user = %v, want a privilege error", q, err)
				}
			}
		})
	}
}

// runAsRuntime does, as the runtime user, what every command and server
// does to the inventory day to day.
func runAsRuntime(t *testing.T, rt *Store, clk *fakeClock) {
	t.Helper()
	ctx := context.Background()
	now := clk.Now()
	if err := rt.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema as the runtime user: %v", err)
	}
	mustInsert(t, rt, testRecord(1, now))
	mustInsert(t, rt, clientRecord(2, "alice", now))
	if _, err := rt.Supersede(ctx, clientRecord(3, "alice", now)); err != nil {
		t.Fatalf("Supersede as the runtime user: %v", err)
	}
	if _, err := rt.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1001", Reason: ReasonKeyCompromise}); err != nil {
		t.Fatalf("Revoke as the runtime user: %v", err)
	}
	if _, err := rt.NextCRLNumber(ctx, "ab12"); err != nil {
		t.Fatalf("NextCRLNumber as the runtime user: %v", err)
	}
	if _, err := rt.Enqueue(ctx, []QueuedMessage{{Recipient: "bob", Sender: "alice", MsgID: "m1", Body: []byte("hi")}},
		QueueLimits{PerRecipient: 10, PerSender: 10, Total: 10}); err != nil {
		t.Fatalf("Enqueue as the runtime user: %v", err)
	}
	if _, err := rt.AckDelivered(ctx, "bob", 1<<40); err != nil {
		t.Fatalf("AckDelivered as the runtime user: %v", err)
	}

	// The online CA: `scca token`, then `scca enroll` and `scca renew`
	// through `scca serve --api-listen`.
	hash := sha256.Sum256([]byte("token secret"))
	tok := Token{ID: "00000000000000c1", Hash: hex.EncodeToString(hash[:]), CN: "carol", Type: TypeClient,
		CreatedAt: now, CreatedBy: "ops", ExpiresAt: now.Add(1 << 40)}
	if err := rt.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken as the runtime user: %v", err)
	}
	if _, err := rt.LookupToken(ctx, tok.ID); err != nil {
		t.Fatalf("LookupToken as the runtime user: %v", err)
	}
	enrolled := clientRecord(4, "carol", now)
	if err := rt.InsertAuthorized(ctx, enrolled, Authorization{TokenID: tok.ID, TokenHash: tok.Hash}); err != nil {
		t.Fatalf("InsertAuthorized (token) as the runtime user: %v", err)
	}
	renewed := clientRecord(5, "carol", now)
	if err := rt.InsertAuthorized(ctx, renewed, Authorization{PreviousIssuer: enrolled.IssuerKeyID, PreviousSerial: enrolled.Serial}); err != nil {
		t.Fatalf("InsertAuthorized (renewal) as the runtime user: %v", err)
	}

	// Every step above appended to the audit log: 2 issues, supersede
	// (revoke and issue), revoke, token, issue, renewal (revoke and issue).
	if n, err := rt.VerifyAudit(ctx); err != nil || n != 9 {
		t.Fatalf("VerifyAudit as the runtime user = %d, %v; want 9 entries", n, err)
	}
}

// TestRuntimeGrantsCoverSchema: every table the migrations create is
// granted to the runtime user (runtimeGrants) or withheld on purpose
// (runtimeWithheld), on each server with grants, so a new table cannot be
// forgotten silently; and no grant names a table that does not exist.
func TestRuntimeGrantsCoverSchema(t *testing.T) {
	for _, gd := range grantDialects {
		t.Run(gd.name, func(t *testing.T) {
			ctx := context.Background()
			admin := openAt(t, gd.newURL(t), nil)
			if err := admin.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := admin.db.QueryContext(ctx, gd.tables)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var tables []string
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					t.Fatal(err)
				}
				tables = append(tables, name)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			granted := map[string]bool{}
			for _, g := range runtimeGrants {
				granted[g.table] = true
			}
			for _, table := range tables {
				_, withheld := runtimeWithheld[table]
				if !granted[table] && !withheld {
					t.Errorf("table %s of the migrated schema is neither in runtimeGrants (and the README's %q grants) nor in runtimeWithheld", table, gd.section)
				}
			}
			for table := range granted {
				if !slices.Contains(tables, table) {
					t.Errorf("runtimeGrants names %s, which the migrated schema does not have", table)
				}
			}
		})
	}
}

// TestREADMEGrantsMatchTest: the runtime user's GRANTs in the README's
// "MySQL / MariaDB" and "PostgreSQL" sections are exactly runtimeGrants,
// which TestLeastPrivilegeRuntime runs the runtime against.
func TestREADMEGrantsMatchTest(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, g := range runtimeGrants {
		want[g.table] = g.privileges
	}
	for _, gd := range grantDialects {
		t.Run(gd.name, func(t *testing.T) {
			got := map[string]string{}
			for _, line := range strings.Split(readmeSection(t, string(readme), gd.section), "\n") {
				if m := gd.readmeGrant.FindStringSubmatch(line); m != nil {
					got[m[2]] = m[1]
				}
			}
			for table, privs := range want {
				if got[table] != privs {
					t.Errorf("README %q grants the runtime user %q on %s, want %q", gd.section, got[table], table, privs)
				}
			}
			for table, privs := range got {
				if _, ok := want[table]; !ok {
					t.Errorf("README %q grants the runtime user %q on %s, which runtimeGrants lacks", gd.section, privs, table)
				}
			}
		})
	}
}

// readmeSection is the text of the README's "## title" section.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README has no section %q", title)
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	return after
}
