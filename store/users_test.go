package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const testPassword = "correct horse battery staple"

func TestCreateUserAndAuthenticate(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "alice", testPassword, true, Actor{})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.ID == 0 || u.Username != "alice" || !u.IsAdmin || u.CreatedAt.IsZero() {
		t.Errorf("CreateUser returned %+v", u)
	}

	got, err := s.Authenticate(ctx, "alice", testPassword)
	if err != nil {
		t.Fatalf("Authenticate with the right password: %v", err)
	}
	if got.ID != u.ID || got.Username != "alice" || !got.IsAdmin {
		t.Errorf("Authenticate returned %+v, want %+v", got, u)
	}
	if !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("CreatedAt read back %v, want %v", got.CreatedAt, u.CreatedAt)
	}

	byID, err := s.UserByID(ctx, u.ID)
	if err != nil || byID.Username != "alice" || !byID.IsAdmin {
		t.Errorf("UserByID = %+v, %v", byID, err)
	}
	if _, err := s.UserByID(ctx, u.ID+1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByID(unknown) = %v, want ErrNotFound", err)
	}

	bob := mustCreateUser(t, s, "bob", "another long password", false)
	if got, err := s.Authenticate(ctx, "bob", "another long password"); err != nil || got.IsAdmin || got.ID != bob.ID {
		t.Errorf("Authenticate(bob) = %+v, %v; want a non-admin", got, err)
	}
}

func TestAuthenticateBadCredentials(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)

	cases := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong password here"},
		{"password prefix", "alice", testPassword[:len(testPassword)-1]},
		{"password with extra", "alice", testPassword + " "},
		{"password wrong case", "alice", strings.ToUpper(testPassword)},
		{"empty password", "alice", ""},
		{"unknown user", "mallory", testPassword},
		{"empty user", "", testPassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := s.Authenticate(ctx, c.user, c.password)
			if !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Authenticate(%q, %q) = %+v, %v; want ErrBadCredentials", c.user, c.password, u, err)
			}
			if u != (User{}) {
				t.Errorf("Authenticate failed but returned user %+v", u)
			}
		})
	}
}

// An unknown name must cost a whole argon2 hash, as a wrong password does: the dummy hash
// has to parse, with the current parameters, or the refusal would be quick and tell.
func TestUnknownUserCostsAHash(t *testing.T) {
	ok, err := checkPassword(dummyHash, testPassword)
	if err != nil || ok {
		t.Fatalf("checkPassword(dummyHash) = %v, %v; want false, nil", ok, err)
	}
	real := hashPassword(testPassword)
	params := func(h string) string { return strings.Join(strings.Split(h, "$")[1:4], "$") }
	if params(dummyHash) != params(real) {
		t.Errorf("dummy hash parameters %q, a real hash's %q", params(dummyHash), params(real))
	}
}

func TestUsernamesAreCaseInsensitiveUnique(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "admin", testPassword, true)
	for _, name := range []string{"admin", "Admin", "ADMIN"} {
		_, err := s.CreateUser(ctx, name, "some other password", false, Actor{})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("CreateUser(%q) after \"admin\" = %v, want ErrDuplicate", name, err)
		}
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d users after refused duplicates, want 1", n)
	}
	// The original's password still works; the refused one's does not.
	if _, err := s.Authenticate(ctx, "admin", testPassword); err != nil {
		t.Errorf("original password no longer works: %v", err)
	}
	if _, err := s.Authenticate(ctx, "admin", "some other password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a refused duplicate's password works: %v", err)
	}
}

func TestCheckUsername(t *testing.T) {
	good := []string{"a", "admin", "jane.doe", "jane_doe", "jane-doe", "jane@example.com", "user42", "Ünïcødé", "用户", strings.Repeat("x", 64), strings.Repeat("é", 64)}
	for _, name := range good {
		if err := CheckUsername(name); err != nil {
			t.Errorf("CheckUsername(%q) = %v, want nil", name, err)
		}
	}
	bad := []string{"", strings.Repeat("x", 65), strings.Repeat("é", 65), "jane doe", " admin", "admin ", "a/b", "a\\b", "a'b", "a\"b", "a;b", "a\tb", "a\nb", "a\x00b", "a%b", "a<b>", "a😀"}
	for _, name := range bad {
		if err := CheckUsername(name); err == nil {
			t.Errorf("CheckUsername(%q) = nil, want an error", name)
		}
	}
}

func TestCreateUserRejectsBadInput(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	cases := []struct{ name, user, password string }{
		{"empty username", "", testPassword},
		{"long username", strings.Repeat("a", 65), testPassword},
		{"illegal username", "bad name", testPassword},
		{"short password", "alice", "short"},
		{"11 runes", "alice", "12345678901"},
		{"11 runes multibyte", "alice", strings.Repeat("密", 11)},
		{"too many bytes", "alice", strings.Repeat("a", MaxPasswordLen+1)},
		{"empty password", "alice", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.CreateUser(ctx, c.user, c.password, false, Actor{}); err == nil {
				t.Errorf("CreateUser(%q, %q) succeeded", c.user, c.password)
			}
		})
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d users stored by refused creates", n)
	}
}

func TestCheckPassword(t *testing.T) {
	good := []string{
		"123456789012",
		strings.Repeat("密", 12), // 12 runes, 36 bytes
		strings.Repeat("a", MaxPasswordLen),
		strings.Repeat("密", MaxPasswordLen/3), // 1023 bytes
		"           x",                        // spaces are fine
	}
	for _, p := range good {
		if err := CheckPassword(p); err != nil {
			t.Errorf("CheckPassword(%d runes, %d bytes) = %v, want nil", utf8.RuneCountInString(p), len(p), err)
		}
	}
	bad := []string{
		"",
		"12345678901",
		strings.Repeat("密", 11), // 33 bytes but only 11 characters
		strings.Repeat("😀", 11),
		strings.Repeat("a", MaxPasswordLen+1),
		strings.Repeat("密", MaxPasswordLen/3+1), // 1026 bytes, only 342 runes
	}
	for _, p := range bad {
		if err := CheckPassword(p); err == nil {
			t.Errorf("CheckPassword(%d runes, %d bytes) = nil, want an error", utf8.RuneCountInString(p), len(p))
		}
	}
}

func TestUnicodePassword(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	pw := "我的密码是很长的🔐🔑🗝️ and it keeps going with ascii too: ünïcødé ÅÆØ 密码!!"
	for utf8.RuneCountInString(pw) < 70 {
		pw += "密码"
	}
	if n := utf8.RuneCountInString(pw); n < 70 || len(pw) <= 72 {
		t.Fatalf("test password is %d runes, %d bytes; want >= 70 runes and > 72 bytes (past bcrypt's limit)", n, len(pw))
	}
	mustCreateUser(t, s, "unicode", pw, false)
	if _, err := s.Authenticate(ctx, "unicode", pw); err != nil {
		t.Fatalf("Authenticate with a %d-character Unicode password: %v", utf8.RuneCountInString(pw), err)
	}
	// Every character counts, including the last one (no truncation past 72 bytes).
	r := []rune(pw)
	r[len(r)-1] = 'X'
	if _, err := s.Authenticate(ctx, "unicode", string(r)); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a password differing only in its last character authenticated: %v", err)
	}
	// No normalisation of the emoji's variation selector either.
	if _, err := s.Authenticate(ctx, "unicode", strings.Replace(pw, "🗝️", "🗝", 1)); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a password missing a variation selector authenticated: %v", err)
	}
}

func TestCreateFirstAdmin(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	created, err := s.CreateFirstAdmin(ctx, "admin", testPassword)
	if err != nil || !created {
		t.Fatalf("CreateFirstAdmin on an empty db = %v, %v; want true, nil", created, err)
	}
	u, err := s.Authenticate(ctx, "admin", testPassword)
	if err != nil {
		t.Fatalf("first admin cannot sign in: %v", err)
	}
	if !u.IsAdmin {
		t.Error("the first admin is not an admin")
	}

	created, err = s.CreateFirstAdmin(ctx, "admin", "a different password")
	if err != nil || created {
		t.Errorf("second CreateFirstAdmin = %v, %v; want false, nil", created, err)
	}
	if _, err := s.Authenticate(ctx, "admin", testPassword); err != nil {
		t.Errorf("second CreateFirstAdmin changed the password: the original fails: %v", err)
	}
	if _, err := s.Authenticate(ctx, "admin", "a different password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("second CreateFirstAdmin's password works: %v", err)
	}

	created, err = s.CreateFirstAdmin(ctx, "root", "yet another password")
	if err != nil || created {
		t.Errorf("CreateFirstAdmin with another name on a non-empty db = %v, %v; want false, nil", created, err)
	}
	if _, err := s.Authenticate(ctx, "root", "yet another password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a second admin was created: %v", err)
	}
}

func TestCreateFirstAdminSkippedWhenAnyUserExists(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "someone", testPassword, false)
	created, err := s.CreateFirstAdmin(ctx, "admin", "admin password 123")
	if err != nil || created {
		t.Errorf("CreateFirstAdmin with a (non-admin) user present = %v, %v; want false, nil", created, err)
	}
}

func TestCreateFirstAdminRejectsShortPassword(t *testing.T) {
	s := newTestStore(t)
	created, err := s.CreateFirstAdmin(context.Background(), "admin", "short")
	if err == nil || created {
		t.Errorf("CreateFirstAdmin with a short password = %v, %v; want an error", created, err)
	}
	created, err = s.CreateFirstAdmin(context.Background(), "admin", testPassword)
	if err != nil || !created {
		t.Errorf("CreateFirstAdmin after a refused one = %v, %v; want true", created, err)
	}
}

func TestSetPassword(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	alice := mustCreateUser(t, s, "alice", testPassword, true)
	bob := mustCreateUser(t, s, "bob", "bob's long password", false)
	for i, tok := range []string{"alice-1", "alice-2"} {
		if err := s.CreateSession(ctx, []byte(tok), alice.ID, []byte{byte(i)}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, []byte("bob-1"), bob.ID, []byte("b"), time.Now()); err != nil {
		t.Fatal(err)
	}

	if err := s.SetPassword(ctx, "alice", "a brand new password", Actor{}); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", testPassword); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password still works after SetPassword: %v", err)
	}
	if u, err := s.Authenticate(ctx, "alice", "a brand new password"); err != nil || u.ID != alice.ID || !u.IsAdmin {
		t.Errorf("new password: %+v, %v", u, err)
	}
	for _, tok := range []string{"alice-1", "alice-2"} {
		if _, err := s.Session(ctx, []byte(tok)); !errors.Is(err, ErrNotFound) {
			t.Errorf("alice's session %s survived SetPassword: %v", tok, err)
		}
	}
	if se, err := s.Session(ctx, []byte("bob-1")); err != nil || se.UserID != bob.ID {
		t.Errorf("another user's session did not survive SetPassword: %+v, %v", se, err)
	}
	if _, err := s.Authenticate(ctx, "bob", "bob's long password"); err != nil {
		t.Errorf("another user's password changed: %v", err)
	}
}

func TestSetPasswordCaseInsensitiveName(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "Alice", testPassword, false)
	if err := s.SetPassword(ctx, "alice", "a brand new password", Actor{}); err != nil {
		t.Fatalf("SetPassword(alice) for user Alice: %v", err)
	}
	if _, err := s.Authenticate(ctx, "Alice", "a brand new password"); err != nil {
		t.Errorf("new password does not work: %v", err)
	}
}

func TestSetPasswordErrors(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, false)
	if err := s.SetPassword(ctx, "nobody", "a brand new password", Actor{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(unknown user) = %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, "alice", "short", Actor{}); err == nil {
		t.Error("SetPassword accepted a short password")
	}
	if err := s.SetPassword(ctx, "alice", strings.Repeat("a", MaxPasswordLen+1), Actor{}); err == nil {
		t.Error("SetPassword accepted a password over the byte limit")
	}
	if _, err := s.Authenticate(ctx, "alice", testPassword); err != nil {
		t.Errorf("refused SetPassword changed the password: %v", err)
	}
}

func TestPasswordHashStored(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	pw := "Distinctive-Password-CANARY-42"
	mustCreateUser(t, s, "alice", pw, false)
	mustCreateUser(t, s, "bob", pw, false)

	hashes := map[string]string{}
	rows, err := s.db.Query(`SELECT username, password_hash FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, hash string
		if err := rows.Scan(&name, &hash); err != nil {
			t.Fatal(err)
		}
		hashes[name] = hash
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, hash := range hashes {
		if !strings.HasPrefix(hash, "$argon2id$") {
			t.Errorf("%s's password_hash = %q, want a $argon2id$ PHC string", name, hash)
		}
		if strings.Contains(hash, pw) || strings.Contains(strings.ToLower(hash), strings.ToLower(pw)) {
			t.Errorf("%s's password_hash contains the password", name)
		}
		if ok, err := checkPassword(hash, pw); err != nil || !ok {
			t.Errorf("checkPassword(%s's hash) = %v, %v", name, ok, err)
		}
	}
	if hashes["alice"] == hashes["bob"] {
		t.Error("two users with the same password have the same hash: the salt is not random")
	}

	if err := s.SetPassword(ctx, "alice", "Another-CANARY-password-99", Actor{}); err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := s.db.QueryRow(`SELECT password_hash FROM users WHERE username = 'alice'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "Another-CANARY") {
		t.Errorf("password_hash after SetPassword = %q", hash)
	}
}

func TestCheckPasswordRejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$2a$10$abcdefghijklmnopqrstuv", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=x,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA"} {
		if ok, err := checkPassword(h, "whatever password"); ok || err == nil {
			t.Errorf("checkPassword(%q) = %v, %v; want false and an error", h, ok, err)
		}
	}
}

func TestAuthenticateCorruptHashIsAnErrorNotASuccess(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, false)
	if _, err := s.w.Exec(`UPDATE users SET password_hash = 'garbage' WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Authenticate(ctx, "alice", testPassword); err == nil {
		t.Errorf("Authenticate with a corrupt stored hash succeeded: %+v", u)
	}
}
