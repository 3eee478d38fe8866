package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

var keyPattern = regexp.MustCompile(`^scm_[a-z2-7]{8}_[a-z2-7]{32}$`)

func TestAPIKeysPageShowsANewKeyOnce(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	c := app.adminClient()
	if !c.get("/admin/scm").has(`nav a[href="/admin/api-keys"]`) {
		t.Error("the header's nav has no link to the API keys")
	}
	c.submit("/admin/api-keys", "/admin/api-keys", url.Values{"name": {"platform"}, "scope": {"admin"}}).
		wantRedirect("/admin/api-keys")

	page := c.get("/admin/api-keys").wantStatus(http.StatusOK)
	key := page.text("#api-key")
	if !keyPattern.MatchString(key) {
		t.Fatalf("#api-key = %q", key)
	}
	if got := page.text("[role=status]"); !strings.Contains(got, "platform") {
		t.Errorf("status = %q", got)
	}
	row := page.text(`table#api-keys tr[data-api-key="platform"]`)
	for _, want := range []string{"platform", "admin", adminName, "never", "Active"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if !page.has(`tr[data-api-key="platform"] form[action="/admin/api-keys/platform/revoke"] button`) {
		t.Error("no Revoke button for an active key")
	}

	// Reloading shows it no more, and makes no other key.
	again := c.get("/admin/api-keys").wantStatus(http.StatusOK)
	if again.has("#api-key") || strings.Contains(again.body, key) {
		t.Error("the key is shown again on reload")
	}
	if keys, _ := app.st.ListAPIKeys(context.Background()); len(keys) != 1 {
		t.Errorf("%d keys after a reload, want 1", len(keys))
	}

	// The key works, acting as the admin who made it, and the page then says when it was used.
	if r := app.callAPI(http.MethodPost, "/test/api/admin", "Bearer "+key); r.status != http.StatusOK || r.body["user"] != adminName {
		t.Errorf("the new key: %d %v", r.status, r.body)
	}
	if row := c.get("/admin/api-keys").text(`tr[data-api-key="platform"]`); strings.Contains(row, "never") {
		t.Errorf("after a use the row still says never: %q", row)
	}
	audit := c.get("/admin/audit").text(`tr[data-action="create_api_key"]`)
	if !strings.Contains(audit, "platform") || !strings.Contains(audit, adminName) {
		t.Errorf("audit entry %q does not name the key and its maker", audit)
	}
	if strings.Contains(app.logs.String(), key[4:]) {
		t.Error("the key reached the log")
	}
}

func TestAPIKeysPageRefusesBadInput(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	c.submit("/admin/api-keys", "/admin/api-keys", url.Values{"name": {"taken"}, "scope": {"read"}}).wantStatus(http.StatusSeeOther)
	for _, tc := range []struct {
		name, scope, field, message string
	}{
		{"", "read", "name", "1 to 64 characters"},
		{"has space", "read", "name", "letters, digits"},
		{strings.Repeat("x", 65), "read", "name", "1 to 64 characters"},
		{"ok", "write", "scope", "read or admin"},
		{"TAKEN", "admin", "name", "already a key called TAKEN"},
	} {
		page := c.submit("/admin/api-keys", "/admin/api-keys", url.Values{"name": {tc.name}, "scope": {tc.scope}}).
			wantStatus(http.StatusUnprocessableEntity)
		if got := page.text("#" + tc.field + "-error"); !strings.Contains(got, tc.message) {
			t.Errorf("%q/%q: #%s-error = %q, want %q", tc.name, tc.scope, tc.field, got, tc.message)
		}
		if v, _ := page.doc.Find("#" + tc.field).Attr("aria-invalid"); v != "true" {
			t.Errorf("%q/%q: #%s is not aria-invalid", tc.name, tc.scope, tc.field)
		}
		if v, _ := page.doc.Find("#name").Attr("value"); v != tc.name {
			t.Errorf("the form came back with name %q, want %q", v, tc.name)
		}
		if page.has("#api-key") {
			t.Error("a refused form shows a key")
		}
	}
	if keys, _ := app.st.ListAPIKeys(context.Background()); len(keys) != 1 {
		t.Errorf("%d keys after the refusals, want 1", len(keys))
	}
}

func TestAPIKeysPageRevokes(t *testing.T) {
	app := withAPITestRoutes(newTestApp(t))
	key := app.makeAPIKey("ci-bot", store.ScopeRead)
	c := app.adminClient()
	c.submit("/admin/api-keys", "/admin/api-keys/ci-bot/revoke", nil).wantRedirect("/admin/api-keys")

	page := c.get("/admin/api-keys")
	if got := page.text("[role=status]"); !strings.Contains(got, "Revoked the API key ci-bot") {
		t.Errorf("status = %q", got)
	}
	if row := page.text(`tr[data-api-key="ci-bot"]`); !strings.Contains(row, "Revoked") || page.has(`tr[data-api-key="ci-bot"] button`) {
		t.Errorf("a revoked key's row: %q (with a Revoke button: %v)", row, page.has(`tr[data-api-key="ci-bot"] button`))
	}
	app.callAPI(http.MethodGet, "/test/api/read", key).wantEnvelope(t, http.StatusUnauthorized, "revoked")
	c.submit("/admin/api-keys", "/admin/api-keys/ci-bot/revoke", nil).wantStatus(http.StatusConflict)
	c.submit("/admin/api-keys", "/admin/api-keys/nope/revoke", nil).wantStatus(http.StatusNotFound)
	audit := c.get("/admin/audit").text(`tr[data-action="revoke_api_key"]`)
	if !strings.Contains(audit, "ci-bot") || !strings.Contains(audit, "Revoked an API key") {
		t.Errorf("audit entry = %q", audit)
	}
}

func TestAPIKeysPageIsForClusterAdmins(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.st.CreateUser(context.Background(), "bob", adminPassword, false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	app.client().get("/admin/api-keys").wantRedirect("/login?next=%2Fadmin%2Fapi-keys")
	bob := app.client()
	bob.login("bob", adminPassword).wantStatus(http.StatusSeeOther)
	bob.get("/admin/api-keys").wantStatus(http.StatusForbidden)
	bob.submit("/account/password", "/admin/api-keys", url.Values{"name": {"mine"}, "scope": {"admin"}}).wantStatus(http.StatusForbidden)
	// A cluster admin's form without its CSRF token is refused.
	app.adminClient().post("/admin/api-keys", url.Values{"name": {"forged"}, "scope": {"admin"}}).wantStatus(http.StatusForbidden)
	if keys, _ := app.st.ListAPIKeys(context.Background()); len(keys) != 0 {
		t.Errorf("%d keys made by refused requests", len(keys))
	}
}
