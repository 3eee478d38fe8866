package store

// The store's tests run on both engines: on SQLite always, then once more on PostgreSQL when
// SCMADMIN_TEST_POSTGRES names a server where they may create databases (each test gets a
// database of its own, dropped when it ends).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scmadmin/scmadmin/store/pgtest"
)

// testEngine is the engine the tests are running on.
var testEngine = &sqliteDialect

const postgresEnv = pgtest.Env

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv(postgresEnv) != "" {
		fmt.Println("== the store's tests again, on PostgreSQL")
		testEngine = &postgresDialect
		code = m.Run()
	}
	os.Exit(code)
}

// TestPostgres says whether the tests also run on PostgreSQL (reading the variable in a test
// also tells go test's cache that the results depend on it).
func TestPostgres(t *testing.T) {
	switch {
	case os.Getenv(postgresEnv) != "":
	case os.Getenv("SCMADMIN_E2E") == "1":
		t.Fatalf("%s is not set: with SCMADMIN_E2E=1 (as in CI, whose .ci/run starts a cluster) the store's tests "+
			"must run on PostgreSQL too", postgresEnv)
	default:
		t.Skipf("the store's tests ran on SQLite only: set %s=postgres://… (a server where they may "+
			"create databases) to run them on PostgreSQL too", postgresEnv)
	}
}

// sqliteOnly skips a test of what only SQLite has.
func sqliteOnly(t testing.TB, what string) {
	t.Helper()
	if testEngine != &sqliteDialect {
		t.Skip("SQLite only: " + what)
	}
}

func TestRebind(t *testing.T) {
	for query, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`: `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`,
		`DELETE FROM t WHERE x = ?1 AND y <= ?2`:      `DELETE FROM t WHERE x = $1 AND y <= $2`,
		`SELECT '?', "a?" -- why?` + "\n" + `, ?`:     `SELECT '?', "a?" -- why?` + "\n" + `, $1`,
		`SELECT 'it''s ?', ?`:                         `SELECT 'it''s ?', $1`,
		`SELECT 'unterminated ?`:                      `SELECT 'unterminated ?`,
	} {
		if got := rebind(query); got != want {
			t.Errorf("rebind(%q) = %q, want %q", query, got, want)
		}
	}
}

// The PostgreSQL migrations begin at the schema SQLite's migrations had then (011_schema.sql
// says why) and, from there on, come in pairs with SQLite's: a version is one schema.
func TestPostgresMigrationsFollowSQLite(t *testing.T) {
	lite, err := migrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(postgresDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	twins := func(ms []migration) map[int]bool {
		vs := map[int]bool{}
		for _, m := range ms {
			if m.version > pg[0].version {
				vs[m.version] = true
			}
		}
		return vs
	}
	pgVersions, liteVersions := twins(pg), twins(lite)
	for v := range liteVersions {
		if !pgVersions[v] {
			t.Errorf("SQLite's migration %03d has no PostgreSQL twin: write each migration for both engines", v)
		}
	}
	for v := range pgVersions {
		if !liteVersions[v] {
			t.Errorf("PostgreSQL's migration %03d has no SQLite twin: write each migration for both engines", v)
		}
	}
}

// Servers that start together on an empty database migrate it once, and all of them open it.
func TestOpenTogetherMigratesOnce(t *testing.T) {
	if testEngine == &sqliteDialect {
		// Several processes creating one new SQLite file at the same instant sometimes meet
		// SQLITE_BUSY in the first migration, which busy_timeout does not wait out: a
		// limitation of its own, for a set-up (several servers) that is PostgreSQL's.
		t.Skip("PostgreSQL's advisory lock is what this tests")
	}
	dir := t.TempDir()
	dsn, keys := testDSN(t, dir), newTestKeyring(t, dir)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			s, err := Open(context.Background(), dsn, keys)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	s := openTestStore(t, dsn, keys)
	if n := countRows(t, s, "scm_configs"); n != 1 {
		t.Errorf("%d configurations after opening together, want the built-in one alone", n)
	}
}

// A migration left in migrations/ itself (where they were before PostgreSQL came, and where a
// branch from then still adds them) is embedded by neither engine: it would be skipped in
// silence.
func TestNoMigrationOutsideAnEngine(t *testing.T) {
	stray, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stray {
		t.Errorf("%s: move it to migrations/sqlite/ and write its PostgreSQL twin in migrations/postgres/", f)
	}
}
