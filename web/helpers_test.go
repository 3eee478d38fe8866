package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/store/pgtest"
	"github.com/scmadmin/scmadmin/web/internal/fakehost"
	"github.com/scmadmin/scmadmin/web/provider"
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
	dbPath string // the database: a SQLite file, or a PostgreSQL URL
	logs   *syncBuffer
	cfg    Config
	keys   *keyring.Keyring
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
	dbPath := testDatabase(t, dir)
	st, err := store.Open(context.Background(), dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateFirstAdmin(context.Background(), adminName, adminPassword); err != nil {
		t.Fatal(err)
	}
	return serveApp(t, cfg, st, dbPath, keys)
}

// engineEnv picks the engine of the web tests' databases: "postgres" for a new PostgreSQL
// database each (on the server of SCMADMIN_TEST_POSTGRES), else a SQLite file. CI runs the
// web tests once with each.
const engineEnv = "SCMADMIN_TEST_ENGINE"

// onPostgres says whether the web tests run on PostgreSQL.
func onPostgres() bool { return os.Getenv(engineEnv) == "postgres" }

// testDatabase names a new database on the engine under test: a file in dir, or a new
// PostgreSQL database.
func testDatabase(t testing.TB, dir string) string {
	t.Helper()
	if onPostgres() {
		return pgtest.NewDatabase(t)
	}
	return filepath.Join(dir, "scmadmin.db")
}

// assertNoRowHolds fails if a row of any table of the app's PostgreSQL database holds s, as
// text or in bytes.
func assertNoRowHolds(t *testing.T, app *testApp, what, s string) {
	t.Helper()
	db := app.rawDB()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM `+table+` r WHERE strpos(r::text, $1) > 0 OR strpos(r::text, $2) > 0`,
			s, hex.EncodeToString([]byte(s))).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("%d rows of %s hold the %s in plain text", n, table, what)
		}
	}
}

// rawDB opens the app's database directly, as another program would (closed when the test
// ends); queries number their parameters $1, $2 …, which both engines take.
func (a *testApp) rawDB() *sql.DB {
	a.t.Helper()
	driver, dsn := "sqlite", "file:"+a.dbPath+"?_pragma=busy_timeout(5000)"
	if onPostgres() {
		driver, dsn = "pgx", a.dbPath
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { db.Close() })
	return db
}

// dbTime is t as the engine under test takes it in a raw query.
func dbTime(t time.Time) any {
	if onPostgres() {
		return t.UTC()
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999999-07:00")
}

// serveApp serves the application over st, the database at dsn whose secrets keys opens, until
// the test ends.
func serveApp(t testing.TB, cfg Config, st *store.Store, dsn string, keys *keyring.Keyring) *testApp {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	e, s, err := newServer(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testApp{t: t, srv: srv, st: st, s: s, dbPath: dsn, logs: logs, cfg: cfg, keys: keys}
}

// secondServer is another server on a's database, with a store of its own, as a second
// machine behind the same load balancer runs.
func (a *testApp) secondServer() *testApp {
	a.t.Helper()
	st, err := store.Open(context.Background(), a.dbPath, a.keys)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { st.Close() })
	return serveApp(a.t, a.cfg, st, a.dbPath, a.keys)
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

// editForm is what the edit page submits: every input of #scm-form as the page shows it.
func editForm(t *testing.T, r *response) url.Values {
	t.Helper()
	f := url.Values{}
	inputs := r.doc.Find("#scm-form input[name]")
	if inputs.Length() == 0 {
		t.Fatalf("no #scm-form inputs:\n%s", r.body)
	}
	for i := range inputs.Length() {
		in := inputs.Eq(i)
		f.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
	}
	return f
}

// addConfig creates a configuration through the Add form, as an admin does, and returns its id.
func addConfig(t *testing.T, c *client, form url.Values) int64 {
	t.Helper()
	c.submit("/admin/scm/new?provider="+form.Get("provider"), "/admin/scm", form).wantRedirect("/admin/scm")
	cfgs, _, err := c.app.st.ListSCMConfigs(context.Background(), store.SCMQuery{Sort: store.SortCreated, Desc: true, Limit: 1})
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("newest configuration: %v (%v)", cfgs, err)
	}
	return cfgs[0].ID
}

// bbForm is a valid Bitbucket Server form for another server, so that several can coexist.
func bbForm(host, key string) url.Values {
	f := validForm("bitbucket_server")
	f.Set("website_url", "https://"+host)
	f.Set("api_url", "https://"+host+"/rest/api/1.0")
	f.Set("ssh_url", "ssh://git@"+host+":7999")
	f.Set("project_key", key)
	return f
}

// seedConfig stores a configuration directly (no HTTP), for tests that need many.
func seedConfig(t *testing.T, app *testApp, cfg store.SCMConfig, secrets map[string]string) store.SCMConfig {
	t.Helper()
	if cfg.UniqueKey == "" {
		cfg.UniqueKey = fmt.Sprintf("%s %s %s%s", cfg.Provider, cfg.WebsiteURL, cfg.ClientID, cfg.ProjectKey)
	}
	if secrets == nil {
		secrets = map[string]string{"access_token": "seed-token"}
	}
	created, err := app.st.CreateSCMConfig(context.Background(), cfg, secrets, store.Actor{Username: "seed", Addr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func mustConfig(t *testing.T, app *testApp, id int64) store.SCMConfig {
	t.Helper()
	cfg, err := app.st.SCMConfig(context.Background(), id)
	if err != nil {
		t.Fatalf("configuration %d: %v", id, err)
	}
	return cfg
}

func configExists(t *testing.T, app *testApp, id int64) bool {
	t.Helper()
	_, err := app.st.SCMConfig(context.Background(), id)
	if err != nil && !strings.Contains(err.Error(), store.ErrNotFound.Error()) {
		t.Fatal(err)
	}
	return err == nil
}

func scmPath(id int64, action string) string {
	if action == "" {
		return "/admin/scm/" + ref(id)
	}
	return "/admin/scm/" + ref(id) + "/" + action
}

// ref is the id pages name configuration id by: "internal" for the built-in one, else its
// number (the tests give no vanity ids).
func ref(id int64) string {
	if id == store.BuiltInID {
		return store.BuiltInRef
	}
	return strconv.FormatInt(id, 10)
}

// act submits a lifecycle action's form (POST /admin/scm/ID/ACTION with _csrf and next), as the
// no-JavaScript button does.
func act(c *client, id int64, action, next string) *response {
	c.t.Helper()
	return c.submit("/admin/scm", scmPath(id, action), url.Values{"next": {next}})
}

// rowAction finds the list's button for configuration id's action and returns where it
// posts with htmx and the fields it submits without: those of the form it belongs to.
func rowAction(r *response, id int64, action string) (hxPost string, fields url.Values, ok bool) {
	b := r.doc.Find(rowSel(id) + fmt.Sprintf(` button[formaction=%q]`, scmPath(id, action)))
	if b.Length() == 0 {
		return "", nil, false
	}
	form := r.doc.Find("form#" + b.AttrOr("form", "missing-form-attribute"))
	if form.Length() == 0 || form.AttrOr("method", "") != "post" {
		r.t.Fatalf("row %d: %s button belongs to no post form", id, action)
	}
	fields = url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		fields.Add(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	return b.AttrOr("hx-post", ""), fields, true
}

// rowSel selects the list row of configuration id.
func rowSel(id int64) string { return fmt.Sprintf(`table#scm-configs tr[data-scm-id="%s"]`, ref(id)) }

func rowBadges(r *response, id int64) string {
	r.t.Helper()
	row := r.doc.Find(rowSel(id))
	if row.Length() != 1 {
		r.t.Fatalf("%d rows for configuration %d:\n%s", row.Length(), id, r.body)
	}
	return strings.Join(badges(row), ",")
}

// listIDs are the ids of the list's rows, in order.
func listIDs(r *response) []string {
	var ids []string
	r.doc.Find("table#scm-configs tbody tr[data-scm-id]").Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-scm-id", ""))
	})
	return ids
}

// wantFragment checks an htmx response is the list's table with the messages out of band,
// not a page.
func wantFragment(t *testing.T, r *response) {
	t.Helper()
	if strings.Contains(strings.ToLower(r.body), "<html") || r.has("header.topbar") {
		t.Errorf("htmx response is a whole page:\n%s", r.body)
	}
	if r.doc.Find("#scm-table table#scm-configs").Length() != 1 {
		t.Errorf("htmx response has no #scm-table:\n%s", r.body)
	}
	if v, _ := r.doc.Find("#messages").Attr("hx-swap-oob"); v != "true" {
		t.Errorf("htmx response has no out-of-band #messages:\n%s", r.body)
	}
}

// Distinctive secrets, looked for in every page, the database file and the log.
const (
	canaryToken  = "bbs-token-CANARY-0123456789abcdef"
	canarySecret = "oauth-secret-CANARY-fedcba9876543210"
)

// validForm returns a valid Add form for the provider with id.
func validForm(id string) url.Values {
	f := url.Values{"provider": {id}}
	switch id {
	case "bitbucket_server", "bitbucket_server_api":
		f.Set("website_url", "https://bitbucket.example.com")
		f.Set("api_url", "https://bitbucket.example.com/rest/api/1.0")
		f.Set("ssh_url", "ssh://git@bitbucket.example.com:8000")
		f.Set("project_key", "ALGO")
		f.Set("access_token", canaryToken)
	default:
		p, _ := provider.Lookup(id)
		for _, fl := range p.Fields() {
			if fl.Default != "" {
				f.Set(fl.Name, fl.Default)
			}
		}
		if id == "github_enterprise" {
			f.Set("website_url", "https://github.example.com")
			f.Set("api_url", "https://github.example.com/api/v3")
			f.Set("ssh_url", "ssh://git@github.example.com:22")
		}
		f.Set("client_id", "client-"+id)
		f.Set("client_secret", canarySecret)
	}
	return f
}

func assertConfigCount(t *testing.T, app *testApp, want int) {
	t.Helper()
	_, total, err := app.st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != want {
		t.Fatalf("%d configurations stored, want %d", total, want)
	}
}

// assertNoSecrets fails if a canary secret shows in the page, the database files or the log.
func assertNoSecrets(t *testing.T, app *testApp, pages ...*response) {
	t.Helper()
	for _, canary := range []string{canaryToken, canarySecret} {
		for _, p := range pages {
			if strings.Contains(p.body, canary) {
				t.Errorf("a page shows the secret %q", canary)
			}
		}
		assertNotStored(t, app, fmt.Sprintf("secret %q", canary), canary)
	}
}

const // fixtureHash is the fixture's toHash: the commit its build is of.
fixtureHash = "9e4d2c1b0a8f7e6d5c4b3a29181716151413121f"

const // hookBaseURL is the BASE_URL the webhook tests run with.
hookBaseURL = "http://scmadmin.example.com:8080"

// signHook is the X-Hub-Signature Bitbucket sends for body under secret.
func signHook(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// pushSpec is what varies between the push payloads the tests send.
type pushSpec struct {
	project, slug, ref, refType, change, toHash, actor, date string
}

// masterPush is the fixture's push, with toHash hash.
func masterPush(hash string) pushSpec {
	return pushSpec{project: "ALGO", slug: "sentiment-analysis", ref: "refs/heads/master", refType: "BRANCH",
		change: "UPDATE", toHash: hash, actor: "jdoe", date: "2026-11-20T14:03:11+0000"}
}

// pushBody is a repo:refs_changed payload with Bitbucket Server's documented fields.
func pushBody(p pushSpec) []byte {
	display := p.ref[strings.LastIndex(p.ref, "/")+1:]
	body, err := json.Marshal(map[string]any{
		"eventKey": "repo:refs_changed",
		"date":     p.date,
		"actor":    map[string]any{"name": p.actor, "emailAddress": p.actor + "@example.com", "displayName": p.actor, "id": 12, "slug": p.actor, "type": "NORMAL", "active": true},
		"repository": map[string]any{
			"slug": p.slug, "id": 41, "name": p.slug, "scmId": "git", "state": "AVAILABLE", "forkable": true, "public": false,
			"project": map[string]any{"key": p.project, "id": 3, "name": p.project, "public": false, "type": "NORMAL"},
		},
		"changes": []any{map[string]any{
			"ref":      map[string]any{"id": p.ref, "displayId": display, "type": p.refType},
			"refId":    p.ref,
			"fromHash": "5b1f0b9c7c0a6a44de2a4a5f1ce0c5e0f3c7a1d2",
			"toHash":   p.toHash,
			"type":     p.change,
		}},
	})
	if err != nil {
		panic(err)
	}
	return body
}

func openSecrets(t *testing.T, app *testApp, id int64) map[string]string {
	t.Helper()
	s, err := app.st.OpenSecrets(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// badges returns the badges' texts of selection, in order.
func badges(sel *goquery.Selection) []string {
	var out []string
	sel.Find(".badge").Each(func(_ int, b *goquery.Selection) { out = append(out, strings.TrimSpace(b.Text())) })
	return out
}

// bitbucketHost is the fake Bitbucket Server (fakehost) over TLS, and an SSH port that greets.
// Its one token authenticates as svc-platform, admin of project ALGO.
type bitbucketHost struct {
	*fakehost.Bitbucket
	srv *fakehost.Server
	ssh *fakehost.TCP
}

func newBitbucketHost(t *testing.T, token string) *bitbucketHost {
	f := fakehost.NewBitbucket()
	f.AddToken(token, "svc-platform", true)
	return &bitbucketHost{Bitbucket: f, srv: fakehost.ServeTLS(t, f), ssh: fakehost.SSH(t, fakehost.SSHBanner)}
}

// form is the Add form for a Bitbucket Server configuration of project ALGO on the fake.
func (h *bitbucketHost) form(token string) url.Values {
	return url.Values{"provider": {"bitbucket_server"}, "website_url": {h.srv.URL}, "api_url": {h.srv.URL + "/rest/api/1.0"},
		"ssh_url": {"ssh://git@" + h.ssh.Addr()}, "project_key": {"ALGO"}, "access_token": {token}}
}

// concurrently runs do(0) … do(n-1), each in its own goroutine, released together, and waits
// for them all.
func concurrently(n int, do func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			do(i)
		}()
	}
	close(start)
	wg.Wait()
}

// post is a form to send to path.
type post struct {
	path string
	form url.Values
}

// postConcurrently sends every post at once with the client's cookies, each form as is (with
// its CSRF token if it has one), and returns the answers in order. A request that got no
// answer is an error of the test's and a response with status 0.
func (c *client) postConcurrently(posts ...post) []*response {
	transport := &http.Transport{MaxIdleConnsPerHost: len(posts)}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Jar: c.http.Jar, Transport: transport, CheckRedirect: c.http.CheckRedirect}
	answers := make([]*response, len(posts))
	concurrently(len(posts), func(i int) {
		r := &response{t: c.t}
		req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+posts[i].path, strings.NewReader(posts[i].form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if res, err := hc.Do(req); err != nil {
			c.t.Errorf("POST %s #%d: %v", posts[i].path, i, err)
		} else {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			r.status, r.header, r.body = res.StatusCode, res.Header, string(body)
		}
		r.doc, _ = goquery.NewDocumentFromReader(strings.NewReader(r.body))
		answers[i] = r
	})
	return answers
}

// statuses counts the answers by status code.
func statuses(answers []*response) map[int]int {
	got := map[int]int{}
	for _, r := range answers {
		got[r.status]++
	}
	return got
}

// assertNotStored fails if s is in the database files or the log.
func assertNotStored(t *testing.T, app *testApp, what, s string) {
	t.Helper()
	if onPostgres() {
		assertNoRowHolds(t, app, what, s)
	}
	for _, file := range []string{app.dbPath, app.dbPath + "-wal"} {
		data, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s holds the %s in plain text", file, what)
		}
	}
	if strings.Contains(app.logs.String(), s) {
		t.Errorf("the log holds the %s", what)
	}
}

// waitFor polls cond every 20 ms for up to 10 s; what says what was awaited.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
