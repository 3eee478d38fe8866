package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The builds feed and the build hook's outbox (migration 018).
//
// Order. A follower of the feed (GET /v1/builds?after=SEQ) must never miss a build that
// commits after it has read past it. Identity or autoincrement ids cannot promise that on
// PostgreSQL: two servers' transactions take ids 10 and 11, 11 commits first, a follower
// reads 11 and moves past 10 for good. So every build takes its seq from the one row of
// build_sequence, UPDATEd in the build's transaction: the row stays locked until that
// transaction ends, so the next build's transaction gets seq+1 only after this one has
// committed (or rolled back, leaving a harmless gap). Seqs therefore become visible in
// their order. On SQLite the one writer already serializes transactions; the same counter
// serves both engines, and costs one small UPDATE per build. The outbox delivers each
// configuration's builds by the same seq, which is what makes "in order per configuration"
// hold across servers too.

// nextBuildSeq takes the next seq of the feed, inside tx.
func nextBuildSeq(ctx context.Context, tx *wtx) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE build_sequence SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&seq)
	return seq, err
}

// BuildsAfter returns up to limit builds whose seq is greater than after, by seq: the builds
// feed. A configuration keeps its latest KeptBuilds builds (and none once it is deleted): a
// follower that has fallen further behind than that does not see the pruned ones, and
// resumes with the oldest kept.
func (s *Store) BuildsAfter(ctx context.Context, after int64, limit int) ([]Build, error) {
	rows, err := s.query(ctx, `SELECT b.seq, b.id, b.config_id, c.ref, b.request_id, b.project_key, b.repository, b.commit_id,
		b.actor, b.via, b.pushed_at, b.created_at FROM builds b JOIN scm_configs c ON c.id = b.config_id
		WHERE b.seq > ? ORDER BY b.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: builds after %d: %w", after, err)
	}
	defer rows.Close()
	bs := []Build{}
	for rows.Next() {
		var b Build
		if err := rows.Scan(&b.Seq, &b.ID, &b.ConfigID, &b.ConfigRef, &b.RequestID, &b.ProjectKey, &b.Repository, &b.Commit,
			&b.Actor, &b.Trigger, &b.PushedAt, &b.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: builds after %d: %w", after, err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil || len(bs) > 0 || after == 0 {
		return bs, err
	}
	// Nothing follows: a marker beyond every seq ever taken was never given by the feed (a
	// typo, or a database restored from before it), and a follower holding it would skip
	// every build up to it.
	var taken int64
	if err := s.queryRow(ctx, `SELECT n FROM build_sequence`).Scan(&taken); err != nil {
		return nil, fmt.Errorf("store: builds after %d: %w", after, err)
	}
	if after > taken {
		return nil, fmt.Errorf("store: builds after %d: %w (the latest is %d)", after, ErrMarkerAhead, taken)
	}
	return bs, nil
}

// ErrMarkerAhead refuses a builds feed marker beyond every build recorded.
var ErrMarkerAhead = errors.New("the marker is ahead of every build recorded")

// StartBuildHook turns the build hook's outbox on: from now on, every build this store
// records also waits in the outbox, written in the build's transaction, until
// BuildHookDelivered. The channel it returns receives (without blocking the writer) after a
// commit that queued a build. Call it before serving, so that no build is recorded without
// it. While it is off (no SCMADMIN_BUILD_HOOK_URL), nothing is queued: the outbox would only
// grow.
//
// On SQLite one server delivers: leases left by a server that died are void at once. On
// PostgreSQL another server may hold them; they run out at their time.
func (s *Store) StartBuildHook(ctx context.Context) (<-chan struct{}, error) {
	if s.d.name == sqliteDialect.name {
		if _, err := s.exec(ctx, `UPDATE build_hook_outbox SET leased_by = NULL, lease_until = NULL WHERE leased_by IS NOT NULL`); err != nil {
			return nil, fmt.Errorf("store: start the build hook: %w", err)
		}
	}
	wake := make(chan struct{}, 1)
	s.hookWake.Store(&wake)
	return wake, nil
}

// queueBuildHook puts the build of seq in the outbox, inside its transaction, while the
// hook is on.
func (s *Store) queueBuildHook(ctx context.Context, tx *wtx, seq int64, now time.Time) error {
	if s.hookWake.Load() == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO build_hook_outbox (seq, config_id, build_id, scm_ref, repository, commit_id,
		actor, via, created_at, next_attempt_at)
		SELECT b.seq, b.config_id, b.id, c.ref, b.repository, b.commit_id, b.actor, b.via, b.created_at, ?
		FROM builds b JOIN scm_configs c ON c.id = b.config_id WHERE b.seq = ?`, now, seq)
	return err
}

// buildQueued wakes the hook's worker after a commit that queued a build.
func (s *Store) buildQueued() {
	if wake := s.hookWake.Load(); wake != nil {
		select {
		case *wake <- struct{}{}:
		default: // already woken
		}
	}
}

// outboxHeads selects the seq of each configuration's oldest build in the outbox. It walks
// the configurations through the (config_id, seq) index, one seek each (neither engine skips
// through an index by itself: GROUP BY config_id would read every waiting build, and a
// backlog of thousands would make every claim slower).
const outboxHeads = `WITH RECURSIVE configs(id) AS (
		SELECT min(config_id) FROM build_hook_outbox
		UNION ALL
		SELECT (SELECT min(config_id) FROM build_hook_outbox WHERE config_id > configs.id) FROM configs WHERE configs.id IS NOT NULL)
	SELECT (SELECT min(seq) FROM build_hook_outbox WHERE config_id = configs.id) FROM configs WHERE configs.id IS NOT NULL`

// HookDelivery is a build waiting in the outbox, claimed by one server for one attempt.
type HookDelivery struct {
	Build
	Attempts   int       // failed attempts so far
	LeaseUntil time.Time // the claim's end: after it, another server may claim the build
}

// ClaimBuildHooks claims, for owner until leaseUntil, up to limit builds that are due at now
// and are each the oldest waiting build of their configuration: the next of a configuration
// is claimed only once the one before it was delivered. A build another server holds an
// unexpired lease on is not claimed; two servers that run this at once claim different
// builds (PostgreSQL re-checks the lease on the row it locked). It also returns when the
// first build not claimed now will be due (zero when none waits).
func (s *Store) ClaimBuildHooks(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]HookDelivery, time.Time, error) {
	now, leaseUntil = now.UTC(), leaseUntil.UTC() // SQLite compares times as text
	var claimed []HookDelivery
	var next time.Time
	err := s.inTx(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE build_hook_outbox SET leased_by = ?1, lease_until = ?2
			WHERE next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) AND seq IN (
				SELECT o.seq FROM build_hook_outbox o
				WHERE o.seq IN (`+outboxHeads+`)
				  AND o.next_attempt_at <= ?3 AND (o.lease_until IS NULL OR o.lease_until < ?3)
				ORDER BY o.seq LIMIT ?4`+s.d.skipLocked+`)
			RETURNING seq, build_id, config_id, scm_ref, repository, commit_id, actor, via, created_at, attempts`,
			owner, leaseUntil, now, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h HookDelivery
			if err := rows.Scan(&h.Seq, &h.ID, &h.ConfigID, &h.ConfigRef, &h.Repository, &h.Commit, &h.Actor, &h.Trigger,
				&h.CreatedAt, &h.Attempts); err != nil {
				return err
			}
			h.LeaseUntil = leaseUntil
			claimed = append(claimed, h)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// The next due of the heads nobody holds (a column, not an aggregate: SQLite gives
		// an aggregate's time back as text). Heads another server holds come back by polling.
		var due sql.NullTime
		err = tx.QueryRowContext(ctx, `SELECT next_attempt_at FROM build_hook_outbox
			WHERE seq IN (`+outboxHeads+`) AND leased_by IS NULL
			ORDER BY next_attempt_at LIMIT 1`).Scan(&due)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		next = due.Time
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: claim builds for the build hook: %w", err)
	}
	// RETURNING gives no order: deliver (and log) in the feed's.
	slices.SortFunc(claimed, bySeq)
	return claimed, next, nil
}

// ErrLeaseLost is returned when a server reports on a build it no longer holds: its lease ran
// out and another server claimed it (which then delivers it again: at least once).
var ErrLeaseLost = errors.New("the build hook's lease on this build ran out")

// HookOutcome is what became of a run of one configuration's builds that a server claimed
// for the build hook.
type HookOutcome struct {
	Delivered []int64 // taken by the target: removed from the outbox
	// Failed, when not 0, is the build the target did not take, tried again at RetryAt:
	// Status is the target's answer (0 for none), Reason what went wrong, in words.
	Failed   int64
	Status   int
	Reason   string
	RetryAt  time.Time
	Released []int64 // not sent: given back, for any server to claim
}

// SettleBuildHooks records o, owner's run, in one transaction and, when nothing failed,
// claims for owner until leaseUntil up to claim of the configuration's next builds, in order
// from the new head, if that head is due at now and nobody else holds it (builds owner still
// holds are claimed again, with the new lease). A configuration's backlog thus goes out in
// runs, at one transaction a run, in order. If another server took over any build of o (its
// lease ran out), nothing is recorded: ErrLeaseLost.
func (s *Store) SettleBuildHooks(ctx context.Context, owner string, o HookOutcome, now, leaseUntil time.Time, claim int) ([]HookDelivery, error) {
	var next []HookDelivery
	err := s.inTx(ctx, func(tx *wtx) error {
		next = nil
		var configID int64
		for _, seq := range o.Delivered {
			err := tx.QueryRowContext(ctx, `DELETE FROM build_hook_outbox WHERE seq = ? AND leased_by = ? RETURNING config_id`,
				seq, owner).Scan(&configID)
			if err := leaseHeld(err); err != nil {
				return err
			}
		}
		if o.Failed != 0 {
			if err := s.hookFailed(ctx, tx, owner, o); err != nil {
				return err
			}
		}
		for _, seq := range o.Released {
			var id int64
			err := tx.QueryRowContext(ctx, `UPDATE build_hook_outbox SET leased_by = NULL, lease_until = NULL
				WHERE seq = ? AND leased_by = ? RETURNING config_id`, seq, owner).Scan(&id)
			if err := leaseHeld(err); err != nil {
				return err
			}
		}
		if claim == 0 || o.Failed != 0 || configID == 0 {
			return nil
		}
		var err error
		next, err = claimRun(ctx, tx, configID, owner, now.UTC(), leaseUntil.UTC(), claim)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: record a run at the build hook (delivered %v, failed %d, given back %v): %w", o.Delivered, o.Failed, o.Released, err)
	}
	return next, nil
}

// hookFailed records, inside tx, that the target did not take o.Failed, which waits until
// o.RetryAt, and counts the failure against its configuration.
func (s *Store) hookFailed(ctx context.Context, tx *wtx, owner string, o HookOutcome) error {
	var configID int64
	err := tx.QueryRowContext(ctx, `UPDATE build_hook_outbox SET attempts = attempts + 1, next_attempt_at = ?,
		leased_by = NULL, lease_until = NULL WHERE seq = ? AND leased_by = ? RETURNING config_id`, o.RetryAt.UTC(), o.Failed, owner).Scan(&configID)
	if err := leaseHeld(err); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO build_hook_failures (config_id, failures, failed_at, status, reason)
		VALUES (?, 1, ?, ?, ?) ON CONFLICT (config_id) DO UPDATE SET failures = build_hook_failures.failures + 1,
		failed_at = excluded.failed_at, status = excluded.status, reason = excluded.reason`, configID, s.now(), o.Status, clip(o.Reason, 500))
	return err
}

// leaseHeld turns the error of a statement on a build owner holds into ErrLeaseLost when it
// touched no row: the lease ran out, and another server holds the build.
func leaseHeld(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrLeaseLost
	}
	return err
}

// claimable is the condition on a build of the outbox (its table named t) that owner (?1)
// may claim at ?4: due, and held by nobody, by owner itself, or by a lease that ran out.
func claimable(t string) string {
	return strings.ReplaceAll(`t.next_attempt_at <= ?4 AND (t.leased_by IS NULL OR t.leased_by = ?1 OR t.lease_until < ?4)`, "t.", t+".")
}

// claimRun claims, inside tx, configuration configID's oldest builds, up to n, for owner until
// leaseUntil: the head, if it is claimable, and after it those that follow it unbroken (a
// build another server holds ends the run). On PostgreSQL the head's row lock makes two
// servers' runs of one configuration wait for each other.
func claimRun(ctx context.Context, tx *wtx, configID int64, owner string, now, leaseUntil time.Time, n int) ([]HookDelivery, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE build_hook_outbox SET leased_by = ?1, lease_until = ?2
		WHERE seq IN (SELECT seq FROM build_hook_outbox WHERE config_id = ?3 ORDER BY seq LIMIT ?5)
		  AND `+claimable("build_hook_outbox")+`
		  AND NOT EXISTS (SELECT 1 FROM build_hook_outbox b WHERE b.config_id = ?3 AND b.seq < build_hook_outbox.seq
		      AND NOT (`+claimable("b")+`))
		RETURNING seq, build_id, config_id, scm_ref, repository, commit_id, actor, via, created_at, attempts`,
		owner, leaseUntil, configID, now, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var run []HookDelivery
	for rows.Next() {
		h := HookDelivery{LeaseUntil: leaseUntil}
		if err := rows.Scan(&h.Seq, &h.ID, &h.ConfigID, &h.ConfigRef, &h.Repository, &h.Commit, &h.Actor, &h.Trigger,
			&h.CreatedAt, &h.Attempts); err != nil {
			return nil, err
		}
		run = append(run, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(run, bySeq) // RETURNING gives no order
	return run, nil
}

func bySeq(a, b HookDelivery) int { return cmp.Compare(a.Seq, b.Seq) }

// BuildHookStatus is what waits for the build hook, and its last failure: of one
// configuration (BuildHookStatus) or of all (BuildHookTotals).
type BuildHookStatus struct {
	Pending  int
	Failures int64 // failed attempts, ever
	// The last failure: when, the target's status (0: no answer) and what it said.
	FailedAt   time.Time
	LastStatus int
	LastReason string
}

// BuildHookStatus returns configuration configID's builds waiting for the hook and its last failure.
func (s *Store) BuildHookStatus(ctx context.Context, configID int64) (BuildHookStatus, error) {
	var st BuildHookStatus
	var failedAt sql.NullTime
	var status sql.NullInt64
	var reason sql.NullString
	err := s.queryRow(ctx, `SELECT (SELECT count(*) FROM build_hook_outbox WHERE config_id = ?1),
		coalesce(f.failures, 0), f.failed_at, f.status, f.reason
		FROM (SELECT 1 AS one) o LEFT JOIN build_hook_failures f ON f.config_id = ?1`, configID).
		Scan(&st.Pending, &st.Failures, &failedAt, &status, &reason)
	if err != nil {
		return st, fmt.Errorf("store: build hook status of %d: %w", configID, err)
	}
	st.FailedAt, st.LastStatus, st.LastReason = failedAt.Time, int(status.Int64), reason.String
	return st, nil
}

// BuildHookTotals returns every configuration's builds waiting for the hook, their failed
// attempts and the latest failure.
func (s *Store) BuildHookTotals(ctx context.Context) (BuildHookStatus, error) {
	var st BuildHookStatus
	err := s.queryRow(ctx, `SELECT (SELECT count(*) FROM build_hook_outbox),
		(SELECT CAST(coalesce(sum(failures), 0) AS BIGINT) FROM build_hook_failures)`).Scan(&st.Pending, &st.Failures)
	if err == nil {
		err = s.queryRow(ctx, `SELECT failed_at, status, reason FROM build_hook_failures ORDER BY failed_at DESC LIMIT 1`).
			Scan(&st.FailedAt, &st.LastStatus, &st.LastReason)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("store: build hook totals: %w", err)
	}
	return st, nil
}
