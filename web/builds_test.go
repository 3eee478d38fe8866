package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// Build-via-API (SPEC "Algorithm repositories and builds"): POST /v1/scms/{id}/builds starts a
// build of a Bitbucket Server (build-via-API) configuration's registered repository; every
// answer is checked against the OpenAPI document.

func buildsPath(ref string) string { return "/v1/scms/" + ref + "/builds" }

func buildBody(repo, commit string) string {
	return fmt.Sprintf(`{"repository": %q, "commit": %q}`, repo, commit)
}

// newAPIBuildApp is an app with a build-via-API configuration whose registered repository is
// ALGO/sentiment-analysis, and an admin key's client.
func newAPIBuildApp(t *testing.T) (*testApp, *apiClient, store.SCMConfig) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	id := addConfig(t, app.adminClient(), validForm("bitbucket_server_api"))
	registerRepo(t, app, id, "ALGO", "sentiment-analysis")
	return app, newAPIClient(t, app, adminAPIKey(t, app)), mustConfig(t, app, id)
}

func TestAPIStartBuild(t *testing.T) {
	app, api, cfg := newAPIBuildApp(t)
	commit := strings.Repeat("9C1F4B2E", 5)
	before := time.Now().UTC().Add(-time.Second)
	r := api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", commit)).want(http.StatusAccepted, 0)
	bs := buildsOf(t, app, cfg.ID)
	if len(bs) != 1 {
		t.Fatalf("%d builds after one call, want 1", len(bs))
	}
	b := bs[0]
	for member, want := range map[string]string{"id": strconv.FormatInt(b.ID, 10), "scm_id": cfg.Ref, "repository": "sentiment-analysis",
		"commit": strings.ToLower(commit), "actor": "api key tests", "trigger": "api"} {
		if got := r.str(member); got != want {
			t.Errorf("%s = %q, want %q", member, got, want)
		}
	}
	if at, err := time.Parse(time.RFC3339, r.str("created_at")); err != nil || at.Before(before) || !at.Equal(b.CreatedAt) {
		t.Errorf("created_at %q (%v), want the build's %s", r.str("created_at"), err, b.CreatedAt)
	}
	if b.Trigger != store.TriggerAPI || b.Actor != "api key tests" || b.Commit != strings.ToLower(commit) || b.ProjectKey != "ALGO" {
		t.Errorf("stored build %+v", b)
	}

	// The same commit again (in either case): 200, the same build, nothing new.
	again := api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", strings.ToLower(commit))).want(http.StatusOK, 0)
	if again.str("id") != r.str("id") || again.str("created_at") != r.str("created_at") {
		t.Errorf("second call answered %s, want build %s as it was", again.body, r.str("id"))
	}
	// Another commit: another build.
	other := api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", strings.Repeat("a", 40))).want(http.StatusAccepted, 0)
	if other.str("id") == r.str("id") {
		t.Errorf("another commit answered build %s again", other.str("id"))
	}
	if n := len(buildsOf(t, app, cfg.ID)); n != 2 {
		t.Errorf("%d builds, want 2", n)
	}

	// The details page lists them; the configuration takes no pushes, so it has no webhook.
	page := app.adminClient().get(scmPath(cfg.ID, "")).wantStatus(http.StatusOK)
	if rows := page.doc.Find("section.builds table#builds tbody tr"); rows.Length() != 2 ||
		rows.First().Find("code").AttrOr("title", "") != strings.Repeat("a", 40) || !strings.Contains(rows.Last().Text(), "api key tests") {
		t.Errorf("the details page's builds: %q", page.text("section.builds"))
	}
	if page.has("section.webhook") {
		t.Error("a build-via-API configuration's page has a webhook section")
	}
	if got := page.text("section.builds"); !strings.Contains(got, "POST /v1/scms/"+cfg.Ref+"/builds") {
		t.Errorf("the builds section does not show the call with this configuration's id: %q", got)
	}
	if got := page.text("section.builds #build-hook-pending"); !strings.Contains(got, "SCMADMIN_BUILD_HOOK_URL is not set") {
		t.Errorf("the builds section's build hook: %q, want it said to be off", got)
	}
}

func TestAPIStartBuildRefusals(t *testing.T) {
	app, api, cfg := newAPIBuildApp(t)
	hex40 := strings.Repeat("0123456789", 4)
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"short commit", buildBody("sentiment-analysis", "9c1f4b2"), []string{"commit"}},
		{"long commit", buildBody("sentiment-analysis", hex40+"0"), []string{"commit"}},
		{"commit not hex", buildBody("sentiment-analysis", strings.Repeat("g", 40)), []string{"commit"}},
		{"no commit", `{"repository": "sentiment-analysis"}`, []string{"commit"}},
		{"unregistered repository", buildBody("pushed-not-created", hex40), []string{"repository"}},
		{"no repository", `{"commit": "` + hex40 + `"}`, []string{"repository"}},
		{"repository with a slash", buildBody("ALGO/sentiment-analysis", hex40), []string{"repository"}},
		{"both", buildBody("", "HEAD"), []string{"repository", "commit"}},
		{"unknown member", `{"repository": "sentiment-analysis", "commit": "` + hex40 + `", "branch": "master"}`, []string{"branch"}},
		{"commit not a string", `{"repository": "sentiment-analysis", "commit": 12}`, []string{"commit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := api.call(http.MethodPost, buildsPath(cfg.Ref), tc.body).want(http.StatusBadRequest, 4023)
			for _, f := range tc.fields {
				if r.field(f) == "" {
					t.Errorf("the refusal does not name %s: %s", f, r.body)
				}
			}
		})
	}
	if bs := buildsOf(t, app, cfg.ID); len(bs) != 0 {
		t.Errorf("refused calls recorded builds: %+v", bs)
	}

	// Configurations whose builds start from pushes, or none.
	c := app.adminClient()
	for _, prov := range []string{"bitbucket_server", "github", "gitlab", "bitbucket_cloud"} {
		form := validForm(prov)
		if prov == "bitbucket_server" {
			form.Set("website_url", "https://bitbucket2.example.com")
		}
		id := addConfig(t, c, form)
		registerRepo(t, app, id, "ALGO", "sentiment-analysis")
		r := api.call(http.MethodPost, buildsPath(mustConfig(t, app, id).Ref), buildBody("sentiment-analysis", hex40)).
			want(http.StatusConflict, http.StatusConflict)
		if msg, _ := r.json["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "pushes") {
			t.Errorf("%s: refusal %q does not say builds start from pushes", prov, msg)
		}
		if bs := buildsOf(t, app, id); len(bs) != 0 {
			t.Errorf("%s: builds %+v", prov, bs)
		}
	}
	api.call(http.MethodPost, buildsPath("internal"), buildBody("sentiment-analysis", hex40)).want(http.StatusConflict, http.StatusConflict)
	api.call(http.MethodPost, buildsPath("no-such-one"), buildBody("sentiment-analysis", hex40)).want(http.StatusNotFound, 4009)

	// Disabled: 409 until enabled again.
	act(c, cfg.ID, "disable", "/admin/scm").wantStatus(http.StatusSeeOther)
	r := api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", hex40)).want(http.StatusConflict, http.StatusConflict)
	if msg, _ := r.json["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "disabled") {
		t.Errorf("refusal %q does not say the configuration is disabled", msg)
	}
	act(c, cfg.ID, "enable", "/admin/scm").wantStatus(http.StatusSeeOther)
	api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", hex40)).want(http.StatusAccepted, 0)

	// Forgotten, the repository builds no more.
	api.call(http.MethodDelete, reposPath(cfg.Ref)+"/sentiment-analysis", "").want(http.StatusNoContent, 0)
	api.call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", strings.Repeat("b", 40))).want(http.StatusBadRequest, 4023)
}

// Builds asked for at once: each commit builds once, and every caller gets its build.
func TestAPIStartBuildConcurrently(t *testing.T) {
	app, api, cfg := newAPIBuildApp(t)
	const n = 20
	ids := make([]string, n)
	concurrently(n, func(i int) {
		commit := fmt.Sprintf("%040x", i%4)
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+buildsPath(cfg.Ref), strings.NewReader(buildBody("sentiment-analysis", commit)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+api.key)
		r := api.send(req)
		if r.status != http.StatusAccepted && r.status != http.StatusOK {
			t.Errorf("call %d: %d %s", i, r.status, r.body)
		}
		ids[i] = r.str("id")
	})
	if bs := buildsOf(t, app, cfg.ID); len(bs) != 4 {
		t.Errorf("%d builds of 4 commits, want 4", len(bs))
	}
	for i := range ids {
		if ids[i] == "" || ids[i] != ids[i%4] {
			t.Errorf("call %d answered build %q, the first call of its commit %q", i, ids[i], ids[i%4])
		}
	}
}
