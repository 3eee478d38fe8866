package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// copiedTables are the tables Copy copies, parents before children, each with the rows that a
// new database has already (its built-in configuration), which the copy replaces with the
// source's. Every other table of the schema is in notCopied, saying why (a test holds the two
// lists to the schema: a table added to neither fails it).
var copiedTables = []struct {
	name string
	// fresh selects the rows a newly migrated database holds: the destination may have those alone.
	fresh string
	// ids is whether the table numbers its rows with an id that the destination must go on
	// counting from (never handing out one the source has used).
	ids bool
}{
	{"users", "", true},
	{"scm_configs", "id = 1", true},
	{"scm_refs", "ref = 'internal'", false},
	{"scm_secrets", "", false},
	{"repositories", "", true},
	{"audit_events", "", true},
	{"webhook_deliveries", "", true},
	{"builds", "", true},
	{"build_sequence", "id = 1", false},
	{"build_hook_outbox", "", false},
	{"build_hook_failures", "", false},
	{"health_results", "", true},
	{"api_keys", "", true},
	{"sessions", "", false},
	{"oauth_states", "", false},
	{"oauth_tokens", "", false},
}

// notCopied are the schema's tables that Copy leaves to the destination, and why.
var notCopied = map[string]string{
	"schema_version":   "the destination's own migrations record it (PostgreSQL)",
	"data_versions":    "the destination's triggers count its own changes",
	"scm_config_count": "the destination's triggers count the configurations copied",
	"heartbeat":        "each server writes its own",
	"servers":          "the servers running on the source are not running on the destination",
	"failure_windows":  "failed sign-ins are forgotten within the hour anyway",
	"leases":           "each server takes its own leases for the background work",
}

// CopyCount is how many rows of a table Copy copied.
type CopyCount struct {
	Table string
	Rows  int
}

// Copy copies every row of the tables of from (one snapshot) into to, which must be empty (as
// newly migrated) and may be on the other engine, in one transaction: a failure leaves to as it
// was. Rows keep their ids and secrets stay sealed: the same key file opens them.
func Copy(ctx context.Context, from, to *Store) ([]CopyCount, error) {
	src, err := from.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: from.d.snapshot})
	if err != nil {
		return nil, fmt.Errorf("store: copy: read the source: %w", err)
	}
	defer src.Rollback()
	var counts []CopyCount
	err = to.inTx(ctx, func(dst *wtx) error {
		for _, t := range copiedTables {
			if err := refuseNonEmpty(ctx, dst, t.name, t.fresh); err != nil {
				return err
			}
		}
		for _, t := range copiedTables {
			if t.fresh != "" {
				if _, err := dst.ExecContext(ctx, `DELETE FROM `+t.name+` WHERE `+t.fresh); err != nil {
					return fmt.Errorf("make room in %s: %w", t.name, err)
				}
			}
		}
		for _, t := range copiedTables {
			n, err := copyTable(ctx, src, dst, t.name)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			if t.ids {
				if err := copyLastID(ctx, from.d, src, to.d, dst, t.name); err != nil {
					return fmt.Errorf("copy the ids of %s: %w", t.name, err)
				}
			}
			counts = append(counts, CopyCount{Table: t.name, Rows: n})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	return counts, nil
}

// refuseNonEmpty fails when table holds a row beyond those that fresh selects.
func refuseNonEmpty(ctx context.Context, tx *wtx, table, fresh string) error {
	query := `SELECT count(*) FROM ` + table
	if fresh != "" {
		query += ` WHERE NOT (` + fresh + `)`
	}
	var n int
	if err := tx.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return fmt.Errorf("count the rows of %s: %w", table, err)
	}
	if n > 0 {
		return fmt.Errorf("%w: the destination is not empty: its table %s holds %d rows (copy into a new database)", ErrDuplicate, table, n)
	}
	return nil
}

// copyTable inserts every row of table in src into dst, column by column as named, and says
// how many.
func copyTable(ctx context.Context, src *sql.Tx, dst *wtx, table string) (int, error) {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	insert := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if _, err := dst.ExecContext(ctx, insert, values...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// copyLastID makes dst's table hand out ids after the last that src's handed out (which may
// be higher than any left in it: deleted rows' ids are not reused).
func copyLastID(ctx context.Context, fromD *dialect, src *sql.Tx, toD *dialect, dst *wtx, table string) error {
	var last int64
	if err := src.QueryRowContext(ctx, strings.ReplaceAll(fromD.lastID, "{table}", table), table).Scan(&last); err != nil {
		return err
	}
	if last == 0 {
		return nil
	}
	_, err := dst.ExecContext(ctx, strings.ReplaceAll(toD.setLastID, "{table}", table), table, last)
	return err
}
