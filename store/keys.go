package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrWrongKeys is returned by CheckKeys when the key file does not open the stored secrets.
var ErrWrongKeys = errors.New("the key file does not open the secrets stored in this database")

// CheckKeys opens one stored secret of every key id in use, so that a wrong or outdated key
// file stops start-up instead of failing later, secret by secret.
func (s *Store) CheckKeys(ctx context.Context) error {
	// One secret per key id in use, each found by a seek in scm_secrets_key_id.
	var keyID int64 = -1
	for {
		var configID int64
		var name string
		var sealed []byte
		err := s.queryRow(ctx, `SELECT config_id, name, key_id, ciphertext FROM scm_secrets WHERE key_id > ? ORDER BY key_id LIMIT 1`, keyID).
			Scan(&configID, &name, &keyID, &sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: check keys: %w", err)
		}
		if _, err := s.keys.Open(uint32(keyID), sealed, secretAD(configID, name)); err != nil {
			return fmt.Errorf("store: %w (key %d: %v)", ErrWrongKeys, keyID, err)
		}
	}
}

// ReencryptSecrets seals again, under key id (which must be the keyring's current key), every
// secret sealed under another, and returns how many it re-sealed. It may run while a server
// serves: each secret is replaced only if it is still the ciphertext that was read.
func (s *Store) ReencryptSecrets(ctx context.Context, id uint32) (int, error) {
	current := s.keys.Current()
	if current != id {
		return 0, fmt.Errorf("store: re-encrypt: the key file's current key is %d, not %d", current, id)
	}
	type sealedSecret struct {
		configID int64
		name     string
		keyID    uint32
		sealed   []byte
	}
	var todo []sealedSecret
	rows, err := s.query(ctx, `SELECT config_id, name, key_id, ciphertext FROM scm_secrets WHERE key_id != ?`, current)
	if err != nil {
		return 0, fmt.Errorf("store: re-encrypt: %w", err)
	}
	for rows.Next() {
		var ss sealedSecret
		if err := rows.Scan(&ss.configID, &ss.name, &ss.keyID, &ss.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: re-encrypt: %w", err)
		}
		todo = append(todo, ss)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: re-encrypt: %w", err)
	}
	done := 0
	for _, ss := range todo {
		ad := secretAD(ss.configID, ss.name)
		plain, err := s.keys.Open(ss.keyID, ss.sealed, ad)
		if err != nil {
			return done, fmt.Errorf("store: re-encrypt %s of %d: %w", ss.name, ss.configID, err)
		}
		keyID, sealed := s.keys.Seal(plain, ad)
		err = s.inTx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, `UPDATE scm_secrets SET key_id = ?, ciphertext = ? WHERE config_id = ? AND name = ? AND ciphertext = ?`,
				keyID, sealed, ss.configID, ss.name, ss.sealed)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				done++
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("store: re-encrypt %s of %d: %w", ss.name, ss.configID, err)
		}
	}
	return done, nil
}

// SecretsNotUnder counts the secrets sealed with a key other than id.
func (s *Store) SecretsNotUnder(ctx context.Context, id uint32) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM scm_secrets WHERE key_id != ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count secrets under old keys: %w", err)
	}
	return n, nil
}
