package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
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
	// Every document records the Content-Security-Policy violations it sees, so that a test
	// can show htmx works under the policy without breaking it.
	record := chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`document.addEventListener("securitypolicyviolation", function (e) {
			var seen = JSON.parse(sessionStorage.getItem("csp") || "[]");
			seen.push(e.violatedDirective + " " + e.blockedURI);
			sessionStorage.setItem("csp", JSON.stringify(seen));
		});`).Do(ctx)
		return err
	})
	if err := chromedp.Run(ctx, record); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, app: app}
	t.Cleanup(b.assertNoCSPViolations)
	return b
}

// assertNoCSPViolations fails the test if the page reported a CSP violation.
func (b *browser) assertNoCSPViolations() {
	var seen string
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(`sessionStorage.getItem("csp") || "[]"`, &seen)); err != nil {
		return // the browser is already gone: the test failed for another reason
	}
	if seen != "[]" {
		b.t.Errorf("Content-Security-Policy violations: %s", seen)
	}
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

// seedBitbucket stores the Bitbucket Server configuration the Add form's values make, as the
// form would, without going through a page.
func seedBitbucket(t *testing.T, app *testApp, form url.Values) store.SCMConfig {
	t.Helper()
	p, _ := provider.Lookup("bitbucket_server")
	vals, errs := p.Validate(form, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cfg, secrets := p.Config(vals)
	created, err := app.st.CreateSCMConfig(context.Background(), cfg, secrets, store.Actor{Username: "setup"})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// seedBitbuckets seeds a valid Bitbucket Server configuration at https://HOST.example.com for
// each host, and returns their ids in order.
func seedBitbuckets(t *testing.T, app *testApp, hosts ...string) []int64 {
	t.Helper()
	var ids []int64
	for _, host := range hosts {
		f := validForm("bitbucket_server")
		f.Set("website_url", "https://"+host+".example.com")
		ids = append(ids, seedBitbucket(t, app, f).ID)
	}
	return ids
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

// rowText returns the text of the list row of configuration id ("" when it is not there).
func (b *browser) rowText(id int64) string {
	b.t.Helper()
	var text string
	b.run(chromedp.Evaluate(fmt.Sprintf(`(document.querySelector('tr[data-scm-id="%d"]') || {}).innerText || ""`, id), &text))
	return text
}

// waitFor polls the page until the JavaScript expression js is true and htmx has settled
// (new content gets its behaviour only then: a click before would be a plain navigation).
func (b *browser) waitFor(js string) {
	b.t.Helper()
	b.run(chromedp.Poll("("+js+") && "+htmxSettled, nil, chromedp.WithPollingTimeout(10*time.Second)))
}

// htmxSettled is true when htmx is neither requesting nor swapping nor settling anything.
const htmxSettled = `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`

// waitUntil is waitFor that, when js is still not true (or htmx not settled) after 10 s,
// fails the test saying why it waited, which expression and what the page showed.
func (b *browser) waitUntil(js, why string) {
	b.t.Helper()
	err := chromedp.Run(b.ctx, chromedp.Poll("("+js+") && "+htmxSettled, nil, chromedp.WithPollingTimeout(10*time.Second)))
	if err == nil {
		return
	}
	var messages string
	_ = chromedp.Run(b.ctx, chromedp.Evaluate(`(document.querySelector("#messages") || {}).innerText || "(none)"`, &messages))
	b.screenshot("wait-failed")
	b.t.Fatalf("%s: not true within 10 s: %s (%v); #messages shows %q", why, js, err, messages)
}

func TestBrowserLifecycleAndSearch(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	ids := seedBitbuckets(t, app, "alpha", "beta", "gamma")
	b := newBrowser(t, app)
	b.signIn()
	b.run(chromedp.Evaluate(`window.noReload = "still here"`, nil))

	// Make alpha the default: its row and the built-in's change in place, with a message.
	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Make default"]`, ids[0]), chromedp.ByQuery))
	b.waitFor(fmt.Sprintf(`(document.querySelector('tr[data-scm-id="%d"] .badge') || {}).innerText === "Default"`, ids[0]))
	if row := b.rowText(1); strings.Contains(row, "Default") {
		t.Errorf("the built-in row still says Default: %q", row)
	}
	var status string
	b.run(chromedp.Text("[role=status]", &status, chromedp.ByQuery))
	if !strings.Contains(status, "is now the default") {
		t.Errorf("status %q", status)
	}

	// Disable the old default (the built-in), then beta; delete beta with an in-place confirm.
	b.run(chromedp.Click(`tr[data-scm-id="internal"] button[aria-label^="Disable"]`, chromedp.ByQuery))
	b.waitFor(`(document.querySelector('tr[data-scm-id="internal"] .badge') || {}).innerText === "Disabled"`)
	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Disable"]`, ids[1]), chromedp.ByQuery))
	b.waitFor(fmt.Sprintf(`!!document.querySelector('tr[data-scm-id="%d"] a[aria-label^="Delete"]')`, ids[1]))
	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%d"] a[aria-label^="Delete"]`, ids[1]), chromedp.ByQuery))
	b.waitFor(fmt.Sprintf(`!!document.querySelector('tr.confirm[data-scm-id="%d"]')`, ids[1]))
	var focused string
	b.run(chromedp.Evaluate(`document.activeElement.innerText`, &focused))
	b.screenshot("delete-confirm")
	b.run(chromedp.Click(fmt.Sprintf(`tr.confirm[data-scm-id="%d"] button[type=submit]`, ids[1]), chromedp.ByQuery))
	b.waitFor(fmt.Sprintf(`!document.querySelector('tr[data-scm-id="%d"]')`, ids[1]))
	b.run(chromedp.Text("[role=status]", &status, chromedp.ByQuery))
	if !strings.Contains(status, "Deleted") {
		t.Errorf("status after delete %q", status)
	}
	if _, err := app.st.SCMConfig(ctx, ids[1]); err == nil {
		t.Error("beta is still in the database")
	}

	// Typing in the search box narrows the table, and the address follows.
	b.run(chromedp.SendKeys("#q", "gamma", chromedp.ByQuery))
	b.waitFor(`document.querySelectorAll("table#scm-configs tbody tr").length === 1`)
	var search, marker string
	b.run(
		chromedp.Evaluate(`location.search`, &search),
		chromedp.Evaluate(`window.noReload || "reloaded"`, &marker),
	)
	if row := b.rowText(ids[2]); !strings.Contains(row, "gamma.example.com") {
		t.Errorf("search left %q", row)
	}
	if !strings.Contains(search, "q=gamma") {
		t.Errorf("the address did not follow the search: %q", search)
	}
	if marker != "still here" {
		t.Error("an action or the search reloaded the page")
	}
	// A reload of that address shows the same view.
	b.run(chromedp.Reload(), chromedp.WaitVisible("table#scm-configs", chromedp.ByQuery))
	var rows int
	b.run(chromedp.Evaluate(`document.querySelectorAll("table#scm-configs tbody tr").length`, &rows))
	if rows != 1 {
		t.Errorf("after reload %d rows, want the 1 the search found", rows)
	}
}

// TestBrowserRefusalSwapsInPlace guards htmxConfig's responseHandling entry for 409: a
// refused action's response (the current table and an out-of-band alert) is swapped in like
// a success. Here a row's Make default goes stale because the configuration was disabled
// behind the page's back; without the entry htmx drops the 409 and the page shows nothing.
func TestBrowserRefusalSwapsInPlace(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	ids := seedBitbuckets(t, app, "alpha", "beta")
	beta := ids[1]
	b := newBrowser(t, app)
	b.signIn()
	b.run(chromedp.Evaluate(`window.noReload = "still here"`, nil))
	makeDefault := fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Make default"]`, beta)
	b.waitUntil(fmt.Sprintf(`!!document.querySelector('%s')`, makeDefault), "beta's row offers no Make default button to begin with")

	// Someone else disables beta: the page still offers to make it the default.
	if err := app.st.SetEnabled(ctx, beta, false, store.Actor{Username: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Click(makeDefault, chromedp.ByQuery))

	// The server refuses with 409; htmx must swap in its alert (out of band) and its table.
	b.waitUntil(`((document.querySelector("#messages [role=alert]") || {}).innerText || "").includes("is disabled and cannot become the default")`,
		"no refusal in #messages after the stale Make default: was the 409 response not swapped? (htmxConfig's responseHandling)")
	var alert string
	b.run(chromedp.Text("#messages [role=alert]", &alert, chromedp.ByQuery))
	if !strings.Contains(alert, "beta.example.com · ALGO") {
		t.Errorf("the alert does not name beta: %q", alert)
	}
	b.waitUntil(fmt.Sprintf(`!!document.querySelector('tr[data-scm-id="%d"] .badge-disabled')`, beta),
		"beta's row does not show the Disabled badge: the 409's table (the current state) was not swapped in")
	if row := b.rowText(beta); !strings.Contains(row, "Disabled") || strings.Contains(row, "Make default") {
		t.Errorf("beta's row after the refusal %q: want Disabled and no Make default", row)
	}
	b.screenshot("refusal-in-place")
	var marker string
	b.run(chromedp.Evaluate(`window.noReload || "reloaded"`, &marker))
	if marker != "still here" {
		t.Error("the refused action reloaded the page instead of swapping in place")
	}
	if cfg, err := app.st.SCMConfig(ctx, beta); err != nil || cfg.IsDefault || cfg.Enabled {
		t.Errorf("beta in the database after the refusal: default=%v enabled=%v, err=%v; want neither", cfg.IsDefault, cfg.Enabled, err)
	}
	if cfg, err := app.st.SCMConfig(ctx, 1); err != nil || !cfg.IsDefault {
		t.Errorf("the built-in in the database after the refusal: default=%v, err=%v; want still the default", cfg.IsDefault, err)
	}
}

func TestBrowserPhoneWidth(t *testing.T) {
	app := newTestApp(t)
	f := validForm("bitbucket_server")
	f.Set("website_url", "https://bitbucket-server-with-a-long-host-name.algorithms.example.com")
	f.Set("project_key", "MACHINE_LEARNING_ALGORITHMS_TEAM")
	created := seedBitbucket(t, app, f)
	b := newBrowser(t, app)
	b.run(chromedp.EmulateViewport(360, 800))
	b.signIn()
	for _, path := range []string{"/admin/scm", fmt.Sprintf("/admin/scm/%d", created.ID), "/admin/scm/new?provider=bitbucket_server",
		fmt.Sprintf("/admin/scm/%d/edit", created.ID), "/admin/audit"} {
		var width int
		b.run(
			chromedp.Navigate(app.srv.URL+path),
			chromedp.WaitVisible("main", chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
		)
		if width > 360 {
			t.Errorf("%s is %d px wide on a 360 px screen", path, width)
		}
	}
	b.run(chromedp.Navigate(app.srv.URL + "/admin/scm"))
	b.screenshot("phone-list")
}

func TestBrowserKeyboard(t *testing.T) {
	app := newTestApp(t)
	b := newBrowser(t, app)
	b.signIn()
	// From the top of the list, Tab reaches the Add button with a visible focus ring, and
	// Enter follows it.
	var found bool
	for range 10 {
		var label, outline string
		b.run(
			chromedp.KeyEvent("\t"),
			chromedp.Evaluate(`document.activeElement.innerText || ""`, &label),
			chromedp.Evaluate(`getComputedStyle(document.activeElement).outlineStyle`, &outline),
		)
		if strings.TrimSpace(label) == "Add SCM Configuration" {
			found = true
			if outline == "none" {
				t.Error("the focused Add button shows no focus outline")
			}
			break
		}
	}
	if !found {
		t.Fatal("Tab never reached the Add SCM Configuration button")
	}
	b.run(chromedp.KeyEvent("\r"), chromedp.WaitVisible("select[name=provider]", chromedp.ByQuery))
}

func TestBrowserConnectionTest(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	created := seedBitbucket(t, app, fake.form("good-token-1"))
	b := newBrowser(t, app)
	b.signIn()
	var statuses []string
	b.run(
		chromedp.Navigate(fmt.Sprintf("%s/admin/scm/%d", app.srv.URL, created.ID)),
		chromedp.Evaluate(`window.noReload = "still here"`, nil),
		chromedp.Click(`form.test-connection button`, chromedp.ByQuery),
	)
	b.waitFor(`!!document.querySelector("ol#connection-test li[data-step=ssh]")`)
	var marker string
	b.run(
		chromedp.Evaluate(`[...document.querySelectorAll("ol#connection-test li")].map(li => li.dataset.status)`, &statuses),
		chromedp.Evaluate(`window.noReload || "reloaded"`, &marker),
	)
	if marker != "still here" {
		t.Error("the test reloaded the page")
	}
	if len(statuses) != 8 || slices.ContainsFunc(statuses, func(s string) bool { return s != "passed" }) {
		t.Errorf("statuses %v", statuses)
	}
	var health string
	b.run(chromedp.Text("#detail-health", &health, chromedp.ByQuery))
	if !strings.HasPrefix(health, "Passed") {
		t.Errorf("the details page's last test says %q after the test", health)
	}
	b.screenshot("connection-test")
}

// TestBrowserRowActionsWithoutJavaScript shows the list's row actions work as plain forms:
// with scripts off, a row's button submits the table's one form (form="scm-actions") to its
// own formaction, and the 303 back to the list shows the change and its message.
func TestBrowserRowActionsWithoutJavaScript(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	ids := seedBitbuckets(t, app, "alpha", "beta")
	beta := ids[1]
	b := newBrowser(t, app)
	// Scripts stay off for every page this tab loads from now on, the sign-in's included.
	b.run(emulation.SetScriptExecutionDisabled(true))
	b.signIn()
	b.run(
		chromedp.Navigate(app.srv.URL+"/admin/scm"),
		chromedp.WaitVisible("table#scm-configs", chromedp.ByQuery),
	)
	// The page asks for htmx, but it never ran: only the browser's own form handling is left.
	var htmxType string
	var htmxTags int
	b.run(
		chromedp.Evaluate(`typeof htmx`, &htmxType),
		chromedp.Evaluate(`document.querySelectorAll('script[src*="htmx"]').length`, &htmxTags),
	)
	if htmxType != "undefined" || htmxTags == 0 {
		t.Fatalf("typeof htmx = %q with %d htmx script tags: want a page that loads htmx with scripts off", htmxType, htmxTags)
	}

	// submit clicks button (a row's action) and waits, at most 10 s, for the new page that has
	// want: the marker on the old page's body must be gone, so it is a new document. It
	// returns the status message and checks the browser went back to the form's next.
	submit := func(button, want string) (status string) {
		t.Helper()
		var next, at string
		b.run(
			chromedp.Value(`form#scm-actions input[name=next]`, &next, chromedp.ByQuery),
			chromedp.SetAttributeValue("body", "data-before-click", "1", chromedp.ByQuery),
			chromedp.Click(button, chromedp.ByQuery),
		)
		wctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		err := chromedp.Run(wctx,
			chromedp.WaitNotPresent("body[data-before-click]", chromedp.ByQuery),
			chromedp.WaitVisible(want, chromedp.ByQuery),
		)
		if err != nil {
			b.screenshot("no-js-stuck")
			t.Fatalf("clicking %s did not load a page with %s (is the button still part of form#scm-actions?): %v", button, want, err)
		}
		b.run(
			chromedp.Text("[role=status]", &status, chromedp.ByQuery),
			chromedp.Evaluate(`location.pathname + location.search`, &at),
		)
		if !strings.HasPrefix(next, "/admin/scm") || at != next {
			t.Errorf("after clicking %s the browser is at %q, want the form's next %q", button, at, next)
		}
		return status
	}

	// Disable beta: the form goes to the button's formaction, and the 303 returns to the list.
	status := submit(fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Disable"]`, beta),
		fmt.Sprintf(`tr[data-scm-id="%d"] .badge-disabled`, beta))
	if row := b.rowText(beta); !strings.Contains(row, "Disabled") {
		t.Errorf("beta's row %q lacks the Disabled badge", row)
	}
	if !strings.Contains(status, "Disabled “beta.example.com · ALGO”") {
		t.Errorf("status after disable %q", status)
	}
	b.screenshot("no-js-disabled")
	if cfg, err := app.st.SCMConfig(ctx, beta); err != nil || cfg.Enabled {
		t.Fatalf("beta in the database after Disable: enabled=%v, err=%v", cfg.Enabled, err)
	}
	if cfg, err := app.st.SCMConfig(ctx, ids[0]); err != nil || !cfg.Enabled {
		t.Errorf("alpha in the database after beta's Disable: enabled=%v, err=%v", cfg.Enabled, err)
	}

	// Enable it again from its row.
	status = submit(fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Enable"]`, beta),
		fmt.Sprintf(`tr[data-scm-id="%d"] button[aria-label^="Disable"]`, beta))
	if row := b.rowText(beta); strings.Contains(row, "Disabled") {
		t.Errorf("beta's row %q still says Disabled", row)
	}
	if !strings.Contains(status, "Enabled “beta.example.com · ALGO”") {
		t.Errorf("status after enable %q", status)
	}
	if cfg, err := app.st.SCMConfig(ctx, beta); err != nil || !cfg.Enabled {
		t.Errorf("beta in the database after Enable: enabled=%v, err=%v", cfg.Enabled, err)
	}
}
