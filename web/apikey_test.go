package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
)

// withAPITestRoutes registers two routes behind requireAPIKey, one per scope, that answer who
// the request acts as. They exist only in tests: the /v1 routes come with the JSON API.
func withAPITestRoutes(app *testApp) *testApp {
	e := app.srv.Config.Handler.(*echo.Echo)
	who := func(c echo.Context) error {
		u, _ := currentUser(c)
		return c.JSON(http.StatusOK, map[string]string{"user": u.Username, "actor": actor(c).Username, "api_actor": apiActor(c).Username})
	}
	e.GET("/test/api/read", who, app.s.requireAPIKey(store.ScopeRead))
	e.POST("/test/api/admin", who, app.s.requireAPIKey(store.ScopeAdmin))
	return app
}

// makeAPIKey makes a key acting as the test's cluster admin and returns its value.
func (a *testApp) makeAPIKey(name, scope string) string {
	a.t.Helper()
	_, key, err := a.st.CreateAPIKey(context.Background(), name, scope, adminName, store.Actor{Username: adminName})
	if err != nil {
		a.t.Fatal(err)
	}
	return key
}

type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
}

// callAPI sends a request with the Authorization header set to authorization, unless it is empty.
func (a *testApp) callAPI(method, path, authorization string) apiResponse {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		a.t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, raw)
	}
	return apiResponse{status: res.StatusCode, header: res.Header, body: body}
}

// wantEnvelope checks the error envelope {"error": {"code": status, "message": "…"}}.
func (r apiResponse) wantEnvelope(t *testing.T, status int, message string) {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	if r.status != status || e == nil || e["code"] != float64(status) || !strings.Contains(e["message"].(string), message) {
		t.Errorf("got %d %v, want %d with an envelope saying %q", r.status, r.body, status, message)
	}
}

func TestAPIKeyAuthorizationForms(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	key := app.makeAPIKey("ci-bot", store.ScopeAdmin)
	for _, auth := range []string{"Simple " + key, "Bearer " + key, key, "bearer  " + key + " ", "SIMPLE " + key} {
		r := app.callAPI(http.MethodPost, "/test/api/admin", auth)
		if r.status != http.StatusOK || r.body["user"] != adminName || r.body["actor"] != "api key ci-bot" ||
			r.body["api_actor"] != "api key ci-bot" {
			t.Errorf("Authorization %q: %d %v", strings.Replace(auth, key, "KEY", 1), r.status, r.body)
		}
	}
	if logs := app.logs.String(); strings.Contains(logs, key[4:]) {
		t.Errorf("the key reached the log:\n%s", logs)
	}
}

func TestAPIKeyRefusals(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	ctx := context.Background()
	read := app.makeAPIKey("reader", store.ScopeRead)
	revoked := app.makeAPIKey("old", store.ScopeAdmin)
	if err := app.st.RevokeAPIKey(ctx, "old", store.Actor{Username: adminName}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		status     int
		message    string
	}{
		{"no key", "", http.StatusUnauthorized, "No API key"},
		{"scheme alone", "Bearer", http.StatusUnauthorized, "No API key"},
		{"bad key", "Simple scm_aaaaaaaa_" + strings.Repeat("b", 32), http.StatusUnauthorized, "not one scmadmin made"},
		{"garbage", "Bearer hello", http.StatusUnauthorized, "not one scmadmin made"},
		{"secret changed", "Simple " + read[:len(read)-4] + "aaaa", http.StatusUnauthorized, "not one scmadmin made"},
		{"revoked", "Simple " + revoked, http.StatusUnauthorized, "old was revoked"},
	} {
		r := app.callAPI(http.MethodGet, "/test/api/read", tc.auth)
		r.wantEnvelope(t, tc.status, tc.message)
		if got := r.header.Values("WWW-Authenticate"); len(got) == 0 || !strings.HasPrefix(got[0], "Bearer realm=") {
			t.Errorf("%s: WWW-Authenticate = %q", tc.name, got)
		}
	}
	if r := app.callAPI(http.MethodGet, "/test/api/read", "Bearer "+read); r.status != http.StatusOK {
		t.Errorf("a read key on a read route: %d %v", r.status, r.body)
	}
	r := app.callAPI(http.MethodPost, "/test/api/admin", "Bearer "+read)
	r.wantEnvelope(t, http.StatusForbidden, "reader has the scope read; this route needs admin")
	if r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("403 with WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

// A key acts as the admin who made it: once that account is no longer a cluster admin (changed
// here by another process, as `scmadmin user admin NAME --off` would), the key reaches nothing.
func TestAPIKeyOfAFormerAdmin(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	key := app.makeAPIKey("ci-bot", store.ScopeAdmin)
	if r := app.callAPI(http.MethodGet, "/test/api/read", key); r.status != http.StatusOK {
		t.Fatalf("%d %v", r.status, r.body)
	}
	// Another cluster admin first, so that the rule keeping one lets this one go.
	other := app.otherProcess()
	if _, err := other.CreateUser(context.Background(), "second", adminPassword, true, store.Actor{Username: "scmadmin user add"}); err != nil {
		t.Fatal(err)
	}
	token := app.st.ChangeToken()
	if err := other.SetAdmin(context.Background(), adminName, false, store.Actor{Username: "scmadmin user admin"}); err != nil {
		t.Fatal(err)
	}
	app.awaitChange(token)
	app.callAPI(http.MethodGet, "/test/api/read", key).wantEnvelope(t, http.StatusForbidden, "no longer a cluster admin")
}

func TestAPIKeyTooManyBadKeysFromOneAddress(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	now := time.Now()
	app.s.badKeys.now = func() time.Time { return now }
	key := app.makeAPIKey("ci-bot", store.ScopeRead)
	// Requests without a key and with a good one are not failures.
	for range 2 * badKeysAllowed {
		app.callAPI(http.MethodGet, "/test/api/read", "")
		app.callAPI(http.MethodGet, "/test/api/read", key)
	}
	for i := range badKeysAllowed {
		if r := app.callAPI(http.MethodGet, "/test/api/read", "Bearer bad"); r.status != http.StatusUnauthorized {
			t.Fatalf("bad key %d: %d, want 401", i+1, r.status)
		}
	}
	now = now.Add(time.Minute)
	for _, auth := range []string{"Bearer bad", key, ""} {
		r := app.callAPI(http.MethodGet, "/test/api/read", auth)
		r.wantEnvelope(t, http.StatusTooManyRequests, "Too many bad API keys")
		if got, _ := strconv.Atoi(r.header.Get("Retry-After")); got != int((badKeyWindow - time.Minute).Seconds()) {
			t.Errorf("Retry-After = %q, want the rest of the window", r.header.Get("Retry-After"))
		}
	}
	now = now.Add(badKeyWindow)
	if r := app.callAPI(http.MethodGet, "/test/api/read", key); r.status != http.StatusOK {
		t.Errorf("after the window: %d %v", r.status, r.body)
	}
}

func TestAPIKeyLastUsed(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	key := app.makeAPIKey("ci-bot", store.ScopeRead)
	before := time.Now().Add(-time.Second)
	if r := app.callAPI(http.MethodGet, "/test/api/read", "Simple "+key); r.status != http.StatusOK {
		t.Fatalf("%d %v", r.status, r.body)
	}
	keys, err := app.st.ListAPIKeys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt.Before(before) {
		t.Errorf("after a request: %+v, %v", keys, err)
	}
}

func TestFailureWindowsForgetFloods(t *testing.T) {
	f := newFailureWindows(1, time.Minute, nil, "")
	for i := range maxFailureAddrs + 10 {
		f.fail("192.0.2." + strconv.Itoa(i))
	}
	if len(f.addrs) > maxFailureAddrs {
		t.Errorf("%d addresses kept, at most %d allowed", len(f.addrs), maxFailureAddrs)
	}
}
