package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// seedMany stores n Bitbucket Server configurations bb0…bb{n-1} and returns their ids.
func seedMany(t *testing.T, app *testApp, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		ids[i] = seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%03d.example.com", i),
			APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil).ID
	}
	return ids
}

func idStrings(ids ...int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ref(id)
	}
	return out
}

func TestListSearch(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	gitlab := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.example.org", ClientID: "lab-app"}, nil).ID
	bbapi := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server_api", WebsiteURL: "https://bbapi.example.net", ProjectKey: "MLTEAM"}, nil).ID
	github := seedConfig(t, app, store.SCMConfig{Provider: "github", WebsiteURL: "https://github.com", ClientID: "octo-client"}, nil).ID
	repos := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", Name: "Team Repos", WebsiteURL: "https://code.example.com", ProjectKey: "REPOS"}, nil).ID
	cloud := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_cloud", WebsiteURL: "https://bitbucket.org", ClientID: "cloud-key"}, nil).ID

	for _, tc := range []struct {
		q    string
		want []int64
	}{
		{"", []int64{1, gitlab, bbapi, github, repos, cloud}},
		{"GITLAB", []int64{gitlab}},                 // provider label (and URL), any case
		{"build-via", []int64{bbapi}},               // provider label only
		{"Build-Via-api", []int64{bbapi}},           // any case
		{"bitbucket server", []int64{bbapi, repos}}, // both kinds' labels
		{"Built-in", []int64{1}},                    // the built-in's label
		{"bbapi.EXAMPLE", []int64{bbapi}},           // Website URL
		{"https://code.example.com", []int64{repos}},
		{"example", []int64{gitlab, bbapi, repos}},
		{"mlteam", []int64{bbapi}},       // ID column: project key
		{"Octo-Client", []int64{github}}, // ID column: client id
		{"team repos", []int64{repos}},   // name
		{"  cloud-key  ", []int64{cloud}},
		{"%", nil}, // LIKE wildcards match themselves
		{"_", nil},
		{"zzz-nothing", nil},
	} {
		t.Run(tc.q, func(t *testing.T) {
			r := c.get("/admin/scm?q=" + url.QueryEscape(tc.q)).wantStatus(http.StatusOK)
			if got, want := listIDs(r), idStrings(tc.want...); !slices.Equal(got, want) {
				t.Errorf("q=%q lists %v, want %v", tc.q, got, want)
			}
			if v, _ := r.doc.Find("form[role=search] input[name=q]").Attr("value"); v != strings.TrimSpace(tc.q) {
				t.Errorf("search box shows %q", v)
			}
			count := r.text(".pager .count")
			if len(tc.want) == 0 {
				if count != "0 in all" {
					t.Errorf("count %q", count)
				}
				if msg := r.text("#scm-table .empty"); !strings.Contains(msg, "No configuration matches") || !strings.Contains(msg, strings.TrimSpace(tc.q)) {
					t.Errorf("empty message %q", msg)
				}
			} else if want := fmt.Sprintf("1–%d of %d", len(tc.want), len(tc.want)); count != want {
				t.Errorf("count %q, want %q", count, want)
			}
		})
	}
}

func TestListSearchFormWithoutJavaScript(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	gitlab := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.example.org", ClientID: "lab-app"}, nil).ID
	seedMany(t, app, 3)

	page := c.get("/admin/scm?sort=website_url&dir=desc&per_page=10").wantStatus(http.StatusOK)
	form := page.doc.Find("form[role=search]")
	if form.Length() != 1 || strings.ToLower(form.AttrOr("method", "")) != "get" || form.AttrOr("action", "") != "/admin/scm" {
		t.Fatalf("no GET search form to /admin/scm:\n%s", page.body)
	}
	if form.Find("input[name=q]").Length() != 1 || form.Find("button[type=submit]").Length() != 1 {
		t.Fatal("search form lacks the q input or its button")
	}
	if label := form.Find(`label[for="q"]`).Text(); strings.TrimSpace(label) == "" {
		t.Error("search box has no label")
	}
	// Submitting the form as a browser does keeps the view's sort and page size.
	v := url.Values{}
	form.Find("input[name]").Each(func(_ int, in *goquery.Selection) { v.Add(in.AttrOr("name", ""), in.AttrOr("value", "")) })
	v.Set("q", "lab-app")
	if v.Get("sort") != "website_url" || v.Get("dir") != "desc" || v.Get("per_page") != "10" {
		t.Errorf("the form drops the view: %v", v)
	}
	r := c.get("/admin/scm?" + v.Encode()).wantStatus(http.StatusOK)
	if got := listIDs(r); !slices.Equal(got, idStrings(gitlab)) {
		t.Errorf("search lists %v", got)
	}
	// The search box also works with htmx: typing refreshes the table and the URL.
	q := page.doc.Find("input[name=q]")
	for attr, want := range map[string]string{"hx-get": "/admin/scm", "hx-target": "#scm-table", "hx-push-url": "true"} {
		if got := q.AttrOr(attr, ""); got != want {
			t.Errorf("search box %s=%q, want %q", attr, got, want)
		}
	}
	if !strings.Contains(q.AttrOr("hx-trigger", ""), "delay:") {
		t.Errorf("search is not debounced: hx-trigger=%q", q.AttrOr("hx-trigger", ""))
	}
}

func TestListHTMXFragment(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	gitlab := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.example.org", ClientID: "lab-app"}, nil).ID
	seedMany(t, app, 3)

	r := c.getHTMX("/admin/scm?q=gitlab").wantStatus(http.StatusOK)
	wantFragment(t, r)
	if got := listIDs(r); !slices.Equal(got, idStrings(gitlab)) {
		t.Errorf("fragment lists %v", got)
	}
	for _, h := range []string{"HX-Push-Url", "HX-Replace-Url", "HX-Redirect", "HX-Location"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("server sets %s: %q", h, v)
		}
	}
	if !strings.Contains(r.header.Get("Vary"), "HX-Request") {
		t.Errorf("Vary %q lacks HX-Request", r.header.Get("Vary"))
	}
	if r.has("form[role=search]") {
		t.Error("fragment holds the search form (it would lose focus while typing)")
	}
	// A history restore wants the whole page.
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/admin/scm?q=gitlab", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-History-Restore-Request", "true")
	full := c.do(req).wantStatus(http.StatusOK)
	if !strings.Contains(full.body, "<html") {
		t.Error("history restore got a fragment")
	}
	// Sort and pager links swap the table (the target they inherit from it) and push their URL.
	if tbl := r.doc.Find("#scm-table"); tbl.AttrOr("hx-target", "") != "#scm-table" || tbl.AttrOr("hx-swap", "") != "outerHTML" {
		t.Error("#scm-table does not make itself the target of the htmx requests inside it")
	}
	for _, a := range r.doc.Find("#scm-table thead a, #scm-table .pager a").Nodes {
		s := goquery.NewDocumentFromNode(a).Selection
		if s.AttrOr("hx-get", "") != s.AttrOr("href", "x") || s.AttrOr("hx-push-url", "") != "true" || s.Closest("[hx-target]").AttrOr("hx-target", "") != "#scm-table" {
			t.Errorf("link %q is not an htmx swap with push-url", s.AttrOr("href", ""))
		}
	}
}

func TestListSort(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	cID := seedConfig(t, app, store.SCMConfig{Provider: "github_enterprise", WebsiteURL: "https://c.example.com", ClientID: "c"}, nil).ID
	aID := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://a.example.com", ClientID: "a"}, nil).ID
	bID := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://b.example.com", ProjectKey: "B"}, nil).ID
	a2ID := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://a2.example.com", ClientID: "a2"}, nil).ID

	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{1, cID, aID, bID, a2ID}}, // oldest first by default
		{"sort=created", []int64{1, cID, aID, bID, a2ID}},
		{"sort=created&dir=asc", []int64{1, cID, aID, bID, a2ID}},
		{"sort=created&dir=desc", []int64{a2ID, bID, aID, cID, 1}},
		{"sort=website_url&dir=asc", []int64{1, aID, a2ID, bID, cID}}, // the built-in has none
		{"sort=website_url&dir=desc", []int64{cID, bID, a2ID, aID, 1}},
	} {
		r := c.get("/admin/scm?" + tc.query).wantStatus(http.StatusOK)
		if got, want := listIDs(r), idStrings(tc.want...); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", tc.query, got, want)
		}
	}

	// By provider: rows of one provider together, the reverse order for desc.
	asc := listIDs(c.get("/admin/scm?sort=provider&dir=asc"))
	desc := listIDs(c.get("/admin/scm?sort=provider&dir=desc"))
	rev := slices.Clone(desc)
	slices.Reverse(rev)
	if !slices.Equal(asc, rev) {
		t.Errorf("provider desc %v is not provider asc %v reversed", desc, asc)
	}
	if i := slices.Index(asc, fmt.Sprint(aID)); i < 0 || i+1 >= len(asc) || asc[i+1] != fmt.Sprint(a2ID) {
		t.Errorf("the two GitLab rows are apart: %v", asc)
	}

	// Header links: each sorts by its column, flips the direction of the current one, and says
	// which is current.
	r := c.get("/admin/scm?sort=website_url&dir=asc&per_page=10").wantStatus(http.StatusOK)
	th := func(label string) *goquery.Selection {
		return r.doc.Find("table#scm-configs thead th").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return strings.TrimSpace(s.Text()) == label
		})
	}
	if got := th("Website URL").AttrOr("aria-sort", ""); got != "ascending" {
		t.Errorf("Website URL aria-sort %q", got)
	}
	if got := th("Provider").AttrOr("aria-sort", ""); got != "none" {
		t.Errorf("Provider aria-sort %q", got)
	}
	for _, tc := range []struct {
		label string
		want  url.Values
	}{
		{"Website URL", url.Values{"sort": {"website_url"}, "dir": {"desc"}, "per_page": {"10"}, "page": {"1"}}},
		{"Provider", url.Values{"sort": {"provider"}, "dir": {"asc"}, "per_page": {"10"}, "page": {"1"}}},
		{"Created", url.Values{"sort": {"created"}, "dir": {"asc"}, "per_page": {"10"}, "page": {"1"}}},
	} {
		href, _ := th(tc.label).Find("a").Attr("href")
		u, err := url.Parse(href)
		if err != nil || u.Path != "/admin/scm" {
			t.Errorf("%s header link %q", tc.label, href)
			continue
		}
		for k := range tc.want {
			if got := u.Query().Get(k); got != tc.want.Get(k) {
				t.Errorf("%s header link %q: %s=%q, want %q", tc.label, href, k, got, tc.want.Get(k))
			}
		}
	}
	desc2 := c.get("/admin/scm?sort=website_url&dir=desc")
	if got := desc2.doc.Find(`th[aria-sort="descending"]`).Text(); strings.TrimSpace(got) != "Website URL" {
		t.Errorf("descending header %q", got)
	}
	// Following the Website URL header from the default view sorts by it.
	href, _ := c.get("/admin/scm").doc.Find(`table#scm-configs thead th a`).FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.TrimSpace(s.Text()) == "Website URL"
	}).Attr("href")
	if got := listIDs(c.get(href)); !slices.Equal(got, idStrings(1, aID, a2ID, bID, cID)) {
		t.Errorf("following the Website URL header (%s) from the default list lists %v, want %v", href, got, idStrings(1, aID, a2ID, bID, cID))
	}

	// What the admin sees, sorted by Provider A→Z, is the labels in order.
	labels := func(query string) []string {
		var out []string
		c.get("/admin/scm?" + query).doc.Find("table#scm-configs tbody tr[data-scm-id]").Each(func(_ int, row *goquery.Selection) {
			cell := row.Find("td").First().Clone()
			cell.Find(".badge").Remove()
			out = append(out, strings.Join(strings.Fields(cell.Text()), " "))
		})
		return out
	}
	if got := labels("sort=provider&dir=asc"); !sort.StringsAreSorted(got) {
		t.Errorf("sort=provider orders by the hidden provider id, not the label shown in the Provider column: "+
			"A→Z shows %q (“Built-in (hosted by the platform)” after “GitLab”)", got)
	}
}

func TestListSortLinksKeepTheSearch(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	seedMany(t, app, 30)
	r := c.get("/admin/scm?q=example&per_page=10&sort=website_url&dir=desc").wantStatus(http.StatusOK)
	links := r.doc.Find("#scm-table thead a[href], #scm-table .pager a[href]")
	if links.Length() < 4 {
		t.Fatalf("%d sort and pager links", links.Length())
	}
	links.Each(func(_ int, a *goquery.Selection) {
		href := a.AttrOr("href", "")
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("q") != "example" || u.Query().Get("per_page") != "10" {
			t.Errorf("link %q loses the search or page size", href)
		}
	})
	next, _ := r.doc.Find(".pager a[rel=next]").Attr("href")
	u, _ := url.Parse(next)
	if q := u.Query(); q.Get("page") != "2" || q.Get("sort") != "website_url" || q.Get("dir") != "desc" {
		t.Errorf("next link %q", next)
	}
	p2 := c.get(next).wantStatus(http.StatusOK)
	if got := p2.text(".pager .count"); got != "11–20 of 30" {
		t.Errorf("page 2 count %q", got)
	}
	if first := listIDs(p2)[0]; first != fmt.Sprint(app.mustID(t, "https://bb019.example.com")) {
		t.Errorf("page 2 starts with %s", first)
	}
}

// mustID is the id of the configuration with Website URL website.
func (a *testApp) mustID(t *testing.T, website string) int64 {
	t.Helper()
	cfgs, _, err := a.st.ListSCMConfigs(t.Context(), store.SCMQuery{Search: website, Limit: 2})
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("configuration at %s: %v (%v)", website, cfgs, err)
	}
	return cfgs[0].ID
}

func TestListPaging(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	ids := append([]int64{1}, seedMany(t, app, 30)...)

	p1 := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := listIDs(p1); !slices.Equal(got, idStrings(ids[:25]...)) {
		t.Errorf("page 1 lists %v", got)
	}
	if got := p1.text(".pager .count"); got != "1–25 of 31" {
		t.Errorf("count %q", got)
	}
	if !strings.Contains(p1.text(".pager"), "Page 1 of 2") || p1.has(".pager a[rel=prev]") {
		t.Errorf("pager %q", p1.text(".pager"))
	}
	next, _ := p1.doc.Find(".pager a[rel=next]").Attr("href")
	if u, err := url.Parse(next); err != nil || u.Query().Get("page") != "2" || u.Query().Get("per_page") != "25" {
		t.Errorf("next link %q", next)
	}
	p2 := c.get(next).wantStatus(http.StatusOK)
	if got := listIDs(p2); !slices.Equal(got, idStrings(ids[25:]...)) {
		t.Errorf("page 2 lists %v", got)
	}
	if got := p2.text(".pager .count"); got != "26–31 of 31" {
		t.Errorf("page 2 count %q", got)
	}
	if p2.has(".pager a[rel=next]") || !p2.has(".pager a[rel=prev]") {
		t.Error("page 2 links wrong")
	}

	for _, tc := range []struct {
		query, count string
		rows         []int64
	}{
		{"per_page=10&page=4", "31–31 of 31", ids[30:]},
		{"per_page=10&page=2", "11–20 of 31", ids[10:20]},
		{"per_page=1", "1–1 of 31", ids[:1]},
		{"per_page=10&page=2&dir=desc", "11–20 of 31", reversed(ids)[10:20]},
		{"page=5", "26–31 of 31", ids[25:]}, // past the end: the last page
	} {
		r := c.get("/admin/scm?" + tc.query).wantStatus(http.StatusOK)
		if got := listIDs(r); !slices.Equal(got, idStrings(tc.rows...)) {
			t.Errorf("%s lists %v", tc.query, got)
		}
		if got := r.text(".pager .count"); got != tc.count {
			t.Errorf("%s count %q, want %q", tc.query, got, tc.count)
		}
	}
	// An empty result says so.
	if msg := c.get("/admin/scm?q=zzz&page=3").text("#scm-table .empty"); !strings.Contains(msg, "zzz") {
		t.Errorf("empty message %q", msg)
	}
}

func reversed(ids []int64) []int64 {
	r := slices.Clone(ids)
	slices.Reverse(r)
	return r
}

func TestListPerPageCapped(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	seedMany(t, app, 120)
	for _, tc := range []struct {
		query string
		rows  int
		count string
	}{
		{"per_page=1000", 100, "1–100 of 121"},
		{"per_page=101", 100, "1–100 of 121"},
		{"per_page=100", 100, "1–100 of 121"},
		{"per_page=100&page=2", 21, "101–121 of 121"},
		{"per_page=1000&page=2", 21, "101–121 of 121"},
		{"", 25, "1–25 of 121"},
	} {
		r := c.get("/admin/scm?" + tc.query).wantStatus(http.StatusOK)
		if n := len(listIDs(r)); n != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.query, n, tc.rows)
		}
		if got := r.text(".pager .count"); got != tc.count {
			t.Errorf("%s: count %q, want %q", tc.query, got, tc.count)
		}
	}
	// The capped page size is what the links carry on.
	r := c.get("/admin/scm?per_page=1000")
	next, _ := r.doc.Find(".pager a[rel=next]").Attr("href")
	if u, _ := url.Parse(next); u == nil || u.Query().Get("per_page") != "100" {
		t.Errorf("next link %q", next)
	}
}

func TestListOddParameters(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	seedMany(t, app, 30)
	for _, q := range []string{
		"page=-1", "page=0", "page=abc", "page=1.5", "page=", "page=99999999999999999999", "page=9223372036854775807",
		"page=2147483648", "page=1000000&per_page=100", "page=1000001",
		"per_page=0", "per_page=-5", "per_page=abc", "per_page=99999999999999999999", "per_page=9223372036854775807",
		"sort=evil", "sort=" + url.QueryEscape("id;DROP TABLE scm_configs"), "sort=provider&dir=sideways", "dir=desc%27",
		"q=" + strings.Repeat("x", 10000), "q=%00", "q=%FF%FE", "q=%27%22%3C%3E", "q=%5C", "q=%25%5F%5C",
		"page=1&page=2", "sort=created&sort=provider", "per_page=%20%2010",
	} {
		r := c.get("/admin/scm?" + q)
		if r.status != http.StatusOK {
			t.Errorf("%s: status %d", q, r.status)
			continue
		}
		if !r.has("table#scm-configs") || !r.has(".pager .count") {
			t.Errorf("%s: no table", q)
		}
		if h := c.getHTMX("/admin/scm?" + q); h.status != http.StatusOK {
			t.Errorf("htmx %s: status %d", q, h.status)
		}
	}
	// Out-of-range values fall back to the defaults.
	for _, q := range []string{"page=-1", "page=abc", "per_page=0", "page=99999999999999999999", "sort=evil"} {
		r := c.get("/admin/scm?" + q)
		if got := r.text(".pager .count"); got != "1–25 of 31" {
			t.Errorf("%s: count %q, want the first page of 25", q, got)
		}
	}
	if !strings.Contains(app.logs.String(), `"status":200`) || strings.Contains(app.logs.String(), `"status":500`) {
		t.Error("a 500 was logged")
	}
	assertConfigCount(t, app, 31)
}

func TestListRowsShowProviderURLAndID(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	bb := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server_api", Name: "Build farm", WebsiteURL: "https://bb.example.com", ProjectKey: "MLTEAM"}, nil).ID
	gl := seedConfig(t, app, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.com", ClientID: "lab-app"}, nil).ID
	r := c.get("/admin/scm").wantStatus(http.StatusOK)
	for id, wants := range map[int64][]string{
		bb: {"Bitbucket Server (build-via-API)", "Build farm", "https://bb.example.com", "MLTEAM"},
		gl: {"GitLab", "https://gitlab.com", "lab-app"},
	} {
		row := r.text(rowSel(id))
		for _, want := range wants {
			if !strings.Contains(row, want) {
				t.Errorf("row %d %q lacks %q", id, row, want)
			}
		}
		if !r.has(rowSel(id) + fmt.Sprintf(` a[href="%s"]`, scmPath(id, ""))) {
			t.Errorf("row %d does not link to its details", id)
		}
	}
}

// A create redirects to the list, where the new configuration is listed (SPEC) even when it
// sorts past the first page: after the page's rows, this once.
func TestCreatedConfigurationIsListedPastThePage(t *testing.T) {
	app := newTestApp(t)
	seedMany(t, app, 30)
	c := app.adminClient()
	id := addConfig(t, c, bbForm("newest.example.com", "NEW"))
	row := fmt.Sprintf(`table#scm-configs tr[data-scm-id="%s"]`, ref(id))
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if !list.has(row) {
		t.Fatal("the list the create redirected to does not show the new configuration")
	}
	if rows := list.doc.Find("table#scm-configs tbody tr").Length(); rows != 26 {
		t.Errorf("%d rows, want the page's 25 and the new one", rows)
	}
	if got := list.text(".pager"); !strings.Contains(got, "1–25 of 32") {
		t.Errorf("the pager says %q, want 1–25 of 32 (the new one is extra)", got)
	}
	if !strings.Contains(list.text("[role=status]"), "Added") {
		t.Errorf("status %q", list.text("[role=status]"))
	}
	if c.get("/admin/scm").wantStatus(http.StatusOK).has(row) {
		t.Error("the new configuration is still added past the page after the create's list")
	}
}
