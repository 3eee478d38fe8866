package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// submitHTMX is submit as htmx makes it: the page's CSRF token in X-CSRF-Token.
func (c *client) submitHTMX(from, action string, form url.Values) *response {
	c.t.Helper()
	token := c.get(from).csrf()
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", token)
	return c.do(req)
}

// assertSummary checks the error summary of a page with fields at fault: the page's one alert,
// heading with notDone, focusable, one link per field to #FIELD whose text is the field's
// message, each field marked (aria-invalid, #FIELD-error); and no status message.
func assertSummary(t *testing.T, r *response, notDone string, fields ...string) {
	t.Helper()
	if n := r.doc.Find("[role=alert]").Length(); n != 1 || !r.has("#scm-form > #error-summary[role=alert][tabindex='-1']") {
		t.Errorf("%d [role=alert], want the one error summary at the top of #scm-form:\n%s", n, r.body)
	}
	if n := r.doc.Find("[role=status]").Length(); n != 0 {
		t.Errorf("%d [role=status] beside the error summary", n)
	}
	if got := r.text("#error-summary h2"); !strings.HasPrefix(got, notDone) {
		t.Errorf("summary heading %q, want it to start %q", got, notDone)
	}
	if n := r.doc.Find("#error-summary a").Length(); n != len(fields) {
		t.Errorf("%d links in the summary, want %d (%v)", n, len(fields), fields)
	}
	for _, name := range fields {
		link := r.text(`#error-summary a[href="#` + name + `"]`)
		if msg := r.text("#" + name + "-error"); link == "" || !strings.HasPrefix(msg, link) {
			t.Errorf("summary link to #%s reads %q, its #%s-error %q", name, link, name, msg)
		}
		if !r.has("#" + name + `[aria-invalid=true]`) {
			t.Errorf("#%s is not marked aria-invalid", name)
		}
	}
}

// TestErrorSummaryWithoutJavaScript: after Create, Save or Test before saving with fields at
// fault, the form opens with a summary linking to each of them, beside the marked fields.
func TestErrorSummaryWithoutJavaScript(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	bad := validForm("bitbucket_server")
	bad.Set("website_url", "http://bitbucket.example.com")
	bad.Set("project_key", "1-bad")
	r := c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm", bad).wantStatus(http.StatusUnprocessableEntity)
	assertSummary(t, r, "The configuration was not saved: correct the 2 fields", "website_url", "project_key")

	r = c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", bad).wantStatus(http.StatusOK)
	assertSummary(t, r, "The connection was not tested: correct the 2 fields", "website_url", "project_key")

	id := addConfig(t, c, validForm("bitbucket_server"))
	edit := editForm(t, c.get(scmPath(id, "edit")))
	edit.Set("ssh_url", "not a url")
	r = c.submit(scmPath(id, "edit"), scmPath(id, ""), edit).wantStatus(http.StatusUnprocessableEntity)
	assertSummary(t, r, "The configuration was not saved: correct the field", "ssh_url")

	// A form with nothing at fault has only the empty place of a summary, and no alert.
	r = c.get(scmPath(id, "edit"))
	if !r.has("#error-summary[hidden]") || r.has("[role=alert]") {
		t.Errorf("the Edit form without errors has a summary or an alert:\n%s", r.body)
	}
}

// TestTestBeforeSavingWithHTMXCarriesTheFaults: htmx's answer to Test before saving is the
// checklist and, out of band, the error summary app.js marks the fields from; never the inputs,
// which would wipe the secrets typed. Once the values are valid the summary comes back empty.
func TestTestBeforeSavingWithHTMXCarriesTheFaults(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	c := app.adminClient()
	bad := fake.form("good-token-1")
	bad.Set("project_key", "1-bad")
	r := c.submitHTMX("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", bad).wantStatus(http.StatusOK)
	if steps(r)["input"] != "failed" {
		t.Errorf("steps %v", steps(r))
	}
	if r.has("input") || r.has("#scm-form") {
		t.Errorf("the htmx answer re-renders the form's inputs:\n%s", r.body)
	}
	if !r.has(`#error-summary[role=alert][hx-swap-oob=true][data-apply]`) {
		t.Fatalf("no out-of-band error summary for app.js to apply:\n%s", r.body)
	}
	if got := r.text(`#error-summary a[href="#project_key"][data-field=project_key]`); !strings.Contains(got, "start with a letter") {
		t.Errorf("the summary's project_key line reads %q", got)
	}
	r = c.submitHTMX("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", fake.form("good-token-1")).wantStatus(http.StatusOK)
	if !r.has(`#error-summary[hidden][hx-swap-oob=true][data-apply]`) || r.has("#error-summary a") {
		t.Errorf("valid values: the summary is not swapped back to empty:\n%s", r.body)
	}
	// Switching provider with htmx empties the summary: its lines spoke of the other fields.
	if !c.getHTMX("/admin/scm/new?provider=github").has(`#error-summary[hidden][hx-swap-oob=true]`) {
		t.Error("the provider switch leaves the last summary in place")
	}
}
