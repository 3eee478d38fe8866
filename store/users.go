package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrBadCredentials is returned by Authenticate for an unknown user or a wrong password alike.
var ErrBadCredentials = errors.New("store: wrong username or password")

// Password length bounds: long enough to resist guessing, short enough that hashing a
// hostile input stays cheap.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// User is someone who can sign in.
type User struct {
	ID        int64
	Username  string
	IsAdmin   bool
	CreatedAt time.Time
}

// CheckUsername says what is wrong with a username, or returns nil.
func CheckUsername(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return errors.New("the username must be 1 to 64 characters")
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@", r)) {
			return errors.New("the username may hold only letters, digits and . _ - @")
		}
	}
	return nil
}

// CheckPassword says what is wrong with a new password, or returns nil.
func CheckPassword(password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen || len(password) > MaxPasswordLen {
		return fmt.Errorf("the password must be at least %d characters (and at most %d bytes)", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateUser adds a user; ErrDuplicate when the name is taken (names compare case-insensitively).
func (s *Store) CreateUser(ctx context.Context, username, password string, admin bool) (User, error) {
	if err := CheckUsername(username); err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	if err := CheckPassword(password); err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	now := s.now()
	res, err := s.exec(ctx,
		`INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		username, hashPassword(password), admin, now, now)
	if isUnique(err) {
		return User{}, fmt.Errorf("store: create user %q: %w", username, ErrDuplicate)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	id, _ := res.LastInsertId()
	return User{ID: id, Username: username, IsAdmin: admin, CreatedAt: now}, nil
}

// CreateFirstAdmin creates the cluster admin username with password only if there is no user
// at all yet; created reports whether it did.
func (s *Store) CreateFirstAdmin(ctx context.Context, username, password string) (created bool, err error) {
	var users int
	if err := s.queryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
		return false, fmt.Errorf("store: first admin: %w", err)
	}
	if users > 0 {
		return false, nil
	}
	if err := CheckUsername(username); err != nil {
		return false, fmt.Errorf("store: first admin: %w", err)
	}
	if err := CheckPassword(password); err != nil {
		return false, fmt.Errorf("store: first admin: %w", err)
	}
	now := s.now()
	res, err := s.exec(ctx,
		`INSERT INTO users (username, password_hash, is_admin, created_at, updated_at)
		 SELECT ?, ?, 1, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)`,
		username, hashPassword(password), now, now)
	if err != nil {
		return false, fmt.Errorf("store: first admin: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetPassword replaces a user's password and ends all of that user's sessions.
func (s *Store) SetPassword(ctx context.Context, username, password string) error {
	if err := CheckPassword(password); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ? RETURNING id`,
			hashPassword(password), s.now(), username).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: set password for %q: %w", username, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return nil
	})
}

// Authenticate returns the user whose name and password match, or ErrBadCredentials.
func (s *Store) Authenticate(ctx context.Context, username, password string) (User, error) {
	l, err := s.LookupLogin(ctx, username)
	if err != nil {
		return User{}, err
	}
	return l.Check(password)
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.queryRow(ctx, `SELECT id, username, is_admin, created_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.Username, &u.IsAdmin, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u, nil
}

// ChangePassword replaces user id's password after checking the current one, and ends all of
// that user's sessions (the caller signs the user in again with a new one).
func (s *Store) ChangePassword(ctx context.Context, id int64, current, password string) error {
	var name, hash string
	err := s.queryRow(ctx, `SELECT username, password_hash FROM users WHERE id = ?`, id).Scan(&name, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: change password of %d: %w", id, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("store: change password of %d: %w", id, err)
	}
	ok, err := checkPassword(hash, current)
	if err != nil {
		return fmt.Errorf("store: change password of %d: %w", id, err)
	}
	if !ok {
		return ErrBadCredentials
	}
	return s.SetPassword(ctx, name, password)
}
