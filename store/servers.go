package store

import (
	"context"
	"fmt"
	"time"
)

// RunningServer is a server as it last recorded itself (RecordServer): which key of the key
// file it seals with.
type RunningServer struct {
	ID, Name  string
	StartedAt time.Time
	SeenAt    time.Time
	KeyID     uint32
}

// forgetServersAfter is how long a server that stopped recording itself stays listed: one
// killed without the chance to say so is gone after it.
const forgetServersAfter = time.Hour

// RecordServer records that the server id (name says which, for people) is running and seals
// with its keyring's current key, re-reading the key file if it changed. A server calls it
// every few seconds; `scmadmin keys rotate` reads it (ServersBehind). It also forgets the
// servers and the failure counts (failure_windows) that have long been silent.
func (s *Store) RecordServer(ctx context.Context, id, name string, startedAt time.Time) error {
	now := s.now()
	err := s.inTx(ctx, func(tx *wtx) error {
		for _, stmt := range []struct {
			sql  string
			args []any
		}{
			{s.d.unsynced, nil}, // a record lost to a crash is made again a second later
			{`INSERT INTO servers (id, name, started_at, seen_at, key_id) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at, key_id = excluded.key_id`,
				[]any{id, name, startedAt.UTC(), now, int64(s.keys.Current())}},
			{`DELETE FROM servers WHERE seen_at < ?`, []any{now.Add(-forgetServersAfter)}},
			{`DELETE FROM failure_windows WHERE last_at < ?`, []any{now.Add(-forgetFailuresAfter)}},
		} {
			if stmt.sql == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record server %s: %w", name, err)
	}
	return nil
}

// ForgetServer removes server id, which is stopping, from the running servers.
func (s *Store) ForgetServer(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM servers WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: forget server %s: %w", id, err)
	}
	return nil
}

// ServersBehind returns the servers seen within the last `within` that still seal with a key
// older than keyID.
func (s *Store) ServersBehind(ctx context.Context, keyID uint32, within time.Duration) ([]RunningServer, error) {
	rows, err := s.query(ctx, `SELECT id, name, started_at, seen_at, key_id FROM servers WHERE key_id < ? AND seen_at >= ? ORDER BY name`,
		int64(keyID), s.now().Add(-within))
	if err != nil {
		return nil, fmt.Errorf("store: servers behind key %d: %w", keyID, err)
	}
	defer rows.Close()
	var behind []RunningServer
	for rows.Next() {
		var r RunningServer
		var key int64
		if err := rows.Scan(&r.ID, &r.Name, &r.StartedAt, &r.SeenAt, &key); err != nil {
			return nil, fmt.Errorf("store: servers behind key %d: %w", keyID, err)
		}
		r.KeyID = uint32(key)
		behind = append(behind, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: servers behind key %d: %w", keyID, err)
	}
	return behind, nil
}
