package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// forgetFailuresAfter is how long a failure count with no new failure is kept: longer than
// any window or lock the web layer counts with.
const forgetFailuresAfter = time.Hour

// CountFailure counts one failure of key (what failed: an account's sign-ins, an address's
// sign-ins or API keys) at the time at, and returns the count and when its window began.
// The count starts again from one when its window began more than window ago, or when its
// last failure was more than quiet ago (a zero duration sets no such bound). Servers sharing
// the database count together: one upsert decides, so that failures at the same instant on
// two servers are both counted.
func (s *Store) CountFailure(ctx context.Context, key string, at time.Time, window, quiet time.Duration) (int, time.Time, error) {
	cutoff := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return at.Add(-d).UTC()
	}
	var n int
	var start time.Time
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO failure_windows (key, started_at, last_at, count) VALUES (?1, ?2, ?2, 1)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN failure_windows.started_at < ?3 OR failure_windows.last_at < ?4 THEN 1 ELSE failure_windows.count + 1 END,
			started_at = CASE WHEN failure_windows.started_at < ?3 OR failure_windows.last_at < ?4 THEN excluded.started_at ELSE failure_windows.started_at END,
			last_at = excluded.last_at
		RETURNING count, started_at`, key, at.UTC(), cutoff(window), cutoff(quiet)).Scan(&n, &start)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: count a failure: %w", err)
	}
	return n, start, nil
}

// ClearFailures forgets the failures of key (an account that signed in).
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM failure_windows WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: clear failures: %w", err)
	}
	return nil
}

// Failures returns the failures counted for key: how many, when their window began and the
// last one; zero when none are.
func (s *Store) Failures(ctx context.Context, key string) (n int, startedAt, lastAt time.Time, err error) {
	err = s.queryRow(ctx, `SELECT count, started_at, last_at FROM failure_windows WHERE key = ?`, key).Scan(&n, &startedAt, &lastAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("store: failures: %w", err)
	}
	return n, startedAt, lastAt, nil
}
