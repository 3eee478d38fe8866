package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// seedAuditTrail makes an audit trail of two configurations, an account and some sign-ins.
func seedAuditTrail(t *testing.T, app *testApp) (c *client, algo, team int64) {
	t.Helper()
	app.client().login("=HYPERLINK(\"x\")", "a wrong guess").wantStatus(http.StatusUnauthorized)
	c = app.adminClient()
	algo = addConfig(t, c, bbForm("bitbucket.example.com", "ALGO"))
	team = addConfig(t, c, bbForm("git.example.org", "TEAM"))
	act(c, algo, "disable", "/admin/scm").wantRedirect("/admin/scm")
	c.submit("/admin/users", "/admin/users", url.Values{"username": {"carol"}, "password": {"carol's long password"}}).
		wantRedirect("/admin/users")
	return c, algo, team
}

func TestAuditShowsSeconds(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	when := c.get("/admin/audit").text("table#audit tbody tr td time")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`).MatchString(when) {
		t.Errorf("time = %q, want seconds", when)
	}
}

func TestAuditFilters(t *testing.T) {
	app := newTestApp(t)
	c, algo, _ := seedAuditTrail(t, app)
	for _, tc := range []struct{ query, want string }{
		{"", "add_user disable create create sign_in sign_in_failed"},
		{"who=ADMIN", "add_user disable create create sign_in"},
		{"action=create", "create create"},
		{"config=" + strconv.FormatInt(algo, 10), "disable create"},
		{"config=git.example", "create"},
		{"config=carol", "add_user"},
		{"who=admin&action=create&config=BITBUCKET.example", "create"},
		{"who=nobody", ""},
	} {
		r := c.get("/admin/audit?" + tc.query).wantStatus(http.StatusOK)
		if got := actions(auditRows(t, r, true)); got != tc.want {
			t.Errorf("%s: actions = %q, want %q", tc.query, got, tc.want)
		}
		if tc.want == "" && !strings.Contains(r.text(".empty"), "No event matches") {
			t.Errorf("%s: no empty-state message", tc.query)
		}
		href, _ := r.doc.Find("a#audit-csv").Attr("href")
		if want := "/admin/audit.csv"; tc.query != "" && href != want+"?"+encoded(tc.query) || tc.query == "" && href != want {
			t.Errorf("%s: CSV link = %q", tc.query, href)
		}
	}
	r := c.get("/admin/audit?action=create")
	if v, _ := r.doc.Find(`select#action option[selected]`).Attr("value"); v != "create" {
		t.Errorf("the chosen action is not kept in the form: %q", v)
	}
	if row := auditRows(t, c.get("/admin/audit?action=add_user"), true)[0]; row.target != "Account carol" {
		t.Errorf("an account's event concerns %q", row.target)
	}
}

// encoded is query as the page encodes it (sorted).
func encoded(query string) string {
	v, _ := url.ParseQuery(query)
	return v.Encode()
}

func TestAuditPagesKeepTheFilters(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for i := range 3 {
		addConfig(t, c, bbForm("bitbucket.example.com", "K"+strconv.Itoa(i)))
	}
	r := c.get("/admin/audit?action=create&per_page=2")
	next, _ := r.doc.Find(`a[rel=next]`).Attr("href")
	if next != "/admin/audit?action=create&page=2&per_page=2" {
		t.Fatalf("next page = %q", next)
	}
	if got := actions(auditRows(t, c.get(next), true)); got != "create" {
		t.Errorf("page 2 = %q, want the oldest create", got)
	}
}

func TestAuditCSVExportsWhatThePageShows(t *testing.T) {
	app := newTestApp(t)
	c, algo, _ := seedAuditTrail(t, app)
	records := func(query string) [][]string {
		t.Helper()
		r := c.get("/admin/audit.csv?" + query).wantStatus(http.StatusOK)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type = %q", ct)
		}
		if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
			t.Errorf("Content-Disposition = %q", cd)
		}
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	all := records("")
	if len(all) != 7 || strings.Join(all[0], ",") != "id,time,who,from,action,configuration_id,concerns,changes" {
		t.Fatalf("CSV = %q", all)
	}
	if failed := all[6]; failed[4] != "sign_in_failed" || failed[2] != "unknown account" || failed[3] != "127.0.0.1" {
		t.Errorf("failed sign-in = %q: a name that is no account's is not recorded", failed)
	}

	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(all[1][1]) {
		t.Errorf("time = %q", all[1][1])
	}
	algoRows := records("config=" + strconv.FormatInt(algo, 10))
	if len(algoRows) != 3 || algoRows[1][4] != "disable" || algoRows[2][4] != "create" || algoRows[1][5] != strconv.FormatInt(algo, 10) {
		t.Errorf("ALGO's CSV = %q", algoRows)
	}
	app.client().get("/admin/audit.csv").wantRedirect("/login?next=%2Fadmin%2Faudit.csv")
}

func TestAuditCSVReadsInBatches(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for i := range auditExportBatch + 5 {
		if err := app.st.RecordAudit(t.Context(), auditEventN(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(c.get("/admin/audit.csv?action=sign_out").body)).ReadAll()
	if err != nil || len(recs) != auditExportBatch+6 {
		t.Fatalf("%d records, %v; want the header and every sign-out", len(recs), err)
	}
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		if seen[r[0]] {
			t.Fatalf("event %s exported twice", r[0])
		}
		seen[r[0]] = true
	}
}

func auditEventN(i int) store.AuditEvent {
	return store.AuditEvent{Actor: store.Actor{Username: "user" + strconv.Itoa(i), Addr: "192.0.2.1"}, Action: store.ActionSignOut}
}

// The configuration filter and the details page's history link name a configuration by its
// string id: a vanity id, and also once the configuration is deleted.
func TestAuditFilterByConfigurationID(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO", Ref: "algo-team"}, nil)
	other := addConfig(t, c, bbForm("algo-team.example.com", "TEAM")) // its name holds the vanity id
	actOn := func(action string) {
		c.submit("/admin/scm", "/admin/scm/algo-team/"+action, url.Values{"next": {"/admin/scm"}}).wantRedirect("/admin/scm")
	}
	for range historyOnDetails {
		actOn("disable")
		actOn("enable")
	}
	link, _ := c.get("/admin/scm/algo-team").doc.Find(`a[href^="/admin/audit?"]`).Attr("href")
	if link != "/admin/audit?config=algo-team" {
		t.Fatalf("history link = %q", link)
	}
	want := 1 + 2*historyOnDetails
	if rows := auditRows(t, c.get(link+"&per_page=200"), true); len(rows) != want {
		t.Errorf("config=algo-team: %d events, want %d (not those of %s, whose name holds it)", len(rows), want, ref(other))
	}
	actOn("disable")
	actOn("delete")
	recs, err := csv.NewReader(strings.NewReader(c.get("/admin/audit.csv?config=algo-team").body)).ReadAll()
	if err != nil || len(recs) != want+3 || recs[1][4] != "delete" || recs[1][5] != "algo-team" {
		t.Errorf("deleted configuration's CSV: %d records %v; first %q", len(recs), err, recs[1])
	}
	if got := actions(auditRows(t, c.get("/admin/audit?config=internal"), true)); got != "" {
		t.Errorf("config=internal = %q; the built-in configuration has no events here", got)
	}
}
