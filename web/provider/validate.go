package provider

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scmadmin/scmadmin/store"
)

// Values are a form's cleaned values by field name.
type Values map[string]string

// Errors are validation messages by field name; each message names its field.
type Errors map[string]string

// Limits on what a field may hold.
const (
	MaxURLLen        = 2048
	MaxCredentialLen = 1024
	MaxNameLen       = 200
	MaxProjectKeyLen = 128
)

// Validate cleans the provider's fields out of form (trimming surrounding white space,
// normalising URLs, upper-casing the project key) and checks every rule of the catalog.
// stored is the configuration being edited, nil on create: then secrets are optional (an
// empty one keeps the stored secret) and fixed fields keep their stored value, whatever was
// posted. A field left empty is absent from the values.
func (p *Provider) Validate(form url.Values, stored *store.SCMConfig) (Values, Errors) {
	vals, errs := Values{}, Errors{}
	for _, f := range p.Fields() {
		raw := strings.TrimSpace(form.Get(f.Name))
		if f.Fixed && stored != nil {
			raw = stored.Value(f.Name)
		}
		if raw == "" {
			if f.Required && !(stored != nil && f.Kind == KindSecret) {
				errs[f.Name] = "Enter the " + f.Label + "."
			}
			continue
		}
		v, err := f.check(raw, p.SSHPortRequired)
		if err != nil {
			errs[f.Name] = err.Error()
			continue
		}
		vals[f.Name] = v
	}
	p.crossCheck(vals, errs)
	return vals, errs
}

// Exact refuses what a request that names every field it gives (the API, where a member is
// an assertion; a form also carries other providers' fields) gives beyond what p takes: a field
// p has not, or a fixed field with a value other than stored's. stored is nil on create. An
// empty value asserts nothing, as clients that send every member with "" for the unused ones
// expect.
func (p *Provider) Exact(form url.Values, stored *store.SCMConfig) Errors {
	errs := Errors{}
	for name := range form {
		raw := strings.TrimSpace(form.Get(name))
		f, ok := p.Field(name)
		switch {
		case raw == "":
		case !ok:
			errs[name] = "A " + p.Label + " configuration takes no " + name + "."
		case f.Fixed && stored != nil:
			if v, err := f.check(raw, p.SSHPortRequired); err != nil || v != stored.Value(name) {
				errs[name] = "The " + f.Label + " cannot change: create another configuration."
			}
		}
	}
	return errs
}

func (f Field) check(v string, sshPortRequired bool) (string, error) {
	switch f.Kind {
	case KindHTTPSURL:
		return NormalizeURL(f.Label, v)
	case KindSSHURL:
		return CheckSSHURL(f.Label, v, sshPortRequired)
	case KindProjectKey:
		return CheckProjectKey(f.Label, v)
	case KindCredential, KindSecret:
		return v, checkToken(f.Label, v)
	default:
		return v, checkText(f.Label, v)
	}
}

// NormalizeURL checks that raw is an absolute https:// URL with a host and no user-info, query
// or fragment, and returns it with scheme and host lower-case, the default port and any
// trailing slash dropped, so that two spellings of one address compare equal.
func NormalizeURL(label, raw string) (string, error) {
	if len(raw) > MaxURLLen {
		return "", fmt.Errorf("%s is too long: at most %d characters.", label, MaxURLLen)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s must not contain spaces.", label)
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Opaque != "" {
		return "", fmt.Errorf("%s must be a full address starting with https://, like https://git.example.com.", label)
	}
	switch {
	case u.Host == "":
		return "", fmt.Errorf("%s needs a host name after https://.", label)
	case u.User != nil:
		return "", fmt.Errorf("%s must not hold a user name or password: put credentials in their own fields.", label)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("%s must not have a query (the part from ?).", label)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%s must not have a fragment (the part from #).", label)
	}
	host, port, err := splitHostPort(u.Host)
	if err != nil {
		return "", fmt.Errorf("%s: %v.", label, err)
	}
	u.Scheme = "https"
	u.Host = joinHostPort(host, port, "443")
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	// Escaping can lengthen the URL: the stored form must itself pass the length check.
	if out := u.String(); len(out) <= MaxURLLen {
		return out, nil
	}
	return "", fmt.Errorf("%s is too long: at most %d characters.", label, MaxURLLen)
}

var sshUser = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckSSHURL checks ssh://[user@]host[:port] or user@host[:port] and returns it as
// ssh://[user@]host[:port] with the host lower-case: in the scp-like form git would read the
// port as a path. portRequired makes the port mandatory.
func CheckSSHURL(label, raw string, portRequired bool) (string, error) {
	form := "ssh://git@git.example.com:22 or git@git.example.com:22"
	if portRequired {
		form = "ssh://git@bitbucket.example.com:7999 or git@bitbucket.example.com:7999"
	}
	bad := fmt.Errorf("%s must look like %s.", label, form)
	if len(raw) > MaxURLLen || strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", bad
	}
	rest := raw
	scheme, afterScheme, hasScheme := strings.Cut(raw, "://")
	if hasScheme {
		rest = afterScheme
		if !strings.EqualFold(scheme, "ssh") {
			return "", fmt.Errorf("%s must use ssh://, not %s://.", label, scheme)
		}
		rest = strings.TrimSuffix(rest, "/")
	}
	if strings.ContainsAny(rest, "/?#") {
		return "", fmt.Errorf("%s must hold only user, host and port, with no path: like %s.", label, form)
	}
	user, hostport, hasUser := strings.Cut(rest, "@")
	if !hasUser {
		if !hasScheme {
			return "", bad
		}
		user, hostport = "", rest
	} else if !sshUser.MatchString(user) {
		return "", fmt.Errorf("%s: the user before @ may hold only letters, digits, dots, dashes and underscores.", label)
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("%s: %v.", label, err)
	}
	if port == "" && portRequired {
		return "", fmt.Errorf("%s needs the SSH port at the end, like %s.", label, form)
	}
	out := joinHostPort(host, port, "")
	if user != "" {
		out = user + "@" + out
	}
	return "ssh://" + out, nil
}

var hostname = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// splitHostPort splits host[:port] (IPv6 in brackets), checking both; port may be empty.
func splitHostPort(hp string) (host, port string, err error) {
	host = hp
	if i := strings.LastIndexByte(hp, ':'); i >= 0 && !strings.HasSuffix(hp, "]") {
		host, port = hp[:i], hp[i+1:]
		if first, _, two := strings.Cut(host, ":"); two && !strings.HasPrefix(host, "[") {
			return "", "", fmt.Errorf("%q has two ports (%s and %s): keep only one, like %s:%s", hp, host[len(first)+1:], port, first, port)
		}
		n, perr := strconv.Atoi(port)
		// Atoi takes a sign; a port is digits only.
		if perr != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9' {
			return "", "", fmt.Errorf("the port must be a number from 1 to 65535")
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if ip := net.ParseIP(host[1 : len(host)-1]); ip == nil || ip.To4() != nil {
			return "", "", fmt.Errorf("%q is not a valid IPv6 address", host)
		}
		return strings.ToLower(host), port, nil
	}
	if host == "" {
		return "", "", fmt.Errorf("the host name is missing")
	}
	host, err = asciiHost(host)
	if err != nil {
		return "", "", err
	}
	if len(host) > 253 || !hostname.MatchString(host) {
		return "", "", fmt.Errorf("%q is not a valid host name", host)
	}
	return strings.ToLower(host), port, nil
}

func joinHostPort(host, port, defaultPort string) string {
	if port == "" || port == defaultPort {
		return host
	}
	return host + ":" + port
}

var projectKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// CheckProjectKey checks a Bitbucket project key and returns it upper-case.
func CheckProjectKey(label, v string) (string, error) {
	if len(v) > MaxProjectKeyLen {
		return "", fmt.Errorf("%s is too long: at most %d characters.", label, MaxProjectKeyLen)
	}
	if !projectKey.MatchString(v) {
		return "", fmt.Errorf("%s must start with a letter and hold only letters, digits and underscores, like ALGO or ML_TEAM.", label)
	}
	return strings.ToUpper(v), nil
}

func checkToken(label, v string) error {
	if utf8.RuneCountInString(v) > MaxCredentialLen {
		return fmt.Errorf("%s is too long: at most %d characters.", label, MaxCredentialLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Errorf("%s must be printable characters with no spaces: copy it again from the host.", label)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r > unicode.MaxASCII }) {
		return fmt.Errorf("%s holds a character that is not plain ASCII, such as a curly quote, a long dash or an accented "+
			"letter: hosts make tokens and secrets of ASCII only. Copy it again from the host, not through a document.", label)
	}
	return nil
}

func checkText(label, v string) error {
	if utf8.RuneCountInString(v) > MaxNameLen {
		return fmt.Errorf("%s is too long: at most %d characters.", label, MaxNameLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%s must not contain control characters.", label)
	}
	return nil
}

// UniqueKey is the identity of a configuration: no two configurations share one.
func (p *Provider) UniqueKey(v Values) string {
	if p.ID == Internal {
		return Internal
	}
	return p.UniqueScope + " " + v[store.FieldWebsiteURL] + " " + v[p.Identity]
}

// Config returns the configuration the values describe, with the secret fields split off
// (field name → plain text) for the store to seal.
func (p *Provider) Config(v Values) (store.SCMConfig, map[string]string) {
	c := store.SCMConfig{Provider: p.ID, UniqueKey: p.UniqueKey(v)}
	secrets := map[string]string{}
	for _, f := range p.Fields() {
		if col := c.Column(f.Name); col != nil {
			*col = v[f.Name]
		} else if s, ok := v[f.Name]; ok {
			secrets[f.Name] = s
		}
	}
	return c, secrets
}
