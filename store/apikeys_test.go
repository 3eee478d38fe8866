package store

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var cli = Actor{Username: "alice", Addr: "command line"}

func mustCreateAPIKey(t *testing.T, s *Store, name, scope, madeBy string) (APIKey, string) {
	t.Helper()
	k, key, err := s.CreateAPIKey(context.Background(), name, scope, madeBy, cli)
	if err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", name, err)
	}
	return k, key
}

func TestCreateAPIKeyIsRandomAndStoredOnlyAsHash(t *testing.T) {
	s := newTestStore(t)
	alice := mustCreateUser(t, s, "alice", testPassword, true)
	k, key := mustCreateAPIKey(t, s, "ci-bot", ScopeRead, "alice")
	if !regexp.MustCompile(`^scm_[a-z2-7]{8}_[a-z2-7]{32}$`).MatchString(key) {
		t.Errorf("key %q is not scm_<8>_<32> in lower-case base32", key)
	}
	if k.ID == 0 || k.Name != "ci-bot" || k.Scope != ScopeRead || k.UserID != alice.ID || k.MadeBy != "alice" ||
		k.CreatedAt.IsZero() || !k.LastUsedAt.IsZero() || k.Revoked() {
		t.Errorf("CreateAPIKey returned %+v", k)
	}
	_, other := mustCreateAPIKey(t, s, "other", ScopeRead, "alice")
	if other == key || other[4:12] == key[4:12] {
		t.Errorf("two keys share their value or public id: %q %q", key, other)
	}

	// Neither the key nor its secret part is anywhere in the row; its SHA-256 is.
	var publicID string
	var hash []byte
	if err := s.db.QueryRow(`SELECT public_id, key_hash FROM api_keys WHERE name = 'ci-bot'`).Scan(&publicID, &hash); err != nil {
		t.Fatal(err)
	}
	if publicID != key[4:12] || !bytes.Equal(hash, apiKeyHash(key)) {
		t.Errorf("row has public id %q and hash %x", publicID, hash)
	}
	var name string
	if err := s.db.QueryRow(`SELECT name FROM api_keys`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if secret := key[13:]; strings.Contains(publicID+name, secret) || bytes.Contains(hash, []byte(secret)) {
		t.Errorf("the secret part is stored (public id %q, name %q, hash %x)", publicID, name, hash)
	}
}

func TestCreateAPIKeyRefusals(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)
	mustCreateUser(t, s, "bob", testPassword, false)
	mustCreateAPIKey(t, s, "ci-bot", ScopeAdmin, "alice")
	for _, tc := range []struct {
		name, scope, madeBy string
		want                error
	}{
		{"CI-Bot", ScopeRead, "alice", ErrDuplicate},
		{"new", ScopeRead, "bob", ErrNotAdmin},
		{"new", ScopeRead, "nobody", ErrNotFound},
	} {
		if _, key, err := s.CreateAPIKey(ctx, tc.name, tc.scope, tc.madeBy, cli); !errors.Is(err, tc.want) || key != "" {
			t.Errorf("CreateAPIKey(%q, %q, %q) = %q, %v; want %v", tc.name, tc.scope, tc.madeBy, key, err, tc.want)
		}
	}
	for _, bad := range []struct{ name, scope string }{
		{"", ScopeRead}, {strings.Repeat("a", 65), ScopeRead}, {"-lead", ScopeRead}, {"has space", ScopeRead},
		{"slash/", ScopeRead}, {"é", ScopeRead}, {"ok", ""}, {"ok", "write"}, {"ok", "Admin"},
	} {
		if _, _, err := s.CreateAPIKey(ctx, bad.name, bad.scope, "alice", cli); err == nil {
			t.Errorf("CreateAPIKey(%q, %q) was accepted", bad.name, bad.scope)
		}
	}
	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Errorf("after the refusals: %d keys, %v", len(keys), err)
	}
}

// The unique constraint decides between two creates of one name at once, not a read.
func TestCreateAPIKeyConcurrentSameName(t *testing.T) {
	s := newTestStore(t)
	mustCreateUser(t, s, "alice", testPassword, true)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.CreateAPIKey(context.Background(), "same", ScopeRead, "alice", cli)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicate):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates succeeded, want 1", ok)
	}
}

func TestAuthenticateAPIKey(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)
	made, key := mustCreateAPIKey(t, s, "ci-bot", ScopeAdmin, "alice")
	k, err := s.AuthenticateAPIKey(ctx, key)
	if err != nil || k.ID != made.ID || k.Name != "ci-bot" || k.Scope != ScopeAdmin || k.MadeBy != "alice" {
		t.Fatalf("AuthenticateAPIKey = %+v, %v", k, err)
	}
	wrongSecret := key[:len(key)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(key, "a")]
	for _, bad := range []string{"", "scm_", key[:len(key)-1], key + "a", wrongSecret, strings.ToUpper(key),
		"scm_" + strings.Repeat("a", 8) + "_" + key[13:], " " + key} {
		if _, err := s.AuthenticateAPIKey(ctx, bad); !errors.Is(err, ErrBadAPIKey) {
			t.Errorf("AuthenticateAPIKey(%q) = %v, want ErrBadAPIKey", bad, err)
		}
	}
}

func TestAPIKeyLastUsedAtMostOnceAMinute(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return now }
	mustCreateUser(t, s, "alice", testPassword, true)
	_, key := mustCreateAPIKey(t, s, "ci-bot", ScopeRead, "alice")
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := s.ListAPIKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return keys[0].LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatalf("a new key was used at %v", lastUsed())
	}
	use := func() {
		t.Helper()
		if _, err := s.AuthenticateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	use()
	first := now
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last used = %v, want %v", got, first)
	}
	token := s.ChangeToken()
	now = now.Add(59 * time.Second)
	use()
	// On PostgreSQL no change token matches another (see ChangeToken): only SQLite's tells of a write.
	written := testEngine == &sqliteDialect && s.ChangeToken() != token
	if got := lastUsed(); !got.Equal(first) || written {
		t.Errorf("within the minute: last used = %v, written = %v; want %v and no write", got, written, first)
	}
	now = now.Add(time.Second)
	use()
	if got := lastUsed(); !got.Equal(now) {
		t.Errorf("a minute on: last used = %v, want %v", got, now)
	}
}

func TestRevokeAPIKey(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)
	_, key := mustCreateAPIKey(t, s, "ci-bot", ScopeRead, "alice")
	_, kept := mustCreateAPIKey(t, s, "kept", ScopeRead, "alice")
	if err := s.RevokeAPIKey(ctx, "CI-BOT", cli); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if k, err := s.AuthenticateAPIKey(ctx, key); !errors.Is(err, ErrRevoked) || k.Name != "ci-bot" {
		t.Errorf("a revoked key: %+v, %v; want ErrRevoked", k, err)
	}
	if _, err := s.AuthenticateAPIKey(ctx, kept); err != nil {
		t.Errorf("another key after the revocation: %v", err)
	}
	if err := s.RevokeAPIKey(ctx, "ci-bot", cli); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked twice: %v, want ErrRevoked", err)
	}
	if err := s.RevokeAPIKey(ctx, "nope", cli); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v, want ErrNotFound", err)
	}
	// A revoked key stays listed, and its name is not given to another key.
	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 || !keys[0].Revoked() || keys[1].Revoked() {
		t.Errorf("ListAPIKeys = %+v, %v", keys, err)
	}
	if _, _, err := s.CreateAPIKey(ctx, "ci-bot", ScopeRead, "alice", cli); !errors.Is(err, ErrDuplicate) {
		t.Errorf("reusing a revoked key's name: %v, want ErrDuplicate", err)
	}
}

func TestAPIKeyAuditEntries(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)
	mustCreateAPIKey(t, s, "ci-bot", ScopeAdmin, "alice")
	if err := s.RevokeAPIKey(ctx, "ci-bot", Actor{Username: "admin", Addr: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	s.RevokeAPIKey(ctx, "ci-bot", cli)                     // refused: not audited
	s.CreateAPIKey(ctx, "ci-bot", ScopeRead, "alice", cli) // refused: not audited
	evs, total, err := s.ListAudit(ctx, AuditQuery{Limit: 10})
	if err != nil || total != 3 { // adding alice, making the key, revoking it
		t.Fatalf("ListAudit: %d events, %v", total, err)
	}
	revoke, create := evs[0], evs[1]
	if create.Action != ActionCreateAPIKey || create.Target != "ci-bot" || create.Actor != cli ||
		len(create.Changes) != 1 || create.Changes[0] != (Change{Field: "scope", To: ScopeAdmin}) {
		t.Errorf("create event = %+v", create)
	}
	if revoke.Action != ActionRevokeAPIKey || revoke.Target != "ci-bot" || revoke.Actor.Addr != "192.0.2.7" {
		t.Errorf("revoke event = %+v", revoke)
	}
}

func TestAPIKeyAllows(t *testing.T) {
	for _, tc := range []struct {
		key, route string
		want       bool
	}{{ScopeRead, ScopeRead, true}, {ScopeRead, ScopeAdmin, false}, {ScopeAdmin, ScopeRead, true}, {ScopeAdmin, ScopeAdmin, true}} {
		if got := (APIKey{Scope: tc.key}).Allows(tc.route); got != tc.want {
			t.Errorf("a %s key on a %s route: %v", tc.key, tc.route, got)
		}
	}
}
