package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Login is what checking a sign-in needs, looked up before any password is hashed: whether
// the name is an account's, so that the web layer can put real accounts ahead of made-up
// names and keep a name out of the audit trail when it is no account's (people type
// passwords into the wrong box).
type Login struct {
	User   User
	Exists bool
	hash   string
}

// LookupLogin returns the login of username; for a name no account has, Exists is false.
func (s *Store) LookupLogin(ctx context.Context, username string) (Login, error) {
	l := Login{Exists: true}
	var last sql.NullTime
	err := s.queryRow(ctx,
		`SELECT id, username, is_admin, disabled, created_at, last_sign_in_at, password_hash FROM users WHERE username = ?`, username).
		Scan(&l.User.ID, &l.User.Username, &l.User.IsAdmin, &l.User.Disabled, &l.User.CreatedAt, &last, &l.hash)
	l.User.LastSignInAt = last.Time
	if errors.Is(err, sql.ErrNoRows) {
		// Checked against a hash all the same, so that an unknown name takes as long to refuse.
		return Login{hash: dummyHash}, nil
	}
	if err != nil {
		return Login{}, fmt.Errorf("store: look up sign-in of %q: %w", username, err)
	}
	return l, nil
}

// SignIn hashes password and returns l's account, recording the time as its last sign-in;
// ErrBadCredentials for a wrong password or an unknown name alike, ErrDisabled for a disabled
// account whose password matches.
func (s *Store) SignIn(ctx context.Context, l Login, password string) (User, error) {
	ok, err := checkPassword(l.hash, password)
	switch {
	case err != nil:
		return User{}, fmt.Errorf("store: authenticate %q: %w", l.User.Username, err)
	case !ok || !l.Exists:
		return User{}, ErrBadCredentials
	case l.User.Disabled:
		return User{}, ErrDisabled
	}
	u := l.User
	u.LastSignInAt = s.now()
	if _, err := s.exec(ctx, `UPDATE users SET last_sign_in_at = ? WHERE id = ?`, u.LastSignInAt, u.ID); err != nil {
		return User{}, fmt.Errorf("store: authenticate %q: %w", u.Username, err)
	}
	return u, nil
}
