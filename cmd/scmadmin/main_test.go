package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

func signIn(t *testing.T, base, user, password string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	token, _ := doc.Find(`input[name=_csrf]`).Attr("value")
	res, err = c.PostForm(base+"/login", url.Values{"_csrf": {token}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestFirstStartPrintsAdminPasswordOnce(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db")}
	base, printed := startServer(t, vars)

	m := regexp.MustCompile(`(?m)^\s+([A-Z2-7]{26})$`).FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("no password printed on first start:\n%s", printed)
	}
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", res, err)
	}
	if code := signIn(t, base, "admin", m[1]); code != http.StatusSeeOther {
		t.Errorf("sign-in with the printed password: %d", code)
	}
	if code := signIn(t, base, "admin", "not the password"); code != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong password: %d", code)
	}
	// The key file was made beside the database, readable by its owner only.
	if _, err := keyring.Load(filepath.Join(dir, "scmadmin.key")); err != nil {
		t.Errorf("key file: %v", err)
	}

	// A second start on the same database creates nobody and prints no password.
	_, again := startServer(t, vars)
	if strings.Contains(again, m[1]) || strings.Contains(again, "First start") {
		t.Errorf("second start printed a password:\n%s", again)
	}
}

func TestAdminPasswordFromEnvironment(t *testing.T) {
	vars := map[string]string{
		"SCMADMIN_DB":             filepath.Join(t.TempDir(), "scm.db"),
		"SCMADMIN_ADMIN_PASSWORD": "from the environment 1",
	}
	base, printed := startServer(t, vars)
	if strings.Contains(printed, "from the environment 1") {
		t.Error("the password from the environment was printed")
	}
	if code := signIn(t, base, "admin", "from the environment 1"); code != http.StatusSeeOther {
		t.Errorf("sign-in: %d", code)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	dir := t.TempDir()
	flagDB := filepath.Join(dir, "flag.db")
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "env.db"), "SCMADMIN_ADMIN_PASSWORD": "flag override test"}
	startServer(t, vars, "--db", flagDB, "--key-file", filepath.Join(dir, "k"))
	if _, err := keyring.Load(filepath.Join(dir, "k")); err != nil {
		t.Errorf("--key-file not used: %v", err)
	}
	if _, err := keyring.Load(filepath.Join(dir, "scmadmin.key")); err == nil {
		t.Error("a key file was made beside the database despite --key-file")
	}
	if err := run(context.Background(), []string{"user", "passwd", "admin", "--db", flagDB, "--key-file", filepath.Join(dir, "k")},
		env(nil), strings.NewReader("a new password 123\n"), io.Discard); err != nil {
		t.Errorf("the admin was not made in the --db database: %v", err)
	}
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db")}
	cmd := func(stdin string, args ...string) error {
		return run(context.Background(), args, env(vars), strings.NewReader(stdin), io.Discard)
	}
	if err := cmd("alice's password 1\n", "user", "add", "alice", "--admin"); err != nil {
		t.Fatal(err)
	}
	if err := cmd("bob's password 123\n", "user", "add", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := cmd("another password 1\n", "user", "add", "alice"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("adding alice twice: %v", err)
	}
	if err := cmd("short\n", "user", "add", "carol"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("short password: %v", err)
	}
	if err := cmd("", "user", "add", "carol"); err == nil {
		t.Error("no password on stdin was accepted")
	}
	if err := cmd("alice's new password\n", "user", "passwd", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := cmd("whatever password 1\n", "user", "passwd", "nobody"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("passwd for an unknown user: %v", err)
	}
	for _, bad := range [][]string{{"user"}, {"user", "add"}, {"user", "remove", "x"}, {"user", "passwd", "alice", "--admin"}, {"frobnicate"}} {
		if err := cmd("password password\n", bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), vars["SCMADMIN_DB"], keys)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if u, err := st.Authenticate(ctx, "alice", "alice's new password"); err != nil || !u.IsAdmin {
		t.Errorf("alice: %+v %v", u, err)
	}
	if _, err := st.Authenticate(ctx, "alice", "alice's password 1"); err == nil {
		t.Error("alice's old password still works")
	}
	if u, err := st.Authenticate(ctx, "bob", "bob's password 123"); err != nil || u.IsAdmin {
		t.Errorf("bob: %+v %v", u, err)
	}
}

func TestMissingKeyFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db")}
	if err := run(context.Background(), []string{"user", "add", "alice"}, env(vars), strings.NewReader("alice's password 1\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "scmadmin.key")); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, env(vars), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "key file") {
		t.Fatalf("serve with the key file gone: %v, want a refusal naming the key file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scmadmin.key")); err == nil {
		t.Error("a new key file was made for an existing database")
	}
}

func TestShortAdminPasswordIgnoredOnceUsersExist(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "first password 1"}
	startServer(t, vars)
	vars["SCMADMIN_ADMIN_PASSWORD"] = "short"
	startServer(t, vars) // would fail if the unused password were still checked
}

func TestBaseURLFollowsTheAddress(t *testing.T) {
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(t.TempDir(), "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "base url test 1"}
	base, printed := startServer(t, vars)
	port := base[strings.LastIndex(base, ":")+1:]
	if want := `"url":"http://localhost:` + port + `/login"`; !strings.Contains(printed, want) {
		t.Errorf("start-up names no %s:\n%s", want, printed)
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	for _, args := range [][]string{{"--help"}, {"help"}, {"user", "--help"}, {"apikey", "--help"}} {
		out.Reset()
		if err := run(context.Background(), args, env(nil), strings.NewReader(""), &out); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q printed %q", args, out.String())
		}
	}
}

func TestCAFile(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "ca file test pw"}
	serve := func(extra ...string) error {
		return run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, extra...), env(vars), strings.NewReader(""), io.Discard)
	}
	if err := serve("--ca-file", filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "SCMADMIN_CA_FILE") {
		t.Errorf("missing CA file: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if err := serve("--ca-file", junk); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("CA file without PEM: %v", err)
	}
}

func TestCommandsOnAMissingDatabaseCreateNothing(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "typo.db")}
	for _, args := range [][]string{{"backup", filepath.Join(dir, "out.db")}, {"keys", "rotate"}, {"user", "passwd", "admin"},
		{"apikey", "add", "x"}, {"apikey", "list"}, {"apikey", "revoke", "x"}} {
		err := run(context.Background(), args, env(vars), strings.NewReader("some new password\n"), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no database") {
			t.Errorf("%q on a missing database: %v", args, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files were made: %v", entries)
	}
}

func TestBackupOnPostgresNamesPgDump(t *testing.T) {
	vars := map[string]string{"SCMADMIN_DB": "postgres://scm:s3cret@db.invalid/scm", "SCMADMIN_KEY_FILE": filepath.Join(t.TempDir(), "k")}
	err := run(context.Background(), []string{"backup", filepath.Join(t.TempDir(), "out.db")}, env(vars), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("backup on PostgreSQL: %v; want a refusal naming pg_dump, without the URL's password", err)
	}
}

func TestDatabaseFileIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": "file mode test 1"}
	startServer(t, vars)
	for _, f := range []string{"scm.db", "scmadmin.key"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, mode)
		}
	}
}

func TestUserAdminCommand(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db")}
	cmd := func(stdin string, args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), args, env(vars), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	for _, args := range [][]string{{"user", "add", "alice", "--admin"}, {"user", "add", "bob"}} {
		if _, err := cmd("a long enough password\n", args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cmd("", "user", "admin", "alice", "--off"); err == nil || !strings.Contains(err.Error(), "last enabled cluster admin") {
		t.Errorf("taking admin from the last admin: %v", err)
	}
	if out, err := cmd("", "user", "admin", "bob"); err != nil || !strings.Contains(out, "now a cluster admin") {
		t.Errorf("user admin bob: %q %v", out, err)
	}
	if out, err := cmd("", "user", "admin", "alice", "--off"); err != nil || !strings.Contains(out, "no longer") {
		t.Errorf("user admin alice --off once bob is one: %q %v", out, err)
	}
	if _, err := cmd("", "user", "admin", "nobody"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("user admin for an unknown user: %v", err)
	}
	for _, bad := range [][]string{{"user", "admin"}, {"user", "add", "carol", "--off"}, {"user", "admin", "bob", "--admin"}} {
		if _, err := cmd("a long enough password\n", bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	keys, err := keyring.Load(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), vars["SCMADMIN_DB"], keys)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users, err := st.Users(context.Background())
	if err != nil || len(users) != 2 || users[0].IsAdmin || !users[1].IsAdmin {
		t.Errorf("users = %+v %v; want alice no longer an admin, bob one", users, err)
	}
	evs, _, _ := st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	if len(evs) != 1 || evs[0].Action != store.ActionRevokeAdmin || evs[0].Actor.Addr != "command line" {
		t.Errorf("last audit event = %+v", evs)
	}
}

func TestTrustedProxies(t *testing.T) {
	cfg, _, err := parseCommand("serve", []string{"--trusted-proxies", " 10.0.0.0/8, 192.0.2.7,2001:db8::/32 ,"},
		env(map[string]string{"SCMADMIN_TRUSTED_PROXIES": "203.0.113.0/24"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	nets, err := cfg.trustedProxies()
	var got []string
	for _, n := range nets {
		got = append(got, n.String())
	}
	if err != nil || strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 2001:db8::/32" {
		t.Errorf("trusted proxies = %v, %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.0/8;"} {
		cfg.TrustedProxies = bad
		if _, err := cfg.trustedProxies(); err == nil || !strings.Contains(err.Error(), "SCMADMIN_TRUSTED_PROXIES") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// SCMADMIN_RECHECK_INTERVAL is a Go duration (default 15m, 0 off), and --recheck-interval
// overrides it; anything else stops start-up naming the variable.
func TestRecheckInterval(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want time.Duration
	}{
		{"", nil, 15 * time.Minute},
		{"90s", nil, 90 * time.Second},
		{"0", nil, 0},
		{"1h", []string{"--recheck-interval", "2m"}, 2 * time.Minute},
	} {
		cfg, _, err := parseCommand("serve", tc.args, env(map[string]string{"SCMADMIN_RECHECK_INTERVAL": tc.env}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := cfg.recheckInterval(); err != nil || got != tc.want {
			t.Errorf("%q %v: %v, %v; want %v", tc.env, tc.args, got, err, tc.want)
		}
	}
	dir := t.TempDir()
	for _, bad := range []string{"15", "-1m", "soon"} {
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"},
			env(map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_RECHECK_INTERVAL": bad}), strings.NewReader(""), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SCMADMIN_RECHECK_INTERVAL") || !strings.Contains(err.Error(), bad) {
			t.Errorf("start with %q: %v", bad, err)
		}
	}
}

// A setting the server cannot work with stops the start before anything is written: no new
// database, no key file, no first admin whose only password would sit in a failed start's log.
func TestBadSettingsWriteNothing(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"recheck interval":  {"SCMADMIN_RECHECK_INTERVAL": "abc"},
		"build hook URL":    {"SCMADMIN_BUILD_HOOK_URL": "x", "SCMADMIN_BUILD_HOOK_SECRET": "s"},
		"build hook secret": {"SCMADMIN_BUILD_HOOK_URL": "https://platform.example.com/builds"},
		"config file":       {"SCMADMIN_CONFIG_FILE": "scms.yaml"},
		"trusted proxies":   {"SCMADMIN_TRUSTED_PROXIES": "not-a-cidr"},
		"listen address":    {"SCMADMIN_ADDR": "256.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "scms.yaml"), []byte("scms:\n  - id: a\n    colour: red\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			vars["SCMADMIN_DB"] = filepath.Join(dir, "scm.db")
			if vars["SCMADMIN_CONFIG_FILE"] != "" {
				vars["SCMADMIN_CONFIG_FILE"] = filepath.Join(dir, vars["SCMADMIN_CONFIG_FILE"])
			}
			args := []string{"serve"}
			if vars["SCMADMIN_ADDR"] == "" {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			var out strings.Builder
			err := run(context.Background(), args, env(vars), strings.NewReader(""), &out)
			if err == nil {
				t.Fatal("the server started")
			}
			if strings.Contains(out.String(), "password") {
				t.Errorf("a first admin was made before the start failed:\n%s", out.String())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the failed start (%v) left %v behind", err, names)
			}
		})
	}
}
