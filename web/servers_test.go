package web

// Several servers on one database (SPEC "PostgreSQL and several servers"): sessions and the
// sign-in and API-key limits are the database's, not one server's.

import (
	"net/http"
	"testing"
	"time"
)

// Wrong passwords sent to two servers lock the account on both.
func TestSignInLimitsCountAcrossServers(t *testing.T) {
	a := newTestApp(t)
	b := a.secondServer()
	ca, cb := a.client(), b.client()
	for i := range freeFailures {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		c.login(adminName, "wrong").wantStatus(http.StatusUnauthorized)
	}
	ca.login(adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
	cb.login(adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
}

// Bad API keys sent to two servers count together: the address is refused once their sum
// reaches the limit, on the server that sees the last one at once, on the other from its next
// bad key on.
func TestBadAPIKeysCountAcrossServers(t *testing.T) {
	a := newTestApp(t)
	b := a.secondServer()
	good := adminAPIKey(t, a)
	bad := "scm_" + "not-a-key-0123456789"
	for i := range badKeysAllowed {
		app := a
		if i >= badKeysAllowed/2 {
			app = b
		}
		newAPIClient(t, app, bad).call(http.MethodGet, "/v1/scms", "").want(http.StatusUnauthorized, http.StatusUnauthorized)
	}
	newAPIClient(t, b, good).call(http.MethodGet, "/v1/scms", "").want(http.StatusTooManyRequests, http.StatusTooManyRequests)
	newAPIClient(t, a, bad).call(http.MethodGet, "/v1/scms", "").want(http.StatusUnauthorized, http.StatusUnauthorized)
	newAPIClient(t, a, good).call(http.MethodGet, "/v1/scms", "").want(http.StatusTooManyRequests, http.StatusTooManyRequests)
}

// A session made on one server works on the other, and signing out on either ends it on both.
func TestSessionsAcrossServers(t *testing.T) {
	a := newTestApp(t)
	b := a.secondServer()
	c := a.adminClient() // its cookie is for 127.0.0.1, whatever the port: both servers get it
	onB := &client{t: t, app: b, http: c.http}
	onB.get("/admin/scm").wantStatus(http.StatusOK)
	onB.submit("/admin/scm", "/logout", nil).wantRedirect("/login")
	c.get("/admin/scm").wantStatus(http.StatusSeeOther)
	onB.get("/admin/scm").wantStatus(http.StatusSeeOther)
}

// A change made through one server shows in the other's next page within 100 ms, though
// the other had the page cached.
func TestChangesShowOnTheOtherServer(t *testing.T) {
	a := newTestApp(t)
	b := a.secondServer()
	ca, cb := a.adminClient(), b.adminClient()
	if cb.get("/admin/scm").has(rowSel(2)) {
		t.Fatal("a configuration listed before any was made")
	}
	id := addConfig(t, ca, bbForm("seen.example.com", "SEEN"))
	start := time.Now()
	for !cb.get("/admin/scm").has(rowSel(id)) {
		if time.Since(start) > 100*time.Millisecond {
			t.Fatalf("the configuration made on one server is not listed on the other %s later", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("listed on the other server after %s", time.Since(start))
}
