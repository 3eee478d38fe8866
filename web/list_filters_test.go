package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

func TestListFilters(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	ctx := context.Background()
	lab := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.example.org", ClientID: "lab-app"}, nil).ID
	passing := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com", ProjectKey: "PASS"}, nil).ID
	warned := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com", ProjectKey: "WARN"}, nil).ID
	failing := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com", ProjectKey: "FAIL"}, nil).ID
	off := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server_api", WebsiteURL: "https://bb.example.com", ProjectKey: "OFF"}, nil).ID
	now := time.Now()
	for id, test := range map[int64]store.HealthResult{
		passing: {At: now, Outcome: store.HealthPassed, Summary: "passed"},
		warned:  {At: now, Outcome: store.HealthWarning, Summary: "passed"},
		failing: {At: now, Outcome: store.HealthFailing, Step: "token", Summary: "auth"},
	} {
		if _, err := app.st.RecordConnectionTest(ctx, id, test, store.Actor{Username: "setup"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.st.SetEnabled(ctx, off, false, store.Actor{Username: "setup"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"provider=bitbucket_server", []int64{passing, warned, failing}},
		{"provider=gitlab", []int64{lab}},
		{"state=disabled", []int64{off}},
		{"state=enabled", []int64{1, lab, passing, warned, failing}},
		{"health=passed", []int64{passing}},
		{"health=warning", []int64{warned}},
		{"health=failing", []int64{failing}},
		{"health=untested", []int64{1, lab, off}},
		{"health=untested&state=enabled&provider=gitlab", []int64{lab}},
		{"q=bb.example&health=failing", []int64{failing}},
		{"q=disabled", []int64{off}},                                          // the badge's word
		{"q=Default", []int64{1}},                                             // the default's badge
		{"provider=nonsense", []int64{1, lab, passing, warned, failing, off}}, // ignored, as an old link
		{"state=maybe&health=great", []int64{1, lab, passing, warned, failing, off}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := c.get("/admin/scm?" + tc.query).wantStatus(http.StatusOK)
			if got, want := listIDs(r), idStrings(tc.want...); !slices.Equal(got, want) {
				t.Errorf("%s lists %v, want %v", tc.query, got, want)
			}
		})
	}

	// The view keeps its filters in every link and request it makes: headers, pager, actions.
	r := c.get("/admin/scm?provider=bitbucket_server&state=enabled&health=failing&per_page=1").wantStatus(http.StatusOK)
	keeps := func(what, link string) {
		t.Helper()
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("provider") != "bitbucket_server" || u.Query().Get("state") != "enabled" || u.Query().Get("health") != "failing" {
			t.Errorf("%s %q drops the filters", what, link)
		}
	}
	keeps("sort header", r.doc.Find("#scm-configs thead th a").First().AttrOr("hx-get", ""))
	keeps("the actions' way back", r.doc.Find("form#scm-actions input[name=next]").AttrOr("value", ""))
	for name, want := range map[string]string{"provider": "bitbucket_server", "state": "enabled", "health": "failing"} {
		sel := r.doc.Find("form[role=search] select[name=" + name + "]")
		if got := sel.Find("option[selected]").AttrOr("value", ""); got != want {
			t.Errorf("filter %s shows %q, want %q", name, got, want)
		}
		if sel.AttrOr("hx-include", "") != "closest form" || sel.AttrOr("hx-target", "") != "#scm-table" {
			t.Errorf("filter %s does not refresh the table with the whole view", name)
		}
		if id := sel.AttrOr("id", ""); r.doc.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("filter %s has no label", name)
		}
	}
	// Nothing matches: say so, with the way back to every configuration.
	r = c.get("/admin/scm?provider=github").wantStatus(http.StatusOK)
	if msg := r.text("#scm-table .empty"); !strings.Contains(msg, "No configuration matches") {
		t.Errorf("empty message %q", msg)
	}
	if href := r.doc.Find("#scm-table .empty a").AttrOr("href", ""); strings.Contains(href, "provider=") {
		t.Errorf("the way back %q keeps the filter", href)
	}
}

func TestListFreshInstallSaysWhatToDoFirst(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	r := c.get("/admin/scm").wantStatus(http.StatusOK)
	if !r.has("#scm-empty") || !strings.Contains(r.text("#scm-empty"), "Add an SCM configuration") {
		t.Fatalf("a fresh install's list says nothing of what to do first: %q", r.text("#scm-table"))
	}
	if r.doc.Find(`#scm-empty a[href="/admin/scm/new"]`).Length() != 1 {
		t.Error("the empty state does not link to the Add form")
	}
	if !r.has(`tr[data-scm-id="internal"]`) {
		t.Error("the built-in configuration is not listed")
	}
	// A search that finds only the built-in one is not a fresh install.
	if c.get("/admin/scm?q=built").has("#scm-empty") {
		t.Error("the empty state shows on a search")
	}
	seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.example.org", ClientID: "lab-app"}, nil)
	if c.get("/admin/scm").has("#scm-empty") {
		t.Error("the empty state stays once a configuration is added")
	}
}
