package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpenMigratesFreshDatabase(t *testing.T) {
	s, path := newTestStoreDSN(t)
	if v, want := userVersion(t, s), latestMigration(t); v != want {
		t.Errorf("user_version after Open = %d, want %d", v, want)
	}
	if v, want := userVersion(t, s), latestMigration(t); v != want {
		t.Errorf("user_version = %d, want the latest migration %d", v, want)
	}
	if _, err := os.Stat(path); testEngine == &sqliteDialect && err != nil {
		t.Errorf("database file not created: %v", err)
	}
	for _, table := range []string{"users", "sessions", "scm_configs", "scm_secrets"} {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Errorf("table %s after migration: %v", table, err)
		}
	}
}

func TestMigrationsAreNumberedFromOne(t *testing.T) {
	ms, err := migrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	// Parallel branches each take a number ahead of the others': a branch may miss some
	// until they are merged, so this holds the numbers to rising from 1, one migration each.
	for i, m := range ms {
		if i == 0 && m.version != 1 || i > 0 && m.version <= ms[i-1].version {
			t.Errorf("migration %d is %s (version %d): versions must rise from 1, one migration each", i, m.name, m.version)
		}
		if strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %s is empty", m.name)
		}
	}
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	path := testDSN(t, dir)
	keys := newTestKeyring(t, dir)
	ctx := context.Background()

	s1, err := Open(ctx, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s1.CreateSCMConfig(ctx, SCMConfig{Provider: "github", WebsiteURL: "https://github.com", ClientID: "abc", UniqueKey: "github|https://github.com|abc"},
		map[string]string{"client_secret": "s3cret-value"}, testActor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CreateUser(ctx, "admin", "correct horse battery", true, Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTestStore(t, path, keys)
	if v, want := userVersion(t, s2), latestMigration(t); v != want {
		t.Errorf("user_version after reopen = %d, want %d", v, want)
	}
	// Reopening must neither lose data nor re-run the migration (which would duplicate the built-in row or fail).
	var n int
	if err := s2.db.QueryRow(`SELECT count(*) FROM scm_configs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d configurations after reopen, want 2 (built-in + created)", n)
	}
	got, err := s2.SCMConfig(ctx, c.ID)
	if err != nil {
		t.Fatalf("config lost on reopen: %v", err)
	}
	if got.UniqueKey != c.UniqueKey {
		t.Errorf("reopened config unique key = %q, want %q", got.UniqueKey, c.UniqueKey)
	}
	if _, err := s2.Authenticate(ctx, "admin", "correct horse battery"); err != nil {
		t.Errorf("user lost on reopen: %v", err)
	}
	// And a third time, with two stores open on the same file at once.
	s3 := openTestStore(t, path, keys)
	if err := s3.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	path := testDSN(t, dir)
	keys := newTestKeyring(t, dir)
	ctx := context.Background()

	s := openTestStore(t, path, keys)
	future := latestMigration(t) + 1
	if _, err := s.w.Exec(fmt.Sprintf(s.d.setSchemaVersion, future)); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, path, keys)
	if err == nil {
		s2.Close()
		t.Fatalf("Open accepted a database with schema version %d, newer than it knows", future)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(future)) {
		t.Errorf("error %q does not name the database's schema version %d", err, future)
	}
	if v := userVersion(t, s); v != future {
		t.Errorf("a refused Open changed user_version to %d", v)
	}
	s.Close()

	// Much newer too, on a closed file.
	s3, err := Open(ctx, path, keys)
	if err == nil {
		s3.Close()
		t.Fatal("Open accepted the newer schema on a second try")
	}
}

func TestOpenBadPath(t *testing.T) {
	sqliteOnly(t, "a file's path")
	dir := t.TempDir()
	keys := newTestKeyring(t, dir)
	s, err := Open(context.Background(), filepath.Join(dir, "no", "such", "dir", "x.db"), keys)
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

func TestPragmas(t *testing.T) {
	sqliteOnly(t, "PRAGMA")
	s := newTestStore(t)
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(mode, "wal") {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	// foreign_keys is per connection: check several pooled connections, not just one.
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var fk, busy int
		if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if fk != 1 {
			t.Errorf("connection %d: foreign_keys = %d, want 1", i, fk)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if busy <= 0 {
			t.Errorf("connection %d: busy_timeout = %d, want > 0", i, busy)
		}
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	s := newTestStore(t)
	_, err := s.w.Exec(`INSERT INTO sessions (token_hash, user_id, data, created_at, last_seen_at) VALUES (?, 424242, ?, ?, ?)`,
		[]byte{1}, []byte{}, time.Now(), time.Now())
	if err == nil {
		t.Error("a session for a user that does not exist was accepted: foreign keys are off")
	}
}

func TestBuiltInConfigurationOnFreshDatabase(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c, err := s.SCMConfig(ctx, 1)
	if err != nil {
		t.Fatalf("SCMConfig(1): %v", err)
	}
	if c.ID != 1 || c.Provider != "internal" || !c.IsDefault || !c.Enabled {
		t.Errorf("built-in configuration = %+v, want id 1, provider internal, default, enabled", c)
	}
	if c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
		t.Errorf("built-in configuration has zero times: %+v", c)
	}
	byKey, err := s.SCMConfigByUniqueKey(ctx, c.UniqueKey)
	if err != nil || byKey.ID != 1 {
		t.Errorf("SCMConfigByUniqueKey(%q) = %+v, %v", c.UniqueKey, byKey, err)
	}
	page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(page) != 1 || page[0].ID != 1 {
		t.Errorf("fresh list = %d configs (total %d), want only the built-in one", len(page), total)
	}
	secrets, err := s.SCMSecrets(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 0 {
		t.Errorf("built-in configuration has secrets: %v", secrets)
	}
}

func TestOnlyOneDefault(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c, err := s.CreateSCMConfig(ctx, SCMConfig{Provider: "github", UniqueKey: "k"}, nil, testActor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE scm_configs SET is_default = 1 WHERE id = ?`, c.ID); err == nil {
		t.Error("the schema let two configurations be the default")
	}
	if _, err := s.w.Exec(`UPDATE scm_configs SET enabled = 0 WHERE id = 1`); err == nil {
		t.Error("the schema let the default be disabled")
	}
}

func TestPing(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), testDSN(t, dir), newTestKeyring(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping with a cancelled context succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

// The web layer caches what it reads while the data version it depends on stays the same:
// every write must change the version of what it wrote, and only that one; reads change none.
func TestVersionsChangeWithTheirWrites(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	cfg := SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com", APIURL: "https://bb.example.com/rest/api/1.0",
		SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO", UniqueKey: "bitbucket_server https://bb.example.com ALGO"}
	var id, uid int64
	hash := make([]byte, 32)
	type version = func(Versions) uint64
	configs := func(v Versions) uint64 { return v.Configs }
	users := func(v Versions) uint64 { return v.Users }
	sessions := func(v Versions) uint64 { return v.Sessions }
	secrets := func(v Versions) uint64 { return v.Secrets }
	writes := []struct {
		name    string
		changes []version // none: nil
		do      func() error
	}{
		{"create", []version{configs, secrets}, func() error {
			c, err := s.CreateSCMConfig(ctx, cfg, map[string]string{"access_token": "t"}, testActor)
			id = c.ID
			return err
		}},
		{"connection test", []version{configs}, func() error {
			_, err := s.RecordConnectionTest(ctx, id, HealthResult{At: time.Now(), Outcome: HealthPassed, Summary: "passed"}, testActor)
			return err
		}},
		{"disable", []version{configs}, func() error { return s.SetEnabled(ctx, id, false, testActor) }},
		{"user", []version{users}, func() error {
			u, err := s.CreateUser(ctx, "someone", "a long enough passphrase", false, Actor{})
			uid = u.ID
			return err
		}},
		{"session", []version{sessions}, func() error { return s.CreateSession(ctx, hash, uid, []byte("{}"), time.Now()) }},
		{"refused webhook delivery", nil, func() error { return s.CountWebhookFailure(ctx, id) }},
		{"ignored webhook delivery", nil, func() error {
			_, err := s.RecordDelivery(ctx, Delivery{ConfigID: id, Result: DeliveryIgnored, Status: 202, Reason: "tag"}, nil)
			return err
		}},
		{"repository", []version{configs}, func() error {
			_, err := s.RegisterRepository(ctx, Repository{ConfigID: id, Owner: "ALGO", Name: "algo"}, testActor)
			return err
		}},
		{"webhook secret rotation", []version{secrets}, func() error {
			return s.RotateWebhookSecret(ctx, id, "a new webhook secret", testActor)
		}},
		{"push that builds, into the build hook's outbox", nil, func() error {
			d, err := s.RecordDelivery(ctx, Delivery{ConfigID: id, RequestID: "push-1", Event: "repo:refs_changed", Result: DeliveryAccepted,
				Status: 202}, &Build{ProjectKey: "ALGO", Repository: "algo", Commit: strings.Repeat("a", 40)})
			if err == nil && d.Result != DeliveryAccepted {
				err = fmt.Errorf("recorded as %s: %s", d.Result, d.Reason)
			}
			return err
		}},
		{"build hook claim and delivery", nil, func() error {
			now := time.Now()
			claimed, _, err := s.ClaimBuildHooks(ctx, "me", now, now.Add(time.Minute), 1)
			if err != nil || len(claimed) != 1 {
				return fmt.Errorf("claimed %d builds: %v", len(claimed), err)
			}
			_, err = s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: []int64{claimed[0].Seq}}, now, now.Add(time.Minute), 16)
			return err
		}},
	}
	if _, err := s.StartBuildHook(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		before := mustVersions(t, s)
		localBefore := s.local.Load() // what this store's own writes move (not other servers' notifications)
		if err := w.do(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		after := mustVersions(t, s)
		for _, pick := range []version{configs, users, sessions, secrets} {
			changed := pick(after) != pick(before)
			which := Versions{Configs: 1, Users: 2, Sessions: 3, APIKeys: 4, Secrets: 5}
			if want := slices.ContainsFunc(w.changes, func(v version) bool { return v(which) == pick(which) }); changed != want {
				t.Errorf("%s: a version went from %d to %d; want changed=%v (%+v → %+v)", w.name, pick(before), pick(after), want, before, after)
			}
		}
		// The token moves with the versions (and, where the dialect has tokenOnVersions, only
		// with them): servers re-read the versions when it does.
		if moved := s.local.Load() != localBefore; moved != (w.changes != nil) && (!moved || s.d.tokenOnVersions) {
			t.Errorf("%s: the change token moved=%v; want %v", w.name, moved, w.changes != nil)
		}
	}
	before := mustVersions(t, s)
	if _, _, err := s.ListSCMConfigs(ctx, SCMQuery{Sort: SortCreated, Limit: 25}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if mustVersions(t, s) != before {
		t.Error("a read changed the versions")
	}
}

func mustVersions(t *testing.T, s *Store) Versions {
	t.Helper()
	v, err := s.Versions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The list and the details page show whether the last test warned (migration 009): recording
// only that is a change of what they show.
func TestWarnedTestChangesTheConfigsVersion(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c, err := s.CreateSCMConfig(ctx, bbServerConfig("ALGO"), map[string]string{"access_token": "t"}, testActor)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if _, err := s.RecordConnectionTest(ctx, c.ID, HealthResult{At: at, Outcome: HealthPassed, Summary: "passed"}, testActor); err != nil {
		t.Fatal(err)
	}
	before := mustVersions(t, s)
	if _, err := s.RecordConnectionTest(ctx, c.ID, HealthResult{At: at, Outcome: HealthWarning, Summary: "passed"}, testActor); err != nil {
		t.Fatal(err)
	}
	if after := mustVersions(t, s); after.Configs == before.Configs {
		t.Errorf("configs version unchanged by a test that warned: %+v", after)
	}
	if got, err := s.SCMConfig(ctx, c.ID); err != nil || !got.LastTest.Passed || !got.LastTest.Warned {
		t.Errorf("last test = %+v %v; want passed with warnings", got.LastTest, err)
	}
}

// Another process's commit (a second store on the same file, as the scmadmin commands are)
// changes this store's change token; a read changes it nowhere.
func TestChangeTokenSeesOtherProcesses(t *testing.T) {
	sqliteOnly(t, "the change file")
	dir := t.TempDir()
	path, keys := filepath.Join(dir, "scmadmin.db"), newTestKeyring(t, dir)
	server, command := openTestStore(t, path, keys), openTestStore(t, path, keys)
	ctx := context.Background()
	before := server.ChangeToken()
	if _, err := command.CreateUser(ctx, "someone", testPassword, false, Actor{Username: "scmadmin user add"}); err != nil {
		t.Fatal(err)
	}
	after := server.ChangeToken()
	if after == before {
		t.Fatal("another process's commit left the change token as it was")
	}
	if _, err := server.Versions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := command.UserByID(ctx, 1); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if server.ChangeToken() != after {
		t.Error("a read changed the change token")
	}
}

// On SQLite, a write's statements are prepared after their first run and every later run
// uses them; on PostgreSQL, pgx prepares them itself and the store prepares none.
func TestWritesArePreparedOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{FieldAccessToken: "tok"})
	counts := func() (written, unprepared int) {
		s.writesMu.Lock()
		defer s.writesMu.Unlock()
		return len(s.writes), s.unprepared
	}
	toggle := func() {
		for i := range 20 {
			if err := s.SetEnabled(ctx, c.ID, i%2 == 0, testActor); err != nil {
				t.Fatal(err)
			}
		}
	}
	toggle()
	written, unprepared := counts()
	toggle()
	writtenAgain, unpreparedAgain := counts()
	if !s.d.prepareWrites {
		if writtenAgain != 0 || unpreparedAgain != 0 {
			t.Errorf("the store prepared %d statements (%d runs noted) on %s, whose driver prepares them", writtenAgain, unpreparedAgain, s.d.name)
		}
		return
	}
	if written == 0 || writtenAgain != written || unpreparedAgain != unprepared {
		t.Errorf("after 20 changes: %d statements prepared, %d runs unprepared; after 20 more: %d and %d (want none more)",
			written, unprepared, writtenAgain, unpreparedAgain)
	}
}
