package web

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

func TestCacheServesOnlyWhileCurrent(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := newCache[string, int](2)
	c.now = func() time.Time { return now }

	c.put("a", 1, 7)
	if v, ok := c.get("a", 7); !ok || v != 1 {
		t.Fatalf("get at the version it was read: %d, %v; want 1, true", v, ok)
	}
	if _, ok := c.get("a", 8); ok {
		t.Error("an entry was served after the store changed")
	}
	now = now.Add(cacheTTL)
	if _, ok := c.get("a", 7); ok {
		t.Error("an entry was served after cacheTTL")
	}
}

func TestCacheStaysBounded(t *testing.T) {
	c := newCache[int, int](2)
	c.put(1, 1, 1)
	c.put(2, 2, 2)
	c.put(3, 3, 2) // full: the entry of version 1 is out of date and makes room
	if _, ok := c.get(2, 2); !ok {
		t.Error("a current entry was dropped while an out-of-date one could go")
	}
	c.put(4, 4, 2) // full of current entries: all go
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d entries, want at most its max of 2 and here only the newest", len(c.entries))
	}
	if v, ok := c.get(4, 2); !ok || v != 4 {
		t.Errorf("the newest entry: %d, %v; want 4, true", v, ok)
	}
}

// The list is rendered once for every admin: each must still get forms with their own CSRF
// token, which the server accepts.
func TestListFormsCarryEachSessionsToken(t *testing.T) {
	app := newTestApp(t)
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	first, second := app.adminClient(), app.adminClient()

	tokens := map[string]bool{}
	for _, c := range []*client{first, second} {
		page := c.get("/admin/scm").wantStatus(http.StatusOK)
		own, _ := page.doc.Find(`meta[name="csrf-token"]`).Attr("content")
		_, fields, ok := rowAction(page, cfg.ID, "disable")
		if !ok {
			t.Fatal("the row offers no Disable")
		}
		if fields.Get("_csrf") != own {
			t.Fatalf("the row's form carries token %q, not the session's own %q", fields.Get("_csrf"), own)
		}
		tokens[own] = true
	}
	if len(tokens) != 2 {
		t.Fatal("two sessions were given the same CSRF token")
	}

	// The second admin disables from the row, as a browser without JavaScript does.
	_, fields, _ := rowAction(second.get("/admin/scm"), cfg.ID, "disable")
	second.post(scmPath(cfg.ID, "disable"), fields).wantStatus(http.StatusSeeOther)
	if rowBadges(first.get("/admin/scm"), cfg.ID) != "Disabled" {
		t.Error("the first admin's list does not show the configuration the second disabled")
	}
}

// The list page is rendered ahead once per admin: each sees their own name on it.
func TestListShowsWhoIsSignedIn(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.st.CreateUser(context.Background(), "bob", adminPassword, true); err != nil {
		t.Fatal(err)
	}
	admin, bob := app.adminClient(), app.client()
	bob.login("bob", adminPassword).wantStatus(http.StatusSeeOther)
	for i := range 2 { // the second time from the cache
		if got := admin.get("/admin/scm").text(".who"); got != adminName {
			t.Errorf("round %d: the admin's list says %q is signed in", i, got)
		}
		if got := bob.get("/admin/scm").text(".who"); got != "bob" {
			t.Errorf("round %d: bob's list says %q is signed in", i, got)
		}
	}
}

// Every change the server makes shows on the next list, however the list was cached.
func TestListShowsEveryChangeAtOnce(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	if !c.get("/admin/scm").has(rowSel(cfg.ID)) {
		t.Fatal("a configuration stored before the page was asked for is not listed")
	}
	c.getHTMX("/admin/scm?q=bb.example") // cache the search's table too

	err := app.st.RecordConnectionTest(context.Background(), cfg.ID, store.ConnectionTest{At: time.Now(), Passed: false, Summary: "TLS: certificate expired"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.get("/admin/scm").text(rowSel(cfg.ID) + " .health"); got != "Failed: TLS: certificate expired" {
		t.Errorf("after a connection test the list shows health %q", got)
	}
	id := addConfig(t, c, bbForm("bb2.example.com", "TWO"))
	if !c.getHTMX("/admin/scm?q=bb2.example").has(rowSel(id)) {
		t.Error("a search does not find the configuration just created")
	}
}

// The scmadmin command writes from another process, which the store's Version does not see:
// the server must see it within cacheTTL, so that `scmadmin user passwd` signs a user out,
// even when the session is saved in between from the cache.
func TestChangesByAnotherProcessAreSeen(t *testing.T) {
	app := newTestApp(t)
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	c := app.adminClient()
	_, fields, _ := rowAction(c.get("/admin/scm").wantStatus(http.StatusOK), cfg.ID, "disable")

	keys, _, err := keyring.LoadOrCreate(filepath.Join(filepath.Dir(app.dbPath), "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(context.Background(), app.dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetPassword(context.Background(), adminName, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	// Within the second the cached session may still act; saving its status message must not
	// store the ended session again.
	c.post(scmPath(cfg.ID, "disable"), fields)

	time.Sleep(cacheTTL)
	c.get("/admin/scm").wantRedirect("/login")
}
