package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/scmadmin/scmadmin/store"
)

// seedLongValues seeds Bitbucket Server configurations with 100-character URLs and a
// 128-character project key, one of them disabled, and returns their ids.
func seedLongValues(t *testing.T, app *testApp) []int64 {
	t.Helper()
	host := strings.Repeat("a", 40) + "." + strings.Repeat("b", 39) + ".example.com" // 92 characters
	var ids []int64
	for i, key := range []string{"ALGO", "K" + strings.Repeat("EY_LONG", 18) + "_", "TEAM"} {
		f := validForm("bitbucket_server")
		h := fmt.Sprintf("%d%s", i, host[1:])
		f.Set("website_url", "https://"+h)
		f.Set("api_url", "https://"+h+"/rest/api/1.0")
		f.Set("ssh_url", "ssh://git@"+h+":7999")
		f.Set("project_key", key)
		ids = append(ids, seedBitbucket(t, app, f).ID)
	}
	if n := len("https://" + host); n != 100 {
		t.Fatalf("the long URL has %d characters, want 100", n)
	}
	if err := app.st.SetEnabled(context.Background(), ids[2], false, store.Actor{Username: "setup"}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestBrowserListFitsTheScreen measures the list: at 1280 px every row's actions and health
// are inside the viewport, with nothing to scroll sideways; at 360 px the page is no wider
// than the screen.
func TestBrowserListFitsTheScreen(t *testing.T) {
	app := newTestApp(t)
	seedLongValues(t, app)
	b := newBrowser(t, app)
	b.signIn()
	b.run(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(b.app.srv.URL+"/admin/scm"), chromedp.WaitVisible("table#scm-configs", chromedp.ByQuery))
	var outside []string
	var scrollWidth, viewport, rows int
	b.run(
		chromedp.Evaluate(`[...document.querySelectorAll("tr[data-scm-id]")].flatMap(tr =>
			[...tr.querySelectorAll(".row-buttons button, .row-buttons a, .health")].filter(el => {
				const r = el.getBoundingClientRect();
				return r.width === 0 || r.left < 0 || r.right > window.innerWidth;
			}).map(el => tr.dataset.scmId + ": " + el.textContent.trim()))`, &outside),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth),
		chromedp.Evaluate(`window.innerWidth`, &viewport),
		chromedp.Evaluate(`document.querySelectorAll("tr[data-scm-id] .row-buttons > *").length`, &rows),
	)
	if rows < 8 {
		t.Errorf("only %d row buttons: the seeded rows are missing", rows)
	}
	if len(outside) > 0 {
		t.Errorf("at 1280 px these are outside the viewport: %v", outside)
	}
	if scrollWidth > viewport {
		t.Errorf("at 1280 px the page is %d px wide in a %d px viewport", scrollWidth, viewport)
	}
	var wrapScroll int
	b.run(chromedp.Evaluate(`(w => w.scrollWidth - w.clientWidth)(document.querySelector(".table-wrap"))`, &wrapScroll))
	if wrapScroll > 0 {
		t.Errorf("the table scrolls sideways by %d px at 1280 px", wrapScroll)
	}
	b.screenshot("list-long-values")

	b.run(chromedp.EmulateViewport(360, 800), chromedp.Reload(), chromedp.WaitVisible("table#scm-configs", chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth))
	if scrollWidth > 360 {
		t.Errorf("at 360 px the list is %d px wide", scrollWidth)
	}
	b.screenshot("phone-list-long-values")
}

// TestBrowserFocusAfterRowActions: after a row's action the focus is in that row of the new
// table (or on the status message once the row is gone), never on <body>; Escape cancels
// the in-place delete confirmation.
func TestBrowserFocusAfterRowActions(t *testing.T) {
	app := newTestApp(t)
	ids := seedBitbuckets(t, app, "alpha", "beta")
	beta := ref(ids[1])
	b := newBrowser(t, app)
	b.signIn()
	focusRow := `(document.activeElement.closest("tr[data-scm-id]") || {dataset: {}}).dataset.scmId || document.activeElement.tagName`

	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%s"] button[aria-label^="Disable"]`, beta), chromedp.ByQuery))
	b.waitUntil(fmt.Sprintf(`!!document.querySelector('tr[data-scm-id="%s"] .badge-disabled')`, beta), "beta was not disabled in place")
	var focused, label string
	b.run(chromedp.Evaluate(focusRow, &focused), chromedp.Evaluate(`document.activeElement.textContent.trim()`, &label))
	if focused != beta || label != "Enable" {
		t.Errorf("after Disable the focus is on %q %q, want beta's Enable", focused, label)
	}

	// Delete asks in place; Escape cancels, and the focus is back on the row's Delete.
	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%s"] a[aria-label^="Delete"]`, beta), chromedp.ByQuery))
	b.waitUntil(fmt.Sprintf(`!!document.querySelector('tr.confirm[data-scm-id="%s"]')`, beta), "no in-place confirmation")
	b.run(chromedp.Evaluate(focusRow, &focused))
	if focused != beta {
		t.Errorf("the confirmation does not have the focus: %q", focused)
	}
	b.run(chromedp.KeyEvent(kb.Escape))
	b.waitUntil(fmt.Sprintf(`!document.querySelector('tr.confirm') && !!document.querySelector('tr[data-scm-id="%s"] a[aria-label^="Delete"]')`, beta),
		"Escape did not cancel the confirmation")
	b.run(chromedp.Evaluate(focusRow, &focused), chromedp.Evaluate(`document.activeElement.textContent.trim()`, &label))
	if focused != beta || label != "Delete" {
		t.Errorf("after Escape the focus is on %q %q, want beta's Delete", focused, label)
	}
	if !configExists(t, app, ids[1]) {
		t.Fatal("Escape deleted beta")
	}

	// Confirmed: the row is gone, the focus is on the status message.
	b.run(chromedp.Click(fmt.Sprintf(`tr[data-scm-id="%s"] a[aria-label^="Delete"]`, beta), chromedp.ByQuery))
	b.waitUntil(`!!document.querySelector('tr.confirm')`, "no in-place confirmation")
	b.run(chromedp.Click(`tr.confirm button[type=submit]`, chromedp.ByQuery))
	b.waitUntil(fmt.Sprintf(`!document.querySelector('tr[data-scm-id="%s"]')`, beta), "beta was not deleted")
	var role string
	b.run(chromedp.Evaluate(`document.activeElement.getAttribute("role") || document.activeElement.tagName`, &role))
	if role != "status" {
		t.Errorf("after the delete the focus is on %q, want the status message", role)
	}
}

// TestBrowserCopyWithoutClipboardAPI: on a plain-http host the clipboard API is missing; the
// Copy button then selects the webhook URL and says to press Ctrl+C.
func TestBrowserCopyWithoutClipboardAPI(t *testing.T) {
	app := newTestAppWith(t, Config{BaseURL: "http://scm.example.com"})
	id := seedBitbuckets(t, app, "alpha")[0]
	b := newBrowser(t, app)
	b.signIn()
	var selected, note string
	b.run(
		chromedp.Navigate(app.srv.URL+scmPath(id, "")),
		chromedp.WaitVisible("#webhook-url", chromedp.ByQuery),
		chromedp.Evaluate(`Object.defineProperty(navigator, "clipboard", {value: undefined, configurable: true})`, nil),
		chromedp.Click(`button[data-copy="webhook-url"]`, chromedp.ByQuery),
		chromedp.Evaluate(`window.getSelection().toString().trim()`, &selected),
		chromedp.Text(`#webhook-url ~ .copy-note`, &note, chromedp.ByQuery),
	)
	if want := "http://scm.example.com/hooks/scm/" + ref(id); selected != want {
		t.Errorf("selected %q, want the webhook URL %q", selected, want)
	}
	if !strings.Contains(note, "Ctrl+C") {
		t.Errorf("the note beside Copy says %q, want Ctrl+C", note)
	}
}
