package certstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/securechat/scca/internal/testdb"
)

// runtimeGrants are the least privileges the README documents for the user
// scca runs as day to day: no UPDATE or DELETE on the audit log, and no DDL.
// The migrations user (ALL on the database) runs `scca db migrate` only.
var runtimeGrants = []string{
	"GRANT SELECT ON %[1]s.goose_db_version TO %[2]s",
	"GRANT SELECT, INSERT, UPDATE ON %[1]s.certificates TO %[2]s",
	"GRANT SELECT, INSERT, UPDATE ON %[1]s.crl_numbers TO %[2]s",
	"GRANT SELECT, INSERT ON %[1]s.audit_log TO %[2]s",
	"GRANT SELECT, UPDATE ON %[1]s.audit_head TO %[2]s",
	"GRANT SELECT, INSERT, DELETE ON %[1]s.messages TO %[2]s",
	"GRANT SELECT, INSERT, UPDATE ON %[1]s.message_queues TO %[2]s",
	"GRANT SELECT, INSERT, UPDATE ON %[1]s.message_senders TO %[2]s",
	"GRANT SELECT, UPDATE ON %[1]s.message_totals TO %[2]s",
}

// TestLeastPrivilegeRuntimeMySQL: with the documented grants the runtime
// issues, revokes, numbers CRLs, queues messages and verifies the audit log,
// and the server itself refuses to rewrite or delete audit entries.
func TestLeastPrivilegeRuntimeMySQL(t *testing.T) {
	ctx := context.Background()
	adminURL := testdb.MySQL(t, "scca_grants")
	admin := openAt(t, adminURL, nil)
	if err := admin.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	user, pass := "scca_rt_"+hex.EncodeToString(suffix), hex.EncodeToString(suffix)+"-pw"
	account := "'" + user + "'@'%'"
	exec := func(q string) {
		t.Helper()
		if _, err := admin.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE USER " + account + " IDENTIFIED BY '" + pass + "'")
	t.Cleanup(func() { admin.db.ExecContext(context.Background(), "DROP USER "+account) })
	for _, g := range runtimeGrants {
		exec(strings.NewReplacer("%[1]s", "`"+cfg.DBName+"`", "%[2]s", account).Replace(g))
	}

	rtCfg := cfg.Clone()
	rtCfg.User, rtCfg.Passwd = user, pass
	clk := newClock()
	rt := openAt(t, rtCfg.FormatDSN(), clk.Now)
	if err := rt.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema as the runtime user: %v", err)
	}
	mustInsert(t, rt, testRecord(1, clk.Now()))
	mustInsert(t, rt, clientRecord(2, "alice", clk.Now()))
	if _, err := rt.Supersede(ctx, clientRecord(3, "alice", clk.Now())); err != nil {
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
	if n, err := rt.VerifyAudit(ctx); err != nil || n != 5 {
		t.Fatalf("VerifyAudit as the runtime user = %d, %v", n, err)
	}
	for _, q := range []string{
		"UPDATE audit_log SET actor = 'mallory' WHERE id = 1",
		"DELETE FROM audit_log WHERE id = 5",
		"DROP TABLE audit_log",
	} {
		if _, err := rt.db.ExecContext(ctx, q); !accessDenied(err) {
			t.Errorf("%q as the runtime user = %v, want a privilege error", q, err)
		}
	}
}

// accessDenied reports whether err is the server refusing a privilege.
func accessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1142 || me.Number == 1044) // ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
}
