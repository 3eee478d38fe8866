package store

import (
	"context"
	"errors"
	"fmt"
)

// Refusals of the lifecycle rules (a configuration's lifecycle); the web layer answers them 409.
var (
	ErrDisableDefault    = errors.New("store: the default configuration cannot be disabled")
	ErrDefaultDisabled   = errors.New("store: a disabled configuration cannot become the default")
	ErrDeleteEnabled     = errors.New("store: an enabled configuration cannot be deleted")
	ErrDeleteBuiltIn     = errors.New("store: the built-in configuration cannot be deleted")
	ErrHostsRepositories = errors.New("store: the configuration still hosts algorithm repositories")
)

// BuiltInID is the key of the built-in configuration, which always exists; BuiltInRef its id.
const (
	BuiltInID  = 1
	BuiltInRef = "internal"
)

// The lifecycle rules (a configuration's lifecycle), each returning the refusal or nil. The
// store's transactions apply them to the row they lock; the pages offer only the actions
// they allow.

// CanMakeDefault refuses making c the default while it is disabled.
func (c SCMConfig) CanMakeDefault() error {
	if !c.Enabled {
		return ErrDefaultDisabled
	}
	return nil
}

// CanDisable refuses disabling the default.
func (c SCMConfig) CanDisable() error {
	if c.IsDefault {
		return ErrDisableDefault
	}
	return nil
}

// CanDelete refuses deleting the built-in configuration, an enabled one, and one that still
// hosts algorithm repositories.
func (c SCMConfig) CanDelete() error {
	switch {
	case c.ID == BuiltInID:
		return ErrDeleteBuiltIn
	case c.Enabled:
		return ErrDeleteEnabled
	case c.Repositories > 0:
		return ErrHostsRepositories
	}
	return nil
}

// ErrManaged is the refusal of a change, through the pages or the API, to a configuration
// that a configuration file manages; the error is a *ManagedError naming the file.
var ErrManaged = errors.New("store: the configuration is managed by a configuration file")

// ManagedError refuses a change to configuration Config (its display name), which the file
// File manages: the file is where it changes.
type ManagedError struct {
	Config, File string
}

func (e *ManagedError) Error() string {
	return fmt.Sprintf("store: %q is managed by the configuration file %s", e.Config, e.File)
}

// Is makes a ManagedError ErrManaged.
func (e *ManagedError) Is(target error) bool { return target == ErrManaged }

// CanChange refuses editing c, enabling or disabling it, making it (or another, while it is
// the default) the default and deleting it through the pages or the API while a configuration
// file manages it: the file is where it changes. Testing it, and everything that leaves its
// settings as the file says, stays allowed.
func (c SCMConfig) CanChange() error {
	if c.ManagedBy != "" {
		return &ManagedError{Config: c.DisplayName(), File: c.ManagedBy}
	}
	return nil
}

// UpdateSCMConfig replaces the column-backed values and unique key of configuration c.ID with
// c's, and the secrets given (field name → plain text; a secret not given is kept). Which
// fields may change is the catalog's business: the caller passes the stored value of a fixed
// one. ErrDuplicate when the new values clash with another configuration; a *ManagedError when
// a configuration file manages it.
func (s *Store) UpdateSCMConfig(ctx context.Context, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	var updated SCMConfig
	err := s.inTx(ctx, func(tx *wtx) error {
		old, err := s.scmConfig(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if err := old.CanChange(); err != nil {
			return err
		}
		c.ManagedBy = old.ManagedBy
		updated, err = s.updateTx(ctx, tx, old, c, secrets, by)
		return err
	})
	if err != nil {
		return SCMConfig{}, updateError(c, err)
	}
	return updated, nil
}

// updateError is err of updating c, with the sentinel that says why.
func updateError(c SCMConfig, err error) error {
	if isUnique(err) {
		return fmt.Errorf("store: update scm config %d: %w", c.ID, ErrDuplicate)
	}
	return fmt.Errorf("store: update scm config %d: %w", c.ID, err)
}

// updateTx is UpdateSCMConfig within tx, over old as tx read it: c's column-backed values,
// unique key and file that manages it replace old's.
func (s *Store) updateTx(ctx context.Context, tx *wtx, old, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	updated := old
	for _, col := range columns {
		*col.of(&updated) = *col.of(&c)
	}
	updated.UniqueKey, updated.ManagedBy = c.UniqueKey, c.ManagedBy
	changes := updated.Diff(old, secrets)
	if len(changes) == 0 {
		return updated, nil
	}
	now := s.now()
	updated.UpdatedAt = now
	args := append(updated.columnValues(), updated.UniqueKey, searchText(updated), updated.ManagedBy, now, updated.ID)
	if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET (`+columnList+`, unique_key, search_text, managed_by, updated_at)
		   = (`+placeholders(len(columns))+`, ?, ?, ?, ?) WHERE id = ?`, args...); err != nil {
		return updated, err
	}
	if err := s.putSecrets(ctx, tx, updated.ID, secrets, now); err != nil {
		return updated, err
	}
	if err := forgetOAuthOnNewClient(ctx, tx, old, updated, secrets); err != nil {
		return updated, err
	}
	return updated, s.audit(ctx, tx, configEvent(by, ActionUpdate, updated, changes))
}

// MakeDefault makes configuration id the default and returns the previous default's id. A
// *ManagedError when a configuration file manages either.
func (s *Store) MakeDefault(ctx context.Context, id int64, by Actor) (previous int64, err error) {
	err = s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := c.CanChange(); err != nil {
			return err
		}
		previous, err = s.makeDefaultTx(ctx, tx, c, by, SCMConfig.CanChange)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: make %d the default: %w", id, err)
	}
	return previous, nil
}

// makeDefaultTx is MakeDefault of c within tx; unsetting rules whether the previous default may
// stop being it.
func (s *Store) makeDefaultTx(ctx context.Context, tx *wtx, c SCMConfig, by Actor, unsetting func(SCMConfig) error) (previous int64, err error) {
	if err := c.CanMakeDefault(); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT id FROM scm_configs WHERE is_default = 1`).Scan(&previous); err != nil {
		return 0, err
	}
	if previous == c.ID {
		return previous, nil
	}
	old, err := s.scmConfig(ctx, tx, previous)
	if err != nil {
		return 0, err
	}
	if err := unsetting(old); err != nil {
		return 0, err
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET is_default = 0, updated_at = ? WHERE id = ?`, now, previous); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET is_default = 1, updated_at = ? WHERE id = ?`, now, c.ID); err != nil {
		return 0, err
	}
	return previous, s.audit(ctx, tx, configEvent(by, ActionMakeDefault, c, nil))
}

// SetEnabled enables or disables configuration id; a *ManagedError when a configuration file
// manages it.
func (s *Store) SetEnabled(ctx context.Context, id int64, enabled bool, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Enabled == enabled {
			return nil
		}
		if err := c.CanChange(); err != nil {
			return err
		}
		return s.setEnabledTx(ctx, tx, c, enabled, by)
	})
	if err != nil {
		return fmt.Errorf("store: set %d enabled=%v: %w", id, enabled, err)
	}
	return nil
}

// setEnabledTx is SetEnabled of c, as tx read it, within tx.
func (s *Store) setEnabledTx(ctx context.Context, tx *wtx, c SCMConfig, enabled bool, by Actor) error {
	if c.Enabled == enabled {
		return nil
	}
	if !enabled {
		if err := c.CanDisable(); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET enabled = ?, updated_at = ? WHERE id = ?`, enabled, s.now(), c.ID); err != nil {
		return err
	}
	action := ActionDisable
	if enabled {
		action = ActionEnable
	}
	return s.audit(ctx, tx, configEvent(by, action, c, nil))
}

// DeleteSCMConfig deletes configuration id, which must be disabled, host no repository and
// be managed by no configuration file.
func (s *Store) DeleteSCMConfig(ctx context.Context, id int64, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := c.CanChange(); err != nil {
			return err
		}
		return s.deleteTx(ctx, tx, c, by)
	})
	if err != nil {
		return fmt.Errorf("store: delete scm config %d: %w", id, err)
	}
	return nil
}

// deleteTx is DeleteSCMConfig of c, as tx read it, within tx.
func (s *Store) deleteTx(ctx context.Context, tx *wtx, c SCMConfig, by Actor) error {
	if err := c.CanDelete(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM scm_configs WHERE id = ?`, c.ID); err != nil {
		return err
	}
	return s.audit(ctx, tx, configEvent(by, ActionDelete, c, nil))
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

// forgetOAuthOnNewClient forgets the accounts' tokens when the OAuth client changes (its id,
// a new secret, or another host): they were given to the old one, and must never be sent to
// another host.
func forgetOAuthOnNewClient(ctx context.Context, tx *wtx, old, updated SCMConfig, secrets map[string]string) error {
	sameHost := old.WebsiteURL == updated.WebsiteURL && old.APIURL == updated.APIURL
	if _, newSecret := secrets[FieldClientSecret]; sameHost && old.ClientID == updated.ClientID && !newSecret {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE config_id = ?`, old.ID)
	return err
}
