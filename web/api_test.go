package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/scmadmin/scmadmin/store"
)

// apiClient calls the JSON API with a key, and checks every answer against the OpenAPI
// document the server serves: a route, status or member it does not describe fails the test.
type apiClient struct {
	t      testing.TB
	app    *testApp
	key    string
	router routers.Router
}

// apiAnswer is one answer of the API.
type apiAnswer struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func newAPIClient(t testing.TB, app *testApp, key string) *apiClient {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: app.srv.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, app: app, key: key, router: router}
}

// call sends method path with body (JSON, or nothing when "") and the key as "Simple KEY".
func (a *apiClient) call(method, path, body string) *apiAnswer {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.app.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Simple "+a.key)
	}
	return a.send(req)
}

// send sends req and checks the answer against the OpenAPI document.
func (a *apiClient) send(req *http.Request) *apiAnswer {
	a.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	ans := &apiAnswer{t: a.t, status: res.StatusCode, header: res.Header, body: body}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &ans.json); err != nil {
			a.t.Errorf("%s %s answered %d with a body that is not a JSON object: %q", req.Method, req.URL.Path, res.StatusCode, body)
		}
	}
	a.conforms(req, res, body)
	return ans
}

// conforms fails the test when the answer is not one the OpenAPI document describes.
func (a *apiClient) conforms(req *http.Request, res *http.Response, body []byte) {
	a.t.Helper()
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		a.t.Errorf("%s %s: no route of the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: res.StatusCode, Header: res.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		a.t.Errorf("%s %s answered %d as the OpenAPI document does not say: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

// want checks the status and, for an error, the envelope's code; it returns the answer.
func (r *apiAnswer) want(status, code int) *apiAnswer {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != 0 {
		if got := r.errorCode(); got != code {
			r.t.Errorf("error code %d, want %d: %s", got, code, r.body)
		}
	}
	return r
}

func (r *apiAnswer) errorCode() int {
	e, _ := r.json["error"].(map[string]any)
	n, _ := e["code"].(float64)
	return int(n)
}

// message is the envelope's message.
func (r *apiAnswer) message() string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// field is the envelope's message for field, "" when it names none.
func (r *apiAnswer) field(name string) string {
	e, _ := r.json["error"].(map[string]any)
	fields, _ := e["fields"].(map[string]any)
	s, _ := fields[name].(string)
	return s
}

func (r *apiAnswer) str(name string) string {
	s, _ := r.json[name].(string)
	return s
}

// bbJSON is a create body of a Bitbucket Server configuration on host with project key.
func bbJSON(host, key string) string {
	return fmt.Sprintf(`{"provider": "bitbucket_server", "name": "Algorithms",
		"urls": {"web": "https://%[1]s", "api": "https://%[1]s/rest/api/1.0", "ssh": "ssh://git@%[1]s:8000"},
		"scm": {"project_key": %[2]q, "access_token": %[3]q}}`, host, key, canaryToken)
}

func TestAPIReadsTheConfigurations(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	created := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "algo")).want(http.StatusCreated, 0)
	id := created.str("id")
	list := api.call(http.MethodGet, "/v1/scms", "").want(http.StatusOK, 0)
	results, _ := list.json["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("results %v, want the built-in one and the one created", results)
	}
	if first, _ := results[0].(map[string]any); first["id"] != store.BuiltInRef || first["default"] != true {
		t.Errorf("first result %v, want the built-in default", first)
	}
	one := api.call(http.MethodGet, "/v1/scms/"+id, "").want(http.StatusOK, 0)
	urls, _ := one.json["urls"].(map[string]any)
	scm, _ := one.json["scm"].(map[string]any)
	if urls["ssh"] != "ssh://git@bb.example.com:8000" || scm["project_key"] != "ALGO" || one.str("provider") != "bitbucket_server" {
		t.Errorf("GET /v1/scms/%s = %s", id, one.body)
	}
	if bytes.Contains(one.body, []byte(canaryToken)) || bytes.Contains(created.body, []byte(canaryToken)) || bytes.Contains(list.body, []byte(canaryToken)) {
		t.Error("an API answer holds the access token")
	}
	api.call(http.MethodGet, "/v1/scms/nothing-here", "").want(http.StatusNotFound, 4009)
	api.call(http.MethodGet, "/v1/scms/%2e%2e", "").want(http.StatusNotFound, 4009)
}

func TestAPIPages(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	for i := range 4 {
		api.call(http.MethodPost, "/v1/admin/scms", bbJSON(fmt.Sprintf("bb%d.example.com", i), "ALGO")).want(http.StatusCreated, 0)
	}
	var seen []string
	path := "/v1/scms?limit=2"
	for range 5 {
		page := api.call(http.MethodGet, path, "").want(http.StatusOK, 0)
		results, _ := page.json["results"].([]any)
		for _, r := range results {
			seen = append(seen, r.(map[string]any)["id"].(string))
		}
		next := page.str("next_link")
		if next == "" {
			break
		}
		path = strings.TrimPrefix(next, app.s.baseURL)
	}
	if want := []string{"internal", "2", "3", "4", "5"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("pages listed %v, want %v once each", seen, want)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "marker=-1", "marker=abc"} {
		api.call(http.MethodGet, "/v1/scms?"+q, "").want(http.StatusBadRequest, http.StatusBadRequest)
	}
}

func TestAPICreateRefusals(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO")).want(http.StatusCreated, 0)
	for _, tc := range []struct {
		name, body    string
		status, code  int
		field, inWord string
	}{
		{"duplicate", bbJSON("bb.example.com", "ALGO"), 409, 4044, "project_key", "already registered"},
		{"duplicate in other case and with a slash", strings.Replace(bbJSON("BB.Example.com", "algo"), `"https://BB.Example.com"`, `"https://BB.Example.com/"`, 1),
			409, 4044, "project_key", "already registered"},
		{"bad URL", bbJSON("bb two.example.com", "TWO"), 400, 4020, "website_url", "Website URL"},
		{"the built-in provider", `{"provider": "internal", "urls": {"web": "https://x", "api": "https://x", "ssh": "ssh://x:1"}}`,
			400, 4020, "provider", "Choose"},
		{"unknown member", `{"provider": "github", "colour": "blue"}`, 400, 4020, "colour", "not a member"},
		{"wrong type", `{"provider": "github", "urls": {"web": 42, "api": "https://x", "ssh": "ssh://x:1"}}`, 400, 4020, "website_url", "string"},
		{"enabled as a string", `{"provider": "github", "enabled": "yes"}`, 400, 4020, "enabled", "enabled must be true or false, not a string."},
		{"not JSON", `{"provider": `, 400, 4020, "", ""},
		{"two values", `{} {}`, 400, 4020, "", ""},
		{"numeric vanity id", strings.Replace(bbJSON("bb3.example.com", "ALGO"), `{`, `{"id": "42",`, 1), 400, 4020, "id", "letter"},
		{"malformed vanity id", strings.Replace(bbJSON("bb3.example.com", "ALGO"), `{`, `{"id": "Bad ID",`, 1), 400, 4020, "id", "lower-case"},
		{"vanity id a page has", strings.Replace(bbJSON("bb3.example.com", "ALGO"), `{`, `{"id": "new",`, 1), 400, 4020, "id", "a word the addresses use"},
		{"vanity id the OAuth callback has", strings.Replace(bbJSON("bb3.example.com", "ALGO"), `{`, `{"id": "oauth",`, 1), 400, 4020, "id", "choose another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := api.call(http.MethodPost, "/v1/admin/scms", tc.body).want(tc.status, tc.code)
			if tc.field != "" && !strings.Contains(r.field(tc.field), tc.inWord) {
				t.Errorf("fields.%s = %q, want it to say %q: %s", tc.field, r.field(tc.field), tc.inWord, r.body)
			}
		})
	}
	if msg := api.call(http.MethodPost, "/v1/admin/scms", `["github"]`).want(400, 4020).message(); msg != "The body must be an object, not an array." {
		t.Errorf("an array for a body: %q", msg)
	}
	plain, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/v1/admin/scms", strings.NewReader(bbJSON("x.example.com", "X")))
	plain.Header.Set("Authorization", "Simple "+api.key)
	plain.Header.Set("Content-Type", "text/plain")
	api.send(plain).want(http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType)
	huge := `{"provider": "github", "name": "` + strings.Repeat("x", maxAPIBody) + `"}`
	if msg := api.call(http.MethodPost, "/v1/admin/scms", huge).want(http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge).message(); msg != tooLarge {
		t.Errorf("a body over 1 MiB: %q, want %q", msg, tooLarge)
	}
}

func TestAPIVanityIDsAndAliases(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	body := strings.Replace(bbJSON("bb.example.com", "ALGO"), `{"provider": "bitbucket_server"`, `{"id": "bb-algo", "provider": "bitbucket", "enabled": false`, 1)
	r := api.call(http.MethodPost, "/v1/admin/scms", body).want(http.StatusCreated, 0)
	if r.str("id") != "bb-algo" || r.str("provider") != "bitbucket_server_api" || r.json["enabled"] != false {
		t.Errorf("create with a vanity id, Algorithmia's provider name and enabled false = %s", r.body)
	}
	c := app.adminClient()
	if !c.get("/admin/scm").has(`tr[data-scm-id="bb-algo"]`) {
		t.Error("the list does not name the configuration by its vanity id")
	}
	c.get("/admin/scm/bb-algo").wantStatus(http.StatusOK)
	again := strings.Replace(bbJSON("other.example.com", "ALGO"), `{`, `{"id": "bb-algo",`, 1)
	if r := api.call(http.MethodPost, "/v1/admin/scms", again).want(http.StatusConflict, 4044); r.field("id") == "" {
		t.Errorf("a taken id is not named: %s", r.body)
	}
	cloud := `{"provider": "bitbucket-cloud", "urls": {"web": "https://bitbucket.org", "api": "https://api.bitbucket.org/2.0",
		"ssh": "ssh://git@bitbucket.org:22"}, "oauth": {"client_id": "key-1", "client_secret": "s3cret"}}`
	if r := api.call(http.MethodPost, "/v1/admin/scms", cloud).want(http.StatusCreated, 0); r.str("provider") != "bitbucket_cloud" {
		t.Errorf("bitbucket-cloud created %s", r.body)
	}
}

func TestAPIUpdateAndLifecycle(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	id := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO")).want(http.StatusCreated, 0).str("id")
	path := "/v1/admin/scms/" + id
	if r := api.call(http.MethodPatch, path, `{"name": "Renamed"}`).want(http.StatusOK, 0); r.str("name") != "Renamed" {
		t.Errorf("rename answered %s", r.body)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"urls": {"web": "https://bb2.example.com"}}`, "urls"},
		{`{"scm": {"project_key": "OTHER"}}`, "project_key"},
		{`{"provider": "github"}`, "provider"},
		{`{"id": "new-id"}`, "id"},
		{`{"urls": {"web": "http://bb.example.com", "api": "https://bb.example.com/rest/api/1.0", "ssh": "ssh://git@bb.example.com:8000"}}`, "website_url"},
	} {
		if r := api.call(http.MethodPatch, path, tc.body).want(http.StatusBadRequest, 4021); r.field(tc.field) == "" {
			t.Errorf("PATCH %s: fields %s, want %s named", tc.body, r.body, tc.field)
		}
	}
	api.call(http.MethodDelete, path, "").want(http.StatusConflict, 4040)
	api.call(http.MethodPatch, "/v1/admin/scms/internal", `{"enabled": false}`).want(http.StatusConflict, 4041)
	api.call(http.MethodPatch, "/v1/admin/scms/internal", `{"name": "Mine"}`).want(http.StatusConflict, 4045)
	api.call(http.MethodDelete, "/v1/admin/scms/internal", "").want(http.StatusConflict, 4045)
	api.call(http.MethodPost, "/v1/admin/scms/internal/test", "").want(http.StatusConflict, 4045)
	if r := api.call(http.MethodPatch, path, `{"enabled": false}`).want(http.StatusOK, 0); r.json["enabled"] != false {
		t.Errorf("disable answered %s", r.body)
	}
	api.call(http.MethodPost, path+"/default", "").want(http.StatusConflict, 4042)
	cfg, err := app.st.SCMConfigByRef(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.st.AddRepository(context.Background(), cfg.ID, "sentiment-analysis"); err != nil {
		t.Fatal(err)
	}
	if msg := api.call(http.MethodDelete, path, "").want(http.StatusConflict, 4043).message(); !strings.Contains(msg, "still hosts an algorithm repository ") ||
		!strings.Contains(msg, "DELETE /v1/scms/"+id+"/repositories/NAME") {
		t.Errorf("the refusal says %q, want it to count one repository in plain words and name the way out", msg)
	}
	api.call(http.MethodDelete, "/v1/admin/scms/nothing", "").want(http.StatusNotFound, 4009)
	other := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb2.example.com", "TWO")).want(http.StatusCreated, 0).str("id")
	api.call(http.MethodPost, "/v1/admin/scms/"+other+"/default", "").want(http.StatusNoContent, 0)
	api.call(http.MethodPatch, "/v1/admin/scms/internal", `{"enabled": false}`).want(http.StatusOK, 0)
	api.call(http.MethodPatch, "/v1/admin/scms/internal", `{"enabled": true}`).want(http.StatusOK, 0)
	api.call(http.MethodPatch, "/v1/admin/scms/"+other, `{"enabled": false}`).want(http.StatusConflict, 4041)
}

func TestAPIDeleteAndAudit(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	id := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO")).want(http.StatusCreated, 0).str("id")
	api.call(http.MethodPatch, "/v1/admin/scms/"+id, `{"enabled": false}`).want(http.StatusOK, 0)
	api.call(http.MethodDelete, "/v1/admin/scms/"+id, "").want(http.StatusNoContent, 0)
	api.call(http.MethodGet, "/v1/scms/"+id, "").want(http.StatusNotFound, 4009)
	evs, _, err := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Actor.Username, "api key ") {
			actions = append(actions, ev.Action)
		}
	}
	if want := []string{store.ActionDelete, store.ActionDisable, store.ActionCreate}; fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("audit entries by the API key: %v, want %v", actions, want)
	}
}

func TestAPIConnectionTest(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	body := strings.NewReplacer("https://bb.invalid", "https://127.0.0.1:1", "bb.invalid:8000", "127.0.0.1:1").
		Replace(bbJSON("bb.invalid", "ALGO"))
	id := api.call(http.MethodPost, "/v1/admin/scms", body).want(http.StatusCreated, 0).str("id")
	r := api.call(http.MethodPost, "/v1/admin/scms/"+id+"/test", "").want(http.StatusOK, 0)
	steps, _ := r.json["steps"].([]any)
	if r.json["passed"] != false || len(steps) == 0 {
		t.Fatalf("test of a closed port = %s", r.body)
	}
	if first, _ := steps[0].(map[string]any); first["step"] != "dns" || first["status"] == "" {
		t.Errorf("first step %v", first)
	}
	last, _ := api.call(http.MethodGet, "/v1/scms/"+id, "").json["last_test"].(map[string]any)
	if last == nil || last["health"] != "failing" || last["failing_since"] != last["at"] {
		t.Errorf("last_test = %v, want the test kept, failing since its time", last)
	}
}

// Of 100 identical creates at once exactly one is made; the others are duplicates.
func TestAPIConcurrentCreates(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	statuses := map[[2]int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			r := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO"))
			mu.Lock()
			statuses[[2]int{r.status, r.errorCode()}]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[[2]int{201, 0}] != 1 || statuses[[2]int{409, 4044}] != 99 {
		t.Errorf("100 identical creates answered %v, want one 201 and 99 409/4044", statuses)
	}
}

// adminAPIKey is a new API key of scope admin, acting as the cluster admin.
func adminAPIKey(t testing.TB, app *testApp) string {
	t.Helper()
	_, key, err := app.st.CreateAPIKey(context.Background(), "tests", store.ScopeAdmin, adminName, store.Actor{Username: adminName})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Every route refuses a request without a good key (401, saying how to send one), and every
// admin route a read key (403); the OpenAPI document is the one open route.
func TestAPIRoutesNeedTheirKey(t *testing.T) {
	app := newTestApp(t)
	admin := newAPIClient(t, app, adminAPIKey(t, app))
	_, readKey, err := app.st.CreateAPIKey(context.Background(), "reader", store.ScopeRead, adminName, store.Actor{Username: adminName})
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, err := app.st.CreateAPIKey(context.Background(), "gone", store.ScopeAdmin, adminName, store.Actor{Username: adminName})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.st.RevokeAPIKey(context.Background(), "gone", store.Actor{Username: adminName}); err != nil {
		t.Fatal(err)
	}
	routes := []struct {
		method, path string
		admin        bool
	}{
		{http.MethodGet, "/v1/scms", false}, {http.MethodGet, "/v1/scms/internal", false},
		{http.MethodPost, "/v1/admin/scms", true}, {http.MethodPatch, "/v1/admin/scms/internal", true},
		{http.MethodDelete, "/v1/admin/scms/internal", true}, {http.MethodPost, "/v1/admin/scms/internal/default", true},
		{http.MethodPost, "/v1/admin/scms/internal/test", true}, {http.MethodPost, "/v1/scms/internal/builds", true},
	}
	// Each route meets one kind of bad key (in turn), so that the address's bad keys stay
	// under the limit.
	badKeys := []string{"", "scm_aaaaaaaa_" + strings.Repeat("b", 32), "not-a-key", revoked}
	for i, rt := range routes {
		key := badKeys[i%len(badKeys)]
		r := newAPIClient(t, app, key).call(rt.method, rt.path, `{}`).want(http.StatusUnauthorized, http.StatusUnauthorized)
		if len(r.header.Values("WWW-Authenticate")) == 0 {
			t.Errorf("%s %s with key %q: 401 without WWW-Authenticate", rt.method, rt.path, key)
		}
		if rt.admin {
			newAPIClient(t, app, readKey).call(rt.method, rt.path, `{}`).want(http.StatusForbidden, http.StatusForbidden)
		} else {
			newAPIClient(t, app, readKey).call(rt.method, rt.path, "").want(http.StatusOK, 0)
		}
	}
	res, err := http.Get(app.srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /v1/openapi.json without a key = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	admin.call(http.MethodGet, "/v1/scms", "").want(http.StatusOK, 0)
}

// A create whose API URL is on another host than its Website URL is made, with a note saying so.
func TestAPICreateNotes(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	body := strings.Replace(bbJSON("bb.example.com", "ALGO"), `"api": "https://bb.example.com/rest/api/1.0"`,
		`"api": "https://api.example.com/rest/api/1.0"`, 1)
	r := api.call(http.MethodPost, "/v1/admin/scms", body).want(http.StatusCreated, 0)
	notes, _ := r.json["notes"].([]any)
	if len(notes) != 1 || !strings.Contains(fmt.Sprint(notes[0]), "api.example.com") {
		t.Errorf("notes %v, want one about the API's host", r.json["notes"])
	}
}

// The API's answers and keys are kept in memory, but never past a change: a rename shows in
// the next GET, and a key revoked by another process (scmadmin apikey revoke) is refused on
// its next request.
func TestAPICachesSeeEveryChange(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	id := api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO")).want(http.StatusCreated, 0).str("id")
	api.call(http.MethodGet, "/v1/scms/"+id, "").want(http.StatusOK, 0)
	api.call(http.MethodGet, "/v1/scms", "").want(http.StatusOK, 0)
	api.call(http.MethodPatch, "/v1/admin/scms/"+id, `{"name": "Renamed"}`).want(http.StatusOK, 0)
	if got := api.call(http.MethodGet, "/v1/scms/"+id, "").str("name"); got != "Renamed" {
		t.Errorf("GET after a rename says name %q", got)
	}
	if list := api.call(http.MethodGet, "/v1/scms", "").body; !bytes.Contains(list, []byte(`"Renamed"`)) {
		t.Errorf("the list after a rename: %s", list)
	}
	other, token := app.otherProcess(), app.st.ChangeToken()
	if err := other.RevokeAPIKey(context.Background(), "tests", store.Actor{Username: "scmadmin apikey revoke"}); err != nil {
		t.Fatal(err)
	}
	app.awaitChange(token)
	api.call(http.MethodGet, "/v1/scms", "").want(http.StatusUnauthorized, http.StatusUnauthorized)
}

// A credential member is an assertion: one the provider does not take, two values for one
// credential, or a new project key is refused naming it, not dropped; the same project key
// again (in any case) changes nothing.
func TestAPICredentialsFitTheProvider(t *testing.T) {
	app := newTestApp(t)
	api := newAPIClient(t, app, adminAPIKey(t, app))
	github := func(creds string) string {
		return `{"provider": "github", "urls": {"web": "https://github.com", "api": "https://api.github.com",
			"ssh": "ssh://git@github.com:22"}, ` + creds + `}`
	}
	for _, tc := range []struct{ body, field string }{
		{github(`"oauth": {"client_id": "a5", "client_secret": "b", "project_key": "X"}`), "project_key"},
		{github(`"oauth": {"client_id": "a7", "client_secret": "b"}, "scm": {"client_id": "OTHER"}`), "client_id"},
		{strings.Replace(bbJSON("bb.example.com", "ALGO"), `"scm": {`, `"scm": {"client_id": "zz", `, 1), "client_id"},
	} {
		r := api.call(http.MethodPost, "/v1/admin/scms", tc.body).want(http.StatusBadRequest, 4020)
		if r.field(tc.field) == "" {
			t.Errorf("POST %s: %s, want %s named", tc.body, r.body, tc.field)
		}
	}
	if results, _ := api.call(http.MethodGet, "/v1/scms", "").want(http.StatusOK, 0).json["results"].([]any); len(results) != 1 {
		t.Errorf("%d configurations after refused creates, want the built-in one", len(results))
	}
	api.call(http.MethodPost, "/v1/admin/scms", github(`"oauth": {"client_id": "a7", "client_secret": "b"}, "scm": {"client_id": "a7"}`)).
		want(http.StatusCreated, 0)
	// A member given empty asserts nothing: clients send every member, "" for the unused ones,
	// on create and on update (where the stored client id and secret stay).
	gh := "/v1/admin/scms/" + api.call(http.MethodPost, "/v1/admin/scms",
		github(`"oauth": {"client_id": "a8", "client_secret": "b", "project_key": "", "access_token": ""}, "scm": {"client_id": ""}`)).
		want(http.StatusCreated, 0).str("id")
	if r := api.call(http.MethodPatch, gh, `{"oauth": {"client_id": "", "client_secret": "", "project_key": "", "access_token": ""}}`).
		want(http.StatusOK, 0); r.json["oauth"].(map[string]any)["client_id"] != "a8" {
		t.Errorf("PATCH with empty members answered %s, want the client id kept", r.body)
	}
	// One value written twice the way validation reads it alike is one value.
	api.call(http.MethodPost, "/v1/admin/scms", strings.Replace(bbJSON("bb3.example.com", "algo"), `"scm": {`, `"oauth": {"project_key": "ALGO"}, "scm": {`, 1)).
		want(http.StatusCreated, 0)
	api.call(http.MethodPost, "/v1/admin/scms", github(`"oauth": {"client_id": "a9", "client_secret": "b"}, "scm": {"client_id": " a9"}`)).
		want(http.StatusCreated, 0)

	path := "/v1/admin/scms/" + api.call(http.MethodPost, "/v1/admin/scms", bbJSON("bb.example.com", "ALGO")).want(http.StatusCreated, 0).str("id")
	if r := api.call(http.MethodPatch, path, `{"name": "Same key", "scm": {"project_key": "algo"}}`).want(http.StatusOK, 0); r.str("name") != "Same key" {
		t.Errorf("PATCH with the same project key answered %s", r.body)
	}
	if r := api.call(http.MethodPatch, path, `{"scm": {"project_key": "OTHER"}}`).want(http.StatusBadRequest, 4021); !strings.Contains(r.field("project_key"), "cannot change") {
		t.Errorf("PATCH with another project key: %s", r.body)
	}
	if r := api.call(http.MethodPatch, path, `{"oauth": {"client_secret": "s"}}`).want(http.StatusBadRequest, 4021); r.field("client_secret") == "" {
		t.Errorf("PATCH of a credential Bitbucket Server does not take: %s", r.body)
	}
}
