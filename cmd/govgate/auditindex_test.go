package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit/index"
	"github.com/govgate/govgate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestAuditIndexCommands: `audit ship --migrate`, `audit ship DIR --once`, then `audit
// report --db` prints what `audit report DIR` prints (JSON, by day and by reason), `audit
// verify --db` exits 0, and 1 with a FAULT line once a row is changed in the database;
// a command line naming both a directory and --db is a usage error.
func TestAuditIndexCommands(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{})
	url := srv.Database(t)
	dir := t.TempDir()
	l := auditTestLog(t, dir, auditTestSigner(t))
	day := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	for i := range 60 {
		at := day.Add(time.Duration(i) * 3 * time.Minute)
		switch i % 3 {
		case 0:
			appendRecords(t, l, sharingRecord(i, at, "agr-1", 200))
		case 1:
			appendRecords(t, l, sharingRecord(i, at, "agr-2", 403, "no_agreement"))
		default:
			appendRecords(t, l, sharingRecord(i, at, "agr-1", 429, "quota_exhausted"))
		}
	}
	l.Close()
	keys := trustedKeys(t, dir)

	if code, out, errOut := runCmd(t, "audit", "ship", "--db", url, "--migrate"); code != 0 || !strings.Contains(out, fmt.Sprintf("schema at version %d", index.SchemaVersion())) {
		t.Fatalf("ship --migrate: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "audit", "ship", dir, "--db", url, "--keys", keys, "--once", "--batch", "7"); code != 0 || !strings.Contains(out, "shipped 60 records") {
		t.Fatalf("ship --once: %d %s %s", code, out, errOut)
	}
	for _, by := range []string{"day", "reason", "month", "agreement,consumer"} {
		_, fromDir, _ := runCmd(t, "audit", "report", dir, "--by", by, "--to", "2027-01-01", "--json")
		code, fromDB, errOut := runCmd(t, "audit", "report", "--db", url, "--by", by, "--to", "2027-01-01", "--json")
		if code != 0 || fromDB != fromDir || !strings.Contains(fromDB, `"allowed"`) {
			t.Fatalf("report --by %s: %d\n db:   %s\n file: %s\n%s", by, code, fromDB, fromDir, errOut)
		}
	}
	if code, out, errOut := runCmd(t, "audit", "verify", "--db", url, "--origin", "govgate.test/gw-1", "--keys", keys); code != 0 || !strings.HasPrefix(out, "ok: 60 records") {
		t.Fatalf("verify --db: %d %s %s", code, out, errOut)
	}
	db, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(context.Background(), `UPDATE records SET agreement = 'agr-9' WHERE idx = 12`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "audit", "verify", "--db", url, "--origin", "govgate.test/gw-1", "--keys", keys)
	if code != 1 || !strings.Contains(out, "FAULT record 12: column agreement") {
		t.Fatalf("verify --db of a changed row: %d %s %s", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "audit", "report", dir, "--db", url); code != 2 {
		t.Fatalf("report with a directory and --db: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "audit", "ship", dir, "--keys", keys); code != 2 {
		t.Fatalf("ship without --db: exit %d, want 2", code)
	}
}
