package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// The key is alone on the last line of what `apikey add` prints, for scripts to take; the
// command works on the database while a server serves it, and the server lists the key.
func TestAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "api key test pw 1"}
	base, _ := startServer(t, vars)
	cmd := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), args, env(vars), strings.NewReader(""), &out)
		return out.String(), err
	}
	out, err := cmd("apikey", "add", "platform", "--scope", "admin")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	key := lines[len(lines)-1]
	if len(lines) < 2 || !regexp.MustCompile(`^scm_[a-z2-7]{8}_[a-z2-7]{32}$`).MatchString(key) {
		t.Fatalf("the last line is not the key alone:\n%s", out)
	}
	if _, err := cmd("apikey", "add", "reader"); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, vars["SCMADMIN_DB"], filepath.Join(dir, "scmadmin.key"))
	k, err := st.AuthenticateAPIKey(context.Background(), key)
	if err != nil || k.Name != "platform" || k.Scope != store.ScopeAdmin || k.MadeBy != "admin" {
		t.Errorf("the printed key: %+v, %v", k, err)
	}
	if row := apiKeyRow(t, base, "platform"); !strings.Contains(row, "admin") {
		t.Errorf("the server lists platform as %q", row)
	}

	out, err = cmd("apikey", "list")
	if err != nil || !regexp.MustCompile(`(?m)^platform\s+admin\s+admin\s+\d{4}-`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^reader\s+read\s+admin\s`).MatchString(out) || strings.Contains(out, key[4:]) {
		t.Errorf("apikey list (%v):\n%s", err, out)
	}

	if _, err := cmd("apikey", "revoke", "platform"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthenticateAPIKey(context.Background(), key); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("after apikey revoke: %v, want ErrRevoked", err)
	}
	if out, _ := cmd("apikey", "list"); !regexp.MustCompile(`(?m)^platform\s.*UTC\s*$`).MatchString(out) {
		t.Errorf("the list does not say when platform was revoked:\n%s", out)
	}
}

func TestAPIKeyCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "api key test pw 1"}
	startServer(t, vars)
	if err := run(context.Background(), []string{"user", "add", "bob"}, env(vars), strings.NewReader("bob's password 12\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) error {
		return run(context.Background(), args, env(vars), strings.NewReader(""), io.Discard)
	}
	if err := cmd("apikey", "add", "ok"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apikey", "add", "x", "--as", "bob"}, `apikey add: "bob" is not a cluster admin; a key acts as one: name one with --as`},
		{[]string{"apikey", "add", "x", "--as", "nobody"}, `apikey add: there is no user "nobody"; a key acts as a cluster admin: name one with --as`},
		{[]string{"apikey", "add", "x", "--scope", "write"}, "scope"},
		{[]string{"apikey", "add", "bad name"}, "letters, digits"},
		{[]string{"apikey", "add", "OK"}, `a key called "OK" exists (a revoked key keeps its name, for the audit log): choose another name`},
		{[]string{"apikey", "revoke", "nope"}, "no key"},
		{[]string{"apikey"}, "bad arguments"},
		{[]string{"apikey", "add"}, "bad arguments"},
		{[]string{"apikey", "list", "extra"}, "bad arguments"},
		{[]string{"apikey", "remove", "ok"}, "bad arguments"},
	} {
		if err := cmd(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	if err := cmd("apikey", "revoke", "ok"); err != nil {
		t.Fatal(err)
	}
	if err := cmd("apikey", "revoke", "ok"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoking twice: %v", err)
	}
}

// apiKeyRow signs in to the server at base as admin and returns the text of key name's row
// on /admin/api-keys.
func apiKeyRow(t *testing.T, base, name string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	token, _ := doc.Find(`input[name=_csrf]`).Attr("value")
	res, err = c.PostForm(base+"/login", url.Values{"_csrf": {token}, "username": {"admin"}, "password": {"api key test pw 1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get(base + "/admin/api-keys")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, _ = goquery.NewDocumentFromReader(res.Body)
	return doc.Find(`tr[data-api-key="` + name + `"]`).Text()
}
