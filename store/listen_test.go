package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"
)

// waitFor polls cond every millisecond for up to within, and says how long it took to hold.
func waitFor(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), cond()
}

// seenWithin100ms checks that a write through writer moves reader's change token, and its
// data versions, within 100 ms.
func seenWithin100ms(t *testing.T, writer, reader *Store, name string) {
	t.Helper()
	ctx := context.Background()
	before, err := reader.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	token := reader.ChangeToken()
	mustCreateUser(t, writer, name, "a long password 1", false)
	took, ok := waitFor(100*time.Millisecond, func() bool { return reader.ChangeToken() != token })
	if !ok {
		t.Fatalf("%s: the other store's change token did not move within 100 ms of a commit", name)
	}
	if after, err := reader.Versions(ctx); err != nil || after.Users == before.Users {
		t.Errorf("%s: the users' version is still %d after the token moved (%v)", name, after.Users, err)
	}
	t.Logf("%s: seen after %s", name, took)
}

// Two stores on one PostgreSQL database (two servers): a commit through one moves the other's
// change token within 100 ms, through LISTEN/NOTIFY and, while the listening connection is
// cut, by polling; the store listens again by itself.
func TestOtherServersCommitsAreSeen(t *testing.T) {
	if testEngine != &postgresDialect {
		t.Skip("PostgreSQL's notifications; on SQLite the change file beside the database does this (TestChangeToken…)")
	}
	dir := t.TempDir()
	dsn, keys := testDSN(t, dir), newTestKeyring(t, dir)
	a, b := openTestStore(t, dsn, keys), openTestStore(t, dsn, keys)
	if _, ok := waitFor(5*time.Second, func() bool { return a.listening.Load() && b.listening.Load() }); !ok {
		t.Fatal("the stores are not listening 5 s after opening")
	}
	token := b.ChangeToken()
	time.Sleep(3 * pollEvery)
	if b.ChangeToken() != token {
		t.Error("the change token moved with no commit anywhere: caches would read the versions for nothing")
	}
	seenWithin100ms(t, a, b, "listening")

	// Cut every listening connection to the database, and refuse new connections to it for a
	// while, so that the stores must poll: the pools' connections stay.
	var name string
	if err := a.db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", os.Getenv(postgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	allow := func(yes bool) {
		t.Helper()
		if _, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t`, name, yes)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	var cut int
	if err := a.db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN ` + changesChannel + `'`).Scan(&cut); err != nil || cut != 2 {
		t.Fatalf("terminated %d listening connections (%v), want 2", cut, err)
	}
	if _, ok := waitFor(time.Second, func() bool { return !b.listening.Load() }); !ok {
		t.Fatal("the store did not notice that its listening connection was cut")
	}
	time.Sleep(6 * pollEvery) // past the first attempt to listen again, and the first poll, which moves the token
	token = b.ChangeToken()
	time.Sleep(3 * pollEvery)
	if b.ChangeToken() != token {
		t.Error("while polling, the change token moved with no commit anywhere")
	}
	seenWithin100ms(t, a, b, "polling")
	if b.listening.Load() {
		t.Fatal("the store listens again while the database refuses connections: what was tested was not polling")
	}
	allow(true)
	if _, ok := waitFor(5*time.Second, func() bool { return b.listening.Load() }); !ok {
		t.Fatal("the store does not listen again 5 s after its connection was cut")
	}
	seenWithin100ms(t, a, b, "listening-again")
}
