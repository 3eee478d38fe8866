package web

import (
	"net/http"
	"strings"
	"testing"
)

// A warning does not stop a save: it comes with the confirmation.
func TestSaveSaysWhatIsWorthChecking(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := bbForm("bitbucket.example.com", "ALGO")
	form.Set("api_url", "https://api.example.com/rest/api/1.0")
	id := addConfig(t, c, form)
	status := c.get("/admin/scm").text("[role=status]")
	if !strings.Contains(status, "Added") || !strings.Contains(status, "api.example.com, is not the Website URL's, bitbucket.example.com") {
		t.Errorf("status = %q", status)
	}

	f := editForm(t, c.get(scmPath(id, "edit")))
	f.Set("website_url", "https://bücher.example")
	f.Set("api_url", "https://bücher.example/rest/api/1.0")
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
	details := c.get(scmPath(id, ""))
	if status := details.text("[role=status]"); !strings.Contains(status, "https://bücher.example is stored as https://xn--bcher-kva.example") ||
		strings.Contains(status, "is not the Website URL's") {
		t.Errorf("status = %q", status)
	}
	if cfg := mustConfig(t, app, id); cfg.WebsiteURL != "https://xn--bcher-kva.example" {
		t.Errorf("stored Website URL = %q", cfg.WebsiteURL)
	}

	f.Set("api_url", "https://bücher.example")
	r := c.post(scmPath(id, ""), f).wantStatus(http.StatusUnprocessableEntity)
	if got := r.text("#api_url-error"); !strings.Contains(got, "enter https://xn--bcher-kva.example/rest/api/1.0") {
		t.Errorf("api_url error = %q", got)
	}
	if _, ok := r.doc.Find(`#api_url[aria-invalid="true"]`).Attr("id"); !ok {
		t.Error("api_url not marked invalid")
	}
}
