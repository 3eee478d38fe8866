package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// Migrations are tested from every earlier schema version: a database left at version v (by
// an older scmadmin) opens with this one, is migrated to the latest version, and keeps its rows.

// rawDB opens the SQLite file at path without migrating it, as an older scmadmin left it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// applyUpTo runs migrations 1..v on db by hand, each followed by PRAGMA user_version.
func applyUpTo(t *testing.T, db *sql.DB, v int) {
	t.Helper()
	ms, err := migrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > v {
			break
		}
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			t.Fatal(err)
		}
	}
	if got := rawVersion(t, db); got != v {
		t.Fatalf("user_version after applying up to %d = %d", v, got)
	}
}

func rawVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func columnExists(t *testing.T, db *sql.DB, table, column string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// oldRows are the rows seeded into a database at an older schema version.
type oldRows struct {
	userPassword string
	configID     int64
	token        string
	configs      int // rows in scm_configs, the built-in one included
}

// seedAt inserts representative rows for schema version v with plain SQL, as the scmadmin of
// that version would have written them (secrets sealed with keys and secretAD).
func seedAt(t *testing.T, db *sql.DB, v int, keys *keyring.Keyring) oldRows {
	t.Helper()
	if v < 1 {
		return oldRows{}
	}
	now := time.Now().UTC()
	r := oldRows{userPassword: "an old password 123", token: "old-token-" + fmt.Sprint(v), configs: 2}
	if _, err := db.Exec(`INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, 1, ?, ?)`,
		"olduser", hashPassword(r.userPassword), now, now); err != nil {
		t.Fatal(err)
	}
	var uid int64
	if err := db.QueryRow(`SELECT id FROM users WHERE username = 'olduser'`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sessions (token_hash, user_id, data, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)`,
		[]byte("0123456789abcdef0123456789abcdef"), uid, []byte("{}"), now, now); err != nil {
		t.Fatal(err)
	}
	c := SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://old.example.com", APIURL: "https://old.example.com/rest/api/1.0",
		SSHURL: "ssh://git@old.example.com:7999", ProjectKey: "OLD", UniqueKey: "bitbucket_server https://old.example.com OLD", Name: "Old one"}
	err := db.QueryRow(`INSERT INTO scm_configs (provider, name, website_url, api_url, ssh_url, project_key, unique_key, search_text,
		enabled, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?) RETURNING id`,
		c.Provider, c.Name, c.WebsiteURL, c.APIURL, c.SSHURL, c.ProjectKey, c.UniqueKey, searchText(c), now, now).Scan(&r.configID)
	if err != nil {
		t.Fatal(err)
	}
	keyID, sealed := keys.Seal([]byte(r.token), secretAD(r.configID, "access_token"))
	if _, err := db.Exec(`INSERT INTO scm_secrets (config_id, name, key_id, ciphertext, fingerprint, set_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.configID, "access_token", keyID, sealed, Fingerprint(r.token), now); err != nil {
		t.Fatal(err)
	}
	if v >= 2 {
		// A push registered it before 017; from 017 on, only registered repositories build.
		repo := `INSERT INTO repositories (config_id, slug, created_at) VALUES (?, 'old-repo', ?)`
		if v >= 17 {
			repo = `INSERT INTO repositories (config_id, slug, created_at, owner, created_by) VALUES (?, 'old-repo', ?, 'OLD', 'push before upgrade')`
		}
		if _, err := db.Exec(repo, r.configID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO audit_events (at, actor, remote_addr, action, config_id, provider, target, changes)
			VALUES (?, 'olduser', '192.0.2.1', 'create', ?, 'bitbucket_server', 'Old one', '[]')`, now, r.configID); err != nil {
			t.Fatal(err)
		}
	}
	if v >= 3 {
		if _, err := db.Exec(`UPDATE scm_configs SET last_test_at = ?, last_test_passed = 1, last_test_summary = 'passed' WHERE id = ?`,
			now, r.configID); err != nil {
			t.Fatal(err)
		}
	}
	if v >= 8 {
		seedRef(t, db, r.configID)
	}
	if v >= 4 {
		if _, err := db.Exec(`INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
			VALUES (?, 'req-1', 'repo:refs_changed', 'accepted', 202, 'build', ?)`, r.configID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO builds (config_id, request_id, project_key, repository, commit_id, actor, pushed_at, created_at)
			VALUES (?, 'req-1', 'OLD', 'old-repo', '0ld', 'olduser', ?, ?)`, r.configID, now, now); err != nil {
			t.Fatal(err)
		}
		if v >= 18 { // from 018 on, a build takes its place in the feed as it is recorded
			if _, err := db.Exec(`UPDATE builds SET seq = id; UPDATE build_sequence SET n = (SELECT max(seq) FROM builds)`); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

// seedRef gives configuration id its id as pages name it, as version 8 does when it creates one
// (and names it so in the audit trail).
func seedRef(t *testing.T, db *sql.DB, id int64) {
	t.Helper()
	ref := fmt.Sprint(id)
	for _, stmt := range []string{`UPDATE scm_configs SET ref = ?1 WHERE id = ?2`, `INSERT INTO scm_refs (ref) VALUES (?1)`,
		`UPDATE audit_events SET config_ref = ?1 WHERE config_id = ?2`} {
		if _, err := db.Exec(stmt, ref, id); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// sqliteVersions are the schema versions SQLite's migrations make, in order. A number may be
// missing while the branch that holds its migration is not merged.
func sqliteVersions(t *testing.T) []int {
	t.Helper()
	ms, err := migrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs
}

func TestMigrateFromEveryEarlierVersion(t *testing.T) {
	sqliteOnly(t, "SQLite files made by earlier versions")
	latest := latestMigration(t)
	versions := sqliteVersions(t)
	for _, v := range append([]int{0}, versions[:len(versions)-1]...) {
		t.Run(fmt.Sprintf("from_v%d", v), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			keys := newTestKeyring(t, dir)
			path := filepath.Join(dir, "old.db")
			db := rawDB(t, path)
			applyUpTo(t, db, v)
			seeded := seedAt(t, db, v, keys)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := Open(ctx, path, keys)
			if err != nil {
				t.Fatalf("Open of a version %d database: %v", v, err)
			}
			defer s.Close()
			if got := userVersion(t, s); got != latest {
				t.Errorf("user_version = %d, want %d", got, latest)
			}
			builtin, err := s.SCMConfig(ctx, 1)
			if err != nil || builtin.Provider != "internal" || !builtin.IsDefault || !builtin.Enabled {
				t.Errorf("built-in configuration: %+v %v", builtin, err)
			}
			if err := s.CheckKeys(ctx); err != nil {
				t.Errorf("CheckKeys: %v", err)
			}
			page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			wantConfigs := max(1, seeded.configs)
			if total != wantConfigs || len(page) != wantConfigs {
				t.Errorf("list: %d rows, total %d, want %d", len(page), total, wantConfigs)
			}
			if v == 0 {
				// A database at version 0 is new: the migrated store works like a fresh one.
				if _, err := s.CreateSCMConfig(ctx, bbServerConfig("NEW"), map[string]string{"access_token": "t"}, Actor{Username: "t"}); err != nil {
					t.Errorf("create after migrating: %v", err)
				}
				return
			}
			if u, err := s.Authenticate(ctx, "olduser", seeded.userPassword); err != nil || !u.IsAdmin {
				t.Errorf("old user: %+v %v", u, err)
			}
			cfg, err := s.SCMConfig(ctx, seeded.configID)
			if err != nil || cfg.ProjectKey != "OLD" || cfg.Name != "Old one" || !cfg.Enabled {
				t.Errorf("old configuration: %+v %v", cfg, err)
			}
			if v >= 3 && (!cfg.LastTest.Passed || cfg.LastTest.Summary != "passed") {
				t.Errorf("old connection test lost: %+v", cfg.LastTest)
			}
			secrets, err := s.OpenSecrets(ctx, seeded.configID)
			if err != nil || secrets["access_token"] != seeded.token {
				t.Errorf("old secret: %v %v", secrets, err)
			}
			if found, _, err := s.ListSCMConfigs(ctx, SCMQuery{Search: "old one", Limit: 10}); err != nil || len(found) != 1 {
				t.Errorf("search finds %d old configurations (%v)", len(found), err)
			}
			if v >= 2 {
				if c, err := s.SCMConfig(ctx, seeded.configID); err != nil || c.Repositories != 1 {
					t.Errorf("repositories: %d %v", c.Repositories, err)
				}
				// The repository a push registered is a registered one, in the project, and
				// pushes to it keep building.
				if r, err := s.RepositoryByName(ctx, seeded.configID, "old-repo"); err != nil || r.Owner != "OLD" || r.CreatedBy != "push before upgrade" {
					t.Errorf("old repository after migrating: %+v %v, want owner OLD, created by push before upgrade", r, err)
				}
				if _, built, err := s.StartBuild(ctx, Build{ConfigID: seeded.configID, ProjectKey: "OLD", Repository: "old-repo",
					Commit: strings.Repeat("a", 40)}); err != nil || !built {
					t.Errorf("build of the old repository after migrating: %v %v, want built", built, err)
				}
				evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: seeded.configID, Limit: 10})
				if err != nil || len(evs) != 1 {
					t.Errorf("audit events: %v %v", evs, err)
				}
			}
			if v >= 4 {
				if ds, err := s.Deliveries(ctx, seeded.configID, 10); err != nil || len(ds) != 1 {
					t.Errorf("deliveries: %v %v", ds, err)
				}
				// The builds recorded before the feed are in it, in their order, before the one
				// started after migrating.
				if bs, err := s.BuildsAfter(ctx, 0, 10); err != nil || len(bs) != 2 || bs[0].Seq != bs[0].ID || bs[0].Commit != "0ld" || bs[1].Seq <= bs[0].Seq {
					t.Errorf("the builds feed after migrating: %+v %v", bs, err)
				}
			}
			// The migrated database takes new rows, and the counter stays right.
			if _, err := s.CreateSCMConfig(ctx, bbServerConfig("NEW"), map[string]string{"access_token": "t"}, Actor{Username: "t"}); err != nil {
				t.Fatalf("create after migrating: %v", err)
			}
			if _, total, _ := s.ListSCMConfigs(ctx, SCMQuery{Limit: 1}); total != wantConfigs+1 {
				t.Errorf("total after a create = %d, want %d", total, wantConfigs+1)
			}
		})
	}
}

// poison makes migration v+1 fail part-way: an object its last statements create already exists.
var poison = map[int]struct {
	sql string
	// made are objects (tables) or table.column the failing migration creates before the failing statement.
	made []string
}{
	1: {`CREATE TABLE scm_config_count (n INTEGER)`, []string{"repositories", "audit_events", "scm_configs_provider"}},
	2: {`ALTER TABLE scm_configs ADD COLUMN last_test_summary TEXT`, []string{"scm_configs.last_test_at", "scm_configs.last_test_passed"}},
	3: {`CREATE TABLE builds (x INTEGER)`, []string{"scm_configs.webhook_failures", "webhook_deliveries"}},
	4: {`CREATE TABLE scm_search_poison (x INTEGER); CREATE TRIGGER scm_search_update AFTER UPDATE ON scm_configs BEGIN SELECT 1; END`,
		[]string{"scm_search"}},
	5:  {`CREATE INDEX scm_secrets_key_id ON scm_secrets (config_id)`, nil},
	6:  {`CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions BEGIN SELECT 1; END`, []string{"data_versions"}},
	7:  {`CREATE TABLE scm_refs (ref TEXT)`, []string{"scm_configs.ref"}},
	8:  {`CREATE INDEX api_keys_user_id ON users (id)`, []string{"api_keys"}},
	9:  {`CREATE INDEX oauth_tokens_config_id ON users (id)`, []string{"oauth_states", "oauth_tokens"}},
	10: {`ALTER TABLE scm_configs ADD COLUMN last_test_warned INTEGER`, []string{"users.disabled", "users.last_sign_in_at"}},
	11: {`CREATE INDEX builds_commit ON builds (config_id)`, nil},
	12: {`CREATE TABLE heartbeat (x INTEGER)`, nil},
	13: {`CREATE TRIGGER apikeys_deleted AFTER DELETE ON api_keys BEGIN SELECT 1; END`, nil},
	14: {`ALTER TABLE repositories ADD COLUMN created_by TEXT`, []string{"repositories.owner", "repositories.https_url", "repositories.ssh_url"}},
	15: {`ALTER TABLE builds ADD COLUMN via TEXT`, nil},
	16: {`CREATE TRIGGER repositories_poison BEFORE UPDATE ON repositories BEGIN SELECT RAISE(ABORT, 'poisoned'); END`, nil},
	17: {`CREATE TABLE build_hook_failures (x INTEGER)`, []string{"build_sequence", "build_hook_outbox", "builds.seq"}},
	18: {`ALTER TABLE scm_configs ADD COLUMN managed_by TEXT`, nil},
	19: {`CREATE TABLE leases (x INTEGER)`, []string{"scm_configs.failing_since", "health_results"}},
	20: {`CREATE INDEX failure_windows_last_at ON users (id)`, []string{"servers", "failure_windows"}},
	21: {`CREATE TRIGGER secrets_deleted AFTER DELETE ON scm_secrets BEGIN SELECT 1; END`, nil},
}

func TestFailingMigrationIsRolledBack(t *testing.T) {
	sqliteOnly(t, "applies SQLite migrations by hand")
	latest := latestMigration(t)
	versions := sqliteVersions(t)
	for i := 1; i < len(versions); i++ {
		// Keyed by the number before the migration's; applied, the migrations there are.
		v, applied := versions[i]-1, versions[i-1]
		p, ok := poison[v]
		if !ok {
			t.Errorf("no poison for migration %d: add one", v+1)
			continue
		}
		t.Run(fmt.Sprintf("migration_%d", v+1), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			keys := newTestKeyring(t, dir)
			path := filepath.Join(dir, "old.db")
			db := rawDB(t, path)
			applyUpTo(t, db, applied)
			seeded := seedAt(t, db, applied, keys)
			if _, err := db.Exec(p.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s, err := Open(ctx, path, keys)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded over a conflicting schema")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%03d_", v+1)) {
				t.Errorf("error does not name the failing migration: %v", err)
			}
			db = rawDB(t, path)
			defer db.Close()
			if got := rawVersion(t, db); got != applied {
				t.Errorf("user_version after the failed migration = %d, want %d", got, applied)
			}
			for _, obj := range p.made {
				table, column, isColumn := strings.Cut(obj, ".")
				if isColumn && columnExists(t, db, table, column) || !isColumn && tableExists(t, db, obj) {
					t.Errorf("%s was left behind by the failed migration: it did not run in one transaction", obj)
				}
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM scm_secrets WHERE config_id = ?`, seeded.configID).Scan(&n); err != nil || n != 1 {
				t.Errorf("seeded secret: %d %v", n, err)
			}
			// Once the conflict is gone, the migration runs.
			switch v {
			case 1:
				_, err = db.Exec(`DROP TABLE scm_config_count`)
			case 2:
				_, err = db.Exec(`ALTER TABLE scm_configs DROP COLUMN last_test_summary`)
			case 3:
				_, err = db.Exec(`DROP TABLE builds`)
			case 4:
				_, err = db.Exec(`DROP TRIGGER scm_search_update`)
			case 5:
				_, err = db.Exec(`DROP INDEX scm_secrets_key_id`)
			case 6:
				_, err = db.Exec(`DROP TRIGGER sessions_deleted`)
			case 7:
				_, err = db.Exec(`DROP TABLE scm_refs`)
			case 8:
				_, err = db.Exec(`DROP INDEX api_keys_user_id`)
			case 9:
				_, err = db.Exec(`DROP INDEX oauth_tokens_config_id`)
			case 10:
				_, err = db.Exec(`ALTER TABLE scm_configs DROP COLUMN last_test_warned`)
			case 11:
				_, err = db.Exec(`DROP INDEX builds_commit`)
			case 12:
				_, err = db.Exec(`DROP TABLE heartbeat`)
			case 13:
				_, err = db.Exec(`DROP TRIGGER apikeys_deleted`)
			case 14:
				_, err = db.Exec(`ALTER TABLE repositories DROP COLUMN created_by`)
			case 15:
				_, err = db.Exec(`ALTER TABLE builds DROP COLUMN via`)
			case 16:
				_, err = db.Exec(`DROP TRIGGER repositories_poison`)
			case 17:
				_, err = db.Exec(`DROP TABLE build_hook_failures`)
			case 18:
				_, err = db.Exec(`ALTER TABLE scm_configs DROP COLUMN managed_by`)
			case 19:
				_, err = db.Exec(`DROP TABLE leases`)
			case 20:
				_, err = db.Exec(`DROP INDEX failure_windows_last_at`)
			case 21:
				_, err = db.Exec(`DROP TRIGGER secrets_deleted`)
			}
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err = Open(ctx, path, keys)
			if err != nil {
				t.Fatalf("Open after removing the conflict: %v", err)
			}
			defer s.Close()
			if got := userVersion(t, s); got != latest {
				t.Errorf("user_version = %d, want %d", got, latest)
			}
			if secrets, err := s.OpenSecrets(ctx, seeded.configID); err != nil || secrets["access_token"] != seeded.token {
				t.Errorf("secret after migrating: %v %v", secrets, err)
			}
		})
	}
}
