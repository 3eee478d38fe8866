package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// Helpers shared by lifecycle_test.go, edit_test.go, audit_test.go and list_test.go.

// metaToken is the CSRF token htmx reads from <meta name="csrf-token">.
func metaToken(c *client) string {
	c.t.Helper()
	token, _ := c.get("/admin/scm").doc.Find(`meta[name="csrf-token"]`).Attr("content")
	if token == "" {
		c.t.Fatal("no meta csrf-token")
	}
	return token
}

// postHTMX is a POST as htmx sends it: HX-Request and the CSRF token in X-CSRF-Token.
func postHTMX(c *client, path string, form url.Values) *response {
	c.t.Helper()
	token := metaToken(c)
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Current-URL", c.app.srv.URL+"/admin/scm")
	req.Header.Set("X-CSRF-Token", token)
	return c.do(req)
}

// fragmentDoc parses a response that is a bare table row, which an HTML parser only keeps
// inside a table.
func fragmentDoc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + body + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func alertText(r *response) string {
	r.t.Helper()
	return r.text("[role=alert]")
}

func TestMakeDefaultMovesTheBadge(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := bbForm("bitbucket.example.com", "ALGO")
	form.Set("name", "Team Bitbucket")
	id := addConfig(t, c, form)

	before := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := rowBadges(before, 1); got != "Default" {
		t.Fatalf("built-in badges %q before", got)
	}
	if got := rowBadges(before, id); got != "" {
		t.Fatalf("new row badges %q before", got)
	}

	act(c, id, "default", "/admin/scm").wantRedirect("/admin/scm")
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := rowBadges(list, 1); got != "" {
		t.Errorf("built-in still has badges %q", got)
	}
	if got := rowBadges(list, id); got != "Default" {
		t.Errorf("new default's badges %q, want Default", got)
	}
	if msg := list.text("[role=status]"); !strings.Contains(msg, "Team Bitbucket") || !strings.Contains(msg, "default") {
		t.Errorf("status message %q", msg)
	}
	// The message is shown once.
	if c.get("/admin/scm").has("[role=status]") {
		t.Error("status message shown twice")
	}
	if cfg := mustConfig(t, app, id); !cfg.IsDefault {
		t.Error("not the default in the database")
	}
	if cfg := mustConfig(t, app, 1); cfg.IsDefault {
		t.Error("the built-in is still the default in the database")
	}
	details := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if got := strings.Join(badges(details.doc.Find("h1")), ","); got != "Default" {
		t.Errorf("details badges %q", got)
	}

	// From the details page, next brings the admin back there.
	act(c, 1, "default", scmPath(1, "")).wantRedirect(scmPath(1, ""))
	if got := c.get(scmPath(1, "")).text("h1 .badge"); got != "Default" {
		t.Errorf("built-in badge %q after making it default again", got)
	}
}

func TestLifecycleRefusals(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	other := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))

	t.Run("the default cannot be disabled", func(t *testing.T) {
		r := act(c, 1, "disable", "/admin/scm").wantStatus(http.StatusConflict)
		msg := alertText(r)
		for _, want := range []string{"default", "cannot be disabled", "Make another configuration the default first"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q lacks %q", msg, want)
			}
		}
		// The page shows the current state: the built-in is still default and enabled.
		if got := rowBadges(r, 1); got != "Default" {
			t.Errorf("built-in badges %q", got)
		}
		if cfg := mustConfig(t, app, 1); !cfg.Enabled || !cfg.IsDefault {
			t.Errorf("built-in changed: %+v", cfg)
		}
		// From the details page, the refusal shows there.
		d := act(c, 1, "disable", scmPath(1, "")).wantStatus(http.StatusConflict)
		if !strings.Contains(alertText(d), "cannot be disabled") || d.text("h1 .badge") != "Default" {
			t.Errorf("details refusal: %q", alertText(d))
		}
	})

	t.Run("a disabled configuration cannot become default", func(t *testing.T) {
		act(c, id, "disable", "/admin/scm").wantRedirect("/admin/scm")
		if got := rowBadges(c.get("/admin/scm"), id); got != "Disabled" {
			t.Errorf("badges after disable %q", got)
		}
		r := act(c, id, "default", "/admin/scm").wantStatus(http.StatusConflict)
		msg := alertText(r)
		for _, want := range []string{"disabled", "cannot become the default", "Enable it first"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q lacks %q", msg, want)
			}
		}
		if cfg := mustConfig(t, app, id); cfg.IsDefault || cfg.Enabled {
			t.Errorf("configuration changed: %+v", cfg)
		}
		if got := rowBadges(r, 1); got != "Default" {
			t.Errorf("built-in badges %q", got)
		}
		act(c, id, "enable", "/admin/scm").wantRedirect("/admin/scm")
		if got := rowBadges(c.get("/admin/scm"), id); got != "" {
			t.Errorf("badges after enable %q", got)
		}
	})

	t.Run("an enabled configuration cannot be deleted", func(t *testing.T) {
		r := act(c, other, "delete", "/admin/scm").wantStatus(http.StatusConflict)
		msg := alertText(r)
		for _, want := range []string{"enabled", "cannot be deleted", "Disable it first"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q lacks %q", msg, want)
			}
		}
		if !configExists(t, app, other) {
			t.Fatal("deleted anyway")
		}
	})

	t.Run("the built-in cannot be deleted, even disabled", func(t *testing.T) {
		r := act(c, 1, "delete", "/admin/scm").wantStatus(http.StatusConflict)
		if msg := alertText(r); !strings.Contains(msg, "built-in") || !strings.Contains(msg, "cannot be deleted") {
			t.Errorf("alert %q", msg)
		}
		act(c, id, "default", "/admin/scm").wantRedirect("/admin/scm")
		act(c, 1, "disable", "/admin/scm").wantRedirect("/admin/scm")
		if got := rowBadges(c.get("/admin/scm"), 1); got != "Disabled" {
			t.Errorf("built-in badges %q once disabled", got)
		}
		r = act(c, 1, "delete", "/admin/scm").wantStatus(http.StatusConflict)
		if msg := alertText(r); !strings.Contains(msg, "built-in") || !strings.Contains(msg, "cannot be deleted") {
			t.Errorf("alert %q", msg)
		}
		c.get(scmPath(1, "delete")).wantStatus(http.StatusConflict)
		if !configExists(t, app, 1) {
			t.Fatal("built-in deleted")
		}
		// Put things back for the next subtests.
		act(c, 1, "enable", "/admin/scm").wantRedirect("/admin/scm")
		act(c, 1, "default", "/admin/scm").wantRedirect("/admin/scm")
	})

	t.Run("a configuration hosting repositories cannot be deleted", func(t *testing.T) {
		ctx := context.Background()
		for _, slug := range []string{"fraud-model", "churn-model", "ranker"} {
			if err := app.st.AddRepository(ctx, other, slug); err != nil {
				t.Fatal(err)
			}
		}
		act(c, other, "disable", "/admin/scm").wantRedirect("/admin/scm")
		r := act(c, other, "delete", "/admin/scm").wantStatus(http.StatusConflict)
		msg := alertText(r)
		for _, want := range []string{"3 algorithm repositories", "cannot be deleted", "disabled"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q lacks %q", msg, want)
			}
		}
		if !configExists(t, app, other) {
			t.Fatal("deleted anyway")
		}
		if got := c.get(scmPath(other, "")).text("#detail-repositories"); got != "3" {
			t.Errorf("details show %q repositories", got)
		}
		// Asking to confirm a delete that the rules will refuse.
		if confirm := c.get(scmPath(other, "delete")); confirm.status != http.StatusConflict {
			t.Errorf("GET %s of a disabled configuration hosting 3 repositories answers %d with a Delete button; "+
				"want 409 with the reason, as for an enabled one (deletableErr does not check repositories)", scmPath(other, "delete"), confirm.status)
		}
	})

	t.Run("unknown ids", func(t *testing.T) {
		for _, action := range []string{"default", "enable", "disable", "delete"} {
			c.submit("/admin/scm", "/admin/scm/999/"+action, url.Values{"next": {"/admin/scm"}}).wantStatus(http.StatusNotFound)
			c.submit("/admin/scm", "/admin/scm/abc/"+action, url.Values{"next": {"/admin/scm"}}).wantStatus(http.StatusNotFound)
		}
		c.get("/admin/scm/999/delete").wantStatus(http.StatusNotFound)
		c.get("/admin/scm/0/delete").wantStatus(http.StatusNotFound)
	})

	t.Run("without the CSRF token", func(t *testing.T) {
		for _, action := range []string{"default", "enable", "disable", "delete"} {
			c.post(scmPath(id, action), url.Values{"next": {"/admin/scm"}}).wantStatus(http.StatusForbidden)
			c.post(scmPath(id, action), url.Values{"next": {"/admin/scm"}, "_csrf": {"forged-token-forged-token-forged-token-forg"}}).
				wantStatus(http.StatusForbidden)
		}
		if cfg := mustConfig(t, app, id); !cfg.Enabled || cfg.IsDefault {
			t.Errorf("changed without a token: %+v", cfg)
		}
	})

	t.Run("signed out", func(t *testing.T) {
		anon := app.client()
		anon.submit("/login", scmPath(id, "disable"), url.Values{"next": {"/admin/scm"}}).wantRedirect("/login")
		if cfg := mustConfig(t, app, id); !cfg.Enabled {
			t.Error("disabled by an anonymous request")
		}
	})

	t.Run("GET never changes state", func(t *testing.T) {
		for _, action := range []string{"default", "enable", "disable"} {
			if r := c.get(scmPath(id, action)); r.status < 400 {
				t.Errorf("GET %s answered %d", action, r.status)
			}
		}
		if cfg := mustConfig(t, app, id); !cfg.Enabled || cfg.IsDefault {
			t.Errorf("changed by a GET: %+v", cfg)
		}
	})
}

func TestDisableThenDelete(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	form := bbForm("bitbucket.example.com", "ALGO")
	form.Set("name", "Old Bitbucket")
	id := addConfig(t, c, form)
	keep := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))

	// Enabled: the confirmation page refuses with the reason.
	r := c.get(scmPath(id, "delete")).wantStatus(http.StatusConflict)
	if msg := alertText(r); !strings.Contains(msg, "Disable it first") {
		t.Errorf("confirmation of an enabled one: %q", msg)
	}

	act(c, id, "disable", scmPath(id, "")).wantRedirect(scmPath(id, ""))
	d := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if got := d.text("[role=status]"); !strings.Contains(got, "Disabled") || !strings.Contains(got, "Old Bitbucket") {
		t.Errorf("status after disable %q", got)
	}
	if got := d.text("h1 .badge"); got != "Disabled" {
		t.Errorf("details badge %q", got)
	}

	// The confirmation page, which works without JavaScript.
	confirm := c.get(scmPath(id, "delete")).wantStatus(http.StatusOK)
	f := confirm.doc.Find(fmt.Sprintf(`main form[method=post][action="%s"]`, scmPath(id, "delete")))
	if f.Length() != 1 {
		t.Fatalf("confirmation page has no form posting to the delete route:\n%s", confirm.body)
	}
	if v, _ := f.Find(`input[name=_csrf]`).Attr("value"); v == "" {
		t.Error("confirmation form has no _csrf")
	}
	if !strings.Contains(confirm.text("h1"), "Old Bitbucket") {
		t.Errorf("confirmation heading %q", confirm.text("h1"))
	}
	if !strings.Contains(confirm.text("title"), "Delete") {
		t.Errorf("confirmation title %q", confirm.text("title"))
	}
	if !configExists(t, app, id) {
		t.Fatal("the confirmation page deleted")
	}

	// Submitting the confirmation form as it is.
	fields := url.Values{}
	f.Find("input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
		fields.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	c.post(scmPath(id, "delete"), fields).wantRedirect("/admin/scm")
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if list.has(rowSel(id)) {
		t.Error("deleted row still listed")
	}
	if !list.has(rowSel(keep)) {
		t.Error("the other row is gone too")
	}
	if msg := list.text("[role=status]"); !strings.Contains(msg, "Deleted") || !strings.Contains(msg, "Old Bitbucket") {
		t.Errorf("status after delete %q", msg)
	}
	if configExists(t, app, id) {
		t.Error("configuration still in the database")
	}
	if secrets, err := app.st.SCMSecrets(context.Background(), id); err != nil || len(secrets) != 0 {
		t.Errorf("secrets of the deleted configuration remain: %v (%v)", secrets, err)
	}
	assertConfigCount(t, app, 2)
	c.get(scmPath(id, "")).wantStatus(http.StatusNotFound)
	c.get(scmPath(id, "delete")).wantStatus(http.StatusNotFound)
	act(c, id, "delete", "/admin/scm").wantStatus(http.StatusNotFound)
}

func TestDeleteFromDetailsGoesToTheList(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	act(c, id, "disable", scmPath(id, "")).wantRedirect(scmPath(id, ""))
	// next is the details page of what is deleted: the list instead.
	act(c, id, "delete", scmPath(id, "")).wantRedirect("/admin/scm")
}

func TestLifecycleNextStaysOnSite(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	for _, next := range []string{"https://evil.example.com/", "//evil.example.com/", `/\evil.example.com`, "javascript:alert(1)", ""} {
		act(c, id, "enable", next).wantRedirect(scmPath(id, ""))
	}
	// A list view survives the round trip.
	next := "/admin/scm?q=bitbucket&sort=website_url&dir=desc&page=1&per_page=10"
	act(c, id, "enable", next).wantRedirect(next)
}

// Two actions in a row without a page between them: both messages show on the next page.
func TestMessagesOfSuccessiveActionsAreKept(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	one := addConfig(t, c, bbForm("one.example.com", "ALGO"))
	two := addConfig(t, c, bbForm("two.example.com", "ALGO"))
	token := metaToken(c)
	for _, id := range []int64{one, two} {
		c.post(scmPath(id, "disable"), url.Values{"_csrf": {token}, "next": {"/admin/scm"}}).wantRedirect("/admin/scm")
	}
	status := c.get("/admin/scm").text("[role=status]")
	for _, host := range []string{"one.example.com", "two.example.com"} {
		if !strings.Contains(status, host) {
			t.Errorf("the message after two actions %q does not mention %s", status, host)
		}
	}
}

// SPEC's outside tests read a page's message from [role=status]: a page holds only that one.
func TestOneStatusPerPage(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	c.get("/admin/scm") // shows, and so uses up, "Added …"
	if n := c.get("/admin/scm/new?provider=bitbucket_server").doc.Find("[role=status]").Length(); n != 0 {
		t.Errorf("the Add form, with no message, has %d [role=status] elements", n)
	}
	act(c, id, "disable", scmPath(id, "")).wantRedirect(scmPath(id, ""))
	st := c.get(scmPath(id, "")).doc.Find("[role=status]")
	if st.Length() != 1 || !strings.HasPrefix(st.Text(), "Disabled") {
		t.Errorf("the details page after Disable has %d [role=status] elements reading %q, want the one message", st.Length(), st.Text())
	}
}

func TestListOffersOnlyAllowedActions(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	enabled := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	disabled := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))
	act(c, disabled, "disable", "/admin/scm").wantRedirect("/admin/scm")

	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	offers := func(id int64) map[string]bool {
		row := list.doc.Find(rowSel(id))
		got := map[string]bool{}
		for _, a := range []string{"default", "enable", "disable"} {
			if _, fields, ok := rowAction(list, id, a); ok {
				got[a] = true
				if fields.Get("_csrf") == "" {
					t.Errorf("row %d: %s form without _csrf", id, a)
				}
				if v := fields.Get("next"); !strings.HasPrefix(v, "/admin/scm") {
					t.Errorf("row %d: %s form next %q", id, a, v)
				}
			}
		}
		if row.Find(fmt.Sprintf(`a[href="%s"]`, scmPath(id, "delete"))).Length() > 0 {
			got["delete"] = true
		}
		if row.Find(fmt.Sprintf(`a[href="%s"]`, scmPath(id, "edit"))).Length() > 0 {
			got["edit"] = true
		}
		return got
	}
	for _, tc := range []struct {
		id   int64
		want map[string]bool
	}{
		{1, map[string]bool{}},
		{enabled, map[string]bool{"default": true, "disable": true, "edit": true}},
		{disabled, map[string]bool{"enable": true, "delete": true, "edit": true}},
	} {
		got := offers(tc.id)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("row %d offers %v, want %v", tc.id, got, tc.want)
		}
	}
	// The details page offers the same.
	d := c.get(scmPath(1, "")).wantStatus(http.StatusOK)
	for _, a := range []string{"default", "disable", "enable"} {
		if d.has(fmt.Sprintf(`form[action="/admin/scm/internal/%s"]`, a)) {
			t.Errorf("built-in details offer %s", a)
		}
	}
	if d.has(`a[href="/admin/scm/internal/delete"]`) {
		t.Error("built-in details offer Delete")
	}
	d = c.get(scmPath(disabled, "")).wantStatus(http.StatusOK)
	if !d.has(fmt.Sprintf(`form[action="%s"]`, scmPath(disabled, "enable"))) || !d.has(fmt.Sprintf(`a[href="%s"]`, scmPath(disabled, "delete"))) {
		t.Error("details of a disabled configuration lack Enable or Delete")
	}
}

func TestLifecycleWithHTMX(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	gh := addConfig(t, c, validForm("github"))

	// The row's form carries next, the list as the admin sees it.
	view := c.get("/admin/scm?q=bitbucket&per_page=10").wantStatus(http.StatusOK)
	hx, fields, _ := rowAction(view, id, "default")
	next := fields.Get("next")
	if !strings.HasPrefix(next, "/admin/scm?") || !strings.Contains(next, "q=bitbucket") {
		t.Fatalf("row form next %q", next)
	}
	if hx != scmPath(id, "default") {
		t.Errorf("row button hx-post %q", hx)
	}

	t.Run("success swaps the table and the message", func(t *testing.T) {
		r := postHTMX(c, scmPath(id, "default"), url.Values{"next": {next}}).wantStatus(http.StatusOK)
		wantFragment(t, r)
		if got := rowBadges(r, id); got != "Default" {
			t.Errorf("badges in the fragment %q", got)
		}
		if r.has(rowSel(1)) || r.has(rowSel(gh)) {
			t.Error("fragment ignores the list's search")
		}
		if msg := r.text("#messages [role=status]"); !strings.Contains(msg, "now the default") {
			t.Errorf("status %q", msg)
		}
		if !mustConfig(t, app, id).IsDefault {
			t.Error("not stored")
		}
		// No flash is left behind for the next page.
		if c.get("/admin/scm").has("[role=status]") {
			t.Error("htmx action left a status message for the next page too")
		}
	})

	t.Run("a refusal is 409 with the alert", func(t *testing.T) {
		r := postHTMX(c, scmPath(id, "disable"), url.Values{"next": {next}}).wantStatus(http.StatusConflict)
		wantFragment(t, r)
		if msg := r.text("#messages [role=alert]"); !strings.Contains(msg, "cannot be disabled") {
			t.Errorf("alert %q", msg)
		}
		if got := rowBadges(r, id); got != "Default" {
			t.Errorf("badges %q", got)
		}
		r = postHTMX(c, scmPath(gh, "delete"), url.Values{"next": {"/admin/scm"}}).wantStatus(http.StatusConflict)
		wantFragment(t, r)
		if msg := r.text("#messages [role=alert]"); !strings.Contains(msg, "Disable it first") {
			t.Errorf("alert %q", msg)
		}
	})

	t.Run("in-place delete confirmation", func(t *testing.T) {
		postHTMX(c, scmPath(gh, "disable"), url.Values{"next": {next}}).wantStatus(http.StatusOK)
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+scmPath(gh, "delete"), nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", app.srv.URL+"/admin/scm?q=git&sort=website_url&dir=desc&per_page=10")
		r := c.do(req).wantStatus(http.StatusOK)
		if strings.Contains(strings.ToLower(r.body), "<html") {
			t.Fatalf("confirmation is a whole page:\n%s", r.body)
		}
		doc := fragmentDoc(t, r.body)
		row := doc.Find(fmt.Sprintf(`tr.confirm[data-scm-id="%d"]`, gh))
		if row.Length() != 1 {
			t.Fatalf("no confirmation row:\n%s", r.body)
		}
		f := row.Find(fmt.Sprintf(`form[method=post][action="%s"]`, scmPath(gh, "delete")))
		if hx, _ := f.Attr("hx-post"); hx != scmPath(gh, "delete") {
			t.Errorf("confirm hx-post %q", hx)
		}
		rowNext, _ := f.Find("input[name=next]").Attr("value")
		if !strings.Contains(rowNext, "q=git") || !strings.Contains(rowNext, "sort=website_url") || !strings.Contains(rowNext, "dir=desc") {
			t.Errorf("confirmation next %q does not keep the list's view", rowNext)
		}
		if v, _ := f.Find("input[name=_csrf]").Attr("value"); v == "" {
			t.Error("confirmation row without _csrf")
		}
		if !configExists(t, app, gh) {
			t.Fatal("asking deleted")
		}
		res := postHTMX(c, scmPath(gh, "delete"), url.Values{"next": {rowNext}}).wantStatus(http.StatusOK)
		wantFragment(t, res)
		if res.has(rowSel(gh)) {
			t.Error("deleted row still in the fragment")
		}
		if msg := res.text("#messages [role=status]"); !strings.Contains(msg, "Deleted") {
			t.Errorf("status %q", msg)
		}
		if configExists(t, app, gh) {
			t.Error("not deleted")
		}
	})

	t.Run("in-place confirmation of an enabled one is refused", func(t *testing.T) {
		r := c.getHTMX(scmPath(1, "delete")).wantStatus(http.StatusConflict)
		if !strings.Contains(r.body, "cannot be deleted") {
			t.Errorf("refusal lacks the reason:\n%s", r.body)
		}
		if strings.Contains(strings.ToLower(r.body), "<html") {
			// htmx swaps a 409 (see htmxConfig) into the row ("closest tr", outerHTML): a whole page
			// would land inside the table.
			t.Error("htmx GET /admin/scm/{id}/delete of an enabled (or built-in) configuration answers 409 with a whole HTML page, which htmx swaps into the table row; want a fragment (the row and an out-of-band #messages alert)")
		}
	})

	t.Run("without the token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+scmPath(id, "disable"), strings.NewReader("next=%2Fadmin%2Fscm"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		c.do(req).wantStatus(http.StatusForbidden)
	})
}

func TestConcurrentLifecycleActions(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	var ids []int64
	for i := range 6 {
		ids = append(ids, seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i),
			ProjectKey: "ALGO"}, nil).ID)
	}
	token := c.get("/admin/scm").csrf()
	form := url.Values{"_csrf": {token}, "next": {"/admin/scm"}}
	// Everyone makes a different one the default while others disable them: in the end exactly
	// one default, enabled, and every answer a 303 or a 409.
	var posts []post
	for _, id := range ids {
		posts = append(posts, post{scmPath(id, "default"), form}, post{scmPath(id, "disable"), form})
	}
	got := statuses(c.postConcurrently(posts...))
	if got[http.StatusSeeOther]+got[http.StatusConflict] != 2*len(ids) {
		t.Errorf("status codes %v, want only 303 and 409", got)
	}
	cfgs, _, err := app.st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	defaults := 0
	for _, cfg := range cfgs {
		if cfg.IsDefault {
			defaults++
			if !cfg.Enabled {
				t.Errorf("configuration %d is the default and disabled", cfg.ID)
			}
		}
	}
	if defaults != 1 {
		t.Errorf("%d defaults", defaults)
	}
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if n := list.doc.Find("table#scm-configs .badge").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.TrimSpace(s.Text()) == "Default"
	}).Length(); n != 1 {
		t.Errorf("%d Default badges in the list", n)
	}
}
