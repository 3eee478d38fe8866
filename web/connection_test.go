package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func steps(r *response) map[string]string {
	got := map[string]string{}
	r.doc.Find("ol#connection-test li[data-step]").Each(func(_ int, li *goquery.Selection) {
		got[li.AttrOr("data-step", "")] = li.AttrOr("data-status", "")
	})
	return got
}

func TestConnectionTestOfStoredConfiguration(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	c := app.adminClient()
	c.submit("/admin/scm/new", "/admin/scm", fake.form("good-token-1")).wantRedirect("/admin/scm")

	r := c.submit("/admin/scm/2", "/admin/scm/2/test", nil).wantStatus(http.StatusOK)
	want := []string{"dns", "tcp", "tls", "product", "token", "project", "permission", "ssh"}
	got := steps(r)
	for _, id := range want {
		if got[id] != "passed" {
			t.Errorf("step %s is %q, want passed; checklist: %s", id, got[id], r.text("ol#connection-test"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("steps %v", got)
	}
	if !strings.Contains(r.text(`li[data-step="token"]`), "svc-platform") {
		t.Errorf("token step %q does not name the user", r.text(`li[data-step="token"]`))
	}
	// The result is kept: the list and the details page show it.
	if h := c.get("/admin/scm").text(`tr[data-scm-id="2"] .health`); h != "Passed" {
		t.Errorf("list health %q", h)
	}
	cfg, _ := app.st.SCMConfig(context.Background(), 2)
	if !cfg.LastTest.Passed || cfg.LastTest.At.IsZero() {
		t.Errorf("stored health %+v", cfg.LastTest)
	}

	// A revoked token: the token step fails with Bitbucket's words, later steps are skipped,
	// and the list says where it failed.
	fake.RevokeToken("good-token-1")
	r = c.submit("/admin/scm/2", "/admin/scm/2/test", nil)
	got = steps(r)
	if got["token"] != "failed" || got["project"] != "skipped" || got["ssh"] != "skipped" {
		t.Errorf("after revocation: %v", got)
	}
	if !strings.Contains(r.text(`li[data-step="token"]`), "Authentication failed") {
		t.Errorf("token step %q", r.text(`li[data-step="token"]`))
	}
	if h := c.get("/admin/scm").text(`tr[data-scm-id="2"] .health`); !strings.HasPrefix(h, "Failing since ") ||
		!strings.HasSuffix(h, ": Access token authenticates") {
		t.Errorf("list health %q", h)
	}
	assertNoSecrets(t, app, r)
	if strings.Contains(r.body, "good-token-1") || strings.Contains(app.logs.String(), "good-token-1") {
		t.Error("the token was rendered or logged")
	}

	// With htmx the checklist alone comes back, to be swapped in place.
	token, _ := c.get("/admin/scm/2").doc.Find(`meta[name="csrf-token"]`).Attr("content")
	req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/scm/2/test", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", token)
	frag := c.do(req).wantStatus(http.StatusOK)
	if frag.has("html body header") || !frag.has("section#connection-test-result ol#connection-test") {
		t.Errorf("htmx answer is not the checklist fragment:\n%s", frag.body)
	}
	// The health history comes along, out of band, with this test as its newest result.
	if n := frag.doc.Find(`section#health-history[hx-swap-oob] #health-results tbody tr`).Length(); n != 3 {
		t.Errorf("the htmx answer's health history has %d results, want the 3 tests run", n)
	}

	c.submit("/admin/scm/internal", "/admin/scm/internal/test", nil).wantStatus(http.StatusBadRequest)
}

func TestTestBeforeSaving(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	c := app.adminClient()

	// The Add form's values, tested: nothing is stored; the form comes back, secret blank.
	r := c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", fake.form("good-token-1")).wantStatus(http.StatusOK)
	if got := steps(r); got["ssh"] != "passed" {
		t.Errorf("form test: %v", got)
	}
	if v, _ := r.doc.Find("#scm-form input[name=website_url]").Attr("value"); v != fake.srv.URL {
		t.Errorf("typed Website URL not kept: %q", v)
	}
	if v, _ := r.doc.Find("#scm-form input[name=access_token]").Attr("value"); v != "" {
		t.Error("the token came back into the form")
	}
	assertConfigCount(t, app, 1)

	// A bad token is caught before saving.
	r = c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", fake.form("wrong"))
	if got := steps(r); got["token"] != "failed" {
		t.Errorf("bad token before saving: %v", got)
	}
	// Values that are not valid yet are not tested at all.
	bad := fake.form("x")
	bad.Set("website_url", "http://plain")
	r = c.submit("/admin/scm/new?provider=bitbucket_server", "/admin/scm/test", bad)
	if got := steps(r); got["input"] != "failed" || len(got) != 1 {
		t.Errorf("invalid input: %v", got)
	}
	if !r.has(`input[name=website_url][aria-invalid=true]`) {
		t.Error("the invalid field is not marked")
	}

	// On Edit, a token left empty is the stored one.
	c.submit("/admin/scm/new", "/admin/scm", fake.form("good-token-1")).wantRedirect("/admin/scm")
	edit := fake.form("")
	edit.Set("id", "2")
	fake.Reset()
	r = c.submit("/admin/scm/2/edit", "/admin/scm/test", edit)
	if got := steps(r); got["permission"] != "passed" {
		t.Errorf("edit test with the stored token: %v", got)
	}
	if len(fake.Calls()) == 0 {
		t.Error("the fake was not called")
	}
	cfg, _ := app.st.SCMConfig(context.Background(), 2)
	if !cfg.LastTest.At.IsZero() {
		t.Error("Test before saving stored a result")
	}
}

func TestTestBeforeSavingNeverSendsAStoredSecretElsewhere(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	other := newBitbucketHost(t, "anything")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: append(fake.srv.CAPEM, other.srv.CAPEM...)})
	c := app.adminClient()
	c.submit("/admin/scm/new", "/admin/scm", fake.form("good-token-1")).wantRedirect("/admin/scm")

	// The saved configuration's id, another host's URLs, the token left empty.
	edit := other.form("")
	edit.Set("id", "2")
	r := c.submit("/admin/scm/2/edit", "/admin/scm/test", edit)
	if got := steps(r); got["input"] != "failed" {
		t.Errorf("steps %v: the test ran against another host with the stored token", got)
	}
	if !strings.Contains(r.text("#access_token-error"), "again") {
		t.Errorf("#access_token-error %q", r.text("#access_token-error"))
	}
	for _, call := range other.Calls() {
		if a := call.Header.Get("Authorization"); a != "" {
			t.Fatalf("the other host received %q", a)
		}
	}
	// Typing the token again makes the test run.
	edit.Set("access_token", "typed-again")
	if got := steps(c.submit("/admin/scm/2/edit", "/admin/scm/test", edit)); got["dns"] != "passed" {
		t.Errorf("with the token typed again: %v", got)
	}
}
