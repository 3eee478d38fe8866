package provider

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scmadmin/scmadmin/store"
)

func TestGoodFormsPass(t *testing.T) {
	for _, p := range Selectable() {
		if _, ok := goodForms[p.ID]; !ok {
			t.Errorf("no good form for %s", p.ID)
			continue
		}
		for _, mode := range []Mode{Create, Edit} {
			vals, errs := p.Validate(form(p.ID, nil), mode)
			if len(errs) != 0 {
				t.Errorf("%s (edit %v): good form rejected: %v", p.ID, mode != nil, errs)
			}
			for k, want := range goodForms[p.ID] {
				if k == store.FieldSSHURL && !strings.HasPrefix(want, "ssh://") {
					want = "ssh://" + want // the scp-like form is stored as ssh://
				}
				if vals[k] != want {
					t.Errorf("%s: %s = %q, want %q", p.ID, k, vals[k], want)
				}
			}
			if _, ok := vals[store.FieldName]; ok {
				t.Errorf("%s: empty name present in values: %q", p.ID, vals[store.FieldName])
			}
		}
	}
}

type vcase struct {
	name     string
	provider string // default github
	mode     Mode
	field    string
	value    string
	wantErr  bool
	wantMsg  string // exact message, when set
	wantVal  string // cleaned value, when the input is accepted and this is set
}

func runCases(t *testing.T, cases []vcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := c.provider
			if id == "" {
				id = "github"
			}
			p := mustLookup(t, id)
			f, ok := p.Field(c.field)
			if !ok {
				t.Fatalf("%s has no field %s", id, c.field)
			}
			vals, errs := p.Validate(form(id, map[string]string{c.field: c.value}), c.mode)
			if c.wantErr {
				msg := errs[c.field]
				if msg == "" {
					t.Fatalf("%s=%q accepted as %q, want an error on %s", c.field, c.value, vals[c.field], c.field)
				}
				if !strings.Contains(msg, f.Label) {
					t.Errorf("error %q does not name the field %q", msg, f.Label)
				}
				if c.wantMsg != "" && msg != c.wantMsg {
					t.Errorf("error = %q, want %q", msg, c.wantMsg)
				}
				if v, ok := vals[c.field]; ok {
					t.Errorf("rejected field still has value %q", v)
				}
				for k, m := range errs {
					if k != c.field {
						t.Errorf("unexpected error on %s: %q", k, m)
					}
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("%s=%q rejected: %v", c.field, c.value, errs)
			}
			if c.wantVal != "" && vals[c.field] != c.wantVal {
				t.Errorf("%s=%q cleaned to %q, want %q", c.field, c.value, vals[c.field], c.wantVal)
			}
		})
	}
}

func TestValidateHTTPSURLs(t *testing.T) {
	var cases []vcase
	for _, field := range []string{store.FieldWebsiteURL, store.FieldAPIURL} {
		label := map[string]string{store.FieldWebsiteURL: "Website URL", store.FieldAPIURL: "API URL"}[field]
		bad := []struct{ name, v string }{
			{"missing", ""},
			{"blank", "   "},
			{"http scheme", "http://git.example.com"},
			{"no scheme", "git.example.com"},
			{"scheme-relative", "//git.example.com"},
			{"ftp scheme", "ftp://git.example.com"},
			{"opaque", "https:git.example.com"},
			{"no host", "https://"},
			{"no host with path", "https:///path"},
			{"port without host", "https://:8443"},
			{"user-info", "https://user@git.example.com"},
			{"user and password", "https://user:pass@git.example.com"},
			{"query", "https://git.example.com/?a=b"},
			{"bare ?", "https://git.example.com?"},
			{"bare ? after slash", "https://git.example.com/?"},
			{"fragment", "https://git.example.com/#top"},
			{"bare #", "https://git.example.com#"},
			{"space in path", "https://git.example.com/a b"},
			{"space in host", "https://git example.com"},
			{"tab inside", "https://git.example.com/a\tb"},
			{"newline inside", "https://git.example.com/a\nb"},
			{"nbsp inside", "https://git.example.com/a\u00a0b"},
			{"NUL inside", "https://git.example.com/a\x00b"},
			{"port 0", "https://git.example.com:0"},
			{"port 65536", "https://git.example.com:65536"},
			{"port letters", "https://git.example.com:abc"},
			{"port leading zero", "https://git.example.com:0443"},
			{"empty port", "https://git.example.com:"},
			{"underscore host", "https://git_lab.example.com"},
			{"host trailing dot", "https://git.example.com."},
			{"host leading dash", "https://-git.example.com"},
			{"IPv4-mapped in brackets", "https://[::ffff:10.0.0.1]"},
			{"too long", "https://git.example.com/" + strings.Repeat("a", MaxURLLen)},
		}
		for _, b := range bad {
			c := vcase{name: field + "/" + b.name, field: field, value: b.v, wantErr: true}
			if strings.TrimSpace(b.v) == "" {
				c.wantMsg = "Enter the " + label + "."
			}
			cases = append(cases, c)
		}
		good := []struct{ name, in, want string }{
			{"plain", "https://git.example.com", "https://git.example.com"},
			{"upper-case scheme and host", "HTTPS://Git.Example.COM", "https://git.example.com"},
			{"port 443 dropped", "https://git.example.com:443", "https://git.example.com"},
			{"other port kept", "https://git.example.com:8443", "https://git.example.com:8443"},
			{"port 1", "https://git.example.com:1", "https://git.example.com:1"},
			{"port 65535", "https://git.example.com:65535", "https://git.example.com:65535"},
			{"trailing slash", "https://git.example.com/", "https://git.example.com"},
			{"trailing slashes", "https://git.example.com/api/v3///", "https://git.example.com/api/v3"},
			{"path case kept", "https://Git.Example.com/Rest/API/1.0/", "https://git.example.com/Rest/API/1.0"},
			{"surrounding space trimmed", "  https://git.example.com/  ", "https://git.example.com"},
			{"IPv4 host", "https://10.0.0.1:8443", "https://10.0.0.1:8443"},
			{"IPv6 host", "https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443"},
			{"localhost", "https://localhost", "https://localhost"},
			{"longest allowed", "https://git.example.com/" + strings.Repeat("a", MaxURLLen-len("https://git.example.com/")),
				"https://git.example.com/" + strings.Repeat("a", MaxURLLen-len("https://git.example.com/"))},
		}
		for _, g := range good {
			cases = append(cases, vcase{name: field + "/ok " + g.name, field: field, value: g.in, wantVal: g.want})
		}
	}
	runCases(t, cases)
}

func TestValidateSSHURL(t *testing.T) {
	const bbs, bbsAPI = "bitbucket_server", "bitbucket_server_api"
	cases := []vcase{
		// accepted forms
		{name: "ssh user host port", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:7999", wantVal: "ssh://git@bitbucket.example.com:7999"},
		{name: "scp-like user host port", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com:8000", wantVal: "ssh://git@bitbucket.example.com:8000"},
		{name: "ssh without user", provider: bbs, field: store.FieldSSHURL, value: "ssh://bitbucket.example.com:7999", wantVal: "ssh://bitbucket.example.com:7999"},
		{name: "host lower-cased, user kept", provider: bbs, field: store.FieldSSHURL, value: "SSH://Git@BitBucket.Example.com:7999", wantVal: "ssh://Git@bitbucket.example.com:7999"},
		{name: "trailing slash dropped", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:7999/", wantVal: "ssh://git@bitbucket.example.com:7999"},
		{name: "IPv6", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@[2001:db8::1]:7999", wantVal: "ssh://git@[2001:db8::1]:7999"},
		{name: "user with dot dash underscore", provider: bbs, field: store.FieldSSHURL, value: "git.user_1-x@bitbucket.example.com:7999", wantVal: "ssh://git.user_1-x@bitbucket.example.com:7999"},
		{name: "port 65535", provider: bbs, field: store.FieldSSHURL, value: "git@h.example.com:65535", wantVal: "ssh://git@h.example.com:65535"},
		{name: "github port optional ssh", field: store.FieldSSHURL, value: "ssh://git@github.com", wantVal: "ssh://git@github.com"},
		{name: "github port optional scp", field: store.FieldSSHURL, value: "git@github.com", wantVal: "ssh://git@github.com"},
		{name: "gitlab port optional", provider: "gitlab", field: store.FieldSSHURL, value: "ssh://git@gitlab.com", wantVal: "ssh://git@gitlab.com"},
		{name: "github with port", field: store.FieldSSHURL, value: "git@github.com:22", wantVal: "ssh://git@github.com:22"},

		// port required for both Bitbucket Server kinds
		{name: "bbs port missing ssh", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com", wantErr: true},
		{name: "bbs port missing scp", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com", wantErr: true},
		{name: "bbs api port missing", provider: bbsAPI, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com", wantErr: true},
		{name: "bbs api port missing scp", provider: bbsAPI, field: store.FieldSSHURL, value: "git@bitbucket.example.com", wantErr: true},

		// bad ports
		{name: "port 0", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:0", wantErr: true},
		{name: "port 65536", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:65536", wantErr: true},
		{name: "port letters", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com:ssh", wantErr: true},
		{name: "port empty", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com:", wantErr: true},
		{name: "port negative", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com:-22", wantErr: true},
		{name: "port leading zero", provider: bbs, field: store.FieldSSHURL, value: "git@bitbucket.example.com:022", wantErr: true},
		{name: "github port 0", field: store.FieldSSHURL, value: "ssh://git@github.com:0", wantErr: true},
		{name: "github port letters", field: store.FieldSSHURL, value: "git@github.com:abc", wantErr: true},
		{name: "port with plus sign", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:+7999", wantErr: true},
		{name: "scp port with plus sign", field: store.FieldSSHURL, value: "git@github.com:+22", wantErr: true},

		// paths are not allowed
		{name: "path ssh", provider: bbs, field: store.FieldSSHURL, value: "ssh://git@bitbucket.example.com:7999/algo/repo.git", wantErr: true},
		{name: "scp-style repo path", field: store.FieldSSHURL, value: "git@github.com:org/repo.git", wantErr: true},
		{name: "double trailing slash", field: store.FieldSSHURL, value: "ssh://git@github.com:22//", wantErr: true},
		{name: "query", field: store.FieldSSHURL, value: "ssh://git@github.com:22?x", wantErr: true},
		{name: "fragment", field: store.FieldSSHURL, value: "ssh://git@github.com:22#x", wantErr: true},

		// wrong scheme / shape
		{name: "https given as SSH URL", provider: bbs, field: store.FieldSSHURL, value: "https://bitbucket.example.com:7999", wantErr: true},
		{name: "https given as SSH URL github", field: store.FieldSSHURL, value: "https://github.com", wantErr: true},
		{name: "git scheme", field: store.FieldSSHURL, value: "git://github.com:22", wantErr: true},
		{name: "bare host", field: store.FieldSSHURL, value: "github.com:22", wantErr: true},
		{name: "bare host no port", field: store.FieldSSHURL, value: "github.com", wantErr: true},
		{name: "empty user", field: store.FieldSSHURL, value: "ssh://@github.com:22", wantErr: true},
		{name: "bad user", field: store.FieldSSHURL, value: "gi t@github.com:22", wantErr: true},
		{name: "user with colon", field: store.FieldSSHURL, value: "ssh://git:pw@github.com:22", wantErr: true},
		{name: "two @", field: store.FieldSSHURL, value: "a@b@github.com:22", wantErr: true},
		{name: "no host", field: store.FieldSSHURL, value: "ssh://git@:22", wantErr: true},
		{name: "bad host", field: store.FieldSSHURL, value: "git@git_hub.com:22", wantErr: true},
		{name: "space", field: store.FieldSSHURL, value: "ssh://git@git hub.com:22", wantErr: true},
		{name: "tab", field: store.FieldSSHURL, value: "ssh://git@github.com:\t22", wantErr: true},
		{name: "too long", field: store.FieldSSHURL, value: "git@" + strings.Repeat("a.", MaxURLLen) + "com:22", wantErr: true},
		{name: "missing", field: store.FieldSSHURL, value: "", wantErr: true, wantMsg: "Enter the SSH URL."},
		{name: "bbs missing", provider: bbs, field: store.FieldSSHURL, value: " ", wantErr: true, wantMsg: "Enter the SSH URL."},
	}
	runCases(t, cases)
}

func TestValidateProjectKey(t *testing.T) {
	var cases []vcase
	for _, id := range []string{"bitbucket_server", "bitbucket_server_api"} {
		add := func(c vcase) {
			c.provider, c.field, c.name = id, store.FieldProjectKey, id+"/"+c.name
			cases = append(cases, c)
		}
		add(vcase{name: "upper", value: "ALGO", wantVal: "ALGO"})
		add(vcase{name: "lower stored upper", value: "algo_1", wantVal: "ALGO_1"})
		add(vcase{name: "mixed", value: "Ml_Team2", wantVal: "ML_TEAM2"})
		add(vcase{name: "one letter", value: "a", wantVal: "A"})
		add(vcase{name: "trimmed", value: "  algo  ", wantVal: "ALGO"})
		add(vcase{name: "128 chars", value: "a" + strings.Repeat("b", MaxProjectKeyLen-1), wantVal: "A" + strings.Repeat("B", MaxProjectKeyLen-1)})
		add(vcase{name: "129 chars", value: "a" + strings.Repeat("b", MaxProjectKeyLen), wantErr: true})
		add(vcase{name: "starts with digit", value: "1ALGO", wantErr: true})
		add(vcase{name: "starts with underscore", value: "_ALGO", wantErr: true})
		add(vcase{name: "dash", value: "ML-TEAM", wantErr: true})
		add(vcase{name: "space", value: "ML TEAM", wantErr: true})
		add(vcase{name: "dot", value: "ML.TEAM", wantErr: true})
		add(vcase{name: "non-ASCII letter", value: "ÄLGO", wantErr: true})
		add(vcase{name: "tilde user project", value: "~admin", wantErr: true})
		add(vcase{name: "missing", value: "", wantErr: true, wantMsg: "Enter the Project key."})
	}
	runCases(t, cases)
}

func TestValidateCredentials(t *testing.T) {
	type cred struct{ provider, field string }
	creds := []cred{
		{"github", store.FieldClientID}, {"github", store.FieldClientSecret},
		{"gitlab", store.FieldClientID}, {"gitlab", store.FieldClientSecret},
		{"bitbucket_cloud", store.FieldClientID}, {"bitbucket_cloud", store.FieldClientSecret},
		{"github_enterprise", store.FieldClientID}, {"github_enterprise", store.FieldClientSecret},
		{"bitbucket_server", store.FieldAccessToken}, {"bitbucket_server_api", store.FieldAccessToken},
	}
	var cases []vcase
	for _, c := range creds {
		p := mustLookup(t, c.provider)
		f, _ := p.Field(c.field)
		add := func(v vcase) {
			v.provider, v.field, v.name = c.provider, c.field, c.provider+"/"+c.field+"/"+v.name
			cases = append(cases, v)
		}
		add(vcase{name: "printable", value: "Ab0-._~!$%&*+=/:;@^|{}", wantVal: "Ab0-._~!$%&*+=/:;@^|{}"})
		add(vcase{name: "surrounding space trimmed", value: " \ttok123\n", wantVal: "tok123"})
		add(vcase{name: "1024 ASCII", value: strings.Repeat("x", MaxCredentialLen), wantVal: strings.Repeat("x", MaxCredentialLen)})
		add(vcase{name: "accented letter", value: "tokén123", wantErr: true})
		add(vcase{name: "curly quote", value: "tok’en", wantErr: true})
		add(vcase{name: "long dash", value: "tok—en", wantErr: true})
		add(vcase{name: "Cyrillic look-alike", value: "tоken", wantErr: true})
		add(vcase{name: "1025", value: strings.Repeat("x", MaxCredentialLen+1), wantErr: true})
		add(vcase{name: "1025 runes multibyte", value: strings.Repeat("é", MaxCredentialLen+1), wantErr: true})
		add(vcase{name: "space inside", value: "abc def", wantErr: true})
		add(vcase{name: "tab inside", value: "abc\tdef", wantErr: true})
		add(vcase{name: "newline inside", value: "abc\ndef", wantErr: true})
		add(vcase{name: "CR inside", value: "abc\rdef", wantErr: true})
		add(vcase{name: "nbsp inside", value: "abc\u00a0def", wantErr: true})
		add(vcase{name: "NUL inside", value: "abc\x00def", wantErr: true})
		add(vcase{name: "DEL inside", value: "abc\x7fdef", wantErr: true})
		add(vcase{name: "zero-width space", value: "abc\u200bdef", wantErr: true})
		add(vcase{name: "invalid UTF-8", value: "abc\xffdef", wantErr: true})
		add(vcase{name: "missing on create", value: "", wantErr: true, wantMsg: "Enter the " + f.Label + "."})
		add(vcase{name: "blank on create", value: " \t ", wantErr: true, wantMsg: "Enter the " + f.Label + "."})
		if f.Kind == KindSecret {
			add(vcase{name: "empty on edit keeps stored", mode: Edit, value: ""})
			add(vcase{name: "blank on edit keeps stored", mode: Edit, value: "  "})
			add(vcase{name: "bad on edit still rejected", mode: Edit, value: "abc def", wantErr: true})
			add(vcase{name: "too long on edit still rejected", mode: Edit, value: strings.Repeat("x", MaxCredentialLen+1), wantErr: true})
		} else {
			add(vcase{name: "missing on edit", mode: Edit, value: "", wantErr: true, wantMsg: "Enter the " + f.Label + "."})
		}
	}
	runCases(t, cases)
}

// A fixed field keeps its stored value on edit: what was posted for it is ignored.
func TestValidateEditKeepsFixedFields(t *testing.T) {
	p := mustLookup(t, "bitbucket_server")
	vals, errs := p.Validate(form(p.ID, map[string]string{store.FieldProjectKey: "OTHER"}), &store.SCMConfig{ProjectKey: "ALGO"})
	if len(errs) != 0 || vals[store.FieldProjectKey] != "ALGO" {
		t.Errorf("edit posting project key OTHER = %v, %v; want the stored ALGO", vals[store.FieldProjectKey], errs)
	}
	if vals, _ := p.Validate(form(p.ID, map[string]string{store.FieldProjectKey: "OTHER"}), nil); vals[store.FieldProjectKey] != "OTHER" {
		t.Errorf("create posting project key OTHER = %v", vals[store.FieldProjectKey])
	}
}

func TestValidateEditEmptySecretAbsent(t *testing.T) {
	for _, tc := range []struct{ id, secret string }{
		{"github", store.FieldClientSecret}, {"bitbucket_server", store.FieldAccessToken},
	} {
		p := mustLookup(t, tc.id)
		vals, errs := p.Validate(form(tc.id, map[string]string{tc.secret: ""}), Edit)
		if len(errs) != 0 {
			t.Errorf("%s: edit with empty %s: %v", tc.id, tc.secret, errs)
		}
		if _, ok := vals[tc.secret]; ok {
			t.Errorf("%s: empty secret present in values", tc.id)
		}
		_, secrets := p.Config(vals)
		if _, ok := secrets[tc.secret]; ok {
			t.Errorf("%s: empty secret handed to the store to overwrite the stored one", tc.id)
		}
	}
}

func TestValidateName(t *testing.T) {
	var cases []vcase
	for _, id := range []string{"github", "bitbucket_server"} {
		add := func(c vcase) {
			c.provider, c.field, c.name = id, store.FieldName, id+"/"+c.name
			cases = append(cases, c)
		}
		add(vcase{name: "empty is fine", value: ""})
		add(vcase{name: "plain", value: "Corporate GitHub", wantVal: "Corporate GitHub"})
		add(vcase{name: "unicode", value: "Équipe ML – 東京", wantVal: "Équipe ML – 東京"})
		add(vcase{name: "trimmed", value: "  Team  ", wantVal: "Team"})
		add(vcase{name: "200 runes", value: strings.Repeat("ü", MaxNameLen), wantVal: strings.Repeat("ü", MaxNameLen)})
		add(vcase{name: "201 runes", value: strings.Repeat("a", MaxNameLen+1), wantErr: true})
		add(vcase{name: "201 runes multibyte", value: strings.Repeat("ü", MaxNameLen+1), wantErr: true})
		add(vcase{name: "newline", value: "a\nb", wantErr: true})
		add(vcase{name: "tab", value: "a\tb", wantErr: true})
		add(vcase{name: "NUL", value: "a\x00b", wantErr: true})
		add(vcase{name: "ESC", value: "a\x1b[31mb", wantErr: true})
		add(vcase{name: "DEL", value: "a\x7fb", wantErr: true})
		add(vcase{name: "C1 control", value: "a\u0085b", wantErr: true})
		add(vcase{name: "invalid UTF-8", value: "a\xc3b", wantErr: true})
	}
	runCases(t, cases)
}

func TestValidateMissingRequired(t *testing.T) {
	for _, p := range Selectable() {
		vals, errs := p.Validate(url.Values{}, Create)
		if len(vals) != 0 {
			t.Errorf("%s: empty form gave values %v", p.ID, vals)
		}
		for _, f := range p.Fields() {
			want := ""
			if f.Required {
				want = "Enter the " + f.Label + "."
			}
			if errs[f.Name] != want {
				t.Errorf("%s: empty %s: error %q, want %q", p.ID, f.Name, errs[f.Name], want)
			}
		}
		// On edit a fixed field keeps its stored value, whatever was posted.
		_, errs = p.Validate(url.Values{}, Edit)
		for _, f := range p.Fields() {
			want := ""
			if f.Required && f.Kind != KindSecret && !f.Fixed {
				want = "Enter the " + f.Label + "."
			}
			if errs[f.Name] != want {
				t.Errorf("%s edit: empty %s: error %q, want %q", p.ID, f.Name, errs[f.Name], want)
			}
		}
	}
}

func TestValidateIgnoresOtherProvidersFields(t *testing.T) {
	p := mustLookup(t, "github")
	vals, errs := p.Validate(form("github", map[string]string{store.FieldProjectKey: "1 bad", store.FieldAccessToken: "x y"}), Create)
	if len(errs) != 0 {
		t.Errorf("github errors on fields it does not have: %v", errs)
	}
	if _, ok := vals[store.FieldProjectKey]; ok {
		t.Error("github values hold a project_key")
	}
	if _, ok := vals[store.FieldAccessToken]; ok {
		t.Error("github values hold an access_token")
	}
}

func TestValidateInternalHasNoFields(t *testing.T) {
	vals, errs := mustLookup(t, Internal).Validate(url.Values{"website_url": {"x"}}, Create)
	if len(vals) != 0 || len(errs) != 0 {
		t.Errorf("internal Validate = %v, %v; want nothing", vals, errs)
	}
}

func TestNormalizeURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://bitbucket.example.com", "https://bitbucket.example.com"},
		{"HTTPS://Bitbucket.Example.COM:443/", "https://bitbucket.example.com"},
		{"https://BITBUCKET.example.com:443", "https://bitbucket.example.com"},
		{"https://bitbucket.example.com:8443/", "https://bitbucket.example.com:8443"},
		{"https://bitbucket.example.com:80", "https://bitbucket.example.com:80"},
		{"https://bitbucket.example.com///", "https://bitbucket.example.com"},
		{"https://bitbucket.example.com/Rest/API/1.0/", "https://bitbucket.example.com/Rest/API/1.0"},
		{"https://Git.Example.com:443/GitLab/", "https://git.example.com/GitLab"},
		{"https://[::1]:443/", "https://[::1]"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"https://git.example.com/a%2Fb", "https://git.example.com/a%2Fb"},
		{"https://git.example.com/ü", "https://git.example.com/%C3%BC"},
	}
	for _, c := range cases {
		got, err := NormalizeURL("Website URL", c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		again, err := NormalizeURL("Website URL", got)
		if err != nil || again != got {
			t.Errorf("NormalizeURL not idempotent on %q: %q, %v", got, again, err)
		}
	}
	a, errA := NormalizeURL("Website URL", "HTTPS://Bitbucket.Example.COM:443/")
	b, errB := NormalizeURL("Website URL", "https://bitbucket.example.com")
	if errA != nil || errB != nil || a != b {
		t.Errorf("equivalent spellings differ: %q (%v) vs %q (%v)", a, errA, b, errB)
	}
	for _, bad := range []string{"http://x.example.com", "https://u@x.example.com", "https://x.example.com?", "https://x.example.com#", "https://x.example.com:99999"} {
		if got, err := NormalizeURL("API URL", bad); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want error", bad, got)
		} else if !strings.HasPrefix(err.Error(), "API URL") {
			t.Errorf("NormalizeURL(%q) error %q does not start with the label", bad, err)
		}
	}
}

// TestNormalizeURLOutputWithinLimit: an accepted URL is stored and shown again on the Edit form;
// re-submitting it unchanged must be accepted.
func TestNormalizeURLOutputWithinLimit(t *testing.T) {
	// 2,024 bytes typed, but 6,024 once escaped: the stored form would be over the limit.
	in := "https://git.example.com/" + strings.Repeat("ü", 1000)
	if _, err := NormalizeURL("Website URL", in); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("NormalizeURL(%d bytes that escape to 6,024) = %v, want a too-long error", len(in), err)
	}
	// What fits once escaped is accepted, and normalising it again changes nothing.
	in = "https://git.example.com/" + strings.Repeat("ü", 300)
	out, err := NormalizeURL("Website URL", in)
	if err != nil || len(out) > MaxURLLen {
		t.Fatalf("NormalizeURL(%d bytes) = %d bytes, %v", len(in), len(out), err)
	}
	if again, err := NormalizeURL("Website URL", out); err != nil || again != out {
		t.Errorf("re-normalising: %q, %v", again, err)
	}
}

func TestCheckSSHURL(t *testing.T) {
	cases := []struct {
		in           string
		portRequired bool
		want         string // "" means an error is expected
	}{
		{"ssh://git@Bitbucket.Example.com:7999", true, "ssh://git@bitbucket.example.com:7999"},
		{"git@bitbucket.example.com:8000", true, "ssh://git@bitbucket.example.com:8000"},
		{"ssh://git@github.com:22/", false, "ssh://git@github.com:22"},
		{"ssh://git@github.com", false, "ssh://git@github.com"},
		{"git@github.com", false, "ssh://git@github.com"},
		{"ssh://github.com:22", false, "ssh://github.com:22"},
		{"ssh://git@github.com", true, ""},
		{"git@github.com", true, ""},
		{"https://github.com:22", false, ""},
		{"github.com:22", false, ""},
		{"git@github.com:0", false, ""},
		{"git@github.com:65536", false, ""},
		{"git@github.com:x", false, ""},
		{"ssh://git@github.com:22/repo", false, ""},
	}
	for _, c := range cases {
		got, err := CheckSSHURL("SSH URL", c.in, c.portRequired)
		if c.want == "" {
			if err == nil {
				t.Errorf("CheckSSHURL(%q, %v) = %q, want error", c.in, c.portRequired, got)
			} else if !strings.Contains(err.Error(), "SSH URL") {
				t.Errorf("CheckSSHURL(%q) error %q does not name the field", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CheckSSHURL(%q, %v) = %q, %v; want %q", c.in, c.portRequired, got, err, c.want)
		}
	}
	_, err := CheckSSHURL("SSH URL", "https://bitbucket.example.com:7999", true)
	if err == nil || !strings.Contains(err.Error(), "ssh://") {
		t.Errorf("https:// as SSH URL: error %v, want one saying to use ssh://", err)
	}
	_, err = CheckSSHURL("SSH URL", "git@bitbucket.example.com", true)
	if err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("missing port: error %v, want one about the port", err)
	}
}

func TestCheckProjectKey(t *testing.T) {
	if got, err := CheckProjectKey("Project key", "algo_1"); err != nil || got != "ALGO_1" {
		t.Errorf(`CheckProjectKey("algo_1") = %q, %v; want "ALGO_1"`, got, err)
	}
	if _, err := CheckProjectKey("Project key", "9lives"); err == nil || !strings.Contains(err.Error(), "Project key") {
		t.Errorf(`CheckProjectKey("9lives") error = %v`, err)
	}
}

func validated(t *testing.T, id string, over map[string]string) Values {
	t.Helper()
	vals, errs := mustLookup(t, id).Validate(form(id, over), Create)
	if len(errs) != 0 {
		t.Fatalf("%s: %v", id, errs)
	}
	return vals
}

func TestUniqueKey(t *testing.T) {
	bbs, bbsAPI := mustLookup(t, "bitbucket_server"), mustLookup(t, "bitbucket_server_api")

	// Both Bitbucket Server kinds share one scope.
	k1 := bbs.UniqueKey(validated(t, "bitbucket_server", nil))
	k2 := bbsAPI.UniqueKey(validated(t, "bitbucket_server_api", nil))
	if k1 != k2 {
		t.Errorf("same website+project key differ across Bitbucket Server kinds: %q vs %q", k1, k2)
	}
	// ... and differently-spelled equivalents of the URL and key collide.
	k3 := bbsAPI.UniqueKey(validated(t, "bitbucket_server_api", map[string]string{
		store.FieldWebsiteURL: "HTTPS://Bitbucket.Example.COM:443/", store.FieldProjectKey: "algo",
		store.FieldAPIURL: "https://other.example.com/rest/api/1.0", store.FieldSSHURL: "git@other.example.com:8000",
		store.FieldAccessToken: "different-token", store.FieldName: "another name",
	}))
	if k3 != k1 {
		t.Errorf("equivalent spelling gives a different key: %q vs %q", k3, k1)
	}
	// A different project key or website is a different configuration.
	if k := bbs.UniqueKey(validated(t, "bitbucket_server", map[string]string{store.FieldProjectKey: "ALGO2"})); k == k1 {
		t.Errorf("different project key gives the same key %q", k)
	}
	if k := bbs.UniqueKey(validated(t, "bitbucket_server", map[string]string{store.FieldWebsiteURL: "https://bitbucket.example.com:8443"})); k == k1 {
		t.Errorf("different port gives the same key %q", k)
	}
	if k := bbs.UniqueKey(validated(t, "bitbucket_server", map[string]string{store.FieldWebsiteURL: "https://bitbucket.example.com/bb"})); k == k1 {
		t.Errorf("different path gives the same key %q", k)
	}

	// OAuth providers are scoped by provider id.
	gh, ghe := mustLookup(t, "github"), mustLookup(t, "github_enterprise")
	same := map[string]string{store.FieldWebsiteURL: "https://github.example.com", store.FieldClientID: "Iv1.same"}
	kgh := gh.UniqueKey(validated(t, "github", same))
	kghe := ghe.UniqueKey(validated(t, "github_enterprise", same))
	if kgh == kghe {
		t.Errorf("github and github_enterprise share a key: %q", kgh)
	}
	// ... within a provider, equivalent URLs collide and client ids distinguish.
	kgh2 := gh.UniqueKey(validated(t, "github", map[string]string{store.FieldWebsiteURL: "HTTPS://GitHub.Example.com:443//", store.FieldClientID: "Iv1.same", store.FieldClientSecret: "other"}))
	if kgh2 != kgh {
		t.Errorf("equivalent github URLs differ: %q vs %q", kgh2, kgh)
	}
	if k := gh.UniqueKey(validated(t, "github", map[string]string{store.FieldWebsiteURL: "https://github.example.com", store.FieldClientID: "Iv1.other"})); k == kgh {
		t.Errorf("different client id gives the same key %q", k)
	}
	// Client ids are case-sensitive (OAuth client ids are opaque).
	if k := gh.UniqueKey(validated(t, "github", map[string]string{store.FieldWebsiteURL: "https://github.example.com", store.FieldClientID: "IV1.SAME"})); k == kgh {
		t.Errorf("client id compared case-insensitively: %q", k)
	}
	// No OAuth key collides with a Bitbucket Server one, nor with the built-in one.
	keys := map[string]string{}
	for _, p := range Selectable() {
		k := p.UniqueKey(validated(t, p.ID, nil))
		if prev, ok := keys[k]; ok && !(strings.HasPrefix(prev, "bitbucket_server") && strings.HasPrefix(p.ID, "bitbucket_server")) {
			t.Errorf("%s and %s share key %q", prev, p.ID, k)
		}
		keys[k] = p.ID
		if k == mustLookup(t, Internal).UniqueKey(nil) {
			t.Errorf("%s key equals the built-in one", p.ID)
		}
	}
	if k := mustLookup(t, Internal).UniqueKey(Values{}); k != Internal {
		t.Errorf("internal UniqueKey = %q", k)
	}
}

func TestConfigSplitsSecrets(t *testing.T) {
	for _, p := range Selectable() {
		vals := validated(t, p.ID, map[string]string{store.FieldName: "Team host"})
		cfg, secrets := p.Config(vals)
		if cfg.Provider != p.ID {
			t.Errorf("%s: Config.Provider = %q", p.ID, cfg.Provider)
		}
		if cfg.UniqueKey != p.UniqueKey(vals) {
			t.Errorf("%s: Config.UniqueKey = %q, want %q", p.ID, cfg.UniqueKey, p.UniqueKey(vals))
		}
		var secretNames []string
		for _, f := range p.Fields() {
			if f.Kind == KindSecret {
				secretNames = append(secretNames, f.Name)
			}
		}
		if len(secrets) != len(secretNames) {
			t.Errorf("%s: secrets %v, want exactly %v", p.ID, keysOf(secrets), secretNames)
		}
		for _, n := range secretNames {
			if secrets[n] != vals[n] || vals[n] == "" {
				t.Errorf("%s: secret %s = %q, want %q", p.ID, n, secrets[n], vals[n])
			}
			// The secret is nowhere in the stored row.
			if s := secretInConfig(cfg, vals[n]); s != "" {
				t.Errorf("%s: secret %s leaked into SCMConfig.%s", p.ID, n, s)
			}
		}
		// Non-secret values round-trip.
		want := Values{}
		for k, v := range vals {
			if f, _ := p.Field(k); f.Kind != KindSecret {
				want[k] = v
			}
		}
		if got := Values(cfg.Values()); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Values(Config(v.Values())) = %v, want %v", p.ID, got, want)
		}
		// Validating the round-tripped values (as an Edit form would show them) changes nothing.
		fv := url.Values{}
		for k, v := range Values(cfg.Values()) {
			fv.Set(k, v)
		}
		again, errs := p.Validate(fv, Edit)
		if len(errs) != 0 || !reflect.DeepEqual(again, want) {
			t.Errorf("%s: re-validating stored values = %v, %v; want %v", p.ID, again, errs, want)
		}
	}
}

func TestConfigColumns(t *testing.T) {
	vals := validated(t, "bitbucket_server", map[string]string{store.FieldName: "BB", store.FieldProjectKey: "algo"})
	cfg, _ := mustLookup(t, "bitbucket_server").Config(vals)
	want := store.SCMConfig{
		Provider: "bitbucket_server", Name: "BB", WebsiteURL: "https://bitbucket.example.com",
		APIURL: "https://bitbucket.example.com/rest/api/1.0", SSHURL: "ssh://git@bitbucket.example.com:8000",
		ProjectKey: "ALGO", UniqueKey: cfg.UniqueKey,
	}
	if cfg != want {
		t.Errorf("Config = %+v, want %+v", cfg, want)
	}
	vals = validated(t, "gitlab", nil)
	cfg, secrets := mustLookup(t, "gitlab").Config(vals)
	if cfg.ClientID != "app-id" || cfg.ProjectKey != "" || cfg.Name != "" || secrets[store.FieldClientSecret] != "gloas-secret" {
		t.Errorf("gitlab Config = %+v, %v", cfg, secrets)
	}
	// Edit without a new secret hands no secret to the store.
	vals, errs := mustLookup(t, "gitlab").Validate(form("gitlab", map[string]string{store.FieldClientSecret: ""}), Edit)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if _, secrets := mustLookup(t, "gitlab").Config(vals); len(secrets) != 0 {
		t.Errorf("secrets = %v, want none", secrets)
	}
	// The built-in provider has nothing to configure.
	cfg, secrets = mustLookup(t, Internal).Config(Values{})
	if cfg.Provider != Internal || cfg.UniqueKey != Internal || len(secrets) != 0 {
		t.Errorf("internal Config = %+v, %v", cfg, secrets)
	}
}

func TestValuesOfOmitsEmpty(t *testing.T) {
	got := Values(store.SCMConfig{ID: 3, Provider: "github", WebsiteURL: "https://github.com", ClientID: "x", UniqueKey: "k", Enabled: true}.Values())
	want := Values{store.FieldWebsiteURL: "https://github.com", store.FieldClientID: "x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValuesOf = %v, want %v", got, want)
	}
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func secretInConfig(c store.SCMConfig, secret string) string {
	for name, v := range map[string]string{
		"Provider": c.Provider, "Name": c.Name, "WebsiteURL": c.WebsiteURL, "APIURL": c.APIURL,
		"SSHURL": c.SSHURL, "ClientID": c.ClientID, "ProjectKey": c.ProjectKey, "UniqueKey": c.UniqueKey,
	} {
		if strings.Contains(v, secret) {
			return name
		}
	}
	return ""
}

// --- fuzzing ---

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com", "HTTPS://Bitbucket.Example.COM:443/", "https://git.example.com:8443/api/v3//",
		"https://[2001:db8::1]:443/x", "https://a.example.com/a%2Fb/", "https://a.example.com/%2F/",
		"https://a.example.com/ü", "https://u:p@a.example.com", "https://a.example.com?", "https://a.example.com#",
		"http://a.example.com", "https:a", "https://:1", "https://a.example.com:+443", "https://A.COM/Path%20x",
		"", " ", "https://a.example.com/./../", "https://a.example.com//x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := NormalizeURL("Website URL", raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Website URL") {
				t.Errorf("error %q does not start with the label", err)
			}
			return
		}
		if !strings.HasPrefix(out, "https://") {
			t.Fatalf("NormalizeURL(%q) = %q: not https://", raw, out)
		}
		if strings.HasSuffix(out, "/") {
			t.Errorf("NormalizeURL(%q) = %q: trailing slash", raw, out)
		}
		if strings.ContainsAny(out, "?# \t\n") {
			t.Errorf("NormalizeURL(%q) = %q: holds a query, fragment or space", raw, out)
		}
		if u, err := url.Parse(out); err != nil || u.User != nil || u.Host == "" || u.Host != strings.ToLower(u.Host) || strings.HasSuffix(u.Host, ":443") {
			t.Errorf("NormalizeURL(%q) = %q: not a normalised https URL with a host and no user-info (parse error %v)", raw, out, err)
		}
		if len(out) > MaxURLLen {
			t.Fatalf("output longer than MaxURLLen (%d > %d) for %d-byte input", len(out), MaxURLLen, len(raw))
		}
		again, err := NormalizeURL("Website URL", out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: NormalizeURL(%q) = %q, then %q, %v", raw, out, again, err)
		}
	})
}

func FuzzCheckSSHURL(f *testing.F) {
	for _, s := range []string{
		"ssh://git@bitbucket.example.com:7999", "git@bitbucket.example.com:8000", "SSH://Git@Host.Example.com:22/",
		"ssh://host.example.com", "git@host.example.com", "ssh://git@[::1]:22", "git@[2001:DB8::1]",
		"https://host:22", "host:22", "git@host:org/repo.git", "ssh://@host:22", "a@b@c:1", "git@host:+22", "",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, portRequired bool) {
		out, err := CheckSSHURL("SSH URL", raw, portRequired)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "SSH URL") {
				t.Errorf("error %q does not start with the label", err)
			}
			return
		}
		if strings.ContainsAny(out, "/?# \t\n") && !strings.HasPrefix(out, "ssh://") {
			t.Errorf("CheckSSHURL(%q) = %q holds a path", raw, out)
		}
		if rest, ok := strings.CutPrefix(out, "ssh://"); ok && strings.ContainsAny(rest, "/?#") {
			t.Errorf("CheckSSHURL(%q) = %q holds a path", raw, out)
		}
		again, err := CheckSSHURL("SSH URL", out, portRequired)
		if err != nil || again != out {
			t.Fatalf("not idempotent: CheckSSHURL(%q) = %q, then %q, %v", raw, out, again, err)
		}
		// Accepted with the port required implies accepted without.
		if portRequired {
			if o2, err := CheckSSHURL("SSH URL", raw, false); err != nil || o2 != out {
				t.Errorf("accepted with port required but not without: %q, %v", o2, err)
			}
		}
	})
}

func FuzzValidate(f *testing.F) {
	f.Add("https://bitbucket.example.com", "https://bitbucket.example.com/rest/api/1.0", "ssh://git@bitbucket.example.com:8000", "algo", "tok", "BB", false)
	f.Add("HTTPS://B.example.COM:443/", "https://b.example.com:8443/rest/api/1.0/", "git@b.example.com:7999", "ML_TEAM", "NjE0MDg0", "", true)
	f.Add("", "", "", "", "", "", false)
	f.Add("", "", "", "", "", "", true)
	f.Add("http://x", "https://u@x", "ssh://x", "1x", "a b", "a\nb", false)
	f.Add("https://x?", "https://x#", "git@x:0", strings.Repeat("a", 129), strings.Repeat("t", 1025), strings.Repeat("n", 201), true)
	f.Fuzz(func(t *testing.T, website, api, ssh, key, token, name string, edit bool) {
		p, _ := Lookup("bitbucket_server")
		mode := Create
		if edit {
			mode = Edit
		}
		form := url.Values{
			store.FieldWebsiteURL: {website}, store.FieldAPIURL: {api}, store.FieldSSHURL: {ssh},
			store.FieldProjectKey: {key}, store.FieldAccessToken: {token}, store.FieldName: {name},
		}
		vals, errs := p.Validate(form, mode)
		for k, msg := range errs {
			if v, ok := vals[k]; ok {
				t.Errorf("field %s has both value %q and error %q", k, v, msg)
			}
			fld, ok := p.Field(k)
			if !ok {
				t.Errorf("error on unknown field %s", k)
			} else if !strings.Contains(msg, fld.Label) {
				t.Errorf("error %q on %s does not name %q", msg, k, fld.Label)
			}
		}
		for k, v := range vals {
			if v == "" {
				t.Errorf("empty value for %s", k)
			}
			if v != strings.TrimSpace(v) {
				t.Errorf("%s = %q not trimmed", k, v)
			}
			if !utf8.ValidString(v) {
				t.Errorf("%s = %q is not valid UTF-8", k, v)
			}
		}
		if k, ok := vals[store.FieldProjectKey]; ok && k != strings.ToUpper(k) {
			t.Errorf("project key %q not upper-case", k)
		}
		// Every field is accounted for: a value, an error, or (optional / edit secret) empty input.
		for _, fld := range p.Fields() {
			_, hasV := vals[fld.Name]
			_, hasE := errs[fld.Name]
			if !hasV && !hasE && strings.TrimSpace(form.Get(fld.Name)) != "" {
				t.Errorf("non-empty %s neither accepted nor rejected", fld.Name)
			}
		}
		if len(errs) == 0 {
			// A valid form's values are stable: validating them again changes nothing.
			again := url.Values{}
			for k, v := range vals {
				again.Set(k, v)
			}
			for _, k := range []string{store.FieldWebsiteURL, store.FieldAPIURL} {
				if len(vals[k]) > MaxURLLen {
					t.Fatalf("normalised %s longer than MaxURLLen (%d bytes)", k, len(vals[k]))
				}
			}
			if mode == Create {
				vals2, errs2 := p.Validate(again, Create)
				if len(errs2) != 0 || !reflect.DeepEqual(vals2, vals) {
					t.Errorf("re-validating %v gave %v, %v", vals, vals2, errs2)
				}
			}
			_, _ = p.Config(vals)
		}
	})
}

// Mode is what Validate is given besides the form: nil (Create) for a new configuration's
// form, the stored configuration for an edit's (Edit: a Bitbucket Server project ALGO, whose
// project key is fixed).
type Mode = *store.SCMConfig

var (
	Create Mode
	Edit   = &store.SCMConfig{ProjectKey: "ALGO"}
)
