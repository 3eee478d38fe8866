package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
)

const managingFile = "/etc/scmadmin/scms.yaml"

// manage applies a configuration file that lists one Bitbucket Server configuration, id
// "managed" on host, as the default, and returns it.
func manage(t *testing.T, app *testApp, host string) store.SCMConfig {
	t.Helper()
	return manageAs(t, app, host, true)
}

// manageAs is manage, the configuration made the default or not.
func manageAs(t *testing.T, app *testApp, host string, isDefault bool) store.SCMConfig {
	t.Helper()
	ctx := context.Background()
	a := action.New(app.st, nil, slog.New(slog.DiscardHandler), nil, nil)
	fields := bbForm(host, "MANAGED")
	fields.Set("access_token", "file-token")
	plan, err := a.PlanFile(ctx, managingFile, []action.Entry{{ID: "managed", Provider: "bitbucket_server", Fields: fields,
		Enabled: true, Default: isDefault}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyFile(ctx, store.Actor{Username: "config file " + managingFile, Addr: "start"}, plan, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.st.SCMConfigByRef(ctx, "managed")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A configuration a file manages carries the badge and offers no change in the pages; each
// change asked for anyway is refused with 409 naming the file, and it can still be tested.
func TestManagedConfigurationInThePages(t *testing.T) {
	app := newTestApp(t)
	m := manage(t, app, "127.0.0.1")
	free := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://free.example.com",
		APIURL: "https://free.example.com/rest/api/1.0", SSHURL: "ssh://git@free.example.com:7999", ProjectKey: "FREE"}, nil)
	c := app.adminClient()

	const row, page = `table#scm-configs tr[data-scm-id="managed"]`, "/admin/scm/managed"
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := strings.Join(badges(list.doc.Find(row)), ","); got != "Default,Managed by file" {
		t.Errorf("badges of the managed row = %q, want Default,Managed by file", got)
	}
	if got := rowBadges(list, free.ID); strings.Contains(got, "Managed") {
		t.Errorf("badges of a configuration no file manages = %q", got)
	}
	for _, action := range []string{"edit", "disable", "delete"} {
		if list.has(row + ` [href$="/` + action + `"], ` + row + ` [formaction$="/` + action + `"]`) {
			t.Errorf("the managed row offers %s", action)
		}
	}
	if !list.has(rowSel(free.ID) + ` a[href$="/edit"]`) {
		t.Error("the row of a configuration no file manages lost its Edit link: the test looks for the wrong thing")
	}

	details := c.get(page).wantStatus(http.StatusOK)
	if got := strings.Join(badges(details.doc.Find("h1")), ","); got != "Default,Managed by file" {
		t.Errorf("badges on the details page = %q", got)
	}
	if got := details.text("#managed-by"); !strings.Contains(got, managingFile) {
		t.Errorf("#managed-by = %q, want the file named", got)
	}
	if !details.has(`form[action="` + page + `/test"]`) {
		t.Error("the details page no longer offers Test connection")
	}

	for _, r := range []*response{
		c.get(page + "/edit"),
		c.get(page + "/delete"),
		c.submit(page, page, url.Values{"name": {"typed in the page"}, "website_url": {"https://127.0.0.1"},
			"api_url": {"https://127.0.0.1/rest/api/1.0"}, "ssh_url": {"ssh://git@127.0.0.1:7999"}}),
		c.submit(page, page+"/disable", url.Values{"next": {page}}),
		c.submit(page, page+"/delete", url.Values{"next": {page}}),
		act(c, free.ID, "default", "/admin/scm"), // would take the default from the file's
	} {
		r.wantStatus(http.StatusConflict)
		if !strings.Contains(r.body, managingFile) {
			t.Errorf("a refusal does not name the file %s:\n%s", managingFile, r.text("main"))
		}
	}
	if got := mustConfig(t, app, m.ID); got.Name != "" || !got.Enabled || !got.IsDefault || got.ManagedBy != managingFile {
		t.Errorf("after the refused changes: %+v", got)
	}

	test := c.submit(page, page+"/test", nil).wantStatus(http.StatusOK)
	if !test.has("ol#connection-test li[data-step]") {
		t.Errorf("Test connection of a managed configuration shows no checklist:\n%s", test.body)
	}
}

// The API refuses every change to a managed configuration with 409 (4050) naming the file,
// shows the file in managed_by, and still tests it.
func TestManagedConfigurationInTheAPI(t *testing.T) {
	app := newTestApp(t)
	m := manage(t, app, "127.0.0.1")
	api := newAPIClient(t, app, adminAPIKey(t, app))

	if got := api.call("GET", "/v1/scms/managed", "").want(http.StatusOK, 0).str("managed_by"); got != managingFile {
		t.Errorf("managed_by = %q, want %q", got, managingFile)
	}
	if got := api.call("GET", "/v1/scms/internal", "").want(http.StatusOK, 0).str("managed_by"); got != "" {
		t.Errorf("the built-in one's managed_by = %q", got)
	}
	for _, call := range []struct{ method, path, body string }{
		{"PATCH", "/v1/admin/scms/managed", `{"name": "from the API"}`},
		{"PATCH", "/v1/admin/scms/managed", `{"enabled": true}`},
		{"PATCH", "/v1/admin/scms/managed", `{"enabled": false}`},
		{"DELETE", "/v1/admin/scms/managed", ""},
		{"POST", "/v1/admin/scms/managed/default", ""},
		{"POST", "/v1/admin/scms/internal/default", ""},
	} {
		ans := api.call(call.method, call.path, call.body).want(http.StatusConflict, 4050)
		e, _ := ans.json["error"].(map[string]any)
		if msg, _ := e["message"].(string); !strings.Contains(msg, managingFile) {
			t.Errorf("%s %s %s: message %q does not name the file", call.method, call.path, call.body, msg)
		}
	}
	// Making another one the default would unset the managed default: the refusal says so.
	msg := api.call("POST", "/v1/admin/scms/internal/default", "").want(http.StatusConflict, 4050).message()
	if !strings.HasPrefix(msg, "The default, “") || !strings.Contains(msg, "would change it") || !strings.Contains(msg, "(default: true)") {
		t.Errorf("making another configuration the default: %q", msg)
	}
	if got := mustConfig(t, app, m.ID); got.Name != "" || !got.Enabled || !got.IsDefault {
		t.Errorf("after the refused changes: %+v", got)
	}
	api.call("POST", "/v1/admin/scms/managed/test", "").want(http.StatusOK, 0)
}

// A managed configuration that is not the default offers no Disable either (the rule that
// hides it on the default must not be the only one that does).
func TestManagedConfigurationOffersNoDisable(t *testing.T) {
	app := newTestApp(t)
	manageAs(t, app, "127.0.0.1", false)
	c := app.adminClient()
	const row = `table#scm-configs tr[data-scm-id="managed"]`
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if !list.has(row) {
		t.Fatal("the managed configuration is not listed")
	}
	if list.has(row + ` [formaction$="/disable"], ` + row + ` [action$="/disable"]`) {
		t.Error("the list offers Disable on a configuration a file manages")
	}
	details := c.get("/admin/scm/managed").wantStatus(http.StatusOK)
	if details.has(`form[action$="/managed/disable"], [formaction$="/managed/disable"]`) {
		t.Error("the details page offers Disable on a configuration a file manages")
	}
	if !details.has(`form[action="/admin/scm/managed/test"]`) {
		t.Error("the details page no longer offers Test connection")
	}
}
