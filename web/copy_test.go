package web

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/pgtest"
)

// An installation copied SQLite → PostgreSQL → SQLite serves at each step: the admin signs
// in, reads the configuration, and tests it with its sealed token against the host.
func TestCopiedInstallationServes(t *testing.T) {
	ctx := context.Background()
	fake := newBitbucketHost(t, "copied-token-1")
	cfg := Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM}
	app := newTestAppWith(t, cfg)
	id := addConfig(t, app.adminClient(), fake.form("copied-token-1"))
	keys := app.keys
	open := func(dsn string) *store.Store {
		st, err := store.Open(ctx, dsn, keys)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	pgURL := pgtest.NewDatabase(t)
	pg := open(pgURL)
	if _, err := store.Copy(ctx, app.st, pg); err != nil {
		t.Fatalf("SQLite → PostgreSQL: %v", err)
	}
	backPath := filepath.Join(t.TempDir(), "back.db")
	back := open(backPath)
	if _, err := store.Copy(ctx, pg, back); err != nil {
		t.Fatalf("PostgreSQL → SQLite: %v", err)
	}
	for name, copied := range map[string]*testApp{"PostgreSQL": serveApp(t, cfg, pg, pgURL, keys), "SQLite again": serveApp(t, cfg, back, backPath, keys)} {
		c := copied.client()
		c.login(adminName, adminPassword).wantStatus(http.StatusSeeOther)
		page := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
		if !strings.Contains(page.body, fake.srv.URL) {
			t.Errorf("%s: the configuration's page:\n%s", name, page.body)
		}
		fake.Reset()
		r := c.submit(scmPath(id, ""), scmPath(id, "test"), nil).wantStatus(http.StatusOK)
		if got := steps(r); got["token"] != "passed" || got["project"] != "passed" {
			t.Errorf("%s: the connection test of the copied configuration: %v", name, got)
		}
		if len(fake.Calls()) == 0 {
			t.Errorf("%s: the test made no call to the host", name)
		}
	}
}
