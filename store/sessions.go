package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in user's server-side session, found by the SHA-256 of its cookie token.
type Session struct {
	UserID     int64
	Data       []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// CreateSession stores a new session with tokenHash for userID, as used at now. Session times
// come from the caller, whose clock decides when sessions expire.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, userID int64, data []byte, now time.Time) error {
	now = now.UTC()
	_, err := s.exec(ctx, `INSERT INTO sessions (token_hash, user_id, data, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, userID, data, now, now)
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// UpdateSession replaces the data of userID's session with tokenHash, as used at now. It
// reports false, changing nothing, when that session no longer exists: a session ended
// (signed out, its password changed) must not come back because a request still had it.
func (s *Store) UpdateSession(ctx context.Context, tokenHash []byte, userID int64, data []byte, now time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE sessions SET data = ?, last_seen_at = ? WHERE token_hash = ? AND user_id = ?`,
		data, now.UTC(), tokenHash, userID)
	if err != nil {
		return false, fmt.Errorf("store: update session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: update session: %w", err)
	}
	return n == 1, nil
}

// Session returns the session with tokenHash, or ErrNotFound.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (Session, error) {
	var se Session
	err := s.queryRow(ctx,
		`SELECT user_id, data, created_at, last_seen_at FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&se.UserID, &se.Data, &se.CreatedAt, &se.LastSeenAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	return se, nil
}

// TouchSession records that the session was used at now.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, now.UTC(), tokenHash); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends the session with tokenHash.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that, at now, have been idle for longer than idle
// or exist for longer than maxAge.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, idle, maxAge time.Duration) error {
	now = now.UTC()
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`,
		now.Add(-idle), now.Add(-maxAge)); err != nil {
		return fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return nil
}
