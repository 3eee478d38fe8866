package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Refusals of the lifecycle rules (SPEC "Lifecycle rules"); the web layer answers them 409.
var (
	ErrDisableDefault    = errors.New("store: the default configuration cannot be disabled")
	ErrDefaultDisabled   = errors.New("store: a disabled configuration cannot become the default")
	ErrDeleteEnabled     = errors.New("store: an enabled configuration cannot be deleted")
	ErrDeleteBuiltIn     = errors.New("store: the built-in configuration cannot be deleted")
	ErrHostsRepositories = errors.New("store: the configuration still hosts algorithm repositories")
)

// BuiltInID is the id of the built-in configuration, which always exists.
const BuiltInID = 1

// UpdateSCMConfig replaces the editable values of configuration c.ID — name, URLs, client id —
// and the secrets given (field name → plain text; a secret not given is kept). Provider and
// project key never change. ErrDuplicate when the new values clash with another configuration.
func (s *Store) UpdateSCMConfig(ctx context.Context, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	var updated SCMConfig
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := s.scmConfig(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		updated = old
		updated.Name, updated.WebsiteURL, updated.APIURL, updated.SSHURL, updated.ClientID, updated.UniqueKey =
			c.Name, c.WebsiteURL, c.APIURL, c.SSHURL, c.ClientID, c.UniqueKey
		changes := updated.diff(old, secrets)
		if len(changes) == 0 {
			return nil
		}
		now := s.now()
		updated.UpdatedAt = now
		if _, err := tx.ExecContext(ctx,
			`UPDATE scm_configs SET name = ?, website_url = ?, api_url = ?, ssh_url = ?, client_id = ?, unique_key = ?,
			   search_text = ?, updated_at = ? WHERE id = ?`,
			updated.Name, updated.WebsiteURL, updated.APIURL, updated.SSHURL, updated.ClientID, updated.UniqueKey,
			searchText(updated), now, updated.ID); err != nil {
			return err
		}
		if err := s.putSecrets(ctx, tx, updated.ID, secrets, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionUpdate, updated, changes))
	})
	if isUnique(err) {
		return SCMConfig{}, fmt.Errorf("store: update scm config %d: %w", c.ID, ErrDuplicate)
	}
	if err != nil {
		return SCMConfig{}, fmt.Errorf("store: update scm config %d: %w", c.ID, err)
	}
	return updated, nil
}

// MakeDefault makes configuration id the default and returns the previous default's id.
func (s *Store) MakeDefault(ctx context.Context, id int64, by Actor) (previous int64, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if !c.Enabled {
			return ErrDefaultDisabled
		}
		if err := tx.QueryRowContext(ctx, `SELECT id FROM scm_configs WHERE is_default = 1`).Scan(&previous); err != nil {
			return err
		}
		if previous == id {
			return nil
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET is_default = 0, updated_at = ? WHERE id = ?`, now, previous); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET is_default = 1, updated_at = ? WHERE id = ?`, now, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionMakeDefault, c, nil))
	})
	if err != nil {
		return 0, fmt.Errorf("store: make %d the default: %w", id, err)
	}
	return previous, nil
}

// SetEnabled enables or disables configuration id.
func (s *Store) SetEnabled(ctx context.Context, id int64, enabled bool, by Actor) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Enabled == enabled {
			return nil
		}
		if !enabled && c.IsDefault {
			return ErrDisableDefault
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET enabled = ?, updated_at = ? WHERE id = ?`, enabled, s.now(), id); err != nil {
			return err
		}
		action := ActionDisable
		if enabled {
			action = ActionEnable
		}
		return s.audit(ctx, tx, configEvent(by, action, c, nil))
	})
	if err != nil {
		return fmt.Errorf("store: set %d enabled=%v: %w", id, enabled, err)
	}
	return nil
}

// DeleteSCMConfig deletes configuration id, which must be disabled and host no repository.
func (s *Store) DeleteSCMConfig(ctx context.Context, id int64, by Actor) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := deleteRefusal(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM scm_configs WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionDelete, c, nil))
	})
	if err != nil {
		return fmt.Errorf("store: delete scm config %d: %w", id, err)
	}
	return nil
}

// CheckDelete returns the rule that would refuse deleting c now, or nil: to ask for
// confirmation only of a delete that can happen. DeleteSCMConfig checks again.
func (s *Store) CheckDelete(ctx context.Context, c SCMConfig) error {
	if err := deleteRefusal(ctx, rowQuerier(s.queryRow), c); err != nil {
		return fmt.Errorf("store: check delete of %d: %w", c.ID, err)
	}
	return nil
}

// deleteRefusal is the lifecycle rule that refuses deleting c, or nil.
func deleteRefusal(ctx context.Context, db queryRower, c SCMConfig) error {
	var repos int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM repositories WHERE config_id = ?`, c.ID).Scan(&repos); err != nil {
		return err
	}
	switch {
	case c.ID == BuiltInID:
		return ErrDeleteBuiltIn
	case c.Enabled:
		return ErrDeleteEnabled
	case repos > 0:
		return ErrHostsRepositories
	}
	return nil
}

// AddRepository records that an algorithm repository called slug lives in configuration id.
func (s *Store) AddRepository(ctx context.Context, configID int64, slug string) error {
	_, err := s.exec(ctx,
		`INSERT INTO repositories (config_id, slug, created_at) VALUES (?, ?, ?) ON CONFLICT (config_id, slug) DO NOTHING`,
		configID, slug, s.now())
	if err != nil {
		return fmt.Errorf("store: add repository %q to %d: %w", slug, configID, err)
	}
	return nil
}

// RepositoryCount returns how many algorithm repositories configuration id hosts.
func (s *Store) RepositoryCount(ctx context.Context, id int64) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM repositories WHERE config_id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count repositories of %d: %w", id, err)
	}
	return n, nil
}
