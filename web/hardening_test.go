package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

func TestAnonymousPostIsSentToSignIn(t *testing.T) {
	app := newTestApp(t)
	// No session and no token: sign-in is what is missing, so that is what the answer says.
	app.client().post("/admin/scm", validForm("github")).wantRedirect("/login")
	app.client().post("/admin/scm/internal/disable", nil).wantRedirect("/login")
}

func TestCrossOriginPostRefusedEvenWithToken(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("github")
	form.Set("_csrf", c.get("/admin/scm/new").csrf())
	req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/scm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example.com")
	c.do(req).wantStatus(http.StatusForbidden)
	assertConfigCount(t, app, 1)
}

func TestRequestIDIsOurs(t *testing.T) {
	app := newTestApp(t)
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/login", nil)
	req.Header.Set("X-Request-Id", "forged-id")
	r := app.client().do(req)
	if id := r.header.Get("X-Request-Id"); id == "" || id == "forged-id" {
		t.Errorf("X-Request-Id %q", id)
	}
	if strings.Contains(app.logs.String(), "forged-id") {
		t.Error("the client's request id reached the log")
	}
}

func TestPagesAreNotCached(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for _, path := range []string{"/login", "/admin/scm", "/admin/scm/internal"} {
		if cc := c.get(path).header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s Cache-Control %q", path, cc)
		}
	}
	// What the pages link is fingerprinted and kept: a page view fetches no asset again.
	page := c.get("/admin/scm")
	links := page.doc.Find(`link[rel=stylesheet], script[src]`)
	if links.Length() != 3 {
		t.Fatalf("the page links %d assets, want the stylesheet and two scripts", links.Length())
	}
	links.Each(func(_ int, l *goquery.Selection) {
		src := l.AttrOr("href", l.AttrOr("src", ""))
		r := c.get(src)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q; want 200 kept for a year", src, r.status, r.header.Get("Cache-Control"))
		}
	})
}

func TestOneAlertOnRefusals(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	r := c.post("/admin/scm", validForm("github")).wantStatus(http.StatusForbidden)
	if n := r.doc.Find("[role=alert]").Length(); n != 1 {
		t.Errorf("%d alerts on the refusal page, want 1", n)
	}
}

func TestPastTheLastPageShowsTheLastPage(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for _, q := range []string{"page=5", "page=9223372036854775807&per_page=100", "page=99999999999999999999"} {
		r := c.get("/admin/scm?" + q).wantStatus(http.StatusOK)
		if !r.has(`tr[data-scm-id="internal"]`) {
			t.Errorf("%s: the only configuration is not shown", q)
		}
		if got := r.text(".pager .count"); got != "1–1 of 1" {
			t.Errorf("%s: count %q", q, got)
		}
	}
}

func TestUnreadableSessionIsEnded(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	hash, _ := tokenHash(c.cookie(sessionCookie))
	if saved, err := app.st.UpdateSession(context.Background(), hash, 1, []byte("not gob"), app.s.sessions.now()); !saved || err != nil {
		t.Fatalf("UpdateSession: %v, %v", saved, err)
	}
	c.get("/admin/scm").wantRedirect("/login")
	if _, err := app.st.Session(context.Background(), hash); err == nil {
		t.Error("the unreadable session is still stored")
	}
}

func TestHugeInputIsNotEchoedWhole(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("bitbucket_server")
	form.Set("website_url", "https://"+strings.Repeat("a", 900_000)+".example.com")
	r := c.submit("/admin/scm/new", "/admin/scm", form).wantStatus(http.StatusUnprocessableEntity)
	if len(r.body) > 100_000 {
		t.Errorf("the 422 page is %d bytes: the input came back whole", len(r.body))
	}
	if max, _ := r.doc.Find("input[name=website_url]").Attr("maxlength"); max != "2048" {
		t.Errorf("maxlength %q", max)
	}
}

func TestSignInFailureLogsNoTypedName(t *testing.T) {
	app := newTestApp(t)
	app.client().login("my-password-typed-as-name", "x")
	if strings.Contains(app.logs.String(), "my-password-typed-as-name") {
		t.Error("the typed username reached the log")
	}
	evs, _, err := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 5})
	if err != nil || len(evs) == 0 || evs[0].Action != store.ActionSignInFailed {
		t.Fatalf("audit: %v %v", evs, err)
	}
}

func TestEveryPageHasItsOwnTitle(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	c.submit("/admin/scm/new", "/admin/scm", validForm("bitbucket_server")).wantRedirect("/admin/scm")
	c.submit("/admin/scm/2", "/admin/scm/2/disable", url.Values{"next": {"/admin/scm/2"}}).wantRedirect("/admin/scm/2")
	seen := map[string]string{}
	for _, path := range []string{"/admin/scm", "/admin/scm/new", "/admin/scm/2", "/admin/scm/2/edit", "/admin/scm/2/delete", "/admin/audit"} {
		title := c.get(path).wantStatus(http.StatusOK).text("title")
		if other, dup := seen[title]; dup {
			t.Errorf("%s and %s share the title %q", path, other, title)
		}
		seen[title] = path
	}
	if title := app.client().get("/login").text("title"); seen[title] != "" {
		t.Errorf("the sign-in page shares the title %q", title)
	}
}

func TestOversizedFormIs413(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("github")
	form.Set("_csrf", c.get("/admin/scm/new").csrf())
	form.Set("name", strings.Repeat("n", 2<<20))
	r := c.post("/admin/scm", form).wantStatus(http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.text("[role=alert]"), "larger than scmadmin accepts") {
		t.Errorf("alert %q", r.text("[role=alert]"))
	}
	assertConfigCount(t, app, 1)
}

func TestRequestLogLines(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	c.get("/admin/scm/internal").wantStatus(http.StatusOK)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(app.logs.String()), "\n") {
		var rec struct {
			Msg       string  `json:"msg"`
			RequestID string  `json:"request_id"`
			Route     string  `json:"route"`
			Path      string  `json:"path"`
			Status    int     `json:"status"`
			Duration  float64 `json:"duration"` // nanoseconds
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec.Msg == "request" && rec.Route == "/admin/scm/:id" {
			found = true
			if rec.RequestID == "" || rec.Status != http.StatusOK || rec.Duration <= 0 || rec.Path != "/admin/scm/internal" {
				t.Errorf("request line %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no request line for /admin/scm/:id in\n%s", app.logs.String())
	}
}
