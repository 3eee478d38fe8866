package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Audit actions of OAuth connections.
const (
	ActionOAuthConnect    = "oauth_connect"
	ActionOAuthDisconnect = "oauth_disconnect"
)

// OAuthStateTTL is how long a round trip's state may wait for its answer.
const OAuthStateTTL = 10 * time.Minute

// oauthStateKept is how long a state is kept before it is swept out: an answer that comes
// later than OAuthStateTTL but within it is told it expired, not that its state is unknown.
const oauthStateKept = 24 * time.Hour

// OAuthState is a round trip under way: who started it, from which session, for which
// configuration, with which PKCE verifier.
type OAuthState struct {
	SessionHash []byte
	UserID      int64
	ConfigID    int64
	Verifier    string
	CreatedAt   time.Time
}

// ErrStateExpired is returned for a state older than OAuthStateTTL.
var ErrStateExpired = errors.New("store: the OAuth state has expired")

// CreateOAuthState keeps st under stateHash until it is taken or expires.
func (s *Store) CreateOAuthState(ctx context.Context, stateHash []byte, st OAuthState) error {
	now := s.now()
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE created_at < ?`, now.Add(-oauthStateKept)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (state_hash, session_hash, user_id, config_id, verifier, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, stateHash, st.SessionHash, st.UserID, st.ConfigID, st.Verifier, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create oauth state: %w", err)
	}
	return nil
}

// TakeOAuthState returns and forgets the state under stateHash: a state is used once.
// ErrNotFound when there is none (never made, or used already), ErrStateExpired when it is
// too old.
func (s *Store) TakeOAuthState(ctx context.Context, stateHash []byte) (OAuthState, error) {
	var st OAuthState
	err := s.inTx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM oauth_states WHERE state_hash = ?
			RETURNING session_hash, user_id, config_id, verifier, created_at`, stateHash).
			Scan(&st.SessionHash, &st.UserID, &st.ConfigID, &st.Verifier, &st.CreatedAt)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, fmt.Errorf("store: take oauth state: %w", ErrNotFound)
	case err != nil:
		return st, fmt.Errorf("store: take oauth state: %w", err)
	case s.now().Sub(st.CreatedAt) > OAuthStateTTL:
		return st, fmt.Errorf("store: take oauth state: %w", ErrStateExpired)
	}
	return st, nil
}

// OAuthOrg is an organisation a connected account belongs to, as the API names it.
type OAuthOrg struct {
	Username    string `json:"scm_org_username"`
	AccessLevel string `json:"access_level"`
}

// OAuthConnection is an account's connection to a configuration's host.
type OAuthConnection struct {
	UserID      int64
	ConfigID    int64
	ConfigRef   string
	ConfigName  string
	Username    string // on the host
	Orgs        []OAuthOrg
	Token       string // the token as the caller sealed it (JSON); only from OAuthConnectionOf
	ConnectedAt time.Time
	UpdatedAt   time.Time
}

func oauthAD(userID, configID int64) []byte {
	return fmt.Appendf(nil, "oauth_tokens/%d/%d", userID, configID)
}

// SaveOAuthConnection keeps c's token sealed for its account and configuration (replacing
// one before), records the round trip as passed with credentials, and audits the connection.
func (s *Store) SaveOAuthConnection(ctx context.Context, c OAuthConnection, credentials string, by Actor) error {
	now := s.now()
	orgs, _ := json.Marshal(c.Orgs)
	keyID, sealed := s.keys.Seal([]byte(c.Token), oauthAD(c.UserID, c.ConfigID))
	err := s.inTx(ctx, func(tx *wtx) error {
		cfg, err := s.scmConfig(ctx, tx, c.ConfigID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_tokens (user_id, config_id, key_id, ciphertext, scm_username, scm_orgs,
			  created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, config_id) DO UPDATE SET key_id = excluded.key_id, ciphertext = excluded.ciphertext,
			  scm_username = excluded.scm_username, scm_orgs = excluded.scm_orgs, updated_at = excluded.updated_at`,
			c.UserID, c.ConfigID, keyID, sealed, c.Username, string(orgs), now, now); err != nil {
			return err
		}
		if err := recordOAuthCheck(ctx, tx, c.ConfigID, OAuthCheck{At: now, OK: true, Detail: c.Username, Credentials: credentials}); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionOAuthConnect, cfg, []Change{{Field: "account", To: c.Username}}))
	})
	if err != nil {
		return fmt.Errorf("store: save oauth connection: %w", err)
	}
	return nil
}

// RecordOAuthFailure keeps a failed round trip through configuration configID as its last.
func (s *Store) RecordOAuthFailure(ctx context.Context, configID int64, credentials, detail string) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		return recordOAuthCheck(ctx, tx, configID, OAuthCheck{At: s.now(), Detail: detail, Credentials: credentials})
	})
	if err != nil {
		return fmt.Errorf("store: record oauth failure: %w", err)
	}
	return nil
}

func recordOAuthCheck(ctx context.Context, tx *wtx, configID int64, c OAuthCheck) error {
	_, err := tx.ExecContext(ctx, `UPDATE scm_configs SET oauth_checked_at = ?, oauth_check_ok = ?, oauth_check_detail = ?,
		oauth_check_credentials = ? WHERE id = ?`, c.At, c.OK, c.Detail, c.Credentials, configID)
	return err
}

// UpdateOAuthToken replaces a connection's token (after a refresh), keeping the rest.
func (s *Store) UpdateOAuthToken(ctx context.Context, userID, configID int64, token string) error {
	keyID, sealed := s.keys.Seal([]byte(token), oauthAD(userID, configID))
	if _, err := s.exec(ctx, `UPDATE oauth_tokens SET key_id = ?, ciphertext = ?, updated_at = ? WHERE user_id = ? AND config_id = ?`,
		keyID, sealed, s.now(), userID, configID); err != nil {
		return fmt.Errorf("store: update oauth token: %w", err)
	}
	return nil
}

const oauthColumns = `t.user_id, t.config_id, c.ref, c.name, c.website_url, c.client_id, t.scm_username, t.scm_orgs, t.created_at, t.updated_at`

// scanOAuth scans oauthColumns, and extra after them, into c.
func scanOAuth(row interface{ Scan(...any) error }, c *OAuthConnection, extra ...any) error {
	var orgs, website, clientID string
	dest := append([]any{&c.UserID, &c.ConfigID, &c.ConfigRef, &c.ConfigName, &website, &clientID, &c.Username, &orgs, &c.ConnectedAt, &c.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	c.ConfigName = SCMConfig{Name: c.ConfigName, WebsiteURL: website, ClientID: clientID}.DisplayName()
	return json.Unmarshal([]byte(orgs), &c.Orgs)
}

// OAuthConnectionOf returns user userID's connection to configuration configID, its token
// opened; ErrNotFound when there is none.
func (s *Store) OAuthConnectionOf(ctx context.Context, userID, configID int64) (OAuthConnection, error) {
	var c OAuthConnection
	var keyID uint32
	var sealed []byte
	err := scanOAuth(s.queryRow(ctx, `SELECT `+oauthColumns+`, t.key_id, t.ciphertext FROM oauth_tokens t
		JOIN scm_configs c ON c.id = t.config_id WHERE t.user_id = ? AND t.config_id = ?`, userID, configID), &c, &keyID, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("store: oauth connection: %w", ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: oauth connection: %w", err)
	}
	plain, err := s.keys.Open(keyID, sealed, oauthAD(userID, configID))
	if err != nil {
		return c, fmt.Errorf("store: open oauth token: %w", err)
	}
	c.Token = string(plain)
	return c, nil
}

// OAuthConnectionsOf lists user userID's connections, without their tokens.
func (s *Store) OAuthConnectionsOf(ctx context.Context, userID int64) ([]OAuthConnection, error) {
	rows, err := s.query(ctx, `SELECT `+oauthColumns+` FROM oauth_tokens t JOIN scm_configs c ON c.id = t.config_id
		WHERE t.user_id = ? ORDER BY c.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: oauth connections: %w", err)
	}
	defer rows.Close()
	var list []OAuthConnection
	for rows.Next() {
		var c OAuthConnection
		if err := scanOAuth(rows, &c); err != nil {
			return nil, fmt.Errorf("store: oauth connections: %w", err)
		}
		list = append(list, c)
	}
	return list, rows.Err()
}

// CountOAuthConnections returns how many accounts are connected through configuration configID.
func (s *Store) CountOAuthConnections(ctx context.Context, configID int64) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM oauth_tokens WHERE config_id = ?`, configID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count oauth connections: %w", err)
	}
	return n, nil
}

// DeleteOAuthConnection forgets user userID's connection to configuration configID and
// audits it; ErrNotFound when there was none.
func (s *Store) DeleteOAuthConnection(ctx context.Context, userID, configID int64, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		var username string
		err := tx.QueryRowContext(ctx, `DELETE FROM oauth_tokens WHERE user_id = ? AND config_id = ? RETURNING scm_username`,
			userID, configID).Scan(&username)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		cfg, err := s.scmConfig(ctx, tx, configID)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionOAuthDisconnect, cfg, []Change{{Field: "account", From: username}}))
	})
	if err != nil {
		return fmt.Errorf("store: delete oauth connection: %w", err)
	}
	return nil
}
