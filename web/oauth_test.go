package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// The OAuth round trip (SPEC "OAuth connections") against fake hosts: each fake is the
// provider's authorize, token, user, organisations and revoke endpoints (and what the
// connection test asks) over TLS on 127.0.0.1, and checks what scmadmin sends them.

// oauthFamily is how a provider's host is laid out: its endpoints and the shape of its answers.
type oauthFamily struct {
	authorize, token string // under the Website URL
	apiPrefix        string // the API URL is the Website URL followed by this
	scopes           string
	basicAuth        bool // the token endpoint takes the client's credentials as basic auth
}

var oauthFamilies = map[string]oauthFamily{
	"github":            {authorize: "/login/oauth/authorize", token: "/login/oauth/access_token", apiPrefix: "/api", scopes: "repo admin:repo_hook read:org"},
	"github_enterprise": {authorize: "/login/oauth/authorize", token: "/login/oauth/access_token", apiPrefix: "/api/v3", scopes: "repo admin:repo_hook read:org"},
	"gitlab":            {authorize: "/oauth/authorize", token: "/oauth/token", apiPrefix: "/api/v4", scopes: "api read_user"},
	"bitbucket_cloud":   {authorize: "/site/oauth2/authorize", token: "/site/oauth2/access_token", apiPrefix: "/2.0", scopes: "repository:admin webhook account", basicAuth: true},
}

// oauthHost is a fake GitHub, GitHub Enterprise, GitLab or Bitbucket Cloud.
type oauthHost struct {
	t        *testing.T
	provider string
	fam      oauthFamily
	srv      *httptest.Server
	ssh      net.Listener
	caPEM    []byte
	web, api string

	mu sync.Mutex
	// The OAuth application registered on the host.
	clientID, secret, callback string
	// Who approves, and the organisations they belong to.
	login string
	orgs  []string
	// deny makes the authorize page answer access_denied; expiresIn is the life of the tokens
	// it gives (GitLab and Bitbucket Cloud; 0 for none); refuseRefresh refuses refresh tokens.
	deny          bool
	expiresIn     int
	refuseRefresh bool

	grants   map[string]oauthGrant // authorization codes given, by code
	used     map[string]bool       // codes exchanged
	tokens   map[string]time.Time  // live access tokens and their expiry (zero: none)
	refresh  map[string]bool       // live refresh tokens
	requests []oauthRequest        // every request, in order
	issued   []string              // access tokens given, in order
	states   map[string]oauthGrant // grants by the state they came back with
	revoked  []string              // access tokens revoked
	extra    *http.ServeMux        // more routes, tried first: repositories_test.go's repository API
}

// oauthGrant is what the authorize page was asked for when it gave a code.
type oauthGrant struct{ redirectURI, challenge, scope, state string }

// oauthRequest is one request the fake saw.
type oauthRequest struct {
	method, path string
	query, form  url.Values
	basicUser    string
	basicPass    string
	basic        bool
	bearer       string
	body         string
}

func newOAuthHost(t *testing.T, provider string) *oauthHost {
	t.Helper()
	fam, ok := oauthFamilies[provider]
	if !ok {
		t.Fatalf("no fake host for %s", provider)
	}
	f := &oauthHost{t: t, provider: provider, fam: fam, clientID: "client-" + provider, secret: "secret-" + provider + "-0123456789",
		login: "octo-" + provider, orgs: []string{"algo-org", "ml-team"},
		grants: map[string]oauthGrant{}, used: map[string]bool{}, tokens: map[string]time.Time{}, refresh: map[string]bool{},
		states: map[string]oauthGrant{}, extra: http.NewServeMux()}
	if provider == "gitlab" || provider == "bitbucket_cloud" {
		f.expiresIn = 7200
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the probe's bare TLS handshakes
	f.srv.StartTLS()
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	f.web, f.api = f.srv.URL, f.srv.URL+fam.apiPrefix
	var err error
	if f.ssh, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := f.ssh.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("SSH-2.0-babeld-2f5c2a1c\r\n"))
			conn.Close()
		}
	}()
	t.Cleanup(func() { f.srv.Close(); f.ssh.Close() })
	return f
}

// set changes the fake under its lock.
func (f *oauthHost) set(change func(f *oauthHost)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// seen returns the requests the fake saw to path (the part after the Website URL) by method.
func (f *oauthHost) seen(method, path string) []oauthRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []oauthRequest
	for _, r := range f.requests {
		if r.method == method && r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// lastToken is the access token the fake gave last.
func (f *oauthHost) lastToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.issued) == 0 {
		return ""
	}
	return f.issued[len(f.issued)-1]
}

func randomText(prefix string) string { return prefix + rand.Text() }

func (f *oauthHost) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *oauthHost) serve(w http.ResponseWriter, r *http.Request) {
	// The API calls left, as GitHub and GitLab tell on their answers.
	w.Header().Set("X-RateLimit-Remaining", "4999")
	w.Header().Set("RateLimit-Remaining", "1999")
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body))) // for the extra routes
	req := oauthRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(), body: string(body)}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		req.form, _ = url.ParseQuery(string(body))
	}
	req.basicUser, req.basicPass, req.basic = r.BasicAuth()
	req.bearer, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if _, pattern := f.extra.Handler(r); pattern != "" {
		f.extra.ServeHTTP(w, r) // which gives the handler the path's values
		return
	}
	api, isAPI := strings.CutPrefix(r.URL.Path, f.fam.apiPrefix)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == f.fam.authorize:
		f.authorizePage(w, r)
	case r.Method == http.MethodPost && r.URL.Path == f.fam.token:
		f.tokenEndpoint(w, r, req)
	case r.Method == http.MethodPost && r.URL.Path == "/oauth/revoke" && f.provider == "gitlab":
		if req.form.Get("client_id") != f.clientID || req.form.Get("client_secret") != f.secret {
			f.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
		delete(f.tokens, req.form.Get("token"))
		f.revoked = append(f.revoked, req.form.Get("token"))
		f.writeJSON(w, http.StatusOK, map[string]string{})
	case isAPI:
		f.apiEndpoint(w, r, api, req)
	default:
		http.NotFound(w, r)
	}
}

// authorizePage is what the browser is sent to: the account approves at once (or denies),
// and the browser goes back to redirect_uri with a code (or the error) and the state.
func (f *oauthHost) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var wrong []string
	for name, want := range map[string]string{"client_id": f.clientID, "response_type": "code", "scope": f.fam.scopes,
		"code_challenge_method": "S256"} {
		if q.Get(name) != want {
			wrong = append(wrong, fmt.Sprintf("%s=%q, want %q", name, q.Get(name), want))
		}
	}
	if q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
		wrong = append(wrong, "no state or no S256 code_challenge")
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Scheme == "" {
		wrong = append(wrong, "redirect_uri "+q.Get("redirect_uri"))
	}
	if len(wrong) > 0 {
		f.t.Errorf("%s authorize page asked wrongly: %s", f.provider, strings.Join(wrong, "; "))
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	answer := url.Values{"state": {q.Get("state")}}
	if f.deny {
		answer.Set("error", "access_denied")
		answer.Set("error_description", "The user has denied your application access.")
	} else {
		code := randomText("code-")
		g := oauthGrant{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), scope: q.Get("scope"), state: q.Get("state")}
		f.grants[code], f.states[q.Get("state")] = g, g
		answer.Set("code", code)
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// tokenRefusal answers a refused token request as the provider does.
func (f *oauthHost) tokenRefusal(w http.ResponseWriter, github, other string, otherStatus int) {
	descriptions := map[string]string{
		"bad_verification_code":        "The code passed is incorrect or expired.",
		"incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
		"redirect_uri_mismatch":        "The redirect_uri MUST match the registered callback URL for this application.",
		"invalid_grant":                "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
		"invalid_client":               "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
	}
	if strings.HasPrefix(f.provider, "github") {
		f.writeJSON(w, http.StatusOK, map[string]string{"error": github, "error_description": descriptions[github],
			"error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
		return
	}
	f.writeJSON(w, otherStatus, map[string]string{"error": other, "error_description": descriptions[other]})
}

func (f *oauthHost) tokenEndpoint(w http.ResponseWriter, r *http.Request, req oauthRequest) {
	if strings.HasPrefix(f.provider, "github") && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		f.t.Errorf("the token request to GitHub does not accept JSON (Accept %q): GitHub would answer in a form", r.Header.Get("Accept"))
	}
	id, secret := req.form.Get("client_id"), req.form.Get("client_secret")
	if f.fam.basicAuth {
		if id != "" || secret != "" {
			f.t.Errorf("%s token request sends the client's credentials in the form, want basic auth", f.provider)
		}
		id, secret = req.basicUser, req.basicPass
	}
	if id != f.clientID || secret != f.secret {
		f.tokenRefusal(w, "incorrect_client_credentials", "invalid_client", http.StatusUnauthorized)
		return
	}
	switch req.form.Get("grant_type") {
	case "authorization_code":
		code := req.form.Get("code")
		g, ok := f.grants[code]
		if !ok || f.used[code] {
			f.tokenRefusal(w, "bad_verification_code", "invalid_grant", http.StatusBadRequest)
			return
		}
		f.used[code] = true
		if req.form.Get("redirect_uri") != g.redirectURI || g.redirectURI != f.callback {
			f.tokenRefusal(w, "redirect_uri_mismatch", "invalid_grant", http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256([]byte(req.form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			f.t.Errorf("%s: code_verifier %q does not match the code_challenge %q", f.provider, req.form.Get("code_verifier"), g.challenge)
			f.tokenRefusal(w, "bad_verification_code", "invalid_grant", http.StatusBadRequest)
			return
		}
		f.giveToken(w)
	case "refresh_token":
		rt := req.form.Get("refresh_token")
		if f.refuseRefresh || !f.refresh[rt] {
			f.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant",
				"error_description": "The provided authorization grant is invalid, expired, revoked."})
			return
		}
		delete(f.refresh, rt) // GitLab and Bitbucket Cloud rotate refresh tokens
		f.giveToken(w)
	case "client_credentials": // Bitbucket Cloud's connection test
		f.writeJSON(w, http.StatusOK, map[string]any{"access_token": randomText("cc-"), "token_type": "bearer", "expires_in": 7200})
	default:
		f.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	}
}

// giveToken answers a token request with a new token, as the provider words it.
func (f *oauthHost) giveToken(w http.ResponseWriter) {
	access := randomText(map[string]string{"github": "gho_", "github_enterprise": "gho_", "gitlab": "glo-", "bitbucket_cloud": "bbc-"}[f.provider])
	f.issued = append(f.issued, access)
	answer := map[string]any{"access_token": access, "token_type": "bearer"}
	var expiry time.Time
	if strings.HasPrefix(f.provider, "github") {
		answer["scope"] = "admin:repo_hook,read:org,repo"
	} else {
		rt := randomText("refresh-")
		f.refresh[rt] = true
		answer["refresh_token"], answer["expires_in"], answer["scope"] = rt, f.expiresIn, f.fam.scopes
		expiry = time.Now().Add(time.Duration(f.expiresIn) * time.Second)
	}
	f.tokens[access] = expiry
	f.writeJSON(w, http.StatusOK, answer)
}

// apiEndpoint serves the API under the API URL: what the round trip reads, what the revoke
// and the connection test call.
func (f *oauthHost) apiEndpoint(w http.ResponseWriter, r *http.Request, path string, req oauthRequest) {
	github := strings.HasPrefix(f.provider, "github")
	grant := "/applications/" + f.clientID + "/grant"
	switch {
	case r.Method == http.MethodGet && path == "/meta" && github:
		f.writeJSON(w, http.StatusOK, map[string]any{"verifiable_password_authentication": false, "hooks": []string{}})
		return
	case r.Method == http.MethodPost && path == "/applications/"+f.clientID+"/token" && github:
		if req.basicUser != f.clientID || req.basicPass != f.secret {
			f.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		f.writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	case r.Method == http.MethodDelete && path == grant && github:
		var b struct {
			AccessToken string `json:"access_token"`
		}
		if req.basicUser != f.clientID || req.basicPass != f.secret {
			f.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		if json.Unmarshal([]byte(req.body), &b) != nil || b.AccessToken == "" {
			f.writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Invalid request"})
			return
		}
		delete(f.tokens, b.AccessToken)
		f.revoked = append(f.revoked, b.AccessToken)
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodGet && path == "/version" && f.provider == "gitlab":
		f.writeJSON(w, http.StatusOK, map[string]string{"version": "17.5.1-ee", "revision": "abc"})
		return
	case r.Method == http.MethodGet && path == "/repositories" && f.provider == "bitbucket_cloud":
		f.writeJSON(w, http.StatusOK, map[string]any{"pagelen": 1, "values": []any{}, "page": 1})
		return
	}
	// The rest needs a live token.
	expiry, live := f.tokens[req.bearer]
	if !live || (!expiry.IsZero() && time.Now().After(expiry)) {
		f.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/user":
		if github {
			f.writeJSON(w, http.StatusOK, map[string]any{"login": f.login, "id": 583231, "type": "User"})
		} else {
			f.writeJSON(w, http.StatusOK, map[string]any{"username": f.login, "id": 42})
		}
	case r.Method == http.MethodGet && path == "/user/orgs" && github:
		var list []map[string]any
		for i, o := range f.orgs {
			list = append(list, map[string]any{"login": o, "id": i + 1})
		}
		f.writeJSON(w, http.StatusOK, list)
	case r.Method == http.MethodGet && path == "/groups" && f.provider == "gitlab":
		if r.URL.Query().Get("min_access_level") != "30" {
			f.t.Errorf("GitLab's groups read with %q, want min_access_level=30", r.URL.RawQuery)
		}
		var list []map[string]any
		for i, o := range f.orgs {
			list = append(list, map[string]any{"id": i + 1, "name": o, "path": o, "full_path": o})
		}
		f.writeJSON(w, http.StatusOK, list)
	case r.Method == http.MethodGet && path == "/workspaces" && f.provider == "bitbucket_cloud":
		var list []map[string]any
		for _, o := range f.orgs {
			list = append(list, map[string]any{"type": "workspace", "slug": o, "name": o})
		}
		f.writeJSON(w, http.StatusOK, map[string]any{"pagelen": 10, "page": 1, "size": len(list), "values": list})
	default:
		http.NotFound(w, r)
	}
}

// oauthApp is an app whose base URL is its own address, with an OAuth configuration of
// provider on a fake host whose certificate it trusts.
type oauthApp struct {
	*testApp
	host *oauthHost
	cfg  store.SCMConfig
	api  *apiClient
}

func newOAuthApp(t *testing.T, provider string) *oauthApp {
	t.Helper()
	f := newOAuthHost(t, provider)
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: f.caPEM})
	app.s.baseURL = app.srv.URL // the callback leads back to this server, as the browser follows it
	f.callback = app.srv.URL + "/v1/scms/oauth/finish"
	cfg := seedConfig(t, app, store.SCMConfig{Provider: provider, Name: "Fake " + provider, WebsiteURL: f.web, APIURL: f.api,
		SSHURL: "ssh://git@" + f.ssh.Addr().String(), ClientID: f.clientID, Enabled: true},
		map[string]string{store.FieldClientSecret: f.secret})
	return &oauthApp{testApp: app, host: f, cfg: cfg, api: newAPIClient(t, app, adminAPIKey(t, app))}
}

// startOAuth is GET /v1/scms/{id}/oauth/start: it returns where the browser is sent.
func (a *oauthApp) start(c *client) *url.URL {
	a.t.Helper()
	r := c.get("/v1/scms/" + a.cfg.Ref + "/oauth/start").wantStatus(http.StatusSeeOther)
	to, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		a.t.Fatal(err)
	}
	return to
}

// authorize is the browser at the host's authorization page: it returns the path (and query)
// of this server the host sends it back to.
func (a *oauthApp) authorize(to *url.URL) string {
	a.t.Helper()
	hc := a.host.srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Get(to.String())
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		a.t.Fatalf("the host's authorize page answered %d", res.StatusCode)
	}
	back, ok := strings.CutPrefix(res.Header.Get("Location"), a.srv.URL)
	if !ok {
		a.t.Fatalf("the host sent the browser to %q, not back to scmadmin", res.Header.Get("Location"))
	}
	return back
}

// connect runs the whole round trip for c and returns the callback's response.
func (a *oauthApp) connect(c *client) *response {
	a.t.Helper()
	return c.get(a.authorize(a.start(c)))
}

// oauthStatus is GET /v1/scms/{id}/oauth/status with c's session, checked against the
// OpenAPI document.
func (a *oauthApp) status(c *client) map[string]any {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/v1/scms/"+a.cfg.Ref+"/oauth/status", nil)
	res, err := c.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	a.api.conforms(req, res, body)
	if res.StatusCode != http.StatusOK {
		a.t.Fatalf("oauth/status with a session answered %d: %s", res.StatusCode, body)
	}
	var answer map[string]any
	if err := json.Unmarshal(body, &answer); err != nil {
		a.t.Fatalf("oauth/status: %v: %s", err, body)
	}
	return answer
}

// wantAuthorized checks a status answer says authorized as login, with orgs.
func wantAuthorized(t *testing.T, answer map[string]any, login string, orgs []string) {
	t.Helper()
	if answer["authorization_status"] != "authorized" || answer["scm_username"] != login {
		t.Errorf("status %v, want authorized as %s", answer, login)
	}
	var got []string
	list, _ := answer["scm_organizations"].([]any)
	for _, o := range list {
		m, _ := o.(map[string]any)
		got = append(got, fmt.Sprint(m["scm_org_username"]))
		if m["access_level"] == "" || m["access_level"] == nil {
			t.Errorf("organisation %v has no access_level", m)
		}
	}
	if !slices.Equal(got, orgs) {
		t.Errorf("scm_organizations %v, want %v", got, orgs)
	}
}

// metaCSRF is the CSRF token a page at path carries in <meta name="csrf-token">.
func metaCSRF(c *client, path string) string {
	c.t.Helper()
	token, _ := c.get(path).doc.Find(`meta[name="csrf-token"]`).Attr("content")
	if token == "" {
		c.t.Fatalf("%s has no meta csrf-token", path)
	}
	return token
}

// oauthStepOf is the oauth step of a connection test's checklist: its status and detail.
func oauthStepOf(t *testing.T, r *response) (status, detail string) {
	t.Helper()
	li := r.doc.Find(`ol#connection-test li[data-step="oauth"]`)
	if li.Length() != 1 {
		t.Fatalf("%d oauth steps in the connection test:\n%s", li.Length(), r.body)
	}
	return li.AttrOr("data-status", ""), strings.Join(strings.Fields(li.Find(".step-detail").Text()), " ")
}

// testConnection runs the connection test of the configuration from its page.
func (a *oauthApp) testConnection(c *client) *response {
	a.t.Helper()
	return c.submit(scmPath(a.cfg.ID, ""), scmPath(a.cfg.ID, "test"), nil).wantStatus(http.StatusOK)
}

// connections counts the accounts connected through the configuration.
func (a *oauthApp) connections() int {
	a.t.Helper()
	n, err := a.st.CountOAuthConnections(context.Background(), a.cfg.ID)
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

// refused checks a callback's answer is a 400 page saying want.
func refused(t *testing.T, r *response, want string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400; body:\n%s", r.status, r.body)
	}
	if got := r.text("[role=alert]"); !strings.Contains(got, want) {
		t.Errorf("the page says %q, want it to say %q", got, want)
	}
}

func TestOAuthRoundTrip(t *testing.T) {
	for _, provider := range []string{"github", "github_enterprise", "gitlab", "bitbucket_cloud"} {
		t.Run(provider, func(t *testing.T) {
			a := newOAuthApp(t, provider)
			f := a.host
			c := a.adminClient()

			// Before any round trip the oauth step says how to prove it.
			if st, detail := oauthStepOf(t, a.testConnection(c)); st != "skipped" || !strings.Contains(detail, "Connect your account") {
				t.Errorf("oauth step before any round trip: %s %q, want skipped saying how", st, detail)
			}
			details := c.get(scmPath(a.cfg.ID, "")).wantStatus(http.StatusOK)
			if got := details.text("#callback-url"); got != a.srv.URL+"/v1/scms/oauth/finish" {
				t.Errorf("#callback-url %q", got)
			}
			if href := details.doc.Find("#oauth-connect").AttrOr("href", ""); href != "/v1/scms/"+a.cfg.Ref+"/oauth/start" {
				t.Errorf("#oauth-connect goes to %q", href)
			}

			// Start: 303 to the host's authorization page with every parameter.
			to := a.start(c)
			if got := to.Scheme + "://" + to.Host + to.Path; got != f.web+f.fam.authorize {
				t.Errorf("start sends the browser to %s, want %s", got, f.web+f.fam.authorize)
			}
			q := to.Query()
			for name, want := range map[string]string{"client_id": f.clientID, "redirect_uri": a.srv.URL + "/v1/scms/oauth/finish",
				"response_type": "code", "scope": f.fam.scopes, "code_challenge_method": "S256"} {
				if q.Get(name) != want {
					t.Errorf("authorize %s = %q, want %q", name, q.Get(name), want)
				}
			}
			if len(q.Get("state")) < 32 || q.Get("code_challenge") == "" {
				t.Errorf("authorize state %q, code_challenge %q", q.Get("state"), q.Get("code_challenge"))
			}
			if other := a.start(c).Query().Get("state"); other == q.Get("state") {
				t.Error("two round trips have the same state")
			}

			// The host approves; the callback exchanges the code and sends the admin back.
			c.get(a.authorize(to)).wantRedirect(scmPath(a.cfg.ID, ""))
			token := f.lastToken()
			var exchanges []oauthRequest
			for _, r := range f.seen(http.MethodPost, f.fam.token) {
				if r.form.Get("grant_type") != "client_credentials" { // Bitbucket Cloud's connection test
					exchanges = append(exchanges, r)
				}
			}
			if len(exchanges) != 1 {
				t.Fatalf("%d token requests, want 1", len(exchanges))
			}
			ex := exchanges[0]
			if ex.form.Get("grant_type") != "authorization_code" || ex.form.Get("redirect_uri") != a.srv.URL+"/v1/scms/oauth/finish" {
				t.Errorf("token request %v", ex.form)
			}
			if f.fam.basicAuth {
				if ex.basicUser != f.clientID || ex.basicPass != f.secret {
					t.Errorf("token request's basic auth %q:%q", ex.basicUser, ex.basicPass)
				}
			} else if ex.form.Get("client_id") != f.clientID || ex.form.Get("client_secret") != f.secret {
				t.Errorf("token request's client credentials %q:%q", ex.form.Get("client_id"), ex.form.Get("client_secret"))
			}
			for _, path := range []string{f.fam.apiPrefix + "/user"} {
				if reqs := f.seen(http.MethodGet, path); len(reqs) != 1 || reqs[0].bearer != token {
					t.Errorf("GET %s: %d requests, want 1 with the new token", path, len(reqs))
				}
			}

			// The page shows the account, its organisations, Disconnect and the callback URL.
			page := c.get(scmPath(a.cfg.ID, "")).wantStatus(http.StatusOK)
			if got := page.text("[role=status]"); !strings.Contains(got, "Connected as "+f.login) {
				t.Errorf("status message %q", got)
			}
			if got := page.text("#oauth-account"); !strings.Contains(got, f.login) {
				t.Errorf("#oauth-account %q", got)
			}
			for _, o := range f.orgs {
				if !page.has(fmt.Sprintf(`#oauth li[data-org=%q]`, o)) {
					t.Errorf("the page does not list the organisation %s", o)
				}
			}
			if page.has("#oauth-connect") || !strings.Contains(page.text(`#oauth form[action="/v1/scms/`+a.cfg.Ref+`/oauth/revoke"] button`), "Disconnect") {
				t.Error("the page of a connected account offers no Disconnect (or still offers Connect)")
			}
			if got := page.text("#callback-url"); got != a.srv.URL+"/v1/scms/oauth/finish" {
				t.Errorf("#callback-url %q after connecting", got)
			}
			if got := page.text("#oauth"); !strings.Contains(got, "1 account connected in all.") {
				t.Errorf("#oauth does not count the one account in plain words: %q", got)
			}
			if strings.Contains(page.body, token) {
				t.Error("the page shows the token")
			}

			// Status, with the session and with an API key.
			wantAuthorized(t, a.status(c), f.login, f.orgs)
			viaKey := a.api.call(http.MethodGet, "/v1/scms/"+a.cfg.Ref+"/oauth/status", "").want(http.StatusOK, 0)
			wantAuthorized(t, viaKey.json, f.login, f.orgs)

			// Sealed: the token is nowhere in the database's bytes (nor the log).
			assertNotStored(t, a.testApp, "OAuth token", token)
			if !contains(auditActions(t, a.testApp, a.cfg.ID), store.ActionOAuthConnect) {
				t.Errorf("audit %v lacks %s", auditActions(t, a.testApp, a.cfg.ID), store.ActionOAuthConnect)
			}

			// The connection test names the account.
			if st, detail := oauthStepOf(t, a.testConnection(c)); st != "passed" || !strings.Contains(detail, f.login) {
				t.Errorf("oauth step after the round trip: %s %q, want passed naming %s", st, detail, f.login)
			}
		})
	}
}

// Every way a round trip fails is a 400 that says which, in plain words; none is a 5xx.
func TestOAuthFailuresInPlainWords(t *testing.T) {
	a := newOAuthApp(t, "github")
	f := a.host
	c := a.adminClient()
	finish := "/v1/scms/oauth/finish"

	t.Run("missing state", func(t *testing.T) {
		refused(t, c.get(finish+"?code=abc"), "has no state")
	})
	t.Run("unknown state", func(t *testing.T) {
		refused(t, c.get(finish+"?code=abc&state=made-up"), "unknown or was used already")
	})
	t.Run("reused state", func(t *testing.T) {
		back := a.authorize(a.start(c))
		c.get(back).wantRedirect(scmPath(a.cfg.ID, ""))
		refused(t, c.get(back), "used already")
	})
	t.Run("expired state", func(t *testing.T) {
		back := a.authorize(a.start(c))
		ageOAuthStates(t, a.testApp, 11*time.Minute)
		refused(t, c.get(back), "more than 10 minutes ago")
	})
	t.Run("expired state after another round trip started", func(t *testing.T) {
		back := a.authorize(a.start(c))
		ageOAuthStates(t, a.testApp, 11*time.Minute)
		a.start(c) // another start sweeps old states out
		refused(t, c.get(back), "more than 10 minutes ago")
	})
	t.Run("state of another session", func(t *testing.T) {
		back := a.authorize(a.start(c))
		other := a.adminClient() // the same account, signed in elsewhere
		refused(t, other.get(back), "another session")
	})
	t.Run("state of another configuration's address", func(t *testing.T) {
		back := a.authorize(a.start(c))
		refused(t, c.get(strings.Replace(back, "/v1/scms/oauth/finish", "/v1/scms/internal/oauth/finish", 1)), "another configuration")
	})
	t.Run("the configuration's own address", func(t *testing.T) {
		back := a.authorize(a.start(c))
		c.get(strings.Replace(back, "/v1/scms/oauth/finish", "/v1/scms/"+a.cfg.Ref+"/oauth/finish", 1)).
			wantRedirect(scmPath(a.cfg.ID, ""))
	})
	t.Run("access denied by the user", func(t *testing.T) {
		f.set(func(f *oauthHost) { f.deny = true })
		defer f.set(func(f *oauthHost) { f.deny = false })
		refused(t, c.get(a.authorize(a.start(c))), "Access was denied on the host")
	})
	t.Run("the host says the redirect URI does not match", func(t *testing.T) {
		f.set(func(f *oauthHost) { f.callback = "https://elsewhere.example.com/callback" })
		defer f.set(func(f *oauthHost) { f.callback = a.srv.URL + "/v1/scms/oauth/finish" })
		r := c.get(a.authorize(a.start(c)))
		refused(t, r, "Register exactly the callback URL")
		if !strings.Contains(r.text("[role=alert]"), "redirect_uri_mismatch") {
			t.Errorf("the page does not quote the host: %q", r.text("[role=alert]"))
		}
		// The connection test's oauth step fails with the host's words.
		if st, detail := oauthStepOf(t, a.testConnection(c)); st != "failed" || !strings.Contains(detail, "redirect_uri_mismatch") {
			t.Errorf("oauth step after a failed round trip: %s %q, want failed with the host's words", st, detail)
		}
	})
	t.Run("the host sends back redirect_uri_mismatch", func(t *testing.T) {
		// GitHub sends the browser back with the error when the redirect_uri is not registered.
		a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
		if st, _ := oauthStepOf(t, a.testConnection(c)); st != "passed" {
			t.Fatalf("oauth step %s after a round trip", st)
		}
		to := a.start(c)
		r := c.get(finish + "?" + url.Values{"state": {to.Query().Get("state")}, "error": {"redirect_uri_mismatch"},
			"error_description": {"The redirect_uri MUST match the registered callback URL for this application."}}.Encode())
		refused(t, r, "Register exactly the callback URL")
		if st, detail := oauthStepOf(t, a.testConnection(c)); st != "failed" || !strings.Contains(detail, "redirect_uri_mismatch") {
			t.Errorf("oauth step after the host refused the redirect_uri: %s %q, want failed with the host's words", st, detail)
		}
	})
	t.Run("the host names no account", func(t *testing.T) {
		f.set(func(f *oauthHost) { f.login = "" })
		defer f.set(func(f *oauthHost) { f.login = "octo-github" })
		refused(t, c.get(a.authorize(a.start(c))), "names no account")
	})
	t.Run("bad client secret", func(t *testing.T) {
		f.set(func(f *oauthHost) { f.secret = "rotated-on-the-host" })
		defer f.set(func(f *oauthHost) { f.secret = "secret-github-0123456789" })
		refused(t, c.get(a.authorize(a.start(c))), "refused the client ID or secret")
	})
	t.Run("the code already used", func(t *testing.T) {
		first := a.authorize(a.start(c))
		c.get(first).wantRedirect(scmPath(a.cfg.ID, ""))
		code := mustQuery(t, first).Get("code")
		second := mustQuery(t, a.authorize(a.start(c)))
		r := c.get(finish + "?" + url.Values{"code": {code}, "state": {second.Get("state")}}.Encode())
		refused(t, r, "already used or has expired")
	})
	t.Run("a non-admin account", func(t *testing.T) {
		if _, err := a.st.CreateUser(context.Background(), "developer", "developer password 1", false, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		dev := a.client()
		dev.login("developer", "developer password 1").wantStatus(http.StatusSeeOther)
		r := a.connect(dev).wantStatus(http.StatusOK)
		if got := r.text("h1"); got != "Account connected" {
			t.Errorf("h1 %q", got)
		}
		if got := r.text("[role=status]"); !strings.Contains(got, "Connected as "+f.login) {
			t.Errorf("status %q", got)
		}
		wantAuthorized(t, a.status(dev), f.login, f.orgs)
	})
	t.Run("not an OAuth configuration", func(t *testing.T) {
		r := c.get("/v1/scms/internal/oauth/start")
		if r.status != http.StatusConflict || !strings.Contains(r.text("[role=alert]"), "no OAuth application") {
			t.Errorf("start through the built-in configuration: %d %s", r.status, r.body)
		}
		a.api.call(http.MethodGet, "/v1/scms/internal/oauth/status", "").want(http.StatusConflict, http.StatusConflict)
		a.api.call(http.MethodGet, "/v1/scms/nothing/oauth/status", "").want(http.StatusNotFound, 4009)
	})

	t.Run("the host unreachable", func(t *testing.T) {
		down := newOAuthApp(t, "gitlab")
		dc := down.adminClient()
		back := down.authorize(down.start(dc))
		down.host.srv.Close()
		r := dc.get(back)
		refused(t, r, "did not answer")
		if st, _ := oauthStepOf(t, down.testConnection(dc)); st == "passed" {
			t.Error("the oauth step passed with the host down")
		}
	})
}

func mustQuery(t *testing.T, pathAndQuery string) url.Values {
	t.Helper()
	u, err := url.Parse(pathAndQuery)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// ageOAuthStates makes every round trip under way look started age ago.
func ageOAuthStates(t *testing.T, app *testApp, age time.Duration) {
	t.Helper()
	if _, err := app.rawDB().Exec(`UPDATE oauth_states SET created_at = $1`, dbTime(time.Now().Add(-age))); err != nil {
		t.Fatal(err)
	}
}

// GitLab's and Bitbucket Cloud's tokens expire: an expired one is refreshed once, and a
// refused refresh says the account must connect again.
func TestOAuthRefresh(t *testing.T) {
	for _, provider := range []string{"gitlab", "bitbucket_cloud"} {
		t.Run(provider, func(t *testing.T) {
			a := newOAuthApp(t, provider)
			f := a.host
			c := a.adminClient()
			f.set(func(f *oauthHost) { f.expiresIn = 30 }) // within the minute scmadmin keeps in hand
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			first := f.lastToken()
			f.set(func(f *oauthHost) { f.expiresIn = 7200 })

			wantAuthorized(t, a.status(c), f.login, f.orgs)
			refreshes := func() int {
				n := 0
				for _, r := range f.seen(http.MethodPost, f.fam.token) {
					if r.form.Get("grant_type") == "refresh_token" {
						n++
						if f.fam.basicAuth && r.basicUser != f.clientID || !f.fam.basicAuth && r.form.Get("client_secret") != f.secret {
							t.Errorf("the refresh does not authenticate the client: %+v", r)
						}
					}
				}
				return n
			}
			if n := refreshes(); n != 1 {
				t.Fatalf("%d refreshes, want 1", n)
			}
			fresh := f.lastToken()
			if fresh == first {
				t.Fatal("no new token")
			}
			conn, err := a.st.OAuthConnectionOf(context.Background(), 1, a.cfg.ID)
			if err != nil || !strings.Contains(conn.Token, fresh) {
				t.Errorf("the refreshed token is not the one kept (%v)", err)
			}
			assertNotStored(t, a.testApp, "refreshed token", fresh)
			// The new token lasts: no second refresh.
			wantAuthorized(t, a.api.call(http.MethodGet, "/v1/scms/"+a.cfg.Ref+"/oauth/status", "").want(http.StatusOK, 0).json, f.login, f.orgs)
			if n := refreshes(); n != 1 {
				t.Errorf("%d refreshes after a second status, want still 1", n)
			}

			// A refused refresh: unauthorized, saying to connect again.
			f.set(func(f *oauthHost) { f.expiresIn = 30 })
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			f.set(func(f *oauthHost) { f.refuseRefresh = true })
			answer := a.status(c)
			if answer["authorization_status"] != "unauthorized" {
				t.Errorf("status after a refused refresh %v, want unauthorized", answer)
			}
			if msg, _ := answer["message"].(string); !strings.Contains(msg, "would not renew it") ||
				!strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "Connect the account again") ||
				strings.Contains(msg, "authorization code") {
				t.Errorf("status after a refused refresh says %q, want the host's words and what to do", msg)
			}
			if n := refreshes(); n != 2 {
				t.Errorf("%d refreshes, want 2", n)
			}
		})
	}
}

// Disconnect revokes the token at the host where it offers that, and forgets it always.
func TestOAuthRevoke(t *testing.T) {
	for _, provider := range []string{"github", "gitlab", "bitbucket_cloud"} {
		t.Run(provider, func(t *testing.T) {
			a := newOAuthApp(t, provider)
			f := a.host
			c := a.adminClient()
			revokePath := "/v1/scms/" + a.cfg.Ref + "/oauth/revoke"

			// With the session and the page's CSRF token in X-CSRF-Token: 204.
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			token := f.lastToken()
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+revokePath, nil)
			req.Header.Set("X-CSRF-Token", metaCSRF(c, scmPath(a.cfg.ID, "")))
			c.do(req).wantStatus(http.StatusNoContent)
			switch provider {
			case "github":
				grants := f.seen(http.MethodDelete, f.fam.apiPrefix+"/applications/"+f.clientID+"/grant")
				if len(grants) != 1 || grants[0].basicUser != f.clientID || grants[0].basicPass != f.secret ||
					!strings.Contains(grants[0].body, token) {
					t.Errorf("GitHub saw %+v, want one DELETE of the grant with basic auth and the token", grants)
				}
			case "gitlab":
				revokes := f.seen(http.MethodPost, "/oauth/revoke")
				if len(revokes) != 1 || revokes[0].form.Get("token") != token || revokes[0].form.Get("client_id") != f.clientID {
					t.Errorf("GitLab saw %+v, want one POST /oauth/revoke of the token", revokes)
				}
			}
			if a.connections() != 0 {
				t.Error("the connection is still kept")
			}
			if a.status(c)["authorization_status"] != "unauthorized" {
				t.Error("status still authorized")
			}
			if !contains(auditActions(t, a.testApp, a.cfg.ID), store.ActionOAuthDisconnect) {
				t.Errorf("audit %v lacks %s", auditActions(t, a.testApp, a.cfg.ID), store.ActionOAuthDisconnect)
			}
			// Without the CSRF token: refused.
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			c.post(revokePath, nil).wantStatus(http.StatusForbidden)
			if a.connections() != 1 {
				t.Error("a revoke without the CSRF token was obeyed")
			}

			// The page's form: 303 back to it.
			page := c.get(scmPath(a.cfg.ID, ""))
			form := page.doc.Find(`#oauth form[action="` + revokePath + `"]`)
			next, _ := form.Find(`input[name="next"]`).Attr("value")
			c.submit(scmPath(a.cfg.ID, ""), revokePath, url.Values{"next": {next}}).wantRedirect(scmPath(a.cfg.ID, ""))
			after := c.get(scmPath(a.cfg.ID, ""))
			if !after.has("#oauth-connect") || after.has("#oauth-account") || !strings.Contains(after.text("[role=status]"), "Disconnected") {
				t.Errorf("after Disconnect the page shows:\n%s", after.text("#oauth"))
			}

			// With an API key: 204.
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			a.api.call(http.MethodPost, revokePath, "").want(http.StatusNoContent, 0)
			if a.connections() != 0 {
				t.Error("the connection is kept after the API's revoke")
			}
			a.api.call(http.MethodPost, revokePath, "").want(http.StatusNoContent, 0) // twice is no error

			// The host down: the token is forgotten all the same.
			a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
			f.srv.Close()
			req, _ = http.NewRequest(http.MethodPost, a.srv.URL+revokePath, nil)
			req.Header.Set("X-CSRF-Token", metaCSRF(c, scmPath(a.cfg.ID, "")))
			c.do(req).wantStatus(http.StatusNoContent)
			if a.connections() != 0 {
				t.Error("the connection is kept when the host is down")
			}
		})
	}
}

// A new client id or secret forgets the tokens given to the old one, and the oauth step asks
// for a new round trip; deleting the configuration forgets them too.
func TestOAuthForgottenWithTheClient(t *testing.T) {
	a := newOAuthApp(t, "github")
	f := a.host
	c := a.adminClient()
	connected := func() {
		t.Helper()
		a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
		if st, _ := oauthStepOf(t, a.testConnection(c)); st != "passed" {
			t.Fatalf("oauth step %s after connecting", st)
		}
	}
	edit := func(field, value string) {
		t.Helper()
		form := editForm(t, c.get(scmPath(a.cfg.ID, "edit")))
		form.Set(field, value)
		c.post(scmPath(a.cfg.ID, ""), form).wantRedirect(scmPath(a.cfg.ID, ""))
	}

	connected()
	edit("name", "Renamed") // no new client: kept
	if a.connections() != 1 {
		t.Error("renaming forgot the connection")
	}

	f.set(func(f *oauthHost) { f.secret = "a-new-secret-0123456789" })
	edit("client_secret", "a-new-secret-0123456789")
	if a.connections() != 0 {
		t.Error("a new client secret kept the connection")
	}
	if st, detail := oauthStepOf(t, a.testConnection(c)); st != "skipped" || !strings.Contains(detail, "Connect your account") {
		t.Errorf("oauth step after a new secret: %s %q, want skipped", st, detail)
	}
	if a.status(c)["authorization_status"] != "unauthorized" {
		t.Error("status authorized after a new secret")
	}

	connected()
	f.set(func(f *oauthHost) { f.clientID = "client-github-2" })
	edit("client_id", "client-github-2")
	a.cfg = mustConfig(t, a.testApp, a.cfg.ID)
	if a.connections() != 0 {
		t.Error("a new client id kept the connection")
	}
	if st, _ := oauthStepOf(t, a.testConnection(c)); st != "skipped" {
		t.Errorf("oauth step after a new client id: %s, want skipped", st)
	}

	// Another host: the tokens were given to the old one and must never reach the new one.
	connected()
	edit("api_url", a.cfg.APIURL+"/moved")
	if a.connections() != 0 {
		t.Error("moving to another API URL kept the connection: its token could be sent to another host")
	}
	edit("api_url", a.cfg.APIURL)

	// Deleting: the confirmation says how many are connected, and they go with it.
	connected()
	if _, err := a.st.CreateUser(context.Background(), "developer", "developer password 1", false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	dev := a.client()
	dev.login("developer", "developer password 1").wantStatus(http.StatusSeeOther)
	a.connect(dev).wantStatus(http.StatusOK)
	c.submit(scmPath(a.cfg.ID, ""), scmPath(a.cfg.ID, "disable"), url.Values{"next": {scmPath(a.cfg.ID, "")}}).wantStatus(http.StatusSeeOther)
	confirm := c.get(scmPath(a.cfg.ID, "delete")).wantStatus(http.StatusOK)
	if got := confirm.text("#delete-connected"); !strings.Contains(got, "2 accounts") {
		t.Errorf("#delete-connected %q, want 2 accounts", got)
	}
	c.submit(scmPath(a.cfg.ID, "delete"), scmPath(a.cfg.ID, "delete"), url.Values{"next": {"/admin/scm"}}).wantRedirect("/admin/scm")
	if conns, err := a.st.OAuthConnectionsOf(context.Background(), 1); err != nil || len(conns) != 0 {
		t.Errorf("after the delete the admin's connections are %v (%v)", conns, err)
	}
	if a.connections() != 0 {
		t.Error("tokens of a deleted configuration are kept")
	}
}

// The account page lists the account's connections, each with a Disconnect that works.
func TestOAuthAccountPage(t *testing.T) {
	a := newOAuthApp(t, "gitlab")
	if _, err := a.st.CreateUser(context.Background(), "developer", "developer password 1", false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	dev := a.client()
	dev.login("developer", "developer password 1").wantStatus(http.StatusSeeOther)
	if r := dev.get("/account").wantStatus(http.StatusOK); r.has("table#connections") {
		t.Error("an account with no connection lists some")
	}
	a.connect(dev).wantStatus(http.StatusOK)
	r := dev.get("/account").wantStatus(http.StatusOK)
	row := r.doc.Find(`table#connections tr[data-scm-id="` + a.cfg.Ref + `"]`)
	if row.Length() != 1 {
		t.Fatalf("table#connections has no row of %s:\n%s", a.cfg.Ref, r.body)
	}
	if text := row.Text(); !strings.Contains(text, a.host.login) || !strings.Contains(text, "Fake gitlab") {
		t.Errorf("row %q", strings.Join(strings.Fields(text), " "))
	}
	form := row.Find("form")
	action, _ := form.Attr("action")
	next, _ := form.Find(`input[name="next"]`).Attr("value")
	dev.submit("/account", action, url.Values{"next": {next}}).wantRedirect("/account")
	after := dev.get("/account").wantStatus(http.StatusOK)
	if after.has("table#connections") || !strings.Contains(after.text("[role=status]"), "Disconnected") {
		t.Errorf("after Disconnect the account page shows:\n%s", after.body)
	}
	if len(a.host.seen(http.MethodPost, "/oauth/revoke")) != 1 {
		t.Error("GitLab saw no revoke")
	}
	// The admin's connections are not the developer's.
	if r := a.adminClient().get("/account").wantStatus(http.StatusOK); r.has("table#connections") {
		t.Error("the admin's account page lists the developer's connection")
	}
}

// Requests that find the token expired at once refresh it once: hosts rotate refresh tokens,
// so a second refresh with the same one would be refused and say unauthorized.
func TestOAuthConcurrentRefresh(t *testing.T) {
	a := newOAuthApp(t, "gitlab")
	f := a.host
	c := a.adminClient()
	f.set(func(f *oauthHost) { f.expiresIn = 30 })
	a.connect(c).wantRedirect(scmPath(a.cfg.ID, ""))
	f.set(func(f *oauthHost) { f.expiresIn = 7200 })
	var wg sync.WaitGroup
	answers := make([]*apiAnswer, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = a.api.call(http.MethodGet, "/v1/scms/"+a.cfg.Ref+"/oauth/status", "")
		}()
	}
	wg.Wait()
	for i, ans := range answers {
		if ans.status != http.StatusOK || ans.str("authorization_status") != "authorized" {
			t.Errorf("status %d answered %d %s, want authorized", i, ans.status, ans.body)
		}
	}
	n := 0
	for _, r := range f.seen(http.MethodPost, f.fam.token) {
		if r.form.Get("grant_type") == "refresh_token" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}
