package index

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Two shippers of different origins reach a month that has no partition at once: the
// first creates it (and sets its time index to summarize itself); the second, which found
// it missing before the first committed, waits for the partition lock and then must leave
// the partition alone. Before the fix it altered the partition's index again — ALTER
// INDEX … SET (autosummarize) takes an ACCESS EXCLUSIVE lock on the index — so it waited,
// holding the partition lock, for any report whose open transaction had read the month
// (the planner locks every index of what it reads), and every later reader of the month
// queued behind it. The second shipper must finish while a third origin's batch into the
// month and a report of it are still open.
func TestPartitionCreatedByAnotherShipperIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	url, db := migrated(t)
	month := time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC)
	conn := func() *pgx.Conn { return connect(t, url) }
	begin := func(c *pgx.Conn) pgx.Tx {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		return tx
	}
	waitFor := func(what, sql string, args ...any) {
		t.Helper()
		for i := 0; i < 600; i++ {
			if count(t, db, sql, args...) > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("never: %s", what)
	}
	const advisoryWaiters = `SELECT (count(*) >= $1)::int FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`

	// A creates September's partition and holds the partition lock, not yet committed.
	txA := begin(conn())
	if err := ensurePartitions(ctx, txA, rows("gw-a", 0, 5, month)); err != nil {
		t.Fatal(err)
	}
	// E queues for the partition lock first, then B, which found no partition.
	txE := begin(conn())
	eDone := make(chan error, 1)
	go func() {
		_, err := txE.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock))
		eDone <- err
	}()
	waitFor("E waits for the partition lock", advisoryWaiters, 1)
	connB := conn()
	txB := begin(connB)
	bDone := make(chan error, 1)
	go func() { bDone <- ensurePartitions(ctx, txB, rows("gw-b", 0, 5, month)) }()
	waitFor("B waits for the partition lock", advisoryWaiters, 2)

	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-eDone; err != nil {
		t.Fatal(err)
	}
	// C's batch into September is copied and stays open (waiting for its turn to commit).
	txC := begin(conn())
	if err := copyRows(ctx, txC, rows("gw-c", 0, 5, month)); err != nil {
		t.Fatal(err)
	}
	// And a report reads September, its transaction open.
	txR := begin(conn())
	if _, err := txR.Exec(ctx, `SELECT count(*) FROM records WHERE t >= '2026-09-01'`); err != nil {
		t.Fatal(err)
	}
	if err := txE.Commit(ctx); err != nil { // B takes the partition lock
		t.Fatal(err)
	}

	var bErr error
	finished := false
	for i := 0; i < 600 && !finished; i++ {
		select {
		case bErr = <-bDone:
			finished = true
		default:
			var waiting bool
			if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'relation' AND NOT granted)`, connB.PgConn().PID()).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				t.Errorf("B waits for a lock on September's partition behind an open report")
				if err := txR.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				bErr, finished = <-bDone, true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if !finished {
		t.Fatal("B neither finished nor waited for a lock")
	}
	if bErr != nil {
		t.Fatalf("B: %v", bErr)
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txC.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	txR.Commit(ctx) // an error once committed above
	if n := count(t, db, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'records_t'::regclass AND c.relname LIKE 'records_202609%' AND 'autosummarize=on' = ANY(c.reloptions)`); n != 1 {
		t.Errorf("September's time index summarizes itself: %d, want 1", n)
	}
}
