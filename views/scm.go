package views

import (
	"net/url"
	"strconv"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// ListQuery is the list's view as its URL states it: search, filters, order and page.
type ListQuery struct {
	Q        string
	Provider string // a provider id, or "" for every provider
	State    string // enabled, disabled, or "" for both
	Health   string // a store.Health
	Sort     string // provider, website_url or created
	Desc     bool
	Page     int // from 1
	PerPage  int
}

// States are the list's enabled/disabled filter values.
var States = []string{"enabled", "disabled"}

// filtered reports whether q shows only some configurations.
func (q ListQuery) filtered() bool {
	return q.Q != "" || q.Provider != "" || q.State != "" || q.Health != ""
}

// URL is the list's address for q.
func (q ListQuery) URL() string {
	v := url.Values{}
	for k, val := range map[string]string{"q": q.Q, "provider": q.Provider, "state": q.State, "health": q.Health} {
		if val != "" {
			v.Set(k, val)
		}
	}
	v.Set("sort", q.Sort)
	if q.Desc {
		v.Set("dir", "desc")
	} else {
		v.Set("dir", "asc")
	}
	v.Set("page", strconv.Itoa(q.Page))
	v.Set("per_page", strconv.Itoa(q.PerPage))
	return "/admin/scm?" + v.Encode()
}

func (q ListQuery) page(n int) string {
	q.Page = n
	return q.URL()
}

// sortBy is the link of a column header: by that column, flipping the direction if already so.
func (q ListQuery) sortBy(col string) string {
	q.Desc = q.Sort == col && !q.Desc
	q.Sort, q.Page = col, 1
	return q.URL()
}

// ariaSort is the aria-sort value of a column header.
func (q ListQuery) ariaSort(col string) string {
	switch {
	case q.Sort != col:
		return "none"
	case q.Desc:
		return "descending"
	}
	return "ascending"
}

// SCMList is one page of the configuration list.
type SCMList struct {
	Query   ListQuery
	Configs []store.SCMConfig
	Total   int
	// CountedTo, when not 0, is where the count stopped (store.SCMQuery.CountAtMost): a Total
	// past it means "more than CountedTo", shown as "1,000+".
	CountedTo int
}

// capped reports whether the count stopped before the last match.
func (l SCMList) capped() bool { return l.CountedTo > 0 && l.Total > l.CountedTo }

// totalText is the total as the pager shows it: exact, or "1,000+" when the count stopped.
func (l SCMList) totalText() string {
	if l.capped() {
		return thousands(l.CountedTo) + "+"
	}
	return thousands(l.Total)
}

// pagesText is the number of pages as the pager shows it ("40+" when the count stopped).
func (l SCMList) pagesText() string {
	if l.capped() {
		return itoa(l.CountedTo/l.Query.PerPage) + "+"
	}
	return itoa(l.lastPage())
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fresh reports whether the list is that of a fresh install: the built-in configuration alone.
func (l SCMList) fresh() bool {
	return !l.Query.filtered() && l.Total == 1 && len(l.Configs) == 1 && l.Configs[0].ID == store.BuiltInID
}

// clearFilters is the list without search or filters, in q's order.
func (q ListQuery) clearFilters() string {
	q.Q, q.Provider, q.State, q.Health, q.Page = "", "", "", "", 1
	return q.URL()
}

func (l SCMList) lastPage() int { return max(1, (l.Total+l.Query.PerPage-1)/l.Query.PerPage) }

func (l SCMList) first() int { return (l.Query.Page-1)*l.Query.PerPage + 1 }

// last is the page's last position: by the page and the total, not by the rows shown, which
// may hold one more (a configuration just created that sorts past the page).
func (l SCMList) last() int { return min(l.first()+l.Query.PerPage-1, l.Total) }

// SCMForm is the Add form for one provider, or the Edit form of a stored configuration.
type SCMForm struct {
	// Config is the configuration being edited; its ID is 0 on the Add form.
	Config   store.SCMConfig
	Secrets  map[string]store.SecretInfo // the stored secrets, when editing
	Provider *provider.Provider
	// Values are what the form shows: defaults on a new form, what was typed after an error.
	// Secret fields are never among them.
	Values      provider.Values
	Errors      provider.Errors
	CallbackURL string
	Test        *probe.Result // a "Test before saving" just run
	// Clash is the configuration a duplicate clashes with: its error links to it.
	Clash *store.SCMConfig
	// Summary heads the error summary: what was not done and how many fields to correct.
	Summary string
}

// fault is a field at fault and its message.
type fault struct{ Field, Message string }

// faults are the fields at fault in form order, the provider drop-down first (on Add): the
// error summary's lines.
func (f SCMForm) faults() []fault {
	var out []fault
	if m := f.Errors["provider"]; m != "" && !f.editing() {
		out = append(out, fault{"provider", m})
	}
	for _, fl := range f.Provider.Fields() {
		if m := f.Errors[fl.Name]; m != "" {
			out = append(out, fault{fl.Name, m})
		}
	}
	return out
}

func (f SCMForm) editing() bool { return f.Config.ID != 0 }

func (f SCMForm) action() string {
	if f.editing() {
		return DetailsURL(f.Config.Ref)
	}
	return "/admin/scm"
}

// locked reports whether the field is shown but cannot change: a fixed field of a stored
// configuration.
func (f SCMForm) locked(fl provider.Field) bool { return f.editing() && fl.Fixed }

// firstError is the first field, in form order, with an error: it gets the focus.
func (f SCMForm) firstError() string {
	for _, fl := range f.Provider.Fields() {
		if f.Errors[fl.Name] != "" {
			return fl.Name
		}
	}
	return ""
}

func (f SCMForm) describedBy(name string) string {
	if f.Errors[name] != "" {
		return name + "-error " + name + "-help"
	}
	return name + "-help"
}

func inputType(f provider.Field) string {
	switch f.Kind {
	case provider.KindSecret:
		return "password"
	case provider.KindHTTPSURL:
		return "url"
	}
	return "text"
}

// SCMDetails is a configuration with what its details page shows besides it.
type SCMDetails struct {
	Config       store.SCMConfig
	Provider     *provider.Provider
	Secrets      map[string]store.SecretInfo
	History      []store.AuditEvent
	HistoryTotal int
	Test         *probe.Result // a connection test just run
	Webhook      Webhook       // for providers whose builds start from webhooks
	OAuth        *OAuth        // for OAuth providers
	// Repositories are the first of the algorithm repositories it hosts.
	Repositories []store.Repository
	// Builds are the latest builds of a configuration whose builds start by API calls, and
	// BuildHook what of them waits for the build hook (a configuration whose builds start
	// from pushes shows both in its Webhook).
	Builds    []store.Build
	BuildHook BuildHook
	// Health are its last connection test results, newest first.
	Health []store.HealthResult
}

// Webhook is what the details page shows of a configuration's webhook.
type Webhook struct {
	ConfigID string
	URL      string
	// ProjectHook: scmadmin installs it on the project (Bitbucket Server build-on-checkin).
	ProjectHook bool
	// Unreachable says why Bitbucket cannot reach URL, when the base URL shows it cannot.
	Unreachable string
	Status      store.WebhookStatus
	Deliveries  []store.Delivery
	Builds      []store.Build
	BuildHook   BuildHook
}

// BuildHook is what of a configuration's builds waits for the build hook, and its last failure.
type BuildHook struct {
	On     bool // SCMADMIN_BUILD_HOOK_URL is set
	Status store.BuildHookStatus
}

// WebhookSecretURL is the page that shows configuration id's new webhook secret, once.
func WebhookSecretURL(id string) string { return DetailsURL(id) + "/webhook/secret" }

func editURL(id string) string { return DetailsURL(id) + "/edit" }

func actionURL(id string, action string) string { return DetailsURL(id) + "/" + action }

var statusLabels = map[probe.Status]string{probe.Passed: "Passed", probe.Failed: "Failed", probe.Warning: "Warning", probe.Skipped: "Skipped"}

// option is one choice of a drop-down.
type option struct{ Value, Label string }

// providerOptions are the list's provider filter: any, then every provider by label.
func providerOptions() []option {
	opts := []option{{"", "Any provider"}}
	for _, id := range provider.ByLabel() {
		opts = append(opts, option{id, providerLabel(id)})
	}
	return opts
}

var stateOptions = []option{{"", "Any status"}, {"enabled", "Enabled"}, {"disabled", "Disabled"}}

var healthOptions = []option{{"", "Any health"}, {string(store.HealthPassed), "Passed"}, {string(store.HealthWarning), "Passed with warnings"},
	{string(store.HealthFailing), "Failing"}, {string(store.HealthUntested), "Not tested"}}
