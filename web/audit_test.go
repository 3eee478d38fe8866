package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// auditRow is one row of table#audit as a person reads it.
type auditRow struct {
	id, action, at, who, from, what, target, changes string
}

func auditRows(t *testing.T, r *response, withTarget bool) []auditRow {
	t.Helper()
	var rows []auditRow
	r.doc.Find("table#audit tbody tr[data-audit-id]").Each(func(_ int, tr *goquery.Selection) {
		cell := func(i int) string { return strings.Join(strings.Fields(tr.Find("td").Eq(i).Text()), " ") }
		row := auditRow{id: tr.AttrOr("data-audit-id", ""), action: tr.AttrOr("data-action", ""),
			at: tr.Find("td time").AttrOr("datetime", ""), who: cell(1), from: cell(2), what: cell(3)}
		changesCell := 4
		if withTarget {
			row.target, changesCell = cell(4), 5
		}
		var changes []string
		tr.Find("td").Eq(changesCell).Find("li").Each(func(_ int, li *goquery.Selection) {
			changes = append(changes, strings.Join(strings.Fields(li.Text()), " "))
		})
		row.changes = strings.Join(changes, "; ")
		rows = append(rows, row)
	})
	return rows
}

func atoi64(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func actions(rows []auditRow) string {
	var a []string
	for _, r := range rows {
		a = append(a, r.action)
	}
	return strings.Join(a, " ")
}

func TestAuditTrailRecordsEverything(t *testing.T) {
	app := newTestApp(t)
	start := time.Now().Add(-time.Minute)

	c := app.client()
	c.login("mallory", "guess").wantStatus(http.StatusUnauthorized)
	c.login(adminName, adminPassword).wantRedirect("/admin/scm")

	form := bbForm("bitbucket.example.com", "ALGO")
	form.Set("name", "Team Bitbucket")
	id := addConfig(t, c, form)

	f := editForm(t, c.get(scmPath(id, "edit")))
	f.Set("api_url", "https://bitbucket.example.com/bitbucket/rest/api/1.0")
	f.Set("access_token", canarySecret)
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))

	act(c, id, "default", "/admin/scm").wantRedirect("/admin/scm")
	act(c, 1, "disable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, 1, "enable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, 1, "default", "/admin/scm").wantRedirect("/admin/scm")
	act(c, id, "disable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, id, "delete", "/admin/scm").wantRedirect("/admin/scm")
	// Refusals change nothing and record nothing.
	act(c, 1, "disable", "/admin/scm").wantStatus(http.StatusConflict)
	c.submit("/admin/scm", "/logout", nil).wantRedirect("/login")
	c.login(adminName, adminPassword).wantRedirect("/admin/scm")

	r := c.get("/admin/audit").wantStatus(http.StatusOK)
	rows := auditRows(t, r, true)
	want := "sign_in sign_out delete disable make_default enable disable make_default update create sign_in sign_in_failed"
	if got := actions(rows); got != want {
		t.Fatalf("audit actions, newest first:\n got %s\nwant %s", got, want)
	}
	if got := r.text(".pager .count"); got != "12 events" {
		t.Errorf("count %q", got)
	}
	prev := int64(1 << 62)
	for _, row := range rows {
		n := atoi64(row.id)
		if n >= prev {
			t.Errorf("event %d listed after %d: not newest first", n, prev)
		}
		prev = n
		wantWho := adminName
		if row.action == store.ActionSignInFailed {
			wantWho = unknownAccount // "mallory" is no account's name
		}
		if row.who != wantWho {
			t.Errorf("%s by %q, want %q", row.action, row.who, wantWho)
		}
		if row.from != "127.0.0.1" {
			t.Errorf("%s from %q", row.action, row.from)
		}
		at, err := time.Parse(time.RFC3339, row.at)
		if err != nil || at.Before(start) || at.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s at %q (%v)", row.action, row.at, err)
		}
		if row.what == "" || row.what == row.action {
			t.Errorf("%s has no label: %q", row.action, row.what)
		}
	}
	byAction := func(action string) auditRow {
		for _, row := range rows {
			if row.action == action {
				return row
			}
		}
		t.Fatalf("no %s event", action)
		return auditRow{}
	}
	for action, label := range map[string]string{"sign_in": "Signed in", "sign_in_failed": "Sign-in failed", "sign_out": "Signed out",
		"create": "Created", "update": "Edited", "delete": "Deleted", "make_default": "Made default"} {
		if got := byAction(action).what; got != label {
			t.Errorf("%s shown as %q, want %q", action, got, label)
		}
	}
	upd := byAction(store.ActionUpdate)
	if !strings.Contains(upd.changes, "https://bitbucket.example.com/rest/api/1.0 → https://bitbucket.example.com/bitbucket/rest/api/1.0") {
		t.Errorf("edit changes %q lack the URL from → to", upd.changes)
	}
	if !strings.Contains(upd.changes, "Personal access token changed") {
		t.Errorf("edit changes %q lack the secret as changed", upd.changes)
	}
	if strings.Contains(upd.changes, "Website URL") || strings.Contains(upd.changes, "Project key") {
		t.Errorf("edit lists unchanged fields: %q", upd.changes)
	}
	if upd.target != "Team Bitbucket" {
		t.Errorf("edit target %q", upd.target)
	}
	cr := byAction(store.ActionCreate)
	for _, want := range []string{"Team Bitbucket", "https://bitbucket.example.com", "ALGO", "Personal access token changed"} {
		if !strings.Contains(cr.changes, want) {
			t.Errorf("create changes %q lack %q", cr.changes, want)
		}
	}
	// The configuration column links to it; deleted ones keep their name.
	link := r.doc.Find(fmt.Sprintf(`tr[data-action=delete] a[href="%s"]`, scmPath(id, "")))
	if strings.TrimSpace(link.Text()) != "Team Bitbucket" {
		t.Errorf("delete row link %q", link.Text())
	}
	for _, row := range rows {
		if strings.HasPrefix(row.action, "sign_") && row.target != "" {
			t.Errorf("%s names a configuration %q", row.action, row.target)
		}
	}
	if !strings.Contains(r.text("title"), "Audit") {
		t.Errorf("title %q", r.text("title"))
	}
	assertNoSecrets(t, app, r)
	assertAuditTableHoldsNoSecret(t, app)
}

// assertAuditTableHoldsNoSecret reads audit_events directly: the canaries never appear, and a
// secret's change is "changed" with no from.
func assertAuditTableHoldsNoSecret(t *testing.T, app *testApp) {
	t.Helper()
	rows, err := app.rawDB().Query(`SELECT actor, remote_addr, action, target, changes FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var actor, addr, action, target, changes string
		if err := rows.Scan(&actor, &addr, &action, &target, &changes); err != nil {
			t.Fatal(err)
		}
		n++
		for _, v := range []string{actor, addr, action, target, changes} {
			for _, canary := range []string{canaryToken, canarySecret, "second-token", "sneaky"} {
				if strings.Contains(v, canary) {
					t.Errorf("audit_events %s holds %q: %s", action, canary, v)
				}
			}
		}
		for _, secret := range []string{"access_token", "client_secret"} {
			if strings.Contains(changes, `"field":"`+secret+`"`) && !strings.Contains(changes, `{"field":"`+secret+`","to":"changed"}`) {
				t.Errorf("audit_events %s records %s as more than changed: %s", action, secret, changes)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("audit_events is empty")
	}
}

func TestAuditEscapesWhatWasTyped(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	typed := `<img src=x onerror=alert(1)>` + strings.Repeat("u", 100)
	c.login(typed, "guess").wantStatus(http.StatusUnauthorized)
	admin := app.adminClient()
	r := admin.get("/admin/audit").wantStatus(http.StatusOK)
	if r.has("table#audit img") {
		t.Fatal("a typed username is rendered as HTML")
	}
	rows := auditRows(t, r, true)
	failed := rows[len(rows)-1]
	if failed.action != store.ActionSignInFailed || failed.who != unknownAccount {
		t.Fatalf("failed sign-in row %+v", failed)
	}
	if strings.Contains(r.body, "onerror") {
		t.Error("a name no account has reached the audit trail")
	}
}

func TestAuditOAuthSecretOnlyChanged(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, validForm("bitbucket_cloud"))
	f := editForm(t, c.get(scmPath(id, "edit")))
	f.Set("client_secret", canaryToken)
	f.Set("name", "Workspace")
	c.post(scmPath(id, ""), f).wantRedirect(scmPath(id, ""))
	r := c.get("/admin/audit").wantStatus(http.StatusOK)
	upd := auditRows(t, r, true)[0]
	if upd.action != store.ActionUpdate {
		t.Fatalf("newest event %s", upd.action)
	}
	if !strings.Contains(upd.changes, "secret changed") || !strings.Contains(upd.changes, "Display name set to Workspace") {
		t.Errorf("changes %q", upd.changes)
	}
	details := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	assertNoSecrets(t, app, r, details)
	assertAuditTableHoldsNoSecret(t, app)
	// The change names the field as this provider's form does.
	if !strings.Contains(upd.changes, "Consumer secret changed") {
		t.Errorf("the audit trail names a Bitbucket Cloud configuration's client_secret change %q, GitHub's label; "+
			"want its own label, “Consumer secret changed” (views.fieldLabel takes the first provider that has the field)", upd.changes)
	}
}

func TestAuditNoChangeNoEvent(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	_, before, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	// Saved unchanged, enabled when enabled, default when default: nothing happened.
	c.post(scmPath(id, ""), editForm(t, c.get(scmPath(id, "edit")))).wantRedirect(scmPath(id, ""))
	act(c, id, "enable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, 1, "default", "/admin/scm").wantRedirect("/admin/scm")
	act(c, id, "delete", "/admin/scm").wantStatus(http.StatusConflict)
	_, after, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	if after != before {
		t.Errorf("%d events recorded for no change", after-before)
	}
}

func TestAuditPaging(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient() // 1 event
	ctx := context.Background()
	for i := range 11 {
		seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i),
			ProjectKey: "ALGO"}, nil)
	}
	_, total, err := app.st.ListAudit(ctx, store.AuditQuery{Limit: 1})
	if err != nil || total != 12 {
		t.Fatalf("%d events (%v)", total, err)
	}

	p1 := c.get("/admin/audit?per_page=5").wantStatus(http.StatusOK)
	rows1 := auditRows(t, p1, true)
	if len(rows1) != 5 {
		t.Fatalf("%d rows on page 1", len(rows1))
	}
	if got := p1.text(".pager .count"); got != "12 events" {
		t.Errorf("count %q", got)
	}
	if !strings.Contains(p1.text(".pager"), "Page 1 of 3") {
		t.Errorf("pager %q", p1.text(".pager"))
	}
	if p1.has(".pager a[rel=prev]") {
		t.Error("page 1 links to a newer page")
	}
	nextHref, _ := p1.doc.Find(".pager a[rel=next]").Attr("href")
	if nextHref != "/admin/audit?page=2&per_page=5" {
		t.Errorf("next link %q", nextHref)
	}
	p2 := c.get(nextHref).wantStatus(http.StatusOK)
	rows2 := auditRows(t, p2, true)
	if len(rows2) != 5 || atoi64(rows2[0].id) >= atoi64(rows1[4].id) {
		t.Errorf("page 2 does not follow page 1: %v then %v", rows1, rows2)
	}
	p3 := c.get("/admin/audit?page=3&per_page=5").wantStatus(http.StatusOK)
	rows3 := auditRows(t, p3, true)
	if len(rows3) != 2 || rows3[1].action != store.ActionSignIn {
		t.Errorf("last page %v", rows3)
	}
	if p3.has(".pager a[rel=next]") || !p3.has(".pager a[rel=prev]") {
		t.Error("last page links wrong")
	}
	seen := map[string]bool{}
	for _, row := range append(append(rows1, rows2...), rows3...) {
		if seen[row.id] {
			t.Errorf("event %s on two pages", row.id)
		}
		seen[row.id] = true
		if row.action == store.ActionCreate && (row.who != "seed" || row.from != "192.0.2.1") {
			t.Errorf("seeded event by %q from %q", row.who, row.from)
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d events over the pages, want 12", len(seen))
	}
	// Default page size holds them all; odd parameters still show a page.
	if n := len(auditRows(t, c.get("/admin/audit").wantStatus(http.StatusOK), true)); n != 12 {
		t.Errorf("%d rows by default", n)
	}
	for _, q := range []string{"page=-1", "page=abc", "per_page=0", "per_page=-3", "page=99999999999999999999", "per_page=100000", "page=1000000"} {
		c.get("/admin/audit?" + q).wantStatus(http.StatusOK)
	}
	if n := len(auditRows(t, c.get("/admin/audit?page=9"), true)); n != 0 {
		t.Errorf("%d rows past the end", n)
	}
}

func TestAuditPerPageCapped(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for i := range 205 {
		if err := app.st.RecordAudit(context.Background(), store.AuditEvent{Actor: store.Actor{Username: "bot", Addr: "192.0.2.9"},
			Action: store.ActionSignInFailed}); err != nil {
			t.Fatal(i, err)
		}
	}
	r := c.get("/admin/audit?per_page=1000").wantStatus(http.StatusOK)
	if n := len(auditRows(t, r, true)); n != 200 {
		t.Errorf("%d rows with per_page=1000, want the cap of 200", n)
	}
	if got := r.text(".pager .count"); got != "206 events" {
		t.Errorf("count %q", got)
	}
}

func TestDetailsHistoryShowsOnlyItsOwn(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	a := addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	b := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))
	f := editForm(t, c.get(scmPath(a, "edit")))
	f.Set("name", "A renamed")
	c.post(scmPath(a, ""), f).wantRedirect(scmPath(a, ""))
	act(c, b, "disable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, a, "default", "/admin/scm").wantRedirect("/admin/scm")

	for _, tc := range []struct {
		id   int64
		want string
	}{
		{a, "make_default update create"},
		{b, "disable create"},
		{1, "make_default"}, // the built-in lost the default: that is a's event, not its own
	} {
		r := c.get(scmPath(tc.id, "")).wantStatus(http.StatusOK)
		if tc.id == 1 {
			if r.has("table#audit tr[data-audit-id]") {
				t.Errorf("built-in history shows %s", actions(auditRows(t, r, false)))
			}
			continue
		}
		h2 := r.doc.Find("h2").FilterFunction(func(_ int, s *goquery.Selection) bool { return strings.TrimSpace(s.Text()) == "History" })
		if h2.Length() != 1 {
			t.Fatalf("details of %d have no History heading", tc.id)
		}
		if h2.NextAllFiltered(".table-wrap").Find("table#audit").Length() != 1 {
			t.Fatalf("no history table after the heading")
		}
		rows := auditRows(t, r, false)
		if got := actions(rows); got != tc.want {
			t.Errorf("history of %d: %s, want %s", tc.id, got, tc.want)
		}
		for _, row := range rows {
			if row.who != adminName || row.from != "127.0.0.1" {
				t.Errorf("history row %+v", row)
			}
		}
	}
	r := c.get(scmPath(a, ""))
	if got := auditRows(t, r, false)[1].changes; !strings.Contains(got, "Display name set to A renamed") {
		t.Errorf("history edit changes %q", got)
	}
	assertNoSecrets(t, app, r)
}

func TestDetailsHistoryOfANewConfigurationIsItsOwn(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	old := bbForm("bitbucket.example.com", "ALGO")
	old.Set("name", "Old one")
	oldID := addConfig(t, c, old)
	act(c, oldID, "disable", "/admin/scm").wantRedirect("/admin/scm")
	act(c, oldID, "delete", "/admin/scm").wantRedirect("/admin/scm")

	newID := addConfig(t, c, validForm("github"))
	r := c.get(scmPath(newID, "")).wantStatus(http.StatusOK)
	got := actions(auditRows(t, r, false))
	if got != "create" {
		t.Errorf("a configuration created after the newest one was deleted reuses its id (%d → %d: scm_configs.id is "+
			"INTEGER PRIMARY KEY without AUTOINCREMENT) and inherits its history: details of the new GitHub configuration "+
			"show %q, want only %q; the audit trail's links for “Old one” now open the new configuration", oldID, newID, got, "create")
	}
	audit := c.get("/admin/audit")
	if href, _ := audit.doc.Find("tr[data-action=delete] td a").Attr("href"); href == scmPath(newID, "") {
		t.Errorf("the deleted configuration's audit link %s opens the new one", href)
	}
}

func TestAuditRequiresAdmin(t *testing.T) {
	app := newTestApp(t)
	app.client().get("/admin/audit").wantRedirect("/login?next=%2Fadmin%2Faudit")
	if _, err := app.st.CreateUser(context.Background(), "viewer", "viewer password 123", false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	v := app.client()
	v.login("viewer", "viewer password 123").wantStatus(http.StatusSeeOther)
	v.get("/admin/audit").wantStatus(http.StatusForbidden)
	// The failed and successful sign-ins of a non-admin are recorded too.
	rows, _, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	if len(rows) != 1 || rows[0].Actor.Username != "viewer" || rows[0].Action != store.ActionSignIn {
		t.Errorf("newest event %+v", rows)
	}
}
