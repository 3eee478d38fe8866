package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestProviderHelpSpeaksOfTheChosenProvider: the help on the Add form is the chosen
// provider's, with or without htmx, and never another's.
func TestProviderHelpSpeaksOfTheChosenProvider(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	for id, want := range map[string]string{"github": "GitHub.com", "gitlab": "GitLab", "bitbucket_cloud": "Bitbucket.org",
		"bitbucket_server": "push to master", "bitbucket_server_api": "API call"} {
		for _, r := range []*response{c.get("/admin/scm/new?provider=" + id), c.getHTMX("/admin/scm/new?provider=" + id)} {
			about := r.text("#provider-about")
			if !strings.Contains(about, want) {
				t.Errorf("%s: #provider-about %q lacks %q", id, about, want)
			}
			if help := r.doc.Find("#provider-help").Text() + about; !strings.HasPrefix(id, "bitbucket") && strings.Contains(help, "Bitbucket") {
				t.Errorf("%s: the help speaks of Bitbucket: %q", id, help)
			}
		}
	}
}

// TestProviderSwitchNeverMixesHosts: switching provider replaces the pre-filled public URLs,
// carries the admin's own, and never leaves one host's URL beside another's.
func TestProviderSwitchNeverMixesHosts(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	value := func(r *response, name string) string { return r.doc.Find("#"+name).AttrOr("value", "") }
	// Left as pre-filled: GitHub's URLs give way to GitLab's.
	r := c.getHTMX("/admin/scm/new?" + url.Values{"provider": {"gitlab"}, "fields_for": {"github"},
		"website_url": {"https://github.com"}, "api_url": {"https://api.github.com"}, "ssh_url": {"ssh://git@github.com:22"}}.Encode()).
		wantStatus(http.StatusOK)
	if value(r, "website_url") != "https://gitlab.com" || value(r, "api_url") != "https://gitlab.com/api/v4" || value(r, "ssh_url") != "ssh://git@gitlab.com:22" {
		t.Errorf("GitHub's pre-filled URLs were not replaced by GitLab's: %q %q %q", value(r, "website_url"), value(r, "api_url"), value(r, "ssh_url"))
	}
	// The admin's own Website URL is carried; GitHub's API URL is not kept, nor is GitLab's
	// public API URL put beside the admin's host.
	r = c.getHTMX("/admin/scm/new?" + url.Values{"provider": {"gitlab"}, "fields_for": {"github"},
		"website_url": {"https://git.corp.example"}, "api_url": {"https://api.github.com"}, "ssh_url": {"ssh://git@github.com:22"}}.Encode()).
		wantStatus(http.StatusOK)
	if value(r, "website_url") != "https://git.corp.example" {
		t.Errorf("the admin's Website URL was not carried: %q", value(r, "website_url"))
	}
	for _, name := range []string{"api_url", "ssh_url"} {
		if v := value(r, name); v != "" {
			t.Errorf("%s = %q beside the admin's https://git.corp.example: one host's URL mixed with another's", name, v)
		}
	}
}
