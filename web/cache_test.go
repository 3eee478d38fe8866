package web

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// testCache returns a cache whose data version is the one the test sets.
func testCache[K comparable](max int) (*cache[K, int], *uint64) {
	version := new(uint64)
	return newCache[K, int](max, func(v store.Versions) uint64 { return v.Configs }), version
}

// load loads k from c at the data version the test set.
func load[K comparable](c *cache[K, int], version *uint64, k K, read func(context.Context) (int, error)) (int, error) {
	versions := func(context.Context) (store.Versions, error) { return store.Versions{Configs: *version}, nil }
	return c.load(context.Background(), versions, k, read)
}

func TestCacheServesOnlyWhileCurrent(t *testing.T) {
	c, version := testCache[string](2)
	*version = 7
	reads := 0
	read := func(context.Context) (int, error) { reads++; return reads, nil }

	if v, _ := load(c, version, "a", read); v != 1 {
		t.Fatalf("first load = %d, want 1 (read)", v)
	}
	if v, _ := load(c, version, "a", read); v != 1 || reads != 1 {
		t.Fatalf("load at the same version = %d after %d reads; want 1 from the cache", v, reads)
	}
	*version++
	if v, _ := load(c, version, "a", read); v != 2 {
		t.Errorf("load after the data changed = %d, want 2 (read again)", v)
	}
	if v, _ := load(c, version, "a", read); v != 2 {
		t.Errorf("load at the same version later = %d, want 2: nothing expires by age", v)
	}
	if _, err := load(c, version, "b", func(context.Context) (int, error) { return 0, errors.New("down") }); err == nil {
		t.Error("a failed read was not reported")
	}
	if v, _ := load(c, version, "b", read); v != 3 {
		t.Errorf("load after a failed read = %d, want 3: failures must not be kept", v)
	}
}

func TestCacheStaysBounded(t *testing.T) {
	c, version := testCache[int](2)
	*version = 1
	value := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	load(c, version, 1, value(1))
	*version = 2
	load(c, version, 2, value(2))
	load(c, version, 3, value(3)) // full: the entry of version 1 is out of date and makes room
	if v, _ := load(c, version, 2, value(-1)); v != 2 {
		t.Error("a current entry was dropped while an out-of-date one could go")
	}
	load(c, version, 4, value(4)) // full of current entries: all go
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d entries, want at most its max of 2 and here only the newest", len(c.entries))
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
	if _, err := app.st.CreateUser(context.Background(), "bob", adminPassword, true, store.Actor{}); err != nil {
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

	at := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	_, err := app.st.RecordConnectionTest(context.Background(), cfg.ID, store.HealthResult{At: at, Outcome: store.HealthFailing,
		Step: "tls", Summary: "TLS: certificate expired"}, store.Actor{Username: "setup"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.get("/admin/scm").text(rowSel(cfg.ID) + " .health"); got != "Failing since 2030-01-02 03:04 UTC: TLS: certificate expired" {
		t.Errorf("after a connection test the list shows health %q", got)
	}
	id := addConfig(t, c, bbForm("bb2.example.com", "TWO"))
	if !c.getHTMX("/admin/scm?q=bb2.example").has(rowSel(id)) {
		t.Error("a search does not find the configuration just created")
	}
}

// The scmadmin command writes from another process: the server must see it on the next
// request, so that `scmadmin user passwd` signs a user out at once, even when the session is
// saved in between from the cache.
func TestChangesByAnotherProcessAreSeen(t *testing.T) {
	app := newTestApp(t)
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	c := app.adminClient()
	_, fields, _ := rowAction(c.get("/admin/scm").wantStatus(http.StatusOK), cfg.ID, "disable")

	other := app.otherProcess()
	token := app.st.ChangeToken()
	if err := other.SetPassword(context.Background(), adminName, "another long passphrase", store.Actor{}); err != nil {
		t.Fatal(err)
	}
	app.awaitChange(token)
	// The form's post is refused a session, and so stores none again.
	c.post(scmPath(cfg.ID, "disable"), fields).wantRedirect("/login")
	c.get("/admin/scm").wantRedirect("/login")
}

// awaitChange waits until the server has learnt of a commit made since token, by another
// process too: on SQLite the change file tells at once; PostgreSQL notifies within 100 ms (SPEC).
func (a *testApp) awaitChange(token store.ChangeToken) {
	a.t.Helper()
	for start := time.Now(); a.st.ChangeToken() == token; time.Sleep(time.Millisecond) {
		if time.Since(start) > 100*time.Millisecond {
			a.t.Fatal("the server has not learnt of the other process's commit 100 ms after it")
		}
	}
}

// otherProcess opens the app's database as another process (a second server, or the
// scmadmin commands) would; it is closed when the test ends.
func (a *testApp) otherProcess() *store.Store {
	a.t.Helper()
	other, err := store.Open(context.Background(), a.dbPath, a.keys)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { other.Close() })
	return other
}
