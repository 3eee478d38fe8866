package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// API key scopes: read reaches the JSON API's GET routes, admin all of them.
const (
	ScopeRead  = "read"
	ScopeAdmin = "admin"
)

var (
	// ErrBadAPIKey is returned for a key that is malformed or that no row has.
	ErrBadAPIKey = errors.New("store: unknown API key")
	// ErrRevoked is returned for a revoked API key, used or revoked again.
	ErrRevoked = errors.New("revoked")
	// ErrNotAdmin is returned when an API key would act as a user who is not a cluster admin.
	ErrNotAdmin = errors.New("not a cluster admin")
)

// APIKey is a key of the JSON API as the store keeps it: everything but its value.
type APIKey struct {
	ID         int64
	Name       string
	Scope      string
	UserID     int64  // the cluster admin the key acts as
	MadeBy     string // that admin's username
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used; updated at most once per apiKeyTouchEvery
	RevokedAt  time.Time // zero while the key works
}

// Revoked reports whether the key was revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Allows reports whether the key's scope reaches the routes of scope.
func (k APIKey) Allows(scope string) bool { return k.Scope == ScopeAdmin || k.Scope == scope }

// A key reads scm_<public id>_<secret>: the public id (8 characters, 40 bits) finds the row,
// the secret (32 characters, 160 bits) makes the key unguessable. Both are lower-case base32,
// whose alphabet has no underscore. Only the whole key's SHA-256 is stored: a hash that is fast
// to compute is right for a random key, which no dictionary holds.
const (
	apiKeyPrefix     = "scm_"
	publicIDBytes    = 5
	secretBytes      = 20
	publicIDLen      = 8
	secretLen        = 32
	apiKeyTouchEvery = time.Minute
	// APIKeyTouchEvery is how often a key's last use is recorded, at most.
	APIKeyTouchEvery = apiKeyTouchEvery
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newAPIKey() (key, publicID string) {
	id, secret := make([]byte, publicIDBytes), make([]byte, secretBytes)
	rand.Read(id)
	rand.Read(secret)
	publicID = keyEncoding.EncodeToString(id)
	return apiKeyPrefix + publicID + "_" + keyEncoding.EncodeToString(secret), publicID
}

func apiKeyHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// apiKeyPublicID returns the public id of a key of the right shape.
func apiKeyPublicID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	id, secret, cut := strings.Cut(rest, "_")
	if !ok || !cut || len(id) != publicIDLen || len(secret) != secretLen {
		return "", false
	}
	return id, true
}

// CheckAPIKeyName says what is wrong with a key's name, or returns nil. Names go into the
// revoke route's path, so they keep to characters that need no escaping.
func CheckAPIKeyName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("the name must be 1 to 64 characters")
	}
	for i, r := range name {
		letterOrDigit := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !letterOrDigit && (i == 0 || !strings.ContainsRune("._-", r)) {
			return errors.New("the name may hold only letters, digits and . _ - (starting with a letter or digit)")
		}
	}
	return nil
}

// CheckScope says what is wrong with a key's scope, or returns nil.
func CheckScope(scope string) error {
	if scope != ScopeRead && scope != ScopeAdmin {
		return fmt.Errorf("the scope must be %q or %q", ScopeRead, ScopeAdmin)
	}
	return nil
}

// CreateAPIKey makes a key called name with scope, acting as the cluster admin madeBy, and
// returns it with its value, which nothing stores: this is the only time it is known. It
// fails with ErrDuplicate when a key, revoked or not, has the name (case-insensitively),
// ErrNotFound when there is no user madeBy and ErrNotAdmin when that user is not a cluster admin.
func (s *Store) CreateAPIKey(ctx context.Context, name, scope, madeBy string, by Actor) (APIKey, string, error) {
	if err := CheckAPIKeyName(name); err != nil {
		return APIKey{}, "", fmt.Errorf("store: make API key: %w", err)
	}
	if err := CheckScope(scope); err != nil {
		return APIKey{}, "", fmt.Errorf("store: make API key: %w", err)
	}
	key, publicID := newAPIKey()
	k := APIKey{Name: name, Scope: scope, CreatedAt: s.now()}
	err := s.inTx(ctx, func(tx *wtx) error {
		var admin bool
		err := tx.QueryRowContext(ctx, `SELECT id, username, is_admin FROM users WHERE username = ?`, madeBy).
			Scan(&k.UserID, &k.MadeBy, &admin)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("there is no user %q: %w", madeBy, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !admin {
			return fmt.Errorf("%q is %w", madeBy, ErrNotAdmin)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO api_keys (name, public_id, key_hash, scope, user_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, name, publicID, apiKeyHash(key), scope, k.UserID, k.CreatedAt).Scan(&k.ID)
		if isUniqueOn(err, "api_keys", "name") {
			return fmt.Errorf("a key called %q exists: %w", name, ErrDuplicate)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, AuditEvent{Actor: by, Action: ActionCreateAPIKey, Target: name,
			Changes: []Change{{Field: "scope", To: scope}}})
	})
	if err != nil {
		return APIKey{}, "", fmt.Errorf("store: make API key: %w", err)
	}
	return k, key, nil
}

// RevokeAPIKey ends the key called name: ErrNotFound when there is none, ErrRevoked when it
// was revoked before.
func (s *Store) RevokeAPIKey(ctx context.Context, name string, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		var stored string
		var revoked sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT name, revoked_at FROM api_keys WHERE name = ?`, name).Scan(&stored, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("there is no key %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if revoked.Valid {
			return fmt.Errorf("the key %q was %w on %s", stored, ErrRevoked, revoked.Time.UTC().Format("2006-01-02 15:04 UTC"))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE name = ?`, s.now(), name); err != nil {
			return err
		}
		return s.audit(ctx, tx, AuditEvent{Actor: by, Action: ActionRevokeAPIKey, Target: stored})
	})
	if err != nil {
		return fmt.Errorf("store: revoke API key: %w", err)
	}
	return nil
}

const (
	apiKeyColumns = `k.id, k.name, k.scope, k.user_id, u.username, k.created_at, k.last_used_at, k.revoked_at`
	apiKeyFrom    = ` FROM api_keys k JOIN users u ON u.id = k.user_id`
)

// scanAPIKey reads a row of apiKeyColumns, followed by the columns after them into extra.
func scanAPIKey(row interface{ Scan(...any) error }, extra ...any) (APIKey, error) {
	var k APIKey
	var used, revoked sql.NullTime
	dest := append([]any{&k.ID, &k.Name, &k.Scope, &k.UserID, &k.MadeBy, &k.CreatedAt, &used, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return APIKey{}, err
	}
	k.LastUsedAt, k.RevokedAt = used.Time, revoked.Time
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.query(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+` ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("store: list API keys: %w", err)
	}
	defer rows.Close()
	var keys []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list API keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list API keys: %w", err)
	}
	return keys, nil
}

// AuthenticateAPIKey returns the key whose value is key and records its use: ErrBadAPIKey
// when no key has that value, ErrRevoked (with the key) when it was revoked. The row is found
// by the key's public id and the whole key's hash compared in constant time, so timing tells
// nothing about the secret part. The last use is written at most once a minute per key.
func (s *Store) AuthenticateAPIKey(ctx context.Context, key string) (APIKey, error) {
	publicID, ok := apiKeyPublicID(key)
	if !ok {
		return APIKey{}, ErrBadAPIKey
	}
	var hash []byte
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyColumns+`, k.key_hash`+apiKeyFrom+` WHERE k.public_id = ?`, publicID), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrBadAPIKey
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("store: authenticate API key: %w", err)
	}
	if subtle.ConstantTimeCompare(apiKeyHash(key), hash) != 1 {
		return APIKey{}, ErrBadAPIKey
	}
	if k.Revoked() {
		return k, ErrRevoked
	}
	if now := s.now(); now.Sub(k.LastUsedAt) >= apiKeyTouchEvery {
		// The condition keeps servers that saw the same old time from each writing it.
		if _, err := s.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
			now, k.ID, now.Add(-apiKeyTouchEvery)); err != nil {
			return APIKey{}, fmt.Errorf("store: record use of API key %q: %w", k.Name, err)
		}
		k.LastUsedAt = now
	}
	return k, nil
}
