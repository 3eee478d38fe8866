package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Audit actions of algorithm repositories; the change names the repository as OWNER/NAME.
const (
	ActionCreateRepository = "create_repository"
	ActionForgetRepository = "forget_repository"
	ActionPurgeRepository  = "purge_repository"
)

// FieldRepository is the audit trail's name for the repository a change concerns.
const FieldRepository = "repository"

// Repository is an algorithm repository hosted in a configuration: while any exists, the
// configuration cannot be deleted.
type Repository struct {
	ID       int64
	ConfigID int64
	// Owner holds it on the host: the Bitbucket project key, or the account, organisation,
	// group or workspace. Name is its name on the host, unique within the configuration.
	Owner, Name      string
	HTTPSURL, SSHURL string
	CreatedAt        time.Time
	CreatedBy        string // who asked for it, as the audit trail names them
}

// FullName is OWNER/NAME, or NAME when the owner is not known.
func (r Repository) FullName() string {
	if r.Owner == "" {
		return r.Name
	}
	return r.Owner + "/" + r.Name
}

const repositoryColumns = `id, config_id, owner, slug, https_url, ssh_url, created_at, created_by`

func scanRepository(row interface{ Scan(...any) error }) (Repository, error) {
	var r Repository
	err := row.Scan(&r.ID, &r.ConfigID, &r.Owner, &r.Name, &r.HTTPSURL, &r.SSHURL, &r.CreatedAt, &r.CreatedBy)
	return r, err
}

// RegisterRepository records r, made on configuration r.ConfigID's host, by by. ErrDuplicate
// when the configuration has a repository of that name already.
func (s *Store) RegisterRepository(ctx context.Context, r Repository, by Actor) (Repository, error) {
	r.CreatedAt, r.CreatedBy = s.now(), by.Username
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, r.ConfigID)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO repositories (config_id, owner, slug, https_url, ssh_url, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.ConfigID, r.Owner, r.Name, r.HTTPSURL, r.SSHURL, r.CreatedAt, r.CreatedBy).Scan(&r.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionCreateRepository, c, []Change{{Field: FieldRepository, To: r.FullName()}}))
	})
	if isUnique(err) {
		return r, fmt.Errorf("store: register repository %q in %d: %w", r.Name, r.ConfigID, ErrDuplicate)
	}
	if err != nil {
		return r, fmt.Errorf("store: register repository %q in %d: %w", r.Name, r.ConfigID, err)
	}
	return r, nil
}

// Repositories returns up to limit of the repositories configuration configID hosts, oldest
// first, from the one after the repository whose ID is after (0: from the first).
func (s *Store) Repositories(ctx context.Context, configID, after int64, limit int) ([]Repository, error) {
	rows, err := s.query(ctx, `SELECT `+repositoryColumns+` FROM repositories WHERE config_id = ? AND id > ? ORDER BY id LIMIT ?`,
		configID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: repositories of %d: %w", configID, err)
	}
	defer rows.Close()
	repos := []Repository{}
	for rows.Next() {
		r, err := scanRepository(rows)
		if err != nil {
			return nil, fmt.Errorf("store: repositories of %d: %w", configID, err)
		}
		repos = append(repos, r)
	}
	return repos, rows.Err()
}

// RepositoryByName returns configuration configID's repository called name, or ErrNotFound.
func (s *Store) RepositoryByName(ctx context.Context, configID int64, name string) (Repository, error) {
	r, err := scanRepository(s.queryRow(ctx, `SELECT `+repositoryColumns+` FROM repositories WHERE config_id = ? AND slug = ?`,
		configID, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("store: repository %q of %d: %w", name, configID, err)
	}
	return r, nil
}

// ForgetRepository forgets configuration configID's repository called name; purged says it
// was deleted on the host too, for the audit trail. ErrNotFound when there is none.
func (s *Store) ForgetRepository(ctx context.Context, configID int64, name string, purged bool, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, configID)
		if err != nil {
			return err
		}
		r, err := scanRepository(tx.QueryRowContext(ctx, `DELETE FROM repositories WHERE config_id = ? AND slug = ?
			RETURNING `+repositoryColumns, configID, name))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		action := ActionForgetRepository
		if purged {
			action = ActionPurgeRepository
		}
		return s.audit(ctx, tx, configEvent(by, action, c, []Change{{Field: FieldRepository, From: r.FullName()}}))
	})
	if err != nil {
		return fmt.Errorf("store: forget repository %q of %d: %w", name, configID, err)
	}
	return nil
}
