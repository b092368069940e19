package index

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Migrations are plain SQL files named NNNN_what.sql, applied in the order of NNNN. Plain
// files in one transaction, not a migration library: PostgreSQL's DDL is transactional,
// so a migration is applied whole or not at all, with no "dirty" state to repair by hand,
// and the shipper needs nothing beyond pgx.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrateLock is the advisory lock that serialises concurrent --migrate runs.
const migrateLock = 0x676f76676174 // "govgat"

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, p := range names {
		base := strings.TrimPrefix(p, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", base)
		}
		b, err := migrations.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// SchemaVersion is the version the migrations bring a database to.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate applies the migrations the database lacks, all in one transaction, and returns
// the versions applied.
func Migrate(ctx context.Context, db *pgx.Conn) ([]int, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		have, err := currentVersion(ctx, tx)
		if err != nil {
			return err
		}
		if want := ms[len(ms)-1].version; have > want {
			// Nothing to apply is not success: this binary would then write a schema it
			// does not know, and its operator be sent back to --migrate for ever.
			return newerSchema(have, want)
		}
		for _, m := range ms {
			if m.version <= have {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func currentVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// CheckSchema refuses a database whose schema is not the one this binary writes: run
// `govgate audit ship --migrate` first.
func CheckSchema(ctx context.Context, db *pgx.Conn) error {
	v, err := currentVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("audit index schema: %w (run govgate audit ship --migrate)", err)
	}
	want := SchemaVersion()
	if v > want {
		return newerSchema(v, want)
	}
	if v != want {
		return fmt.Errorf("audit index schema is at version %d, this govgate needs %d (run govgate audit ship --migrate)", v, want)
	}
	return nil
}

// newerSchema is a database a newer govgate migrated: no migration goes back.
func newerSchema(have, want int) error {
	return fmt.Errorf("audit index schema is at version %d, newer than this govgate's %d: use the govgate that migrated it (--migrate does not go back)", have, want)
}
