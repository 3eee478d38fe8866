package store

// The test helpers more than one test file of this package uses.

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/store/pgtest"
)

func mustCreateSCM(t *testing.T, s *Store, c SCMConfig, secrets map[string]string) SCMConfig {
	t.Helper()
	got, err := s.CreateSCMConfig(context.Background(), c, secrets, testActor)
	if err != nil {
		t.Fatalf("CreateSCMConfig(%q): %v", c.UniqueKey, err)
	}
	return got
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// secretRow reads the stored (encrypted) form of a secret.
func secretRow(t *testing.T, s *Store, configID int64, name string) (keyID uint32, ciphertext []byte) {
	t.Helper()
	if err := s.db.QueryRow(`SELECT key_id, ciphertext FROM scm_secrets WHERE config_id = ? AND name = ?`, configID, name).
		Scan(&keyID, &ciphertext); err != nil {
		t.Fatalf("secret %d/%s: %v", configID, name, err)
	}
	return keyID, ciphertext
}

// newTestKeyring creates a key file in dir and loads it.
func newTestKeyring(t testing.TB, dir string) *keyring.Keyring {
	t.Helper()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	return keys
}

// openTestStore opens (creating) the database at path, closing it when the test ends.
func openTestStore(t testing.TB, path string, keys *keyring.Keyring) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, keys)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestStore returns a fresh, migrated store on the engine under test: a file in
// t.TempDir(), or a new PostgreSQL database.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, _ := newTestStoreDSN(t)
	return s
}

// newTestStoreDSN is newTestStore that also says where the database is (a file's path or a
// URL), for a test that opens it again.
func newTestStoreDSN(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	dsn := testDSN(t, dir)
	return openTestStore(t, dsn, newTestKeyring(t, dir)), dsn
}

// testDSN names a new database on the engine under test: a file in dir, or a new PostgreSQL
// database.
func testDSN(t testing.TB, dir string) string {
	t.Helper()
	if testEngine == &postgresDialect {
		return pgtest.NewDatabase(t)
	}
	return filepath.Join(dir, "scmadmin.db")
}

func userVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow(s.d.schemaVersion).Scan(&v); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	return v
}

func latestMigration(t *testing.T) int {
	t.Helper()
	ms, err := migrations(testEngine.migrations)
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].version
}

// testActor is who the store tests make changes as.
var testActor = Actor{Username: "tester", Addr: "127.0.0.1"}

func mustCreateUser(t *testing.T, s *Store, name, password string, admin bool) User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), name, password, admin, Actor{})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// bbServerConfig is a Bitbucket Server (build-on-checkin) configuration of project key.
func bbServerConfig(key string) SCMConfig {
	return SCMConfig{
		Provider:   "bitbucket_server",
		WebsiteURL: "https://bitbucket.example.com",
		APIURL:     "https://bitbucket.example.com/rest/api/1.0",
		SSHURL:     "ssh://git@bitbucket.example.com:7999",
		ProjectKey: key,
		UniqueKey:  "bitbucket_server|https://bitbucket.example.com|" + key,
	}
}
