package provider

import (
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// Bitbucket Server's rules found in a first trial: each bad input is refused naming its field
// and saying how to mend it; each good one is stored as the want column says.
func TestBitbucketServerFieldRules(t *testing.T) {
	for _, tc := range []struct {
		name, field, value string
		want               string // the stored value, or the error must hold it when bad
		bad                bool
	}{
		{"API URL without the API path", store.FieldAPIURL, "https://bitbucket.example.com",
			"API URL must end with /rest/api/1.0, where the REST API is: enter https://bitbucket.example.com/rest/api/1.0.", true},
		{"API URL under a context path", store.FieldAPIURL, "https://bitbucket.example.com/bitbucket",
			"enter https://bitbucket.example.com/bitbucket/rest/api/1.0.", true},
		{"API URL of another API version", store.FieldAPIURL, "https://bitbucket.example.com/rest/api/latest",
			"enter https://bitbucket.example.com/rest/api/1.0.", true},
		{"API URL cut short", store.FieldAPIURL, "https://bitbucket.example.com:8443/rest",
			"enter https://bitbucket.example.com:8443/rest/api/1.0.", true},
		{"API URL with the path", store.FieldAPIURL, "https://BITBUCKET.example.com/rest/api/1.0/", "https://bitbucket.example.com/rest/api/1.0", false},
		{"SSH URL with two ports", store.FieldSSHURL, "ssh://git@bitbucket.example.com:7999:8000",
			`has two ports (7999 and 8000): keep only one, like bitbucket.example.com:8000`, true},
		{"scp-like SSH URL with two ports", store.FieldSSHURL, "git@bitbucket.example.com:7999:8000", "two ports", true},
		{"international Website URL", store.FieldWebsiteURL, "https://Bücher.example", "https://xn--bcher-kva.example", false},
		{"international SSH URL", store.FieldSSHURL, "ssh://git@bücher.example:7999", "ssh://git@xn--bcher-kva.example:7999", false},
		{"full-width dots", store.FieldWebsiteURL, "https://bücher。example", "https://xn--bcher-kva.example", false},
		{"punycode as typed", store.FieldWebsiteURL, "https://xn--bcher-kva.example", "https://xn--bcher-kva.example", false},
		{"invalid international name", store.FieldWebsiteURL, "https://bü\u200dcher.example", "is not a valid international host name", true},
		{"token with an accented letter", store.FieldAccessToken, "NjE0MDg0NjQ5NzE3OkR0Z2p6c3c3é",
			"Personal access token holds a character that is not plain ASCII", true},
		{"token with a curly quote", store.FieldAccessToken, "NjE0\u2019MDg0", "Personal access token holds a character that is not plain ASCII", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, id := range []string{"bitbucket_server", "bitbucket_server_api"} {
				vals, errs := mustLookup(t, id).Validate(form(id, map[string]string{tc.field: tc.value}), nil)
				if tc.bad {
					if msg := errs[tc.field]; !strings.Contains(msg, tc.want) {
						t.Errorf("%s: %s=%q: error %q, want one holding %q", id, tc.field, tc.value, msg, tc.want)
					}
					continue
				}
				if len(errs) > 0 || vals[tc.field] != tc.want {
					t.Errorf("%s: %s=%q stored as %q (%v), want %q", id, tc.field, tc.value, vals[tc.field], errs, tc.want)
				}
			}
		})
	}
}

func TestOnlyBitbucketServerNeedsAnAPIPath(t *testing.T) {
	for _, id := range []string{"github_enterprise", "gitlab"} {
		if _, errs := mustLookup(t, id).Validate(form(id, map[string]string{store.FieldAPIURL: "https://git.example.com"}), nil); len(errs) > 0 {
			t.Errorf("%s: %v", id, errs)
		}
	}
}

func TestClientSecretsMustBeASCII(t *testing.T) {
	for _, id := range []string{"github", "github_enterprise", "gitlab", "bitbucket_cloud"} {
		p := mustLookup(t, id)
		f, _ := p.Field(store.FieldClientSecret)
		_, errs := p.Validate(form(id, map[string]string{store.FieldClientSecret: "secret\u2013dash"}), nil)
		if msg := errs[store.FieldClientSecret]; !strings.HasPrefix(msg, f.Label+" holds a character that is not plain ASCII") {
			t.Errorf("%s: error = %q", id, msg)
		}
	}
}

func TestNotes(t *testing.T) {
	for _, tc := range []struct {
		name, provider string
		over           map[string]string
		want           []string // what the notes must hold, one per note
	}{
		{"same host", "bitbucket_server", nil, nil},
		{"API on another host", "bitbucket_server_api", map[string]string{store.FieldAPIURL: "https://api.example.com/rest/api/1.0"},
			[]string{"The API URL's host, api.example.com, is not the Website URL's, bitbucket.example.com"}},
		{"API on another port of the same host", "bitbucket_server",
			map[string]string{store.FieldAPIURL: "https://bitbucket.example.com:8443/rest/api/1.0"}, nil},
		{"GitHub's API has its own host", "github", nil, nil},
		{"international host names", "bitbucket_server", map[string]string{store.FieldWebsiteURL: "https://bücher.example",
			store.FieldAPIURL: "https://bücher.example/rest/api/1.0", store.FieldSSHURL: "git@bücher.example:7999"},
			[]string{"The Website URL https://bücher.example is stored as https://xn--bcher-kva.example",
				"The API URL https://bücher.example/rest/api/1.0 is stored as https://xn--bcher-kva.example/rest/api/1.0",
				"The SSH URL git@bücher.example:7999 is stored as ssh://git@xn--bcher-kva.example:7999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLookup(t, tc.provider)
			f := form(tc.provider, tc.over)
			vals, errs := p.Validate(f, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			notes := p.Notes(f, vals)
			if len(notes) != len(tc.want) {
				t.Fatalf("notes = %q, want %d", notes, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(notes[i], want) {
					t.Errorf("note %q does not hold %q", notes[i], want)
				}
			}
		})
	}
}
