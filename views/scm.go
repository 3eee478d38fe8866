package views

import (
	"net/url"
	"strconv"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// ListQuery is the list's view as its URL states it: search, order and page.
type ListQuery struct {
	Q       string
	Sort    string // provider, website_url or created
	Desc    bool
	Page    int // from 1
	PerPage int
}

// URL is the list's address for q.
func (q ListQuery) URL() string {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
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
	q.Page = 1
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
}

func (l SCMList) lastPage() int {
	if l.Total == 0 {
		return 1
	}
	return (l.Total + l.Query.PerPage - 1) / l.Query.PerPage
}

func (l SCMList) first() int { return (l.Query.Page-1)*l.Query.PerPage + 1 }

func (l SCMList) last() int { return l.first() + len(l.Configs) - 1 }

// SCMForm is the Add (or Edit) form for one provider.
type SCMForm struct {
	Provider *provider.Provider
	// Values are what the form shows: defaults on a new form, what was typed after an error.
	// Secret fields are never among them.
	Values      provider.Values
	Errors      provider.Errors
	CallbackURL string
}

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
	Config   store.SCMConfig
	Provider *provider.Provider
	Secrets  map[string]store.SecretInfo
}
