// Package pgtest gives tests a PostgreSQL database of their own, on the server that
// SCMADMIN_TEST_POSTGRES names (CI's .ci/run starts a private cluster and sets it). Only
// tests use it.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for creating the tests' databases
)

// Env names the PostgreSQL server where tests may create databases.
const Env = "SCMADMIN_TEST_POSTGRES"

// Server returns the URL of the server of Env. Without it the test skips, saying how to run
// it, or fails under SCMADMIN_E2E=1 (as in CI), where every test must run.
func Server(t testing.TB) string {
	t.Helper()
	server := os.Getenv(Env)
	switch {
	case server != "":
	case os.Getenv("SCMADMIN_E2E") == "1":
		t.Fatalf("%s is not set: with SCMADMIN_E2E=1 (as in CI, whose .ci/run starts a cluster) the PostgreSQL "+
			"tests must run", Env)
	default:
		t.Skipf("needs PostgreSQL: set %s=postgres://… (a server where tests may create databases) to run it", Env)
	}
	return server
}

// NewDatabase creates an empty database on the server of Env, dropped (its connections cut)
// when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := Server(t)
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	name := "scmadmin_test_" + strings.ToLower(rand.Text()[:16]) // unquoted names fold to lower case
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create the test's database on %s: %v", Env, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop the test's database: %v", err)
		}
		admin.Close()
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}
