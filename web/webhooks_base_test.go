package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// rotateSecret rotates configuration id's webhook secret as an admin does: the confirmation,
// its POST (303), then the page that shows the new secret.
func rotateSecret(t *testing.T, c *client, id int64) *response {
	t.Helper()
	c.submit(scmPath(id, "webhook/rotate"), scmPath(id, "webhook/rotate"), nil).wantRedirect(scmPath(id, "webhook/secret"))
	return c.get(scmPath(id, "webhook/secret")).wantStatus(http.StatusOK)
}

// TestWebhookRotationAsksAndShowsOnce: Rotate asks first; its POST answers 303 to a page that
// shows the secret once, so a reload neither rotates again nor shows it again.
func TestWebhookRotationAsksAndShowsOnce(t *testing.T) {
	app, c, id := newHookApp(t)
	confirm := c.get(scmPath(id, "webhook/rotate")).wantStatus(http.StatusOK)
	if !strings.Contains(confirm.text("h1"), "Rotate the webhook secret") || confirm.doc.Find(`form[method=post] button#confirm-rotate`).Length() != 1 {
		t.Fatalf("the confirmation page does not ask: %q", confirm.text("main"))
	}
	if openSecrets(t, app, id)[store.WebhookSecret] != hookSecret {
		t.Fatal("asking rotated the secret")
	}
	rotations := func() int {
		n := 0
		for _, a := range auditActions(t, app, id) {
			if a == store.ActionRotateWebhookSecret {
				n++
			}
		}
		return n
	}
	before := rotations()
	secret := rotateSecret(t, c, id).text("#webhook-secret")
	if openSecrets(t, app, id)[store.WebhookSecret] != secret {
		t.Fatalf("the page shows %q, not the stored secret", secret)
	}
	reload := c.get(scmPath(id, "webhook/secret")).wantRedirect(scmPath(id, ""))
	if strings.Contains(reload.body, secret) {
		t.Error("the reload shows the secret again")
	}
	details := c.get(scmPath(id, ""))
	if strings.Contains(details.body, secret) || !strings.Contains(details.text("[role=status]"), "shown only once") {
		t.Errorf("after the reload the details page says %q", details.text("#messages"))
	}
	if got := openSecrets(t, app, id)[store.WebhookSecret]; got != secret {
		t.Error("the reload rotated the secret again")
	}
	if n := rotations() - before; n != 1 {
		t.Errorf("%d rotations in the audit, want 1", n)
	}
	assertNotStored(t, app, "new webhook secret", secret)
}

// TestWebhookBaseURLWarningsAndInstallRefusal: the details page warns of a loopback or plain
// http webhook URL, and Install webhook refuses a loopback one with the reason.
func TestWebhookBaseURLWarningsAndInstallRefusal(t *testing.T) {
	for _, tc := range []struct {
		base          string
		warn          []string
		refuseInstall bool
	}{
		{"http://localhost:8080", []string{"only this machine can reach", "plain http"}, true},
		{"https://127.0.0.1", []string{"only this machine can reach"}, true},
		{"http://scm.example.com", []string{"plain http"}, false},
		{"https://scm.example.com", nil, false},
	} {
		app := newTestAppWith(t, Config{BaseURL: tc.base})
		c := app.adminClient()
		id := addConfig(t, c, bbForm("bb.example.com", "ALGO"))
		page := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
		if page.has("#webhook-unreachable") != (len(tc.warn) > 0) {
			t.Errorf("%s: warning shown = %v, want %v", tc.base, page.has("#webhook-unreachable"), len(tc.warn) > 0)
		}
		for _, w := range tc.warn {
			if got := page.text("#webhook-unreachable"); !strings.Contains(got, w) {
				t.Errorf("%s: #webhook-unreachable %q lacks %q", tc.base, got, w)
			}
		}
		if !tc.refuseInstall {
			continue
		}
		r := c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil).wantStatus(http.StatusConflict)
		if got := r.text("[role=alert]"); !strings.Contains(got, "Not installed") || !strings.Contains(got, "SCMADMIN_BASE_URL") {
			t.Errorf("%s: the refusal says %q", tc.base, got)
		}
		if contains(auditActions(t, app, id), store.ActionInstallWebhook) {
			t.Errorf("%s: the refused install is in the audit", tc.base)
		}
	}
}
