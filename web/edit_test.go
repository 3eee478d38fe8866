package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

func secretsOf(t *testing.T, app *testApp, id int64) map[string]store.SecretInfo {
	t.Helper()
	s, err := app.st.SCMSecrets(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEditPageShowsCurrentValues(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := bbForm("bitbucket.example.com", "algo")
	form.Set("name", "Team Bitbucket")
	id := addConfig(t, c, form)

	r := c.get(scmPath(id, "edit")).wantStatus(http.StatusOK)
	for name, want := range map[string]string{
		"name":        "Team Bitbucket",
		"website_url": "https://bitbucket.example.com",
		"api_url":     "https://bitbucket.example.com/rest/api/1.0",
		"ssh_url":     "ssh://git@bitbucket.example.com:7999",
		"project_key": "ALGO",
	} {
		if v, _ := r.doc.Find(fmt.Sprintf(`#scm-form input[name=%q]`, name)).Attr("value"); v != want {
			t.Errorf("%s shows %q, want %q", name, v, want)
		}
	}
	if r.has("select[name=provider]") {
		t.Error("the provider can be chosen on the edit page")
	}
	if !strings.Contains(r.text("main"), "Bitbucket Server (build-on-checkin)") {
		t.Error("the provider is not shown")
	}
	key := r.doc.Find(`#scm-form input[name=project_key]`)
	if _, ro := key.Attr("readonly"); !ro {
		t.Error("project key is not read-only")
	}
	if help := r.text("#project_key-help"); !strings.Contains(help, "cannot change") {
		t.Errorf("project key help %q", help)
	}
	token := r.doc.Find(`#scm-form input[name=access_token]`)
	if typ, _ := token.Attr("type"); typ != "password" {
		t.Errorf("access_token type %q", typ)
	}
	if v, _ := token.Attr("value"); v != "" {
		t.Error("access_token rendered with a value")
	}
	if _, req := token.Attr("required"); req {
		t.Error("the secret is required on edit")
	}
	help := r.text("#access_token-help")
	fp := store.Fingerprint(canaryToken)
	if !strings.Contains(help, "Set on ") || !strings.Contains(help, "fingerprint "+fp) {
		t.Errorf("secret help %q, want “Set on …, fingerprint %s”", help, fp)
	}
	setAt := secretsOf(t, app, id)["access_token"].SetAt.UTC().Format("2006-01-02 15:04")
	if !strings.Contains(help, setAt) {
		t.Errorf("secret help %q lacks when it was set (%s)", help, setAt)
	}
	if action, _ := r.doc.Find("#scm-form").Attr("action"); action != scmPath(id, "") {
		t.Errorf("form posts to %q", action)
	}
	if got := r.text("#scm-form button[type=submit]"); got != "Save changes" {
		t.Errorf("button %q", got)
	}
	if title := r.text("title"); !strings.Contains(title, "Edit") || !strings.Contains(title, "Team Bitbucket") {
		t.Errorf("title %q", title)
	}
	assertNoSecrets(t, app, r)

	// OAuth: the client id is editable, the secret shown as set.
	gh := addConfig(t, c, validForm("github"))
	r = c.get(scmPath(gh, "edit")).wantStatus(http.StatusOK)
	if v, _ := r.doc.Find(`#scm-form input[name=client_id]`).Attr("value"); v != "client-github" {
		t.Errorf("client_id shows %q", v)
	}
	if _, ro := r.doc.Find(`#scm-form input[name=client_id]`).Attr("readonly"); ro {
		t.Error("client_id is read-only")
	}
	if help := r.text("#client_secret-help"); !strings.Contains(help, "fingerprint "+store.Fingerprint(canarySecret)) {
		t.Errorf("client secret help %q", help)
	}
	if r.has("#scm-form input[name=project_key]") {
		t.Error("GitHub edit form has a project key")
	}
	assertNoSecrets(t, app, r)

	c.get("/admin/scm/999/edit").wantStatus(http.StatusNotFound)
	c.get("/admin/scm/abc/edit").wantStatus(http.StatusNotFound)
}

func TestEditKeepsOrReplacesTheSecret(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	before := secretsOf(t, app, id)["access_token"]
	time.Sleep(5 * time.Millisecond) // a rewrite would get a later SetAt

	// Left empty: kept.
	page := c.get(scmPath(id, "edit")).wantStatus(http.StatusOK)
	f := editForm(t, page)
	f.Set("name", "Renamed")
	f.Set("api_url", "https://bitbucket.example.com/bitbucket/rest/api/1.0")
	if f.Get("access_token") != "" {
		t.Fatal("edit form carries the secret")
	}
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
	after := secretsOf(t, app, id)["access_token"]
	if after.Fingerprint != before.Fingerprint || !after.SetAt.Equal(before.SetAt) {
		t.Errorf("an empty secret field changed the secret: %+v → %+v", before, after)
	}
	details := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if msg := details.text("[role=status]"); !strings.Contains(msg, "Saved") || !strings.Contains(msg, "Renamed") {
		t.Errorf("status %q", msg)
	}
	if got := details.text("#detail-api_url"); got != "https://bitbucket.example.com/bitbucket/rest/api/1.0" {
		t.Errorf("details API URL %q", got)
	}
	if got := details.text("h1"); got != "Renamed" {
		t.Errorf("h1 %q", got)
	}
	cfg := mustConfig(t, app, id)
	if cfg.Name != "Renamed" || cfg.APIURL != "https://bitbucket.example.com/bitbucket/rest/api/1.0" || cfg.ProjectKey != "ALGO" ||
		cfg.WebsiteURL != "https://bitbucket.example.com" || !cfg.Enabled {
		t.Errorf("stored %+v", cfg)
	}

	// Typed: replaced.
	time.Sleep(5 * time.Millisecond)
	f = editForm(t, c.get(scmPath(id, "edit")))
	f.Set("access_token", canarySecret)
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
	replaced := secretsOf(t, app, id)["access_token"]
	if replaced.Fingerprint != store.Fingerprint(canarySecret) || replaced.Fingerprint == before.Fingerprint {
		t.Errorf("fingerprint %s after replacing, want %s", replaced.Fingerprint, store.Fingerprint(canarySecret))
	}
	if !replaced.SetAt.After(before.SetAt) {
		t.Errorf("SetAt %v not after %v", replaced.SetAt, before.SetAt)
	}
	r := c.get(scmPath(id, "edit")).wantStatus(http.StatusOK)
	if help := r.text("#access_token-help"); !strings.Contains(help, "fingerprint "+store.Fingerprint(canarySecret)) {
		t.Errorf("help after replacing %q", help)
	}
	if got := c.get(scmPath(id, "")).text("#detail-access_token"); !strings.Contains(got, store.Fingerprint(canarySecret)) {
		t.Errorf("details secret %q", got)
	}
	assertNoSecrets(t, app, r)
}

func TestEditCannotChangeProviderOrProjectKey(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	f := editForm(t, c.get(scmPath(id, "edit")))
	f.Set("project_key", "OTHER")
	f.Set("provider", "github")
	f.Set("name", "Still Bitbucket")
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
	cfg := mustConfig(t, app, id)
	if cfg.ProjectKey != "ALGO" || cfg.Provider != "bitbucket_server" || cfg.Name != "Still Bitbucket" {
		t.Errorf("stored %+v", cfg)
	}
	if !strings.HasSuffix(cfg.UniqueKey, " ALGO") {
		t.Errorf("unique key %q", cfg.UniqueKey)
	}
	if got := c.get(scmPath(id, "")).text("#detail-project_key"); got != "ALGO" {
		t.Errorf("details project key %q", got)
	}
	// An invalid key posted is ignored too, not an error.
	f.Set("project_key", "1-bad")
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
}

func TestEditInvalidInput(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	before := mustConfig(t, app, id)
	beforeSecret := secretsOf(t, app, id)["access_token"]

	for _, tc := range []struct{ field, value, want string }{
		{"website_url", "http://bitbucket.example.com", "https://"},
		{"website_url", "", "Enter the Website URL"},
		{"api_url", "https://bitbucket.example.com/?x=1", "query"},
		{"ssh_url", "ssh://git@bitbucket.example.com", "port"},
		{"access_token", "has space", "no spaces"},
		{"name", strings.Repeat("n", 201), "at most 200"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			f := editForm(t, c.get(scmPath(id, "edit")))
			f.Set("name", "Typed name")
			f.Set(tc.field, tc.value)
			if tc.field != "access_token" {
				f.Set("access_token", canarySecret)
			}
			r := c.post(scmPath(id, ""), f).wantStatus(http.StatusUnprocessableEntity)
			if msg := r.text("#" + tc.field + "-error"); !strings.Contains(msg, tc.want) {
				t.Errorf("#%s-error %q, want %q", tc.field, msg, tc.want)
			}
			if v, _ := r.doc.Find(fmt.Sprintf(`input[name=%q]`, tc.field)).Attr("aria-invalid"); v != "true" {
				t.Errorf("%s not aria-invalid", tc.field)
			}
			if !r.has("[role=alert]") {
				t.Error("no page-level alert")
			}
			for _, name := range []string{"name", "website_url", "api_url", "ssh_url"} {
				if v, _ := r.doc.Find(fmt.Sprintf(`#scm-form input[name=%q]`, name)).Attr("value"); v != strings.TrimSpace(f.Get(name)) {
					t.Errorf("%s came back %q, typed %q", name, v, f.Get(name))
				}
			}
			if v, _ := r.doc.Find(`#scm-form input[name=project_key]`).Attr("value"); v != "ALGO" {
				t.Errorf("project key came back %q", v)
			}
			if v, _ := r.doc.Find(`#scm-form input[name=access_token]`).Attr("value"); v != "" {
				t.Error("secret rendered back")
			}
			// Still the edit form, with the stored secret's status.
			if r.has("select[name=provider]") || r.doc.Find("#scm-form").AttrOr("action", "") != scmPath(id, "") {
				t.Error("422 shows the Add form")
			}
			if help := r.text("#access_token-help"); !strings.Contains(help, beforeSecret.Fingerprint) {
				t.Errorf("secret help after error %q", help)
			}
			assertNoSecrets(t, app, r)
		})
	}
	after := mustConfig(t, app, id)
	if after != before {
		t.Errorf("an invalid edit changed the configuration: %+v → %+v", before, after)
	}
	if s := secretsOf(t, app, id)["access_token"]; s != beforeSecret {
		t.Errorf("an invalid edit changed the secret: %+v → %+v", beforeSecret, s)
	}
}

func TestEditDuplicate(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	first := bbForm("bitbucket.example.com", "ALGO")
	first.Set("name", "First Bitbucket")
	firstID := addConfig(t, c, first)
	second := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))

	f := editForm(t, c.get(scmPath(second, "edit")))
	f.Set("website_url", "HTTPS://Bitbucket.Example.com:443/")
	r := c.post(scmPath(second, ""), f).wantStatus(http.StatusUnprocessableEntity)
	msg := r.text("#project_key-error")
	for _, want := range []string{"ALGO", "First Bitbucket", fmt.Sprint(firstID)} {
		if !strings.Contains(msg, want) {
			t.Errorf("#project_key-error %q lacks %q", msg, want)
		}
	}
	if v, _ := r.doc.Find(`input[name=website_url]`).Attr("value"); v != "HTTPS://Bitbucket.Example.com:443/" {
		t.Errorf("typed website came back %q", v)
	}
	if cfg := mustConfig(t, app, second); cfg.WebsiteURL != "https://bitbucket2.example.com" {
		t.Errorf("stored %q", cfg.WebsiteURL)
	}

	// OAuth: the client id is the identity.
	gh1 := validForm("github")
	gh1.Set("client_id", "client-one")
	gh1.Set("name", "GitHub one")
	gh1ID := addConfig(t, c, gh1)
	gh2 := validForm("github")
	gh2.Set("client_id", "client-two")
	gh2ID := addConfig(t, c, gh2)
	f = editForm(t, c.get(scmPath(gh2ID, "edit")))
	f.Set("client_id", "client-one")
	r = c.post(scmPath(gh2ID, ""), f).wantStatus(http.StatusUnprocessableEntity)
	msg = r.text("#client_id-error")
	for _, want := range []string{"client-one", "GitHub one", fmt.Sprint(gh1ID)} {
		if !strings.Contains(msg, want) {
			t.Errorf("#client_id-error %q lacks %q", msg, want)
		}
	}
	if cfg := mustConfig(t, app, gh2ID); cfg.ClientID != "client-two" {
		t.Errorf("stored client id %q", cfg.ClientID)
	}
	// Saving a configuration unchanged is no clash with itself.
	c.post(scmPath(gh2ID, ""), editForm(t, c.get(scmPath(gh2ID, "edit")))).wantRedirect(scmPath(gh2ID, ""))
}

func TestEditBuiltIn(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	r := c.get("/admin/scm/internal/edit").wantStatus(http.StatusBadRequest)
	if !r.has("[role=alert]") {
		t.Error("no reason given")
	}
	c.submit("/admin/scm", "/admin/scm/internal", url.Values{"name": {"Hacked"}, "website_url": {"https://evil.example.com"}}).
		wantStatus(http.StatusBadRequest)
	if cfg := mustConfig(t, app, 1); cfg.Name != "" || cfg.WebsiteURL != "" {
		t.Errorf("built-in changed: %+v", cfg)
	}
	if c.get("/admin/scm").doc.Find(`a[href="/admin/scm/internal/edit"]`).Length() != 0 {
		t.Error("the list offers to edit the built-in")
	}
}

func TestEditRequiresCSRFAndExists(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	f := editForm(t, c.get(scmPath(id, "edit")))
	f.Set("name", "Forged")
	f.Del("_csrf")
	c.post(scmPath(id, ""), f).wantStatus(http.StatusForbidden)
	if mustConfig(t, app, id).Name != "" {
		t.Error("edited without a token")
	}
	c.submit("/admin/scm", "/admin/scm/999", f).wantStatus(http.StatusNotFound)
}

func TestEditNeverWipesWhatTheFormDoesNotShow(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	ctx := context.Background()

	t.Run("OAuth", func(t *testing.T) {
		id := addConfig(t, c, validForm("gitlab"))
		f := editForm(t, c.get(scmPath(id, "edit")))
		// Fields of another provider, posted anyway, are ignored.
		f.Set("project_key", "SNEAKY")
		f.Set("access_token", "sneaky-token")
		f.Set("name", "GitLab.com")
		c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
		cfg := mustConfig(t, app, id)
		if cfg.ProjectKey != "" || cfg.ClientID != "client-gitlab" || cfg.Name != "GitLab.com" {
			t.Errorf("stored %+v", cfg)
		}
		secrets := secretsOf(t, app, id) // the client secret, and the webhook secret made at creation
		if _, ok := secrets["access_token"]; ok || len(secrets) != 2 {
			t.Errorf("secrets %v", secrets)
		}
		if secrets["client_secret"].Fingerprint != store.Fingerprint(canarySecret) {
			t.Error("client secret changed")
		}
	})

	t.Run("Bitbucket Server", func(t *testing.T) {
		// A secret the edit form does not show (the webhook's) survives any edit.
		cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
			APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO",
			UniqueKey: "bitbucket_server https://bb.example.com ALGO"},
			map[string]string{"access_token": "first-token", "webhook_secret": "hook-secret"})
		before := secretsOf(t, app, cfg.ID)
		time.Sleep(5 * time.Millisecond)
		f := editForm(t, c.get(scmPath(cfg.ID, "edit")))
		f.Set("access_token", "second-token")
		f.Set("client_id", "sneaky-id")
		f.Set("client_secret", "sneaky-secret")
		f.Set("ssh_url", "ssh://git@bb.example.com:8000")
		c.post(scmPath(cfg.ID, ""), f).wantRedirect(scmPath(cfg.ID, ""))
		after := mustConfig(t, app, cfg.ID)
		if after.ClientID != "" || after.ProjectKey != "ALGO" || after.SSHURL != "ssh://git@bb.example.com:8000" ||
			after.APIURL != cfg.APIURL || after.WebsiteURL != cfg.WebsiteURL {
			t.Errorf("stored %+v", after)
		}
		secrets := secretsOf(t, app, cfg.ID)
		if secrets["webhook_secret"] != before["webhook_secret"] {
			t.Errorf("webhook secret touched: %+v → %+v", before["webhook_secret"], secrets["webhook_secret"])
		}
		if secrets["access_token"].Fingerprint != store.Fingerprint("second-token") {
			t.Error("access token not replaced")
		}
		if _, ok := secrets["client_secret"]; ok || len(secrets) != 2 {
			t.Errorf("secrets %v", secrets)
		}
		// Enabled and default state are not the form's business either.
		if _, err := app.st.MakeDefault(ctx, cfg.ID, store.Actor{Username: "seed"}); err != nil {
			t.Fatal(err)
		}
		c.post(scmPath(cfg.ID, ""), editForm(t, c.get(scmPath(cfg.ID, "edit")))).wantRedirect(scmPath(cfg.ID, ""))
		if got := mustConfig(t, app, cfg.ID); !got.IsDefault || !got.Enabled {
			t.Errorf("an edit changed the lifecycle state: %+v", got)
		}
	})

	t.Run("clearing the name", func(t *testing.T) {
		form := bbForm("bb3.example.com", "ALGO")
		form.Set("name", "Named")
		id := addConfig(t, c, form)
		f := editForm(t, c.get(scmPath(id, "edit")))
		f.Set("name", "")
		c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
		if got := c.get(scmPath(id, "")).text("h1"); got != "bb3.example.com · ALGO" {
			t.Errorf("h1 %q once the name is cleared", got)
		}
	})
}
