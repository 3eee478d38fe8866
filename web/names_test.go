package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// TestNamesTellApart: two projects on one host, without display names, read apart as
// "host · KEY" in messages, refusals, the delete confirmation and the audit (SPEC).
func TestNamesTellApart(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	algo := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	if got := c.get("/admin/scm").text("[role=status]"); !strings.Contains(got, "“bitbucket.example.com · ALGO”") {
		t.Errorf("the message after adding says %q", got)
	}
	team := addConfig(t, c, bbForm("bitbucket.example.com", "TEAM"))
	r := act(c, team, "delete", "/admin/scm").wantStatus(http.StatusConflict)
	if got := r.text("[role=alert]"); !strings.Contains(got, "bitbucket.example.com · TEAM") {
		t.Errorf("the refusal says %q", got)
	}
	act(c, team, "disable", "/admin/scm")
	if got := c.get(scmPath(team, "delete")).text("h1"); got != "Delete “bitbucket.example.com · TEAM”?" {
		t.Errorf("the delete confirmation asks %q", got)
	}
	if got := c.getHTMX(scmPath(team, "delete")).body; !strings.Contains(got, "Delete “bitbucket.example.com · TEAM” for good?") {
		t.Errorf("the in-place confirmation asks %q", got)
	}
	events, _, err := app.st.ListAudit(context.Background(), store.AuditQuery{ConfigID: algo, Limit: 5})
	if err != nil || len(events) == 0 || events[0].Target != "bitbucket.example.com · ALGO" {
		t.Errorf("the audit names ALGO's configuration %+v (%v)", events, err)
	}
	if got := c.get("/admin/audit").text("#audit"); !strings.Contains(got, "bitbucket.example.com · TEAM") {
		t.Errorf("the audit trail page does not name TEAM's configuration: %q", got)
	}
}

// TestDuplicateLinksToTheClash: a duplicate's error names and links to the configuration it
// clashes with, on the Add and the Edit form.
func TestDuplicateLinksToTheClash(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	first := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	r := c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm", bbForm("BITBUCKET.example.com", "algo")).
		wantStatus(http.StatusUnprocessableEntity)
	if got := r.text("#project_key-error"); !strings.Contains(got, "bitbucket.example.com · ALGO") || !strings.Contains(got, "configuration "+ref(first)) {
		t.Errorf("#project_key-error = %q", got)
	}
	if href := r.doc.Find("#project_key-error a").AttrOr("href", ""); href != scmPath(first, "") {
		t.Errorf("the duplicate's error links to %q, want %q", href, scmPath(first, ""))
	}
	gh := validForm("github")
	addConfig(t, c, gh)
	other := validForm("github")
	other.Set("client_id", "another-client")
	second := addConfig(t, c, other)
	f := editForm(t, c.get(scmPath(second, "edit")))
	f.Set("client_id", gh.Get("client_id"))
	r = c.post(scmPath(second, ""), f).wantStatus(http.StatusUnprocessableEntity)
	if r.doc.Find("#client_id-error a.clash").Length() != 1 {
		t.Errorf("the Edit form's duplicate error has no link: %q", r.text("#client_id-error"))
	}
}
