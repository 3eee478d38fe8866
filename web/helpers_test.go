package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

const (
	adminName     = "admin"
	adminPassword = "correct horse battery staple"
)

// testApp is the real application over a real store in a temporary directory, served by
// httptest on 127.0.0.1.
type testApp struct {
	t      testing.TB
	srv    *httptest.Server
	st     *store.Store
	s      *server
	dbPath string
	logs   *syncBuffer
}

// syncBuffer collects the server's log lines so tests can check what reached them.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestApp(t testing.TB) *testApp {
	return newTestAppWith(t, Config{BaseURL: "http://127.0.0.1"})
}

// newTestAppWith is newTestApp with cfg (its Logger is the test's).
func newTestAppWith(t testing.TB, cfg Config) *testApp {
	t.Helper()
	dir := t.TempDir()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "scmadmin.db")
	st, err := store.Open(context.Background(), dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFirstAdmin(context.Background(), adminName, adminPassword); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	e, s, err := newServer(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return &testApp{t: t, srv: srv, st: st, s: s, dbPath: dbPath, logs: logs}
}

// client is a browser stand-in: it keeps cookies and does not follow redirects, so tests see
// every status code.
type client struct {
	t    testing.TB
	app  *testApp
	http *http.Client
}

func (a *testApp) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, app: a, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// adminClient returns a client signed in as the cluster admin.
func (a *testApp) adminClient() *client {
	c := a.client()
	c.login(adminName, adminPassword).wantStatus(http.StatusSeeOther)
	return c
}

type response struct {
	t      testing.TB
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{t: c.t, status: res.StatusCode, header: res.Header, body: string(body), doc: doc}
}

func (c *client) get(path string) *response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.app.srv.URL+path, nil)
	return c.do(req)
}

// getHTMX is a GET as htmx makes it to swap part of a page.
func (c *client) getHTMX(path string) *response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.app.srv.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	return c.do(req)
}

// post sends form as is (no CSRF token is added).
func (c *client) post(path string, form url.Values) *response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// submit does what a person does: opens the page at from, and sends form to action with the
// CSRF token that page carries.
func (c *client) submit(from, action string, form url.Values) *response {
	c.t.Helper()
	page := c.get(from)
	token := page.csrf()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("_csrf", token)
	return c.post(action, f)
}

func (c *client) login(username, password string) *response {
	c.t.Helper()
	return c.submit("/login", "/login", url.Values{"username": {username}, "password": {password}})
}

// cookie returns the value of the client's cookie called name.
func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.app.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (r *response) csrf() string {
	r.t.Helper()
	token, ok := r.doc.Find(`input[name="_csrf"]`).Attr("value")
	if !ok || token == "" {
		r.t.Fatalf("page has no _csrf input:\n%s", r.body)
	}
	return token
}

func (r *response) wantStatus(code int) *response {
	r.t.Helper()
	if r.status != code {
		r.t.Fatalf("status = %d, want %d; body:\n%s", r.status, code, r.body)
	}
	return r
}

func (r *response) wantRedirect(to string) *response {
	r.t.Helper()
	r.wantStatus(http.StatusSeeOther)
	if got := r.header.Get("Location"); got != to {
		r.t.Fatalf("Location = %q, want %q", got, to)
	}
	return r
}

// text returns the trimmed text of the first element matching selector, failing if none.
func (r *response) text(selector string) string {
	r.t.Helper()
	sel := r.doc.Find(selector)
	if sel.Length() == 0 {
		r.t.Fatalf("no %s in page:\n%s", selector, r.body)
	}
	return strings.Join(strings.Fields(sel.First().Text()), " ")
}

func (r *response) has(selector string) bool { return r.doc.Find(selector).Length() > 0 }
