package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrBadCredentials is returned by Authenticate for an unknown user or a wrong password alike.
var ErrBadCredentials = errors.New("store: wrong username or password")

// ErrDisabled is returned by Authenticate for a disabled account, once its password is right.
var ErrDisabled = errors.New("store: the account is disabled")

// ErrLastAdmin refuses a change that would leave no enabled cluster admin: nobody could
// manage the accounts or the configurations any more.
var ErrLastAdmin = errors.New("store: it is the last enabled cluster admin")

// ErrSamePassword refuses changing one's own password to the one it already is.
var ErrSamePassword = errors.New("store: the new password is the current one")

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
	Disabled  bool
	CreatedAt time.Time
	// LastSignInAt is zero until the account first signs in.
	LastSignInAt time.Time
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

// CreateUser adds a user, recording by in the audit trail; ErrDuplicate when the name is
// taken (names compare case-insensitively).
func (s *Store) CreateUser(ctx context.Context, username, password string, admin bool, by Actor) (User, error) {
	if err := CheckUsername(username); err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	if err := CheckPassword(password); err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	u := User{Username: username, IsAdmin: admin, CreatedAt: s.now()}
	hash := hashPassword(password)
	err := s.inTx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx,
			`INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			username, hash, admin, u.CreatedAt, u.CreatedAt).Scan(&u.ID)
		if err != nil {
			return err
		}
		changes := []Change{{Field: "is_admin", To: strconv.FormatBool(admin)}}
		return s.audit(ctx, tx, AuditEvent{Actor: by, Action: ActionAddUser, Target: username, Changes: changes})
	})
	if isUnique(err) {
		return User{}, fmt.Errorf("store: create user %q: %w", username, ErrDuplicate)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
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

// SetPassword replaces username's password and ends all of that user's sessions, recording
// by in the audit trail. Nobody sets their own password to the one it already is
// (ErrSamePassword): that would change nothing but end their sessions.
func (s *Store) SetPassword(ctx context.Context, username, password string, by Actor) error {
	if err := CheckPassword(password); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	action := ActionSetPassword
	if strings.EqualFold(by.Username, username) {
		action = ActionChangePassword
		var hash string
		err := s.queryRow(ctx, `SELECT password_hash FROM users WHERE username = ?`, username).Scan(&hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: set password: %w", err)
		}
		if same, _ := checkPassword(hash, password); same {
			return ErrSamePassword
		}
	}
	hash := hashPassword(password)
	return s.inTx(ctx, func(tx *wtx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ? RETURNING id, username`,
			hash, s.now(), username).Scan(&id, &username)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: set password for %q: %w", username, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return s.audit(ctx, tx, AuditEvent{Actor: by, Action: action, Target: username})
	})
}

// Authenticate returns the user whose name and password match, or ErrBadCredentials, and
// records the time as its last sign-in. A disabled account whose password matches is
// ErrDisabled.
func (s *Store) Authenticate(ctx context.Context, username, password string) (User, error) {
	l, err := s.LookupLogin(ctx, username)
	if err != nil {
		return User{}, err
	}
	return s.SignIn(ctx, l, password)
}

const userColumns = `id, username, is_admin, disabled, created_at, last_sign_in_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var last sql.NullTime
	err := row.Scan(&u.ID, &u.Username, &u.IsAdmin, &u.Disabled, &u.CreatedAt, &last)
	u.LastSignInAt = last.Time
	return u, err
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u, nil
}

// Users returns every account, by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.query(ctx, `SELECT `+userColumns+` FROM users ORDER BY lower(username)`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return users, nil
}

// ChangePassword replaces user id's password after checking the current one, and ends all of
// that user's sessions (the caller signs the user in again with a new one).
func (s *Store) ChangePassword(ctx context.Context, id int64, current, password, addr string) error {
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
	return s.SetPassword(ctx, name, password, Actor{Username: name, Addr: addr})
}

// SetAdmin makes username a cluster admin, or takes that away, recording by in the audit
// trail. ErrLastAdmin when it would leave no enabled cluster admin.
func (s *Store) SetAdmin(ctx context.Context, username string, admin bool, by Actor) error {
	action := ActionGrantAdmin
	if !admin {
		action = ActionRevokeAdmin
	}
	return s.changeAccount(ctx, username, "is_admin", admin, action, by)
}

// SetDisabled disables username, ending its sessions at once, or enables it again,
// recording by in the audit trail. ErrLastAdmin when it would leave no enabled cluster admin.
func (s *Store) SetDisabled(ctx context.Context, username string, disabled bool, by Actor) error {
	action := ActionEnableUser
	if disabled {
		action = ActionDisableUser
	}
	return s.changeAccount(ctx, username, "disabled", disabled, action, by)
}

// changeAccount sets username's flag column (is_admin or disabled) to value. A change that
// would leave no enabled cluster admin is undone, inside the same transaction as the change:
// writes are serialised (one writer, immediate transactions), so two admins taking each
// other's rights at once cannot both succeed. Disabling also ends the account's sessions.
func (s *Store) changeAccount(ctx context.Context, username, column string, value bool, action string, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		var id int64
		var was bool
		err := tx.QueryRowContext(ctx, `SELECT id, username, `+column+` FROM users WHERE username = ?`, username).
			Scan(&id, &username, &was)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || was == value {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET `+column+` = ?, updated_at = ? WHERE id = ?`, value, s.now(), id); err != nil {
			return err
		}
		var admins int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE is_admin = 1 AND disabled = 0`).Scan(&admins); err != nil {
			return err
		}
		if admins == 0 {
			return ErrLastAdmin
		}
		if column == "disabled" && value {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
				return err
			}
		}
		changes := []Change{{Field: column, From: strconv.FormatBool(was), To: strconv.FormatBool(value)}}
		return s.audit(ctx, tx, AuditEvent{Actor: by, Action: action, Target: username, Changes: changes})
	})
	if err != nil {
		return fmt.Errorf("store: %s %q: %w", action, username, err)
	}
	return nil
}
