package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTestBeforeSavingMarksFields: with JavaScript, Test before saving marks the fields
// at fault as the page without it does (aria-invalid, #FIELD-error), keeps the secret typed,
// puts the focus on the error summary whose links lead to each field, and clears the marks once
// the values are put right.
func TestBrowserTestBeforeSavingMarksFields(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	b := newBrowser(t, app)
	b.signIn()
	good := fake.form("good-token-1")
	test := `#scm-form button[formaction="/admin/scm/test"]`
	b.run(
		chromedp.Navigate(app.srv.URL+"/admin/scm/new?provider=bitbucket_server"),
		chromedp.WaitVisible("#project_key", chromedp.ByQuery),
		chromedp.Evaluate(`window.noReload = "still here"`, nil),
		chromedp.SetValue("#website_url", "http://plain.example.com", chromedp.ByQuery),
		chromedp.SetValue("#api_url", good.Get("api_url"), chromedp.ByQuery),
		chromedp.SetValue("#ssh_url", good.Get("ssh_url"), chromedp.ByQuery),
		chromedp.SetValue("#project_key", "1-bad", chromedp.ByQuery),
		chromedp.SendKeys("#access_token", "good-token-1", chromedp.ByQuery),
		chromedp.Click(test, chromedp.ByQuery),
	)
	b.waitUntil(`!!document.querySelector("ol#connection-test li[data-step=input]") && !!document.querySelector("#project_key[aria-invalid=true]")`,
		"Test before saving did not mark #project_key")
	var marks map[string]string
	var token, focused, marker string
	b.run(
		chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll("#scm-form [aria-invalid=true]")].map(el =>
			[el.id, (document.getElementById(el.id + "-error") || {}).textContent || "(no #" + el.id + "-error)"]))`, &marks),
		chromedp.Value("#access_token", &token, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`window.noReload || "reloaded"`, &marker),
	)
	if len(marks) != 2 || !strings.Contains(marks["website_url"], "https://") || !strings.Contains(marks["project_key"], "start with a letter") {
		t.Errorf("fields marked: %v, want website_url and project_key with their messages", marks)
	}
	if token != "good-token-1" || marker != "still here" {
		t.Errorf("the typed token reads %q and the page %q: the form was re-rendered", token, marker)
	}
	if focused != "error-summary" {
		t.Errorf("focus on %q after the test, want the error summary", focused)
	}
	b.screenshot("test-before-saving-errors")

	// The summary's link moves the focus to its field.
	b.run(
		chromedp.Click(`#error-summary a[href="#project_key"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
	)
	if focused != "project_key" {
		t.Errorf("the summary's link to #project_key left the focus on %q", focused)
	}

	// Put right, tested again: the marks and the summary go, the test runs.
	b.run(
		chromedp.SetValue("#website_url", good.Get("website_url"), chromedp.ByQuery),
		chromedp.SetValue("#project_key", "ALGO", chromedp.ByQuery),
		chromedp.Click(test, chromedp.ByQuery),
	)
	b.waitUntil(`!!document.querySelector("ol#connection-test li[data-step=ssh]")`, "the corrected values were not tested")
	var left int
	b.run(chromedp.Evaluate(`document.querySelectorAll("#scm-form [aria-invalid], #scm-form .error, #scm-form .has-error, #error-summary:not([hidden])").length`, &left))
	if left != 0 {
		t.Errorf("%d marks left after the fields were put right", left)
	}
}
