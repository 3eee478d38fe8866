// Package views renders scmadmin's pages with templ. Full pages end in Page; fragments that
// htmx swaps in on their own are nouns (SCMTable, ProviderFields).
package views

import (
	"strconv"
	"strings"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Page is what every page's layout needs.
type Page struct {
	Title string
	CSRF  string
	User  string // the signed-in username; empty on the sign-in page
	// Status is a success message, Alert a refusal or failure, shown at the top of the page.
	Status string
	Alert  string
}

// htmxConfig keeps htmx within the Content-Security-Policy: no eval, no inline styles.
const htmxConfig = `{"allowEval":false,"includeIndicatorStyles":false,"historyCacheSize":0}`

func providerLabel(id string) string {
	if p, ok := provider.Lookup(id); ok {
		return p.Label
	}
	return id
}

// DisplayName is how a configuration is named: its name, else its Website URL.
func DisplayName(c store.SCMConfig) string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Provider == provider.Internal:
		return "Built-in"
	}
	return c.WebsiteURL
}

// identity is the list's ID column: the client id, or the project key for Bitbucket Server.
func identity(c store.SCMConfig) string {
	if p, ok := provider.Lookup(c.Provider); ok && p.Identity != "" {
		return provider.ValuesOf(c)[p.Identity]
	}
	return ""
}

func detailsURL(id int64) string { return "/admin/scm/" + strconv.FormatInt(id, 10) }

func dataID(id int64) string { return strconv.FormatInt(id, 10) }

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func intro(s provider.Section, callbackURL string) string {
	return strings.ReplaceAll(s.Intro, "{callback_url}", callbackURL)
}
