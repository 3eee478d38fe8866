package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestHundredConcurrentDuplicateCreates: 100 creates of the same configuration at once, from
// one signed-in admin, make exactly one row; the 99 others are told, beside the project key,
// which configuration already holds it. None is a 500.
func TestHundredConcurrentDuplicateCreates(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm/new").csrf()
	form := validForm("bitbucket_server")
	form.Set("name", "Algorithms")
	form.Set("_csrf", token)

	const n = 100
	answers := c.postConcurrently(slices.Repeat([]post{{"/admin/scm", form}}, n)...)
	for i, r := range answers {
		if r.status == http.StatusUnprocessableEntity {
			msg := strings.Join(strings.Fields(r.doc.Find("#project_key-error").Text()), " ")
			for _, want := range []string{"ALGO", "Algorithms", "configuration 2"} {
				if !strings.Contains(msg, want) {
					t.Errorf("request %d: #project_key-error %q lacks %q", i, msg, want)
					break
				}
			}
		}
	}
	codes := statuses(answers)
	if codes[http.StatusSeeOther] != 1 || codes[http.StatusUnprocessableEntity] != n-1 {
		t.Errorf("status codes %v, want one 303 and %d 422", codes, n-1)
	}
	if codes[http.StatusInternalServerError] > 0 {
		t.Errorf("%d answers were 500; log:\n%s", codes[http.StatusInternalServerError], app.logs.String())
	}
	assertConfigCount(t, app, 2)
	if cfg := mustConfig(t, app, 2); cfg.Name != "Algorithms" || cfg.ProjectKey != "ALGO" {
		t.Errorf("stored %+v", cfg)
	}
	if s := openSecrets(t, app, 2); s["access_token"] != canaryToken {
		t.Errorf("stored token %q", s["access_token"])
	}
	// The list shows one row for it.
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := list.doc.Find(`table#scm-configs tr[data-scm-id]`).Length(); got != 2 {
		t.Errorf("list has %d rows, want 2", got)
	}
}
