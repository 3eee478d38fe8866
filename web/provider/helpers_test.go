package provider

// The test helpers more than one test file of this package uses.

import (
	"net/url"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

func mustLookup(t *testing.T, id string) *Provider {
	t.Helper()
	p, ok := Lookup(id)
	if !ok {
		t.Fatalf("Lookup(%q) not found", id)
	}
	return p
}

// form returns provider id's good form with the overrides applied.
func form(id string, over map[string]string) url.Values {
	v := url.Values{}
	for k, s := range goodForms[id] {
		v.Set(k, s)
	}
	for k, s := range over {
		v.Set(k, s)
	}
	return v
}

// goodForms are complete, valid Create forms per provider.
var goodForms = map[string]map[string]string{
	"github": {
		store.FieldWebsiteURL: "https://github.com", store.FieldAPIURL: "https://api.github.com",
		store.FieldSSHURL: "ssh://git@github.com:22", store.FieldClientID: "Iv1.0123456789abcdef",
		store.FieldClientSecret: "0123456789abcdef0123456789abcdef01234567",
	},
	"github_enterprise": {
		store.FieldWebsiteURL: "https://github.example.com", store.FieldAPIURL: "https://github.example.com/api/v3",
		store.FieldSSHURL: "git@github.example.com:22", store.FieldClientID: "Iv1.ent", store.FieldClientSecret: "ent-secret",
	},
	"gitlab": {
		store.FieldWebsiteURL: "https://gitlab.com", store.FieldAPIURL: "https://gitlab.com/api/v4",
		store.FieldSSHURL: "ssh://git@gitlab.com", store.FieldClientID: "app-id", store.FieldClientSecret: "gloas-secret",
	},
	"bitbucket_cloud": {
		store.FieldWebsiteURL: "https://bitbucket.org", store.FieldAPIURL: "https://api.bitbucket.org/2.0",
		store.FieldSSHURL: "git@bitbucket.org:22", store.FieldClientID: "consumerKey", store.FieldClientSecret: "consumerSecret",
	},
	"bitbucket_server": {
		store.FieldWebsiteURL: "https://bitbucket.example.com", store.FieldAPIURL: "https://bitbucket.example.com/rest/api/1.0",
		store.FieldSSHURL: "ssh://git@bitbucket.example.com:8000", store.FieldProjectKey: "ALGO",
		store.FieldAccessToken: "NjE0MDg0NjQ5NzE3OkR0ZzJ6c3c3",
	},
	"bitbucket_server_api": {
		store.FieldWebsiteURL: "https://bitbucket.example.com", store.FieldAPIURL: "https://bitbucket.example.com/rest/api/1.0",
		store.FieldSSHURL: "git@bitbucket.example.com:7999", store.FieldProjectKey: "ALGO",
		store.FieldAccessToken: "NjE0MDg0NjQ5NzE3OkR0ZzJ6c3c3",
	},
}
