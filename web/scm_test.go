package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

func TestCreateEveryProvider(t *testing.T) {
	for _, p := range provider.Selectable() {
		t.Run(p.ID, func(t *testing.T) {
			app := newTestApp(t)
			c := app.adminClient()
			formPage := c.get("/admin/scm/new?provider=" + p.ID).wantStatus(http.StatusOK)
			if v, _ := formPage.doc.Find("select[name=provider] option[selected]").Attr("value"); v != p.ID {
				t.Errorf("drop-down shows %q selected", v)
			}
			for _, f := range p.Fields() {
				input := formPage.doc.Find(fmt.Sprintf(`#scm-form input[name=%q]`, f.Name))
				if input.Length() != 1 {
					t.Fatalf("form has no input %s", f.Name)
				}
				if got := formPage.text(fmt.Sprintf(`label[for=%q]`, f.Name)); !strings.HasPrefix(got, f.Label) {
					t.Errorf("label of %s = %q, want %q", f.Name, got, f.Label)
				}
				if got := formPage.text("#" + f.Name + "-help"); got == "" {
					t.Errorf("%s has no help text", f.Name)
				}
				if v, _ := input.Attr("value"); v != f.Default {
					t.Errorf("%s pre-filled with %q, want %q", f.Name, v, f.Default)
				}
			}
			if got := formPage.text(`#scm-form button[type=submit]`); got != "Create SCM Configuration" {
				t.Errorf("primary button %q", got)
			}

			form := validForm(p.ID)
			c.submit("/admin/scm/new?provider="+p.ID, "/admin/scm", form).wantRedirect("/admin/scm")
			list := c.get("/admin/scm").wantStatus(http.StatusOK)
			if !strings.HasPrefix(list.text("[role=status]"), "Added") {
				t.Errorf("status message %q", list.text("[role=status]"))
			}
			cfgs, _, err := app.st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 10})
			if err != nil || len(cfgs) != 2 {
				t.Fatalf("stored %d configurations (%v)", len(cfgs), err)
			}
			cfg := cfgs[1]
			if cfg.Provider != p.ID || !cfg.Enabled || cfg.IsDefault || cfg.WebsiteURL != form.Get("website_url") {
				t.Errorf("stored %+v", cfg)
			}
			row := list.text(fmt.Sprintf(`table#scm-configs tr[data-scm-id="%d"]`, cfg.ID))
			for _, want := range []string{p.Label, form.Get("website_url"), form.Get(p.Identity)} {
				if !strings.Contains(row, want) {
					t.Errorf("row %q lacks %q", row, want)
				}
			}
			if list.doc.Find(fmt.Sprintf(`tr[data-scm-id="%d"] .badge`, cfg.ID)).Length() != 0 {
				t.Error("a new configuration has a badge")
			}
			secrets, err := app.st.SCMSecrets(context.Background(), cfg.ID)
			want := 1 // the credential
			if p.PushHooks() {
				want++ // and the webhook's secret, made at creation
			}
			if err != nil || len(secrets) != want {
				t.Errorf("secrets stored: %v (%v), want %d", secrets, err, want)
			}
			details := c.get(fmt.Sprintf("/admin/scm/%d", cfg.ID)).wantStatus(http.StatusOK)
			assertNoSecrets(t, app, formPage, list, details)
		})
	}
}

func TestListShowsBuiltInAsDefault(t *testing.T) {
	app := newTestApp(t)
	list := app.adminClient().get("/admin/scm").wantStatus(http.StatusOK)
	row := list.doc.Find(`table#scm-configs tr[data-scm-id="internal"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "Built-in (hosted by the platform)") {
		t.Fatalf("built-in row: %q", row.Text())
	}
	if badges := strings.TrimSpace(row.Find(".badge").Text()); badges != "Default" {
		t.Errorf("built-in badges %q, want Default", badges)
	}
	if got := list.text(`a[href="/admin/scm/new"]`); got != "Add SCM Configuration" {
		t.Errorf("add button %q", got)
	}
	for i, want := range []string{"Provider", "Website URL", "ID"} {
		if got := strings.TrimSpace(list.doc.Find("table#scm-configs thead th").Eq(i).Text()); got != want {
			t.Errorf("column %d is %q, want %q", i, got, want)
		}
	}
}

func TestValidationErrorsNameTheField(t *testing.T) {
	cases := []struct {
		provider, field, value, want string
	}{
		{"bitbucket_server", "website_url", "", "Enter the Website URL"},
		{"bitbucket_server", "website_url", "http://bitbucket.example.com", "https://"},
		{"bitbucket_server", "website_url", "bitbucket.example.com", "https://"},
		{"bitbucket_server", "website_url", "https://", "host"},
		{"bitbucket_server", "website_url", "https://u:p@bitbucket.example.com", "user name"},
		{"bitbucket_server", "website_url", "https://bitbucket.example.com/?a=b", "query"},
		{"bitbucket_server", "website_url", "https://bitbucket.example.com/#top", "fragment"},
		{"bitbucket_server", "api_url", "ftp://bitbucket.example.com/rest/api/1.0", "https://"},
		{"bitbucket_server", "api_url", "", "Enter the API URL"},
		{"bitbucket_server", "ssh_url", "ssh://git@bitbucket.example.com", "port"},
		{"bitbucket_server", "ssh_url", "git@bitbucket.example.com", "port"},
		{"bitbucket_server", "ssh_url", "https://bitbucket.example.com:7999", "ssh://"},
		{"bitbucket_server", "ssh_url", "ssh://git@bitbucket.example.com:99999", "port"},
		{"bitbucket_server", "ssh_url", "bitbucket.example.com:7999", "SSH URL"},
		{"bitbucket_server_api", "ssh_url", "ssh://git@bitbucket.example.com", "port"},
		{"bitbucket_server", "project_key", "1ALGO", "start with a letter"},
		{"bitbucket_server", "project_key", "AL-GO", "letters, digits and underscores"},
		{"bitbucket_server", "project_key", "A" + strings.Repeat("B", 128), "at most 128"},
		{"bitbucket_server", "project_key", "", "Enter the Project key"},
		{"bitbucket_server", "access_token", "", "Enter the Personal access token"},
		{"bitbucket_server", "access_token", "has a space", "no spaces"},
		{"bitbucket_server", "access_token", strings.Repeat("t", 1025), "at most 1024"},
		{"github", "client_id", "", "Enter the Client ID"},
		{"github", "client_id", "id\x01", "printable"},
		{"github", "client_secret", "", "Enter the Client secret"},
		{"github", "ssh_url", "ssh://git@github.com:0", "port"},
		{"gitlab", "client_id", "", "Enter the Application ID"},
		{"bitbucket_cloud", "client_secret", "two words", "no spaces"},
		{"github_enterprise", "name", strings.Repeat("n", 201), "at most 200"},
	}
	app := newTestApp(t)
	c := app.adminClient()
	for _, tc := range cases {
		t.Run(tc.provider+"/"+tc.field+"="+tc.value, func(t *testing.T) {
			form := validForm(tc.provider)
			form.Set("name", "My host")
			form.Set(tc.field, tc.value)
			r := c.submit("/admin/scm/new?provider="+tc.provider, "/admin/scm", form).wantStatus(http.StatusUnprocessableEntity)
			input := r.doc.Find(fmt.Sprintf(`input[name=%q]`, tc.field))
			if v, _ := input.Attr("aria-invalid"); v != "true" {
				t.Errorf("input %s not marked aria-invalid", tc.field)
			}
			if d, _ := input.Attr("aria-describedby"); !strings.Contains(d, tc.field+"-error") {
				t.Errorf("input %s aria-describedby %q does not point at its error", tc.field, d)
			}
			if msg := r.text("#" + tc.field + "-error"); !strings.Contains(msg, tc.want) {
				t.Errorf("#%s-error = %q, want it to contain %q", tc.field, msg, tc.want)
			}
			if n := r.doc.Find("[aria-invalid=true]").Length(); n != 1 {
				t.Errorf("%d fields marked invalid, want 1", n)
			}
			if !r.has("[role=alert]") {
				t.Error("no page-level alert")
			}
			// What was typed comes back; secrets never do.
			if v, _ := r.doc.Find("select[name=provider] option[selected]").Attr("value"); v != tc.provider {
				t.Errorf("provider came back as %q", v)
			}
			for name := range form {
				if name == "provider" {
					continue
				}
				in := r.doc.Find(fmt.Sprintf(`#scm-form input[name=%q]`, name))
				v, _ := in.Attr("value")
				if typ, _ := in.Attr("type"); typ == "password" {
					if v != "" {
						t.Errorf("secret %s rendered back", name)
					}
				} else if name != "_csrf" && v != strings.TrimSpace(form.Get(name)) {
					t.Errorf("%s came back as %q, typed %q", name, v, form.Get(name))
				}
			}
			assertNoSecrets(t, app, r)
		})
	}
	assertConfigCount(t, app, 1)
}

func TestUnknownProvider(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	c.get("/admin/scm/new?provider=svn").wantStatus(http.StatusBadRequest)
	c.get("/admin/scm/new?provider=internal").wantStatus(http.StatusBadRequest)
	form := validForm("github")
	form.Set("provider", "internal")
	c.submit("/admin/scm/new", "/admin/scm", form).wantStatus(http.StatusUnprocessableEntity)
	assertConfigCount(t, app, 1)
}

func TestDuplicates(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	first := validForm("bitbucket_server")
	first.Set("name", "Algorithms on Bitbucket")
	c.submit("/admin/scm/new", "/admin/scm", first).wantRedirect("/admin/scm")

	// The same server spelled differently, under either Bitbucket Server kind, is a duplicate.
	for _, kind := range []string{"bitbucket_server", "bitbucket_server_api"} {
		dup := validForm(kind)
		dup.Set("website_url", "HTTPS://Bitbucket.Example.COM:443/")
		dup.Set("project_key", "algo")
		r := c.submit("/admin/scm/new", "/admin/scm", dup).wantStatus(http.StatusUnprocessableEntity)
		msg := r.text("#project_key-error")
		for _, want := range []string{"ALGO", "Algorithms on Bitbucket", "configuration 2"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: #project_key-error %q lacks %q", kind, msg, want)
			}
		}
		if v, _ := r.doc.Find("input[name=project_key]").Attr("aria-invalid"); v != "true" {
			t.Error("project_key not marked invalid")
		}
	}
	// Another project on the same server, or the same key on another server, is not.
	other := validForm("bitbucket_server")
	other.Set("project_key", "ALGO2")
	c.submit("/admin/scm/new", "/admin/scm", other).wantRedirect("/admin/scm")
	other = validForm("bitbucket_server_api")
	other.Set("website_url", "https://bitbucket2.example.com")
	c.submit("/admin/scm/new", "/admin/scm", other).wantRedirect("/admin/scm")

	// OAuth: unique per provider, Website URL and client id.
	c.submit("/admin/scm/new", "/admin/scm", validForm("github")).wantRedirect("/admin/scm")
	dup := validForm("github")
	dup.Set("website_url", "https://GitHub.com/")
	r := c.submit("/admin/scm/new", "/admin/scm", dup).wantStatus(http.StatusUnprocessableEntity)
	if msg := r.text("#client_id-error"); !strings.Contains(msg, "client-github") {
		t.Errorf("#client_id-error = %q", msg)
	}
	ghe := validForm("github_enterprise")
	ghe.Set("client_id", "client-github")
	c.submit("/admin/scm/new", "/admin/scm", ghe).wantRedirect("/admin/scm")
	assertConfigCount(t, app, 6)
}

func TestConcurrentDuplicateCreates(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm/new").csrf()
	form := validForm("bitbucket_server")
	form.Set("_csrf", token)
	const n = 10
	got := statuses(c.postConcurrently(slices.Repeat([]post{{"/admin/scm", form}}, n)...))
	if got[http.StatusSeeOther] != 1 || got[http.StatusUnprocessableEntity] != n-1 {
		t.Errorf("status codes %v, want one 303 and %d 422", got, n-1)
	}
	assertConfigCount(t, app, 2)
}

func TestDetails(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("bitbucket_server")
	c.submit("/admin/scm/new", "/admin/scm", form).wantRedirect("/admin/scm")

	r := c.get("/admin/scm/2").wantStatus(http.StatusOK)
	for field, want := range map[string]string{
		"website_url":  "https://bitbucket.example.com",
		"api_url":      "https://bitbucket.example.com/rest/api/1.0",
		"ssh_url":      "ssh://git@bitbucket.example.com:8000",
		"project_key":  "ALGO",
		"access_token": "Set on",
	} {
		if got := r.text("#detail-" + field); !strings.Contains(got, want) {
			t.Errorf("details %s = %q, want %q", field, got, want)
		}
	}
	if got := r.text("h1"); got != "bitbucket.example.com · ALGO" {
		t.Errorf("h1 = %q (without a name: the host and the project key)", got)
	}
	if r.has(".badge") {
		t.Error("badge on an enabled, non-default configuration")
	}
	if title := r.text("title"); !strings.Contains(title, "bitbucket.example.com · ALGO") {
		t.Errorf("title %q", title)
	}
	builtin := c.get("/admin/scm/internal").wantStatus(http.StatusOK)
	if got := builtin.text("h1 .badge"); got != "Default" {
		t.Errorf("built-in badge %q", got)
	}
	assertNoSecrets(t, app, r)

	for _, path := range []string{"/admin/scm/999", "/admin/scm/abc", "/admin/scm/0"} {
		c.get(path).wantStatus(http.StatusNotFound)
	}
}

func TestProviderSwitch(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()

	// htmx asks for the fields of the chosen provider only.
	r := c.getHTMX("/admin/scm/new?provider=gitlab").wantStatus(http.StatusOK)
	if r.has("html body header") || !r.has("#provider-fields") {
		t.Fatalf("htmx response is not the fragment:\n%s", r.body)
	}
	if got := r.text(`label[for="client_id"]`); got != "Application ID" {
		t.Errorf("GitLab client id label %q", got)
	}
	if v, _ := r.doc.Find(`input[name=fields_for]`).Attr("value"); v != "gitlab" {
		t.Errorf("fragment says its fields are for %q", v)
	}
	if r.has(`input[name=project_key]`) {
		t.Error("GitLab fields include a project key")
	}

	// The select swaps with htmx and pushes the URL; without JavaScript, a Choose button.
	full := c.get("/admin/scm/new?provider=bitbucket_server").wantStatus(http.StatusOK)
	sel := full.doc.Find("#scm-form select[name=provider]")
	if hx, _ := sel.Attr("hx-get"); hx != "/admin/scm/new" {
		t.Errorf("select hx-get %q", hx)
	}
	if !strings.Contains(full.body, `<noscript><button type="submit" name="choose" value="1" formnovalidate>Choose</button></noscript>`) {
		t.Error("no JavaScript-free Choose button")
	}
	if got := full.text("#scm-form fieldset legend"); got != "Connection" {
		t.Errorf("first section %q", got)
	}
	if got := full.doc.Find("#scm-form fieldset legend").Eq(1).Text(); got != "Credentials" {
		t.Errorf("credentials heading %q", got)
	}
	intro := full.text("#scm-form .intro")
	for _, want := range []string{"5.6", "Admin permission", "admin of that project"} {
		if !strings.Contains(intro, want) {
			t.Errorf("Bitbucket Server intro lacks %q: %q", want, intro)
		}
	}
	if help := full.text("#ssh_url-help"); !strings.Contains(help, "8000") {
		t.Errorf("SSH help %q", help)
	}
	// OAuth providers name the callback URL to register.
	gh := c.get("/admin/scm/new?provider=github")
	if intro := gh.text("#scm-form .intro"); !strings.Contains(intro, "http://127.0.0.1/v1/scms/oauth/finish") {
		t.Errorf("GitHub intro lacks the callback URL: %q", intro)
	}
	if got := gh.doc.Find("#scm-form fieldset legend").Eq(1).Text(); got != "OAuth Information" {
		t.Errorf("GitHub credentials heading %q", got)
	}
}

func TestSecurityHeaders(t *testing.T) {
	app := newTestApp(t)
	r := app.client().get("/login").wantStatus(http.StatusOK)
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || r.has("script:not([src])") || r.has("style") || r.has("[style]") {
		t.Error("inline script or style")
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestChooseProviderWithoutJavaScript(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	// The Choose button, or Create pressed after switching the drop-down: the chosen
	// provider's form comes back, and nothing is created from the other provider's fields.
	for _, extra := range []url.Values{{"choose": {"1"}}, {}} {
		form := validForm("github")
		form.Set("provider", "bitbucket_server")
		form.Set("fields_for", "github")
		for k, v := range extra {
			form[k] = v
		}
		r := c.submit("/admin/scm/new?provider=github", "/admin/scm", form).wantStatus(http.StatusOK)
		if !r.has("#scm-form input[name=project_key]") || r.has("#scm-form input[name=client_id]") {
			t.Errorf("%v: not the Bitbucket Server form", extra)
		}
		if v, _ := r.doc.Find("select[name=provider] option[selected]").Attr("value"); v != "bitbucket_server" {
			t.Errorf("%v: drop-down shows %q", extra, v)
		}
		if !strings.Contains(r.text("[role=status]"), "Bitbucket Server") {
			t.Errorf("%v: status %q", extra, r.text("[role=status]"))
		}
	}
	assertConfigCount(t, app, 1)
	// The form's own fields_for agrees with the drop-down: Create creates.
	form := validForm("github")
	form.Set("fields_for", "github")
	c.submit("/admin/scm/new?provider=github", "/admin/scm", form).wantRedirect("/admin/scm")
	assertConfigCount(t, app, 2)
}

func TestUnknownProviderIsAFieldError(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := validForm("github")
	form.Set("provider", "svn")
	r := c.submit("/admin/scm/new", "/admin/scm", form).wantStatus(http.StatusUnprocessableEntity)
	if !strings.Contains(r.text("#provider-error"), "Choose a provider") {
		t.Errorf("#provider-error %q", r.text("#provider-error"))
	}
	if v, _ := r.doc.Find("select[name=provider]").Attr("aria-invalid"); v != "true" {
		t.Error("the drop-down is not marked invalid")
	}
}

func TestSortHeadersSort(t *testing.T) {
	app := newTestApp(t)
	r := app.adminClient().get("/admin/scm?q=x&sort=created&dir=asc").wantStatus(http.StatusOK)
	for col, want := range map[int]string{
		0: "/admin/scm?dir=asc&page=1&per_page=25&q=x&sort=provider",
		1: "/admin/scm?dir=asc&page=1&per_page=25&q=x&sort=website_url",
		4: "/admin/scm?dir=desc&page=1&per_page=25&q=x&sort=created",
	} {
		if href, _ := r.doc.Find("table#scm-configs thead th").Eq(col).Find("a").Attr("href"); href != want {
			t.Errorf("column %d links to %q, want %q", col, href, want)
		}
	}
}

func TestProviderSwitchKeepsWhatWasTyped(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	// Bitbucket Server build-on-checkin → build-via-API: same fields, all kept.
	q := url.Values{"provider": {"bitbucket_server_api"}, "fields_for": {"bitbucket_server"},
		"website_url": {"https://bb.example.com"}, "project_key": {"ALGO"}, "name": {"Ours"}}
	r := c.getHTMX("/admin/scm/new?" + q.Encode()).wantStatus(http.StatusOK)
	for name, want := range map[string]string{"website_url": "https://bb.example.com", "project_key": "ALGO", "name": "Ours"} {
		if v, _ := r.doc.Find("input[name=" + name + "]").Attr("value"); v != want {
			t.Errorf("%s = %q after the switch, want %q", name, v, want)
		}
	}
	if push := r.header.Get("HX-Push-Url"); push != "/admin/scm/new?provider=bitbucket_server_api" {
		t.Errorf("HX-Push-Url %q", push)
	}
	// GitHub → GitLab: GitHub's pre-filled URLs give way to GitLab's, a typed name stays.
	q = url.Values{"provider": {"gitlab"}, "fields_for": {"github"}, "website_url": {"https://github.com"},
		"api_url": {"https://api.github.com"}, "name": {"Code"}}
	r = c.getHTMX("/admin/scm/new?" + q.Encode())
	if v, _ := r.doc.Find("input[name=website_url]").Attr("value"); v != "https://gitlab.com" {
		t.Errorf("website_url %q, want GitLab's default", v)
	}
	if v, _ := r.doc.Find("input[name=name]").Attr("value"); v != "Code" {
		t.Errorf("name %q", v)
	}
}

// The built-in configuration's id is "internal"; its old address by number still leads to it.
func TestBuiltInIsInternal(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	if !c.get("/admin/scm").has(`tr[data-scm-id="internal"]`) {
		t.Error(`the list has no tr[data-scm-id="internal"]`)
	}
	c.get("/admin/scm/internal").wantStatus(http.StatusOK)
	r := c.get("/admin/scm/1").wantStatus(http.StatusPermanentRedirect)
	if loc := r.header.Get("Location"); loc != "/admin/scm/internal" {
		t.Errorf("/admin/scm/1 redirects to %q, want /admin/scm/internal", loc)
	}
	c.get("/admin/scm/2").wantStatus(http.StatusNotFound)
}
