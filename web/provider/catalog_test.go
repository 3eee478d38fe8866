package provider

import (
	"net/url"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// specProvider is one row of SPEC.md's "Providers" table.
type specProvider struct {
	id, label, trigger string
	// creds are the credential fields in form order: field name → label.
	creds [][2]string
	oauth bool
}

var specProviders = []specProvider{
	{id: "internal", label: "Built-in (hosted by the platform)", trigger: "built in"},
	{id: "github", label: "GitHub", trigger: "push, via webhook", oauth: true,
		creds: [][2]string{{"client_id", "Client ID"}, {"client_secret", "Client secret"}}},
	{id: "github_enterprise", label: "GitHub Enterprise", trigger: "push, via webhook", oauth: true,
		creds: [][2]string{{"client_id", "Client ID"}, {"client_secret", "Client secret"}}},
	{id: "gitlab", label: "GitLab", trigger: "push, via webhook", oauth: true,
		creds: [][2]string{{"client_id", "Application ID"}, {"client_secret", "Secret"}}},
	{id: "bitbucket_cloud", label: "Bitbucket Cloud", trigger: "push, via webhook", oauth: true,
		creds: [][2]string{{"client_id", "Consumer key"}, {"client_secret", "Consumer secret"}}},
	{id: "bitbucket_server", label: "Bitbucket Server (build-on-checkin)", trigger: "push to master, via webhook",
		creds: [][2]string{{"project_key", "Project key"}, {"access_token", "Personal access token"}}},
	{id: "bitbucket_server_api", label: "Bitbucket Server (build-via-API)", trigger: "an API call per build",
		creds: [][2]string{{"project_key", "Project key"}, {"access_token", "Personal access token"}}},
}

func TestCatalogMatchesSpecTable(t *testing.T) {
	all := All()
	if len(all) != len(specProviders) {
		t.Fatalf("All() has %d providers, SPEC has %d", len(all), len(specProviders))
	}
	for i, want := range specProviders {
		p := all[i]
		if p.ID != want.id {
			t.Errorf("All()[%d].ID = %q, want %q", i, p.ID, want.id)
			continue
		}
		if p.Label != want.label {
			t.Errorf("%s: Label = %q, want %q", want.id, p.Label, want.label)
		}
		if p.Trigger != want.trigger {
			t.Errorf("%s: Trigger = %q, want %q", want.id, p.Trigger, want.trigger)
		}
		got, ok := Lookup(want.id)
		if !ok || got != p {
			t.Errorf("Lookup(%q) = %v, %v; want the catalog entry", want.id, got, ok)
		}
		if want.id == Internal {
			if len(p.Fields()) != 0 {
				t.Errorf("internal has fields %v, want none", p.Fields())
			}
			continue
		}
		// The credentials section is the last one and holds exactly the SPEC's fields, in order.
		if len(p.Sections) == 0 {
			t.Errorf("%s: no sections", want.id)
			continue
		}
		credSec := p.Sections[len(p.Sections)-1]
		if len(credSec.Fields) != len(want.creds) {
			t.Errorf("%s: credentials section has %d fields, want %d", want.id, len(credSec.Fields), len(want.creds))
			continue
		}
		for j, c := range want.creds {
			f := credSec.Fields[j]
			if f.Name != c[0] || f.Label != c[1] {
				t.Errorf("%s: credential field %d = %q → %q, want %q → %q", want.id, j, f.Name, f.Label, c[0], c[1])
			}
			if !f.Required {
				t.Errorf("%s: credential %s is not required", want.id, f.Name)
			}
			if got, ok := p.Field(c[0]); !ok || got.Label != c[1] {
				t.Errorf("%s: Field(%q) = %+v, %v", want.id, c[0], got, ok)
			}
		}
	}
	if _, ok := Lookup("gitea"); ok {
		t.Error(`Lookup("gitea") found a provider the SPEC does not list`)
	}
}

func TestCredentialKindsAndIdentity(t *testing.T) {
	for _, sp := range specProviders[1:] {
		p := mustLookup(t, sp.id)
		var wantKinds map[string]Kind
		if sp.oauth {
			wantKinds = map[string]Kind{store.FieldClientID: KindCredential, store.FieldClientSecret: KindSecret}
			if p.Identity != store.FieldClientID {
				t.Errorf("%s: Identity = %q, want client_id", sp.id, p.Identity)
			}
			if p.UniqueScope != sp.id {
				t.Errorf("%s: UniqueScope = %q, want the provider id", sp.id, p.UniqueScope)
			}
			if p.SSHPortRequired {
				t.Errorf("%s: SSHPortRequired, want optional port", sp.id)
			}
		} else {
			wantKinds = map[string]Kind{store.FieldProjectKey: KindProjectKey, store.FieldAccessToken: KindSecret}
			if p.Identity != store.FieldProjectKey {
				t.Errorf("%s: Identity = %q, want project_key", sp.id, p.Identity)
			}
			if p.UniqueScope != "bitbucket_server" {
				t.Errorf("%s: UniqueScope = %q, want bitbucket_server (shared by both kinds)", sp.id, p.UniqueScope)
			}
			if !p.SSHPortRequired {
				t.Errorf("%s: SSH port not required", sp.id)
			}
		}
		for name, kind := range wantKinds {
			f, ok := p.Field(name)
			if !ok || f.Kind != kind {
				t.Errorf("%s: field %s kind = %v (found %v), want %v", sp.id, name, f.Kind, ok, kind)
			}
		}
		if _, ok := p.Field(p.Identity); !ok {
			t.Errorf("%s: Identity field %q is not a field", sp.id, p.Identity)
		}
	}
}

func TestSelectable(t *testing.T) {
	sel := Selectable()
	var ids []string
	for _, p := range sel {
		ids = append(ids, p.ID)
		if !p.Selectable() {
			t.Errorf("%s in Selectable() but p.Selectable() is false", p.ID)
		}
	}
	want := "github github_enterprise gitlab bitbucket_cloud bitbucket_server bitbucket_server_api"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("Selectable() = %s, want %s", got, want)
	}
	if mustLookup(t, Internal).Selectable() {
		t.Error("internal is selectable")
	}
	if All()[0].ID != Internal {
		t.Errorf("All()[0] = %s, want the built-in provider first", All()[0].ID)
	}
}

func TestConnectionFields(t *testing.T) {
	want := []struct {
		name, label string
		kind        Kind
		required    bool
	}{
		{store.FieldWebsiteURL, "Website URL", KindHTTPSURL, true},
		{store.FieldAPIURL, "API URL", KindHTTPSURL, true},
		{store.FieldSSHURL, "SSH URL", KindSSHURL, true},
		{store.FieldName, "Display name", KindText, false},
	}
	for _, p := range Selectable() {
		for _, w := range want {
			f, ok := p.Field(w.name)
			if !ok {
				t.Errorf("%s: no %s field", p.ID, w.name)
				continue
			}
			if f.Label != w.label || f.Kind != w.kind || f.Required != w.required {
				t.Errorf("%s: %s = label %q kind %v required %v; want %q %v %v",
					p.ID, w.name, f.Label, f.Kind, f.Required, w.label, w.kind, w.required)
			}
		}
		// URLs come first, in SPEC order, then the credentials.
		fs := p.Fields()
		if len(fs) < 3 || fs[0].Name != store.FieldWebsiteURL || fs[1].Name != store.FieldAPIURL || fs[2].Name != store.FieldSSHURL {
			t.Errorf("%s: form does not start with website_url, api_url, ssh_url: %v", p.ID, names(fs))
		}
		if len(fs) != 6 {
			t.Errorf("%s: %d fields %v, want 4 connection + 2 credential fields", p.ID, len(fs), names(fs))
		}
		seen := map[string]bool{}
		for _, f := range fs {
			if seen[f.Name] {
				t.Errorf("%s: field %s appears twice", p.ID, f.Name)
			}
			seen[f.Name] = true
		}
	}
}

func names(fs []Field) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	return n
}

func TestEveryFieldHasHelpAndLabel(t *testing.T) {
	for _, p := range All() {
		for _, f := range p.Fields() {
			if strings.TrimSpace(f.Help) == "" {
				t.Errorf("%s.%s has no Help", p.ID, f.Name)
			}
			if strings.TrimSpace(f.Label) == "" {
				t.Errorf("%s.%s has no Label", p.ID, f.Name)
			}
			if strings.Contains(f.Help, "\n") {
				t.Errorf("%s.%s Help is not one line: %q", p.ID, f.Name, f.Help)
			}
		}
	}
}

func TestDefaultsAndPlaceholders(t *testing.T) {
	public := map[string][3]string{
		"github":          {"https://github.com", "https://api.github.com", "ssh://git@github.com:22"},
		"gitlab":          {"https://gitlab.com", "https://gitlab.com/api/v4", "ssh://git@gitlab.com:22"},
		"bitbucket_cloud": {"https://bitbucket.org", "https://api.bitbucket.org/2.0", "ssh://git@bitbucket.org:22"},
	}
	urlFields := []string{store.FieldWebsiteURL, store.FieldAPIURL, store.FieldSSHURL}
	for _, p := range Selectable() {
		want, isPublic := public[p.ID]
		for i, name := range urlFields {
			f, _ := p.Field(name)
			if isPublic {
				if f.Default != want[i] {
					t.Errorf("%s.%s Default = %q, want %q", p.ID, name, f.Default, want[i])
				}
				continue
			}
			if f.Default != "" {
				t.Errorf("self-hosted %s.%s has Default %q, want none", p.ID, name, f.Default)
			}
			if f.Placeholder == "" {
				t.Errorf("self-hosted %s.%s has no Placeholder", p.ID, name)
			}
		}
		// Credentials are never pre-filled.
		for _, f := range p.Fields() {
			if (f.Kind == KindCredential || f.Kind == KindSecret || f.Kind == KindProjectKey) && f.Default != "" {
				t.Errorf("%s.%s credential has Default %q", p.ID, f.Name, f.Default)
			}
		}
	}
	for _, id := range []string{"github_enterprise", "bitbucket_server", "bitbucket_server_api"} {
		if _, ok := public[id]; ok {
			t.Fatalf("%s listed as public", id)
		}
	}
}

// TestDefaultsValidate fills a form with every Default plus dummy credentials and expects it to
// pass unchanged: a pre-filled value must never be rejected nor rewritten by normalisation.
func TestDefaultsValidate(t *testing.T) {
	for _, p := range Selectable() {
		form := url.Values{}
		hasDefault := false
		for _, f := range p.Fields() {
			switch {
			case f.Default != "":
				form.Set(f.Name, f.Default)
				hasDefault = true
			case f.Kind == KindCredential || f.Kind == KindSecret:
				form.Set(f.Name, "dummy-"+f.Name+"-0123456789")
			case f.Kind == KindProjectKey:
				form.Set(f.Name, "ALGO")
			}
		}
		if !hasDefault {
			continue
		}
		vals, errs := p.Validate(form, Create)
		if len(errs) != 0 {
			t.Errorf("%s: defaults rejected: %v", p.ID, errs)
		}
		for _, f := range p.Fields() {
			if f.Default != "" && vals[f.Name] != f.Default {
				t.Errorf("%s.%s: Default %q normalised to %q", p.ID, f.Name, f.Default, vals[f.Name])
			}
		}
	}
}

// TestURLPlaceholdersValidate checks the self-hosted examples are themselves valid input.
func TestURLPlaceholdersValidate(t *testing.T) {
	for _, p := range Selectable() {
		for _, f := range p.Fields() {
			if f.Placeholder == "" || (f.Kind != KindHTTPSURL && f.Kind != KindSSHURL && f.Kind != KindProjectKey) {
				continue
			}
			if _, err := f.check(f.Placeholder, p.SSHPortRequired); err != nil {
				t.Errorf("%s.%s placeholder %q is invalid: %v", p.ID, f.Name, f.Placeholder, err)
			}
		}
	}
}

func TestCredentialSections(t *testing.T) {
	for _, sp := range specProviders[1:] {
		p := mustLookup(t, sp.id)
		if len(p.Sections) != 2 {
			t.Errorf("%s: %d sections, want connection + credentials", sp.id, len(p.Sections))
			continue
		}
		cred := p.Sections[1]
		want := "Credentials"
		if sp.oauth {
			want = "OAuth Information"
		}
		if cred.Heading != want {
			t.Errorf("%s: credentials heading = %q, want %q", sp.id, cred.Heading, want)
		}
		if strings.TrimSpace(cred.Intro) == "" {
			t.Errorf("%s: credentials section has no Intro", sp.id)
		}
		if sp.oauth && !strings.Contains(cred.Intro, "{callback_url}") {
			t.Errorf("%s: OAuth intro does not name the callback URL to register: %q", sp.id, cred.Intro)
		}
		if p.Sections[0].Heading == "" {
			t.Errorf("%s: connection section has no heading", sp.id)
		}
	}
}

func TestBitbucketServerGuidance(t *testing.T) {
	for _, id := range []string{"bitbucket_server", "bitbucket_server_api"} {
		p := mustLookup(t, id)
		var all []string
		for _, s := range p.Sections {
			all = append(all, s.Intro)
			for _, f := range s.Fields {
				all = append(all, f.Help, f.Placeholder)
			}
		}
		text := strings.Join(all, "\n")
		for _, want := range []string{"5.6", "8000", "7999"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: help/intro text does not mention %q", id, want)
			}
		}
		if !strings.Contains(strings.ToLower(text), "admin permission") {
			t.Errorf("%s: help/intro text does not mention admin permission", id)
		}
		tok, _ := p.Field(store.FieldAccessToken)
		if !strings.Contains(strings.ToLower(tok.Help), "admin") ||
			!strings.Contains(tok.Help, "projects") || !strings.Contains(tok.Help, "repositories") {
			t.Errorf("%s: access_token help %q does not say it needs admin permission on projects and repositories", id, tok.Help)
		}
	}
}

func TestFieldLookup(t *testing.T) {
	p := mustLookup(t, "gitlab")
	if _, ok := p.Field(store.FieldProjectKey); ok {
		t.Error("gitlab has a project_key field")
	}
	if f, ok := p.Field(store.FieldClientSecret); !ok || f.Label != "Secret" {
		t.Errorf("gitlab client_secret = %+v, %v", f, ok)
	}
	if _, ok := mustLookup(t, "bitbucket_server").Field(store.FieldClientID); ok {
		t.Error("bitbucket_server has a client_id field")
	}
}
