// Package views renders scmadmin's pages with templ. Full pages end in Page; fragments that
// htmx swaps in on their own are nouns (SCMTable, ProviderFields).
package views

import (
	"context"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Page is what every page's layout needs.
type Page struct {
	Title string
	User  string // the signed-in username; empty on the sign-in page
	// Status is a success message, Alert a refusal or failure, shown at the top of the page.
	Status string
	Alert  string
}

// htmxConfig keeps htmx within the Content-Security-Policy: no eval, no inline styles.
// Refusals (409) and invalid forms (422) are swapped in like successes: they carry the message
// and the current state. Every page has it: it is escaped once, not at every render.
var htmxConfig = templ.Raw(`<meta name="htmx-config" content="` + html.EscapeString(`{"allowEval":false,"includeIndicatorStyles":false,"historyCacheSize":0,`+
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"409","swap":true},`+
	`{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`) + `">`)

func providerLabel(id string) string {
	if p, ok := provider.Lookup(id); ok {
		return p.Label
	}
	return id
}

// identity is the list's ID column: the client id, or the project key for Bitbucket Server.
func identity(c store.SCMConfig) string {
	if p, ok := provider.Lookup(c.Provider); ok && p.Identity != "" {
		return c.Value(p.Identity)
	}
	return ""
}

// pollHeaders mark a request htmx makes on its own, every few seconds: it is not the admin
// being active, so it does not keep an idle session alive.
const pollHeaders = `{"X-Scmadmin-Poll": "1"}`

type csrfKey struct{}

// WithCSRF returns ctx carrying the request's CSRF token, which every form renders.
func WithCSRF(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey{}, token)
}

func csrfToken(ctx context.Context) string {
	t, _ := ctx.Value(csrfKey{}).(string)
	return t
}

// DetailsURL is the address of configuration id's details page.
func DetailsURL(id string) string { return "/admin/scm/" + id }

func itoa(n int) string { return strconv.Itoa(n) }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

var actionLabels = map[string]string{
	store.ActionSignIn: "Signed in", store.ActionSignInFailed: "Sign-in failed", store.ActionSignOut: "Signed out",
	store.ActionSignInThrottled: "Sign-in refused: too many failures", store.ActionChangePassword: "Changed own password",
	store.ActionChangePasswordFailed: "Password change refused: wrong current password",
	store.ActionCreate:               "Created", store.ActionUpdate: "Edited", store.ActionEnable: "Enabled",
	store.ActionDisable: "Disabled", store.ActionMakeDefault: "Made default", store.ActionDelete: "Deleted",
	store.ActionRotateWebhookSecret: "Rotated the webhook secret", store.ActionInstallWebhook: "Installed the webhook",
	store.ActionCreateAPIKey: "Made an API key", store.ActionRevokeAPIKey: "Revoked an API key",
	store.ActionOAuthConnect: "Connected an account", store.ActionOAuthDisconnect: "Disconnected an account",
	store.ActionAddUser: "Added an account", store.ActionSetPassword: "Set the password of an account",
	store.ActionGrantAdmin: "Made a cluster admin", store.ActionRevokeAdmin: "Took cluster admin away",
	store.ActionDisableUser: "Disabled an account", store.ActionEnableUser: "Enabled an account",
	store.ActionCreateRepository: "Created a repository", store.ActionForgetRepository: "Forgot a repository",
	store.ActionPurgeRepository: "Deleted a repository on the host",
	store.ActionStartedFailing:  "Started failing its connection test", store.ActionPassingAgain: "Passes its connection test again",
}

func actionLabel(action string) string {
	if l, ok := actionLabels[action]; ok {
		return l
	}
	return action
}

// fieldLabel names a field of a provider's form, or a secret scmadmin keeps itself, in the
// audit trail.
func fieldLabel(providerID, name string) string {
	switch name {
	case store.WebhookSecret:
		return "Webhook secret"
	case store.FieldRepository:
		return "Repository"
	case store.FieldManagedBy:
		return "Managed by file"
	case store.FieldHealth:
		return "Health"
	}
	if p, ok := provider.Lookup(providerID); ok {
		if f, ok := p.Field(name); ok {
			return f.Label
		}
	}
	return name
}

func defaultNote(c store.SCMConfig) string {
	if c.IsDefault {
		return ", after making another configuration the default"
	}
	return ""
}

// AuditList is one page of the audit trail, as filtered.
type AuditList struct {
	Events  []store.AuditEvent
	Total   int
	Page    int
	PerPage int
	Filter  AuditFilter
}

// AuditFilter is what the audit trail is filtered by, as typed: who acted, the action, and a
// configuration's id or part of the name of what the events concern.
type AuditFilter struct {
	Who, Action, Config string
}

// query is the filter as a query string, without the empty ones.
func (f AuditFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"who": f.Who, "action": f.Action, "config": f.Config} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func (f AuditFilter) active() bool { return f != AuditFilter{} }

// pageURL is the audit trail filtered so.
func (f AuditFilter) pageURL() string {
	if q := f.query(); len(q) > 0 {
		return "/admin/audit?" + q.Encode()
	}
	return "/admin/audit"
}

// csvURL exports what the page shows, every page of it.
func (f AuditFilter) csvURL() string {
	if q := f.query(); len(q) > 0 {
		return "/admin/audit.csv?" + q.Encode()
	}
	return "/admin/audit.csv"
}

func (a AuditList) lastPage() int { return max(1, (a.Total+a.PerPage-1)/a.PerPage) }

func (a AuditList) pageURL(n int) string {
	q := a.Filter.query()
	q.Set("page", strconv.Itoa(n))
	q.Set("per_page", strconv.Itoa(a.PerPage))
	return "/admin/audit?" + q.Encode()
}

// auditActions are the actions the audit trail can be filtered by, by label.
var auditActions = func() [][2]string {
	var as [][2]string
	for action, label := range actionLabels {
		as = append(as, [2]string{action, label})
	}
	slices.SortFunc(as, func(a, b [2]string) int { return strings.Compare(a[1], b[1]) })
	return as
}()

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// day is t's date, as expiries are told.
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// failingSince is when t's run of failures began: a test recorded before the history was
// kept has no such time, and its own stands for it.
func failingSince(t store.ConnectionTest) time.Time {
	if t.FailingSince.IsZero() {
		return t.At
	}
	return t.FailingSince
}

// resultLabel is a health result in words: passed, passed with warnings, or the step that failed.
func resultLabel(r store.HealthResult) string {
	switch r.Outcome {
	case store.HealthPassed:
		return "Passed"
	case store.HealthWarning:
		return "Passed with warnings"
	}
	return "Failed: " + r.Summary
}

// resultTitle is a timeline cell's title: when, and what.
func resultTitle(r store.HealthResult) string { return when(r.At) + ": " + resultLabel(r) }

// whenSeconds is when, to the second: the audit trail tells apart what happened in one minute.
func whenSeconds(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func intro(s provider.Section, callbackURL string) string {
	return strings.ReplaceAll(s.Intro, "{callback_url}", callbackURL)
}

func warningsNote(r probe.Result) string {
	n := 0
	for _, s := range r.Steps {
		if s.Status == probe.Warning {
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return ", with one warning to read"
	}
	return ", with " + strconv.Itoa(n) + " warnings to read"
}

func shortCommit(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// targetKind names what an audit event that concerns no configuration is about.
func targetKind(action string) string {
	if action == store.ActionCreateAPIKey || action == store.ActionRevokeAPIKey {
		return "API key"
	}
	return "Account"
}

// buildsWait says how many builds wait: "1 build waits", "2 builds wait".
func buildsWait(n int) string {
	if n == 1 {
		return "1 build waits"
	}
	return itoa(n) + " builds wait"
}

// lastResults heads the table of a configuration's last n health results.
func lastResults(n int) string {
	if n == 1 {
		return "The last result"
	}
	return "The last " + itoa(n) + " results"
}

// accounts says how many accounts there are: "1 account is", "2 accounts are".
func accounts(n int) string {
	if n == 1 {
		return "1 account is"
	}
	return itoa(n) + " accounts are"
}
