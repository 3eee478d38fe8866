package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store/pgtest"
)

// copySeed is what seedForCopy put in a database, to find again in its copies.
type copySeed struct {
	key, deleted int64 // a configuration with a secret, and the id of one deleted since
	apiKey       string
	session      []byte
}

func seedForCopy(t *testing.T, s *Store) copySeed {
	t.Helper()
	ctx := context.Background()
	alice := mustCreateUser(t, s, "alice", "alice's password 1", true)
	c := mustCreateSCM(t, s, bbServerConfig("COPY"), map[string]string{"access_token": "copied-token"})
	gone := mustCreateSCM(t, s, bbServerConfig("GONE"), map[string]string{"access_token": "t"})
	if err := s.SetEnabled(ctx, gone.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSCMConfig(ctx, gone.ID, testActor); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, s, c.ID, "COPY", "algo")
	if _, err := s.RecordDelivery(ctx, Delivery{ConfigID: c.ID, RequestID: "req-1", Event: "repo:refs_changed", Result: DeliveryAccepted,
		Status: 202, Reason: "build"}, &Build{ConfigID: c.ID, RequestID: "req-1", ProjectKey: "COPY", Repository: "algo",
		Commit: strings.Repeat("a", 40), Actor: "alice", PushedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	_, key, err := s.CreateAPIKey(ctx, "ci", ScopeAdmin, "alice", testActor)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("a session token"))
	if err := s.CreateSession(ctx, hash[:], alice.ID, []byte("{}"), time.Now()); err != nil {
		t.Fatal(err)
	}
	return copySeed{key: c.ID, deleted: gone.ID, apiKey: key, session: hash[:]}
}

// checkCopy checks that s holds what seedForCopy seeded, and goes on from there.
func checkCopy(t *testing.T, s *Store, seed copySeed) {
	t.Helper()
	ctx := context.Background()
	if err := s.CheckKeys(ctx); err != nil {
		t.Errorf("CheckKeys on the copy: %v", err)
	}
	if secrets, err := s.OpenSecrets(ctx, seed.key); err != nil || secrets["access_token"] != "copied-token" {
		t.Errorf("the copied secret: %v %v", secrets, err)
	}
	if u, err := s.Authenticate(ctx, "alice", "alice's password 1"); err != nil || !u.IsAdmin {
		t.Errorf("alice on the copy: %+v %v", u, err)
	}
	if k, err := s.AuthenticateAPIKey(ctx, seed.apiKey); err != nil || k.Name != "ci" {
		t.Errorf("the API key on the copy: %+v %v", k, err)
	}
	if _, err := s.Session(ctx, seed.session); err != nil {
		t.Errorf("the session on the copy: %v", err)
	}
	if bs, err := s.Builds(ctx, seed.key, 10); err != nil || len(bs) != 1 {
		t.Errorf("builds on the copy: %v %v", bs, err)
	}
	if ds, err := s.Deliveries(ctx, seed.key, 10); err != nil || len(ds) != 1 {
		t.Errorf("deliveries on the copy: %v %v", ds, err)
	}
	if evs, _, err := s.ListAudit(ctx, AuditQuery{Limit: 100}); err != nil || len(evs) < 3 {
		t.Errorf("audit trail on the copy: %d events, %v", len(evs), err)
	}
	if _, total, err := s.ListSCMConfigs(ctx, SCMQuery{Limit: 10}); err != nil || total != 2 {
		t.Errorf("the copy lists %d configurations (%v), want the built-in one and COPY", total, err)
	}
	if b, err := s.SCMConfig(ctx, BuiltInID); err != nil || b.Ref != BuiltInRef {
		t.Errorf("the built-in configuration on the copy: %+v %v", b, err)
	}
	if found, _, err := s.ListSCMConfigs(ctx, SCMQuery{Search: "copy", Limit: 10}); err != nil || len(found) != 1 {
		t.Errorf("search on the copy finds %d (%v): its index must follow the copied rows", len(found), err)
	}
	next := mustCreateSCM(t, s, bbServerConfig("NEXT"), map[string]string{"access_token": "t"})
	if next.ID <= seed.deleted {
		t.Errorf("a configuration made on the copy has id %d: ids up to %d were handed out on the source", next.ID, seed.deleted)
	}
}

// A whole installation moves SQLite → PostgreSQL → SQLite and works at each step; a
// destination that is not empty is refused and left as it was.
func TestCopyBetweenEngines(t *testing.T) {
	sqliteOnly(t, "copies between both engines once, from SQLite")
	ctx := context.Background()
	dir := t.TempDir()
	keys := newTestKeyring(t, dir)
	lite := openTestStore(t, filepath.Join(dir, "from.db"), keys)
	seed := seedForCopy(t, lite)

	pg := openTestStore(t, pgtest.NewDatabase(t), keys)
	counts, err := Copy(ctx, lite, pg)
	if err != nil {
		t.Fatalf("SQLite → PostgreSQL: %v", err)
	}
	if i := slices.IndexFunc(counts, func(c CopyCount) bool { return c.Table == "scm_configs" }); i < 0 || counts[i].Rows != 2 {
		t.Errorf("counts: %+v, want 2 scm_configs", counts)
	}
	back := openTestStore(t, filepath.Join(dir, "back.db"), keys)
	if _, err := Copy(ctx, pg, back); err != nil {
		t.Fatalf("PostgreSQL → SQLite: %v", err)
	}
	checkCopy(t, pg, seed)
	checkCopy(t, back, seed)

	// Into a database that has rows of its own: refused, naming what it found, nothing written.
	before := countRows(t, back, "scm_configs")
	_, err = Copy(ctx, lite, back)
	if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "users") {
		t.Errorf("copy into a database with rows: %v; want a refusal naming the table", err)
	}
	if after := countRows(t, back, "scm_configs"); after != before {
		t.Errorf("the refused copy changed the destination: %d configurations, was %d", after, before)
	}
}

// Every table of the schema is copied or said not to be: a table added without a word here
// would be lost by a move from one engine to the other.
func TestCopyKnowsEveryTable(t *testing.T) {
	s := newTestStore(t)
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'scm_search%'`
	if testEngine == &postgresDialect {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := s.db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		copied := slices.ContainsFunc(copiedTables, func(c struct {
			name, fresh string
			ids         bool
		}) bool {
			return c.name == name
		})
		if _, skipped := notCopied[name]; !copied && !skipped {
			t.Errorf("table %s is neither in copiedTables nor in notCopied (store/copy.go): say whether scmadmin copy copies it", name)
		}
	}
}
