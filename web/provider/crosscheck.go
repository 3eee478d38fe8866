package provider

import (
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/idna"

	"github.com/scmadmin/scmadmin/store"
)

// asciiHost returns host as DNS has it: an internationalised name (bücher.example) in
// punycode (xn--bcher-kva.example), which is how the host is stored and reached.
func asciiHost(host string) (string, error) {
	if !strings.ContainsFunc(host, func(r rune) bool { return r >= 0x80 }) {
		return host, nil
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid international host name (%v): type it as your browser shows it, or in its xn-- form", host, err)
	}
	return ascii, nil
}

// crossCheck applies the rules between fields, once each is valid on its own: an API that
// lives under the Website URL must end with its path.
func (p *Provider) crossCheck(v Values, errs Errors) {
	api, ok := v[store.FieldAPIURL]
	if !ok || p.APIPath == "" {
		return
	}
	u, err := url.Parse(api)
	if err != nil || strings.HasSuffix(u.Path, p.APIPath) {
		return
	}
	// Offer the fix: what was typed up to where the API path begins (or all of it), then the path.
	first, _, _ := strings.Cut(strings.TrimPrefix(p.APIPath, "/"), "/")
	if i := strings.Index(u.Path+"/", "/"+first+"/"); i >= 0 {
		u.Path = u.Path[:i]
	}
	u.Path, u.RawPath = u.Path+p.APIPath, ""
	f, _ := p.Field(store.FieldAPIURL)
	errs[store.FieldAPIURL] = fmt.Sprintf("%s must end with %s, where the REST API is: enter %s.", f.Label, p.APIPath, u)
}

// Notes are what is worth knowing about valid values, without stopping a save: an API on
// another host than the Website URL, and a host name stored in its DNS form. form is what
// was typed, v the values Validate made of it.
func (p *Provider) Notes(form url.Values, v Values) []string {
	var notes []string
	web, webErr := url.Parse(v[store.FieldWebsiteURL])
	api, apiErr := url.Parse(v[store.FieldAPIURL])
	if p.APIPath != "" && webErr == nil && apiErr == nil && web.Host != "" && api.Host != "" && web.Hostname() != api.Hostname() {
		notes = append(notes, fmt.Sprintf("The API URL's host, %s, is not the Website URL's, %s: Bitbucket Server serves its "+
			"API under its Website URL. Check that both name the same server.", api.Hostname(), web.Hostname()))
	}
	for _, f := range p.Fields() {
		if f.Kind != KindHTTPSURL && f.Kind != KindSSHURL {
			continue
		}
		// Only asciiHost makes xn-- labels of what was typed otherwise.
		typed := strings.TrimSpace(form.Get(f.Name))
		if stored := v[f.Name]; strings.Contains(stored, "xn--") && !strings.Contains(strings.ToLower(typed), "xn--") {
			notes = append(notes, fmt.Sprintf("The %s %s is stored as %s, the form DNS uses.", f.Label, typed, stored))
		}
	}
	return notes
}
