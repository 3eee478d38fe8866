package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

func TestSignInAndOut(t *testing.T) {
	app := newTestApp(t)
	c := app.client()

	r := c.login(adminName, "wrong password here")
	r.wantStatus(http.StatusUnauthorized)
	if got := r.text("[role=alert]"); !strings.Contains(got, "Wrong username or password") {
		t.Errorf("alert = %q", got)
	}
	if v, _ := r.doc.Find("input[name=username]").Attr("value"); v != adminName {
		t.Errorf("username not kept after a failed sign-in: %q", v)
	}
	if r.has(`input[name=password][value]`) {
		t.Error("the password is rendered back into the page")
	}
	c.login("nobody", adminPassword).wantStatus(http.StatusUnauthorized)

	c.login(adminName, adminPassword).wantRedirect("/admin/scm")
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := list.text("h1"); got != "Source Code Management" {
		t.Errorf("h1 = %q", got)
	}
	if got := list.text(".topbar .who"); got != adminName {
		t.Errorf("signed-in user shown as %q", got)
	}

	stolen := c.cookie(sessionCookie)
	c.submit("/admin/scm", "/logout", nil).wantRedirect("/login")
	c.get("/admin/scm").wantRedirect("/login")

	// Signing out ended the session on the server: its cookie, replayed, opens nothing.
	replay := app.client()
	u, _ := url.Parse(app.srv.URL)
	replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: stolen}})
	replay.get("/admin/scm").wantRedirect("/login")
}

func TestSignInCookies(t *testing.T) {
	for _, tc := range []struct {
		baseURL    string
		wantSecure bool
	}{{"http://127.0.0.1", false}, {"https://scm.example.com", true}} {
		t.Run(tc.baseURL, func(t *testing.T) {
			app := newTestAppWith(t, Config{BaseURL: tc.baseURL})
			r := app.client().login(adminName, adminPassword).wantStatus(http.StatusSeeOther)
			var found bool
			for _, ck := range (&http.Response{Header: r.header}).Cookies() {
				if ck.Name != app.s.cookieName(sessionCookie) {
					continue
				}
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != tc.wantSecure {
					t.Errorf("session cookie HttpOnly=%v SameSite=%v Secure=%v", ck.HttpOnly, ck.SameSite, ck.Secure)
				}
			}
			if !found {
				t.Fatal("sign-in set no session cookie")
			}
			if got := strings.HasPrefix(app.s.cookieName(sessionCookie), "__Host-"); got != tc.wantSecure {
				t.Errorf("cookie names __Host- prefixed: %v", got)
			}
			if hsts := r.header.Get("Strict-Transport-Security"); (hsts != "") != tc.wantSecure {
				t.Errorf("HSTS header %q with base URL %s", hsts, tc.baseURL)
			}
		})
	}
}

func TestSignInGivesNewSessionID(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	first := c.cookie(sessionCookie)
	c.login(adminName, adminPassword).wantStatus(http.StatusSeeOther)
	second := c.cookie(sessionCookie)
	if first == "" || first == second {
		t.Fatalf("session id not renewed at sign-in: %q then %q", first, second)
	}
	replay := app.client()
	u, _ := url.Parse(app.srv.URL)
	replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: first}})
	replay.get("/admin/scm").wantRedirect("/login")
}

func TestSignInReturnsToRequestedPage(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	r := c.get("/admin/scm/new?provider=gitlab").wantRedirect("/login?next=%2Fadmin%2Fscm%2Fnew%3Fprovider%3Dgitlab")
	r = c.submit(r.header.Get("Location"), "/login", url.Values{
		"username": {adminName}, "password": {adminPassword}, "next": {"/admin/scm/new?provider=gitlab"}})
	r.wantRedirect("/admin/scm/new?provider=gitlab")

	// Only paths on this site: anything else falls back to the list.
	for _, next := range []string{"https://evil.example.com/", "//evil.example.com", `/\evil.example.com`} {
		c.submit("/login", "/login", url.Values{"username": {adminName}, "password": {adminPassword}, "next": {next}}).
			wantRedirect("/admin/scm")
	}
}

func TestAnonymousIsSentToSignIn(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	c.get("/admin/scm").wantRedirect("/login")
	for _, path := range []string{"/admin/scm/new", "/admin/scm/internal", "/admin/nowhere"} {
		r := c.get(path).wantStatus(http.StatusSeeOther)
		if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("GET %s → Location %q", path, loc)
		}
	}
	// An htmx request is told to load the sign-in page as a whole.
	r := c.getHTMX("/admin/scm")
	if r.status != http.StatusNoContent || !strings.HasPrefix(r.header.Get("HX-Redirect"), "/login") {
		t.Errorf("htmx: status %d, HX-Redirect %q", r.status, r.header.Get("HX-Redirect"))
	}
	// A state change without a session is refused too, with or without a token.
	c.submit("/login", "/admin/scm", url.Values{"provider": {"github"}}).wantRedirect("/login")
}

func TestNonAdminIsForbidden(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.st.CreateUser(context.Background(), "viewer", "viewer password 1", false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	c := app.client()
	c.login("viewer", "viewer password 1").wantRedirect("/admin/scm")
	for _, path := range []string{"/admin/scm", "/admin/scm/new", "/admin/scm/internal"} {
		r := c.get(path).wantStatus(http.StatusForbidden)
		if !strings.Contains(r.text("[role=alert]"), "not a cluster admin") {
			t.Errorf("%s: alert %q", path, r.text("[role=alert]"))
		}
	}
	r := c.submit("/login", "/admin/scm", url.Values{"provider": {"github"}, "website_url": {"https://github.com"},
		"api_url": {"https://api.github.com"}, "ssh_url": {"ssh://git@github.com:22"}, "client_id": {"x"}, "client_secret": {"y"}})
	r.wantStatus(http.StatusForbidden)
	assertConfigCount(t, app, 1)
}

func TestCSRF(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("github")

	c.post("/admin/scm", form).wantStatus(http.StatusForbidden)
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("_csrf", "forged-token-forged-token-forged-token-forg")
	c.post("/admin/scm", bad).wantStatus(http.StatusForbidden)
	// A token from another browser's cookie is worth nothing in this one.
	other := app.client()
	bad.Set("_csrf", other.get("/login").csrf())
	c.post("/admin/scm", bad).wantStatus(http.StatusForbidden)
	c.post("/logout", nil).wantStatus(http.StatusForbidden)
	app.client().post("/login", url.Values{"username": {adminName}, "password": {adminPassword}}).
		wantStatus(http.StatusForbidden)
	assertConfigCount(t, app, 1)

	// htmx sends the token from the meta tag in the X-CSRF-Token header.
	token, _ := c.get("/admin/scm").doc.Find(`meta[name="csrf-token"]`).Attr("content")
	req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/scm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", token)
	c.do(req).wantRedirect("/admin/scm")
	assertConfigCount(t, app, 2)
}

func TestSessionExpiry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		alive bool
	}{
		{"active", 29 * time.Minute, true},
		{"idle 31 minutes", 31 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			c := app.adminClient()
			app.s.sessions.now = func() time.Time { return time.Now().Add(tc.after) }
			r := c.get("/admin/scm")
			if alive := r.status == http.StatusOK; alive != tc.alive {
				t.Fatalf("after %v: status %d", tc.after, r.status)
			}
		})
	}
	t.Run("12 hours even when active", func(t *testing.T) {
		app := newTestApp(t)
		c := app.adminClient()
		// Keep the session busy every 20 minutes for 12 hours: it still ends.
		var at time.Duration
		app.s.sessions.now = func() time.Time { return time.Now().Add(at) }
		for at = 0; at < 12*time.Hour; at += 20 * time.Minute {
			c.get("/admin/scm").wantStatus(http.StatusOK)
		}
		at = 12*time.Hour + time.Minute
		c.get("/admin/scm").wantRedirect("/login")
	})
}

func TestHealthz(t *testing.T) {
	app := newTestApp(t)
	r := app.client().get("/healthz").wantStatus(http.StatusOK)
	if r.body != "ok" {
		t.Errorf("body %q", r.body)
	}
	app.st.Close()
	app.client().get("/healthz").wantStatus(http.StatusServiceUnavailable)
}

func TestPollingDoesNotKeepASessionAlive(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	var at time.Duration
	app.s.sessions.now = func() time.Time { return time.Now().Add(at) }
	for at = 0; at < 40*time.Minute; at += 5 * time.Minute {
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/admin/scm", nil)
		req.Header.Set("X-Scmadmin-Poll", "1")
		c.do(req)
	}
	c.get("/admin/scm").wantRedirect("/login")
}
