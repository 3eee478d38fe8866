package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// KeptHealthResults is how many connection test results each configuration keeps: the
// details page shows them all.
const KeptHealthResults = 20

// HealthResult is one connection test as the health history keeps it.
type HealthResult struct {
	At      time.Time
	Outcome Health // HealthPassed, HealthWarning or HealthFailing
	// Step is the id of the first step that failed; Summary is its title ("passed" when none did).
	Step, Summary string
	// What the host told, zero when it did not: when the token and the certificate expire,
	// and how many API calls its rate limit has left (RateLimitLeft < 0: not told).
	TokenExpires, CertExpires time.Time
	RateLimitLeft             int64
}

// Failing reports whether the test failed.
func (r HealthResult) Failing() bool { return r.Outcome == HealthFailing }

// Health is t in a word: HealthUntested, HealthPassed, HealthWarning or HealthFailing.
func (t ConnectionTest) Health() Health {
	switch {
	case t.At.IsZero():
		return HealthUntested
	case !t.Passed:
		return HealthFailing
	case t.Warned:
		return HealthWarning
	}
	return HealthPassed
}

// Audit actions of a configuration's health: a test failed after one that passed (or none),
// a test passed after one that failed.
const (
	ActionStartedFailing = "health_failing"
	ActionPassingAgain   = "health_passing"
)

// FieldHealth is the audit change's field of a health change.
const FieldHealth = "health"

// RecordConnectionTest keeps r as configuration id's last connection test and the newest of
// its health history (of which it keeps KeptHealthResults), and returns the configuration's
// health as it now stands. A change from passing (or untested) to failing, or back, is an
// audit entry by by. ErrNotFound when the configuration was deleted meanwhile.
func (s *Store) RecordConnectionTest(ctx context.Context, id int64, r HealthResult, by Actor) (ConnectionTest, error) {
	t := ConnectionTest{At: r.At.UTC(), Passed: !r.Failing(), Warned: r.Outcome == HealthWarning, Summary: r.Summary}
	err := s.inTx(ctx, func(tx *wtx) error {
		// Locked for the transaction, so that two tests finishing together see each other's result.
		c, err := scanSCM(tx.QueryRowContext(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE id = ?`+s.d.forUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		wasFailing := !c.LastTest.At.IsZero() && !c.LastTest.Passed
		if r.Failing() {
			t.FailingSince = t.At
			if wasFailing && !c.LastTest.FailingSince.IsZero() {
				t.FailingSince = c.LastTest.FailingSince
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET last_test_at = ?, last_test_passed = ?, last_test_summary = ?,
			  last_test_warned = ?, failing_since = ? WHERE id = ?`,
			t.At, t.Passed, t.Summary, t.Warned, nullTime(t.FailingSince), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO health_results (config_id, at, outcome, step, summary,
			  token_expires_at, cert_expires_at, rate_limit_left) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, t.At, string(r.Outcome), r.Step, r.Summary, nullTime(r.TokenExpires), nullTime(r.CertExpires),
			sql.NullInt64{Int64: r.RateLimitLeft, Valid: r.RateLimitLeft >= 0}); err != nil {
			return err
		}
		if err := prune(ctx, tx, "health_results", id, KeptHealthResults); err != nil {
			return err
		}
		if wasFailing == r.Failing() {
			return nil
		}
		change := Change{Field: FieldHealth, From: "not tested", To: "failing: " + r.Summary}
		if !c.LastTest.At.IsZero() {
			change.From = "passing"
		}
		action := ActionStartedFailing
		if !r.Failing() {
			change = Change{Field: FieldHealth, From: "failing since " + c.LastTest.FailingSince.UTC().Format(time.RFC3339), To: string(r.Outcome)}
			action = ActionPassingAgain
		}
		return s.audit(ctx, tx, configEvent(by, action, c, []Change{change}))
	})
	if err != nil {
		return ConnectionTest{}, fmt.Errorf("store: record connection test of %d: %w", id, err)
	}
	return t, nil
}

// nullTime is t for a nullable column: NULL when zero.
func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: t.UTC(), Valid: !t.IsZero()}
}

// HealthResults returns configuration id's kept connection test results, newest first.
func (s *Store) HealthResults(ctx context.Context, id int64) ([]HealthResult, error) {
	rows, err := s.query(ctx, `SELECT at, outcome, step, summary, token_expires_at, cert_expires_at, rate_limit_left
		FROM health_results WHERE config_id = ? ORDER BY id DESC LIMIT ?`, id, KeptHealthResults)
	if err != nil {
		return nil, fmt.Errorf("store: health results of %d: %w", id, err)
	}
	defer rows.Close()
	var results []HealthResult
	for rows.Next() {
		var r HealthResult
		var token, cert sql.NullTime
		var left sql.NullInt64
		if err := rows.Scan(&r.At, &r.Outcome, &r.Step, &r.Summary, &token, &cert, &left); err != nil {
			return nil, fmt.Errorf("store: health results of %d: %w", id, err)
		}
		r.TokenExpires, r.CertExpires, r.RateLimitLeft = token.Time, cert.Time, -1
		if left.Valid {
			r.RateLimitLeft = left.Int64
		}
		results = append(results, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: health results of %d: %w", id, err)
	}
	return results, nil
}

// Healthy is whether each enabled configuration that has been tested passed its last test,
// by its id (Ref).
func (s *Store) Healthy(ctx context.Context) (map[string]bool, error) {
	rows, err := s.query(ctx, `SELECT ref, last_test_passed FROM scm_configs WHERE enabled = 1 AND last_test_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("store: healthy: %w", err)
	}
	defer rows.Close()
	healthy := map[string]bool{}
	for rows.Next() {
		var ref string
		var passed bool
		if err := rows.Scan(&ref, &passed); err != nil {
			return nil, fmt.Errorf("store: healthy: %w", err)
		}
		healthy[ref] = passed
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: healthy: %w", err)
	}
	return healthy, nil
}

// TakeLease makes holder the holder of the lease called name until ttl from now, if no
// other holder's lease on it is running; it reports whether holder holds it. Renewing one's
// own lease is taking it again.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.now()
	res, err := s.exec(ctx, `INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
		WHERE leases.until_ms < ? OR leases.holder = excluded.holder`,
		name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: take lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: take lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease called name, if it holds it, so that another server
// may take it at once.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, `UPDATE leases SET until_ms = 0 WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("store: release lease %s: %w", name, err)
	}
	return nil
}
