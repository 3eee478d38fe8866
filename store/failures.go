package store

import (
	"context"
	"fmt"
	"time"
)

// forgetFailuresAfter is how long a failure count with no new failure is kept: longer than
// any window or lock the web layer counts with.
const forgetFailuresAfter = time.Hour

// FailureWindow names a count of failures (an account's sign-ins, an address's sign-ins or
// API keys) and when it starts again from one: when it began more than Window ago, or its
// last failure was more than Quiet ago (a zero duration sets no such bound).
type FailureWindow struct {
	Key           string
	Window, Quiet time.Duration
}

// Failures is a count of failures: how many, when the window began, the last one.
type Failures struct {
	N                 int
	StartedAt, LastAt time.Time
}

// CountFailures counts one failure, at the time at, in each of windows, in one transaction,
// and returns their counts. Servers sharing the database count together: each count is one
// upsert, so that failures at the same instant on two servers are both counted. A crash of the
// database may lose the last counts: they are not waited for on disk.
func (s *Store) CountFailures(ctx context.Context, at time.Time, windows ...FailureWindow) ([]Failures, error) {
	cutoff := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return at.Add(-d).UTC()
	}
	counts := make([]Failures, len(windows))
	err := s.inTx(ctx, func(tx *wtx) error {
		if s.d.unsynced != "" {
			if _, err := tx.ExecContext(ctx, s.d.unsynced); err != nil {
				return err
			}
		}
		for i, w := range windows {
			err := tx.QueryRowContext(ctx, `INSERT INTO failure_windows (key, started_at, last_at, count) VALUES (?1, ?2, ?2, 1)
				ON CONFLICT (key) DO UPDATE SET
					count = CASE WHEN failure_windows.started_at < ?3 OR failure_windows.last_at < ?4 THEN 1 ELSE failure_windows.count + 1 END,
					started_at = CASE WHEN failure_windows.started_at < ?3 OR failure_windows.last_at < ?4 THEN excluded.started_at ELSE failure_windows.started_at END,
					last_at = excluded.last_at
				RETURNING count, started_at, last_at`, w.Key, at.UTC(), cutoff(w.Window), cutoff(w.Quiet)).
				Scan(&counts[i].N, &counts[i].StartedAt, &counts[i].LastAt)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: count failures: %w", err)
	}
	return counts, nil
}

// ReadFailures returns the counts of keys, in their order (zero for a key with none), in one
// query.
func (s *Store) ReadFailures(ctx context.Context, keys ...string) ([]Failures, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.query(ctx, `SELECT key, count, started_at, last_at FROM failure_windows WHERE key IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read failures: %w", err)
	}
	defer rows.Close()
	counts := make([]Failures, len(keys))
	for rows.Next() {
		var key string
		var f Failures
		if err := rows.Scan(&key, &f.N, &f.StartedAt, &f.LastAt); err != nil {
			return nil, fmt.Errorf("store: read failures: %w", err)
		}
		for i, k := range keys {
			if k == key {
				counts[i] = f
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read failures: %w", err)
	}
	return counts, nil
}

// ClearFailures forgets the failures of key (an account that signed in).
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM failure_windows WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: clear failures: %w", err)
	}
	return nil
}
