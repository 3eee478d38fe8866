package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// Algorithm repositories (SPEC "Algorithm repositories and builds"): created on the host
// through the API, listed, shown on the details page, forgotten and purged; every answer is
// checked against the OpenAPI document.

const reposAPI = "/rest/api/1.0/projects/ALGO/repos"

func reposPath(ref string) string { return "/v1/scms/" + ref + "/repositories" }

// repoApp is an app over a Bitbucket Server configuration of provider on the fake host f.
func repoApp(t *testing.T, f *bitbucketHost, provider string) (*testApp, *apiClient, store.SCMConfig) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL, ExtraCAs: f.srv.CAPEM})
	form := f.form(canaryToken)
	form.Set("provider", provider)
	id := addConfig(t, app.adminClient(), form)
	return app, newAPIClient(t, app, adminAPIKey(t, app)), mustConfig(t, app, id)
}

func TestRepositoriesOnBitbucketServer(t *testing.T) {
	for _, provider := range []string{"bitbucket_server", "bitbucket_server_api"} {
		t.Run(provider, func(t *testing.T) {
			f := newBitbucketHost(t, canaryToken)
			app, api, cfg := repoApp(t, f, provider)
			r := api.call(http.MethodPost, reposPath(cfg.Ref), `{"name": "Sentiment-Analysis", "description": "Finds the mood"}`).
				want(http.StatusCreated, 0)
			scm, _ := r.json["scm"].(map[string]any)
			for member, want := range map[string]string{"repository_owner": "ALGO", "repository_name": "sentiment-analysis",
				"repository_https_url": f.srv.URL + "/scm/algo/sentiment-analysis.git",
				"repository_ssh_url":   "ssh://git@127.0.0.1:7999/algo/sentiment-analysis.git", "created_by": "api key tests"} {
				if got := r.str(member); got != want {
					t.Errorf("%s = %q, want %q", member, got, want)
				}
			}
			if scm["id"] != cfg.Ref || scm["provider"] != provider {
				t.Errorf("scm %v", scm)
			}
			checkBitbucketCalls(t, f, provider, openSecrets(t, app, cfg.ID)[store.WebhookSecret], hookBaseURL+"/hooks/scm/"+cfg.Ref)
			if got := f.Repos("ALGO"); !slices.Equal(got, []string{"sentiment-analysis"}) {
				t.Errorf("the project holds %v", got)
			}

			list := api.call(http.MethodGet, reposPath(cfg.Ref), "").want(http.StatusOK, 0)
			if results, _ := list.json["results"].([]any); len(results) != 1 {
				t.Errorf("list %s", list.body)
			}
			c := app.adminClient()
			page := c.get(scmPath(cfg.ID, "")).wantStatus(http.StatusOK)
			if row := page.text(`table#repositories tr[data-repository="sentiment-analysis"]`); !strings.Contains(row, "ALGO/sentiment-analysis") ||
				!strings.Contains(row, f.srv.URL+"/scm/algo/sentiment-analysis.git") {
				t.Errorf("the details page's row %q", row)
			}
			assertNoSecrets(t, app, page)
			act(c, cfg.ID, "disable", scmPath(cfg.ID, ""))
			api.call(http.MethodDelete, "/v1/admin/scms/"+cfg.Ref, "").want(http.StatusConflict, 4043)

			api.call(http.MethodDelete, reposPath(cfg.Ref)+"/sentiment-analysis?purge=true", "").want(http.StatusNoContent, 0)
			if got := f.Repos("ALGO"); len(got) != 0 {
				t.Errorf("after the purge the project holds %v", got)
			}
			api.call(http.MethodDelete, reposPath(cfg.Ref)+"/sentiment-analysis", "").want(http.StatusNotFound, 4010)
			if c.get(scmPath(cfg.ID, "")).has(`tr[data-repository]`) {
				t.Error("the details page still lists the purged repository")
			}
			api.call(http.MethodDelete, "/v1/admin/scms/"+cfg.Ref, "").want(http.StatusNoContent, 0)
			if acts := auditActions(t, app, cfg.ID); !contains(acts, store.ActionCreateRepository) || !contains(acts, store.ActionPurgeRepository) {
				t.Errorf("audit %v", acts)
			}
		})
	}
}

// checkBitbucketCalls checks what scmadmin sent Bitbucket: the token on every call, build-on-
// checkin's project webhook (to hookURL, signed with secret) before the repository.
func checkBitbucketCalls(t *testing.T, f *bitbucketHost, provider, secret, hookURL string) {
	t.Helper()
	var order []string
	for _, call := range f.Calls() {
		if call.Header.Get("Authorization") != "Bearer "+canaryToken {
			t.Errorf("%s %s sent Authorization %q", call.Method, call.Path, call.Header.Get("Authorization"))
		}
		switch {
		case call.Method == http.MethodPost && call.Path == hookAPI:
			var hook struct {
				URL           string            `json:"url"`
				Configuration map[string]string `json:"configuration"`
			}
			if json.Unmarshal(call.Body, &hook); hook.URL != hookURL || hook.Configuration["secret"] != secret || secret == "" {
				t.Errorf("the project webhook %s, want %s signed with the configuration's secret", call.Body, hookURL)
			}
			order = append(order, "webhook")
		case call.Method == http.MethodPost && call.Path == reposAPI:
			var sent map[string]string
			if json.Unmarshal(call.Body, &sent); sent["name"] != "Sentiment-Analysis" || sent["scmId"] != "git" || sent["description"] != "Finds the mood" {
				t.Errorf("the repository asked for: %s", call.Body)
			}
			order = append(order, "repository")
		}
	}
	want := []string{"webhook", "repository"}
	if provider == "bitbucket_server_api" {
		want = want[1:]
	}
	if !slices.Equal(order, want) {
		t.Errorf("scmadmin asked Bitbucket for %v, want %v", order, want)
	}
}

// Every refusal has its status and envelope code, and says why.
func TestRepositoryRefusals(t *testing.T) {
	f := newBitbucketHost(t, canaryToken)
	app, api, cfg := repoApp(t, f, "bitbucket_server_api")
	path := reposPath(cfg.Ref)
	f.AddRepo("ALGO", "taken")
	f.AddToken("dev-token", "developer", false)
	weak := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server_api", WebsiteURL: f.srv.URL, APIURL: f.srv.URL + "/rest/api/1.0",
		SSHURL: "ssh://git@" + f.ssh.Addr(), ProjectKey: "ALGO", Name: "Weak", Enabled: true, UniqueKey: "weak"}, map[string]string{"access_token": "dev-token"})
	down := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server_api", WebsiteURL: "https://127.0.0.1:1", APIURL: "https://127.0.0.1:1/rest/api/1.0",
		SSHURL: "ssh://git@127.0.0.1:1", ProjectKey: "ALGO", Name: "Down", Enabled: true, UniqueKey: "down"}, map[string]string{"access_token": "t"})
	api.call(http.MethodPost, path, `{"name": "first"}`).want(http.StatusCreated, 0)
	for _, tc := range []struct {
		name, path, body string
		status, code     int
		field, says      string
	}{
		{"no name", path, `{"description": "x"}`, 400, 4022, "name", "Give the repository's name"},
		{"a bad name", path, `{"name": "no spaces"}`, 400, 4022, "name", "letters, digits"},
		{"a name ending in .git", path, `{"name": "algo.git"}`, 400, 4022, "name", ".git"},
		{"another project", path, `{"name": "x", "owner": "OTHER"}`, 400, 4022, "owner", "project ALGO"},
		{"an unknown member", path, `{"name": "x", "private": true}`, 400, 4022, "private", "not a member"},
		{"registered already", path, `{"name": "first"}`, 409, 4046, "name", "already"},
		{"taken on the host", path, `{"name": "taken", "owner": "algo"}`, 409, 4046, "name", "already taken"},
		{"no permission", reposPath(weak.Ref), `{"name": "x"}`, 502, 502, "", "Admin permission on project ALGO"},
		{"host unreachable", reposPath(down.Ref), `{"name": "x"}`, 502, 502, "", "did not answer"},
		{"the built-in one", reposPath("internal"), `{"name": "x"}`, 409, 4045, "", "built-in"},
		{"no such configuration", reposPath("nothing"), `{"name": "x"}`, 404, 4009, "", "no configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := api.call(http.MethodPost, tc.path, tc.body).want(tc.status, tc.code)
			said := r.field(tc.field)
			if tc.field == "" {
				said = fmt.Sprint(r.json["error"].(map[string]any)["message"])
			}
			if !strings.Contains(said, tc.says) {
				t.Errorf("said %q, want %q: %s", said, tc.says, r.body)
			}
		})
	}
	api.call(http.MethodDelete, path+"/first?purge=maybe", "").want(http.StatusBadRequest, http.StatusBadRequest)
	api.call(http.MethodDelete, reposPath(weak.Ref)+"/first", "").want(http.StatusNotFound, 4010)
	api.call(http.MethodGet, reposPath("nothing"), "").want(http.StatusNotFound, 4009)
	_, readKey, err := app.st.CreateAPIKey(context.Background(), "reader", store.ScopeRead, adminName, store.Actor{Username: adminName})
	if err != nil {
		t.Fatal(err)
	}
	reader := newAPIClient(t, app, readKey)
	reader.call(http.MethodGet, path, "").want(http.StatusOK, 0)
	reader.call(http.MethodPost, path, `{"name": "x"}`).want(http.StatusForbidden, http.StatusForbidden)
	reader.call(http.MethodDelete, path+"/first", "").want(http.StatusForbidden, http.StatusForbidden)
	api.call(http.MethodPatch, "/v1/admin/scms/"+cfg.Ref, `{"enabled": false}`).want(http.StatusOK, 0)
	if r := api.call(http.MethodPost, path, `{"name": "second"}`).want(http.StatusConflict, http.StatusConflict); !strings.Contains(string(r.body), "disabled") {
		t.Errorf("refused on a disabled configuration: %s", r.body)
	}
	if got := f.Repos("ALGO"); !slices.Equal(got, []string{"taken", "first"}) {
		t.Errorf("the refusals left the project with %v", got)
	}
}

// GitHub, GitHub Enterprise, GitLab and Bitbucket Cloud: the key's admin's connected account
// creates the repository under owner (by default itself), which gets a push webhook to
// scmadmin signed with the configuration's webhook secret.
func TestRepositoriesWithAConnectedAccount(t *testing.T) {
	for _, provider := range []string{"github", "github_enterprise", "gitlab", "bitbucket_cloud"} {
		t.Run(provider, func(t *testing.T) {
			a := newOAuthApp(t, provider)
			h := newHostRepos(a.host)
			path := reposPath(a.cfg.Ref)
			r := a.api.call(http.MethodPost, path, `{"name": "sentiment-analysis"}`).want(http.StatusConflict, http.StatusConflict)
			if !strings.Contains(string(r.body), "Connect your account") {
				t.Errorf("refused without a connected account: %s", r.body)
			}
			a.connect(a.adminClient()).wantRedirect(scmPath(a.cfg.ID, ""))
			token, login := a.host.lastToken(), a.host.login

			r = a.api.call(http.MethodPost, path, `{"name": "sentiment-analysis", "description": "Finds the mood"}`).want(http.StatusCreated, 0)
			if r.str("repository_owner") != login || r.str("repository_name") != "sentiment-analysis" ||
				r.str("repository_https_url") != a.host.web+"/"+login+"/sentiment-analysis.git" ||
				!strings.HasSuffix(r.str("repository_ssh_url"), ":"+login+"/sentiment-analysis.git") {
				t.Errorf("created %s", r.body)
			}
			secret := openSecrets(t, a.testApp, a.cfg.ID)[store.WebhookSecret]
			if !hex64.MatchString(secret) {
				t.Fatalf("the configuration's webhook secret %q: it was not made for the configuration from before", secret)
			}
			checkPushHook(t, a, h, login+"/sentiment-analysis", secret)
			a.host.set(func(*oauthHost) {
				if len(h.bearers) == 0 || slices.ContainsFunc(h.bearers, func(b string) bool { return b != token }) {
					t.Errorf("the repository API was sent the tokens %v, want the connected account's", h.bearers)
				}
			})

			a.api.call(http.MethodPost, path, `{"name": "fraud", "owner": "algo-org"}`).want(http.StatusCreated, 0)
			checkPushHook(t, a, h, "algo-org/fraud", secret)
			a.host.set(func(*oauthHost) { h.repos["algo-org/taken"] = true })
			a.api.call(http.MethodPost, path, `{"name": "taken", "owner": "algo-org"}`).want(http.StatusConflict, 4046)
			r = a.api.call(http.MethodPost, path, `{"name": "x", "owner": "`+readOnlyOrg+`"}`).want(http.StatusBadGateway, http.StatusBadGateway)
			if perm := map[string]string{"gitlab": "api scope", "bitbucket_cloud": "repository:admin scope"}[provider]; !strings.Contains(string(r.body), cmp.Or(perm, "repo scope")) {
				t.Errorf("a refusal for want of permission does not name it: %s", r.body)
			}

			// A repository the host will not give a webhook is deleted again, and not registered.
			a.host.set(func(*oauthHost) { h.refuseHooks = true })
			r = a.api.call(http.MethodPost, path, `{"name": "hookless"}`).want(http.StatusBadGateway, http.StatusBadGateway)
			a.host.set(func(*oauthHost) { h.refuseHooks = false })
			if !strings.Contains(string(r.body), "admin:repo_hook") && !strings.Contains(string(r.body), "webhook scope") &&
				!strings.Contains(string(r.body), "Maintainer") || !strings.Contains(string(r.body), "deleted again") {
				t.Errorf("a refused webhook: %s", r.body)
			}
			if hostHas(a, h, login+"/hookless") {
				t.Error("the repository without its webhook is left on the host")
			}

			list := a.api.call(http.MethodGet, path, "").want(http.StatusOK, 0)
			if results, _ := list.json["results"].([]any); len(results) != 2 {
				t.Errorf("list %s, want sentiment-analysis and fraud", list.body)
			}
			a.host.set(func(*oauthHost) { h.refuseDeletes = true })
			a.api.call(http.MethodDelete, path+"/fraud?purge=true", "").want(http.StatusBadGateway, http.StatusBadGateway)
			a.host.set(func(*oauthHost) { h.refuseDeletes = false })
			a.api.call(http.MethodDelete, path+"/fraud?purge=true", "").want(http.StatusNoContent, 0)
			a.api.call(http.MethodDelete, path+"/sentiment-analysis", "").want(http.StatusNoContent, 0)
			if hostHas(a, h, "algo-org/fraud") || !hostHas(a, h, login+"/sentiment-analysis") {
				t.Error("purge did not delete on the host, or forgetting did")
			}
			if acts := auditActions(t, a.testApp, a.cfg.ID); !contains(acts, store.ActionForgetRepository) || !contains(acts, store.ActionPurgeRepository) {
				t.Errorf("audit %v", acts)
			}
		})
	}
}

// checkPushHook checks repo got one webhook, to the configuration's webhook URL, for pushes,
// with the configuration's secret.
func checkPushHook(t *testing.T, a *oauthApp, h *hostRepos, repo, secret string) {
	t.Helper()
	var hook map[string]any
	a.host.set(func(*oauthHost) { hook = h.hooks[repo] })
	if hook == nil {
		t.Fatalf("%s has no webhook", repo)
	}
	to, sent, pushes := hookSent(a.host.provider, hook)
	if to != a.srv.URL+"/hooks/scm/"+a.cfg.Ref || sent != secret || !pushes {
		t.Errorf("%s's webhook %v, want pushes to %s with the configuration's secret", repo, hook, a.srv.URL+"/hooks/scm/"+a.cfg.Ref)
	}
}

func hostHas(a *oauthApp, h *hostRepos, repo string) bool {
	var has bool
	a.host.set(func(*oauthHost) { has = h.repos[repo] })
	return has
}
