package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"
)

// An admin on a GitHub configuration's page clicks Connect your account; the fake GitHub's
// authorize page approves at once, and the browser comes back to the page, which shows the
// connected account.
func TestBrowserOAuthConnect(t *testing.T) {
	a := newOAuthApp(t, "github")
	b := newBrowser(t, a.testApp)
	// The fake GitHub's certificate is httptest's, which only scmadmin (Config.ExtraCAs)
	// trusts: this browser accepts it too.
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		return security.SetIgnoreCertificateErrors(true).Do(ctx)
	}))
	b.signIn()

	var account, path, status string
	b.run(
		chromedp.Navigate(a.srv.URL+scmPath(a.cfg.ID, "")),
		chromedp.WaitVisible("#oauth-connect", chromedp.ByQuery),
		chromedp.Click("#oauth-connect", chromedp.ByQuery),
		chromedp.WaitVisible("#oauth-account", chromedp.ByQuery),
		chromedp.Text("#oauth-account", &account, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
		chromedp.Text("[role=status]", &status, chromedp.ByQuery),
	)
	if path != scmPath(a.cfg.ID, "") {
		t.Errorf("the browser ended on %s, want the configuration's page", path)
	}
	if !strings.Contains(account, a.host.login) {
		t.Errorf("#oauth-account %q, want %s", account, a.host.login)
	}
	if !strings.Contains(status, "Connected as "+a.host.login) {
		t.Errorf("status %q", status)
	}
	if n := len(a.host.seen(http.MethodGet, a.host.fam.authorize)); n != 1 {
		t.Errorf("the authorize page was opened %d times, want 1", n)
	}
	if a.connections() != 1 {
		t.Errorf("%d accounts connected, want 1", a.connections())
	}
	b.screenshot("oauth-connected")
}
