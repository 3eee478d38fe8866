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
	err := s.queryRow(ctx,
		`SELECT id, username, is_admin, created_at, password_hash FROM users WHERE username = ?`, username).
		Scan(&l.User.ID, &l.User.Username, &l.User.IsAdmin, &l.User.CreatedAt, &l.hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Checked against a hash all the same, so that an unknown name takes as long to refuse.
		return Login{hash: dummyHash}, nil
	}
	if err != nil {
		return Login{}, fmt.Errorf("store: look up sign-in of %q: %w", username, err)
	}
	return l, nil
}

// Check hashes password and returns the account, or ErrBadCredentials for a wrong password
// or an unknown name alike.
func (l Login) Check(password string) (User, error) {
	ok, err := checkPassword(l.hash, password)
	if err != nil {
		return User{}, fmt.Errorf("store: authenticate %q: %w", l.User.Username, err)
	}
	if !ok || !l.Exists {
		return User{}, ErrBadCredentials
	}
	return l.User, nil
}
