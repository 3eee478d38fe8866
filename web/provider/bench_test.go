package provider

import (
	"net/url"
	"testing"
)

// BenchmarkValidate validates a complete Bitbucket Server Add form.
func BenchmarkValidate(b *testing.B) {
	p, _ := Lookup("bitbucket_server")
	form := url.Values{"website_url": {"https://Bitbucket.Example.com:443/"}, "api_url": {"https://bitbucket.example.com/rest/api/1.0"},
		"ssh_url": {"git@bitbucket.example.com:7999"}, "project_key": {"algo"}, "access_token": {"BBDC-abcdef0123456789"}, "name": {"Algorithms"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := p.Validate(form, Create); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
