package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser drives headless Chromium (Debian's package) against a test app. Browser tests skip
// when no Chromium is installed, and fail instead when SCMADMIN_E2E=1, as in CI.
type browser struct {
	t   *testing.T
	ctx context.Context
	app *testApp
}

func newBrowser(t *testing.T, app *testApp) *browser {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("SCMADMIN_E2E") == "1" {
			t.Fatal("SCMADMIN_E2E=1 but no Chromium found: apt-get install -y chromium")
		}
		t.Skip("browser test skipped: no Chromium found (apt-get install -y chromium; SCMADMIN_E2E=1 makes this a failure)")
	}
	// Not t.TempDir: Chromium's helper processes may still write to the profile for a moment
	// after the browser exits, which would fail the test in TempDir's cleanup.
	profile, err := os.MkdirTemp("", "scmadmin-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		chromedp.Cancel(ctx) // closes the browser gracefully
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, app: app}
}

func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) signIn() {
	b.t.Helper()
	b.run(
		chromedp.Navigate(b.app.srv.URL+"/login"),
		chromedp.SendKeys("#username", adminName, chromedp.ByQuery),
		chromedp.SendKeys("#password", adminPassword, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
		chromedp.WaitVisible("table#scm-configs", chromedp.ByQuery),
	)
}

// screenshot saves the page as NAME.png into $SCMADMIN_SCREENSHOTS when it is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("SCMADMIN_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func TestBrowserAddBitbucketServer(t *testing.T) {
	app := newTestApp(t)
	b := newBrowser(t, app)
	b.signIn()

	var marker, search, focused, keyError, row string
	b.run(
		chromedp.Navigate(app.srv.URL+"/admin/scm/new"),
		chromedp.WaitVisible("#client_id", chromedp.ByQuery),
		// A marker that a page load would wipe out.
		chromedp.Evaluate(`window.noReload = "still here"`, nil),
		chromedp.SetValue("select[name=provider]", "bitbucket_server", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("select[name=provider]").dispatchEvent(new Event("change", {bubbles: true}))`, nil),
		chromedp.WaitVisible("#project_key", chromedp.ByQuery),
		chromedp.Evaluate(`window.noReload || "reloaded"`, &marker),
		chromedp.Evaluate(`location.search`, &search),
	)
	if marker != "still here" {
		t.Error("choosing a provider reloaded the page")
	}
	if search != "?provider=bitbucket_server" {
		t.Errorf("the URL did not follow the provider: %q", search)
	}
	b.screenshot("form")

	// Bad input: each error beside its field, the focus on the first.
	b.run(
		chromedp.SetValue("#website_url", "http://bitbucket.example.com", chromedp.ByQuery),
		chromedp.SetValue("#api_url", "https://bitbucket.example.com/rest/api/1.0", chromedp.ByQuery),
		chromedp.SetValue("#ssh_url", "ssh://git@bitbucket.example.com:8000", chromedp.ByQuery),
		chromedp.SetValue("#project_key", "1-bad", chromedp.ByQuery),
		chromedp.Click("#scm-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#website_url-error", chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Text("#project_key-error", &keyError, chromedp.ByQuery),
	)
	if focused != "website_url" {
		t.Errorf("focus is on %q, want the first invalid field", focused)
	}
	if !strings.Contains(keyError, "start with a letter") {
		t.Errorf("#project_key-error = %q", keyError)
	}

	b.run(
		chromedp.SetValue("#website_url", "https://bitbucket.example.com", chromedp.ByQuery),
		chromedp.SetValue("#project_key", "ALGO", chromedp.ByQuery),
		chromedp.SendKeys("#access_token", "browser-token-1", chromedp.ByQuery),
		chromedp.Click("#scm-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-scm-id="2"]`, chromedp.ByQuery),
		chromedp.Text(`tr[data-scm-id="2"]`, &row, chromedp.ByQuery),
	)
	for _, want := range []string{"Bitbucket Server (build-on-checkin)", "https://bitbucket.example.com", "ALGO"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	b.screenshot("list")
}
