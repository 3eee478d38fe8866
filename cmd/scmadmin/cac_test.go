package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

// Tests of configuration as code: scmadmin export and apply, and SCMADMIN_CONFIG_FILE.

// cacDB is a database made for the commands, with its key file.
type cacDB struct {
	dir, db, keys string
}

func newCacDB(t *testing.T) *cacDB {
	t.Helper()
	d := &cacDB{dir: t.TempDir()}
	d.db, d.keys = filepath.Join(d.dir, "scm.db"), filepath.Join(d.dir, "scm.key")
	keys, _, err := keyring.LoadOrCreate(d.keys)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), d.db, keys)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return d
}

// run runs scmadmin args on the database with the environment vars, stdin as standard input.
func (d *cacDB) run(t *testing.T, vars map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	all := map[string]string{"SCMADMIN_DB": d.db, "SCMADMIN_KEY_FILE": d.keys}
	for k, v := range vars {
		all[k] = v
	}
	var out strings.Builder
	err := run(context.Background(), args, env(all), strings.NewReader(stdin), &out)
	return out.String(), err
}

// config returns configuration ref as the database holds it now; ok false when there is none.
func (d *cacDB) config(t *testing.T, ref string) (store.SCMConfig, bool) {
	t.Helper()
	st := openStore(t, d.db, d.keys)
	defer st.Close()
	c, err := st.SCMConfigByRef(context.Background(), ref)
	if errors.Is(err, store.ErrNotFound) {
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}

func (d *cacDB) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(d.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bbEntry is a configuration file's entry of a Bitbucket Server configuration id on
// bb.example.com with project key, name and more lines (each indented by four spaces).
func bbEntry(id, key, name string, more ...string) string {
	e := "  - id: " + id + "\n    provider: bitbucket_server\n    name: " + name + "\n" +
		"    urls: {web: https://bb.example.com, api: https://bb.example.com/rest/api/1.0, ssh: \"ssh://git@bb.example.com:8000\"}\n" +
		"    project_key: " + key + "\n"
	for _, m := range more {
		e += "    " + m + "\n"
	}
	return e
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func wantLacks(t *testing.T, what, got string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("%s holds %q:\n%s", what, s, got)
		}
	}
}

// --dry-run prints the plan a reviewer reads (+ with every value, ~ with each change, secrets
// only by fingerprint) and changes nothing; apply then makes it, audited as apply.
func TestApplyDryRunPlanThenApply(t *testing.T) {
	d := newCacDB(t)
	d.write(t, "gh.secret", "gh-secret-1\n")
	file := d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: ${BB_TOKEN}", "default: true")+
		"  - id: gh\n    provider: github\n    urls: {web: https://github.com, api: https://api.github.com, ssh: \"ssh://git@github.com:22\"}\n"+
		"    client_id: abc123\n    client_secret: file:gh.secret\n")
	abs, _ := filepath.Abs(file)

	out, err := d.run(t, map[string]string{"BB_TOKEN": "tok-one"}, "", "apply", "-f", file, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the dry run's plan", out, "+ bb-algo (Algorithms)\n", "    provider: bitbucket_server\n", `    project_key: "ALGO"`,
		`    urls.ssh: "ssh://git@bb.example.com:8000"`, "    access_token: set (fingerprint "+store.Fingerprint("tok-one")+")",
		"    default: true\n", "+ gh (github.com · abc123)\n", "    client_secret: set (fingerprint "+store.Fingerprint("gh-secret-1")+")",
		`    managed by: "`+abs+`"`, "Plan: 2 to create, 0 to update, 0 to delete.", "Dry run: nothing was changed.")
	wantLacks(t, "the dry run's plan", out, "tok-one", "gh-secret-1")
	if _, ok := d.config(t, "bb-algo"); ok {
		t.Fatal("the dry run created bb-algo")
	}

	if _, err := d.run(t, map[string]string{"BB_TOKEN": "tok-one"}, "", "apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	bb, ok := d.config(t, "bb-algo")
	if !ok || !bb.IsDefault || !bb.Enabled || bb.Name != "Algorithms" || bb.ManagedBy != abs {
		t.Fatalf("bb-algo after apply = %+v (found %v)", bb, ok)
	}
	st := openStore(t, d.db, d.keys)
	secrets, err := st.OpenSecrets(context.Background(), bb.ID)
	if err != nil || secrets["access_token"] != "tok-one" || secrets[store.WebhookSecret] == "" {
		t.Errorf("bb-algo's secrets: token %q, a webhook secret %v (%v)", secrets["access_token"], secrets[store.WebhookSecret] != "", err)
	}
	evs, _, err := st.ListAudit(context.Background(), store.AuditQuery{ConfigRef: "bb-algo", Limit: 10})
	if err != nil || len(evs) != 2 || evs[1].Action != store.ActionCreate || evs[0].Action != store.ActionMakeDefault ||
		evs[0].Actor != (store.Actor{Username: "apply", Addr: "command line"}) {
		t.Errorf("audit of bb-algo = %+v (%v), want create and make_default by apply from the command line", evs, err)
	}
	st.Close()

	// A change: the name and the token; the other entry stays out of the plan.
	d.write(t, "scms.yaml", strings.Replace(mustRead(t, file), "name: Algorithms", "name: Algorithms team", 1))
	out, err = d.run(t, map[string]string{"BB_TOKEN": "tok-two"}, "", "apply", "-f", file, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the plan of a change", out, "~ bb-algo (Algorithms)\n", `    name: "Algorithms" → "Algorithms team"`,
		"    access_token: changed (fingerprint "+store.Fingerprint("tok-one")+" → "+store.Fingerprint("tok-two")+")",
		"Plan: 0 to create, 1 to update, 0 to delete.")
	wantLacks(t, "the plan of a change", out, "tok-one", "tok-two", "~ gh", "project_key")
	if _, err := d.run(t, map[string]string{"BB_TOKEN": "tok-two"}, "", "apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	out, err = d.run(t, map[string]string{"BB_TOKEN": "tok-two"}, "", "apply", "-f", file, "--dry-run")
	if err != nil || !strings.HasPrefix(out, "No changes") {
		t.Errorf("the plan once applied = %q (%v), want No changes", out, err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// export writes every configuration but the built-in one with its secrets as ${ENV}
// references; applied back with those variables set, it plans nothing.
func TestExportApplyRoundTrip(t *testing.T) {
	d := newCacDB(t)
	st := openStore(t, d.db, d.keys)
	ctx := context.Background()
	by := store.Actor{Username: "admin", Addr: "192.0.2.1"}
	bb, err := st.CreateSCMConfig(ctx, store.SCMConfig{Ref: "bb-algo", Provider: "bitbucket_server", Name: "Algorithms",
		WebsiteURL: "https://bb.example.com", APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:8000",
		ProjectKey: "ALGO", UniqueKey: "bitbucket_server https://bb.example.com ALGO"},
		map[string]string{"access_token": "bb-token-secret", store.WebhookSecret: "hook-secret"}, by)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := st.CreateSCMConfig(ctx, store.SCMConfig{Provider: "gitlab", WebsiteURL: "https://gitlab.com", APIURL: "https://gitlab.com/api/v4",
		SSHURL: "ssh://git@gitlab.com:22", ClientID: "app-id", UniqueKey: "gitlab https://gitlab.com app-id"},
		map[string]string{"client_secret": "gl-secret-value"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.MakeDefault(ctx, bb.ID, by); err != nil {
		t.Fatal(err)
	}
	if err := st.SetEnabled(ctx, gl.ID, false, by); err != nil {
		t.Fatal(err)
	}
	st.Close()

	exported, err := d.run(t, nil, "", "export")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the export", exported, "scms:\n", "  - id: bb-algo\n", "    provider: bitbucket_server\n", "    name: Algorithms\n",
		"    access_token: ${SCM_BB_ALGO_ACCESS_TOKEN}\n", "    default: true\n", "  - id: \""+gl.Ref+"\"\n",
		"    client_secret: ${SCM_"+gl.Ref+"_CLIENT_SECRET}\n", "    enabled: false\n")
	wantLacks(t, "the export", exported, "bb-token-secret", "gl-secret-value", "hook-secret", "internal")

	secrets := map[string]string{"SCM_BB_ALGO_ACCESS_TOKEN": "bb-token-secret", "SCM_" + gl.Ref + "_CLIENT_SECRET": "gl-secret-value"}
	out, err := d.run(t, secrets, exported, "apply", "-f", "-", "--dry-run")
	if err != nil || out != "No changes: the configurations match standard input.\n" {
		t.Errorf("export | apply --dry-run = %q (%v), want no changes", out, err)
	}
	secrets["SCM_BB_ALGO_ACCESS_TOKEN"] = "another-token"
	out, err = d.run(t, secrets, exported, "apply", "-f", "-", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the plan with another token", out, "~ bb-algo (Algorithms)\n    access_token: changed (fingerprint ")
	wantLacks(t, "the plan with another token", out, "another-token", "bb-token-secret", "~ "+gl.Ref)
}

// A key the entry's provider does not take is refused, naming the line, the entry and the key.
func TestApplyRefusesUnknownKeysByLine(t *testing.T) {
	d := newCacDB(t)
	file := d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: ${BB_TOKEN}", "client_id: nope")+
		"  - id: gh\n    provider: github\n    urls: {web: https://github.com, www: https://github.com}\n")
	_, err := d.run(t, map[string]string{"BB_TOKEN": "t"}, "", "apply", "-f", file)
	if err == nil {
		t.Fatal("apply took unknown keys")
	}
	wantContains(t, "the error", err.Error(), file+`:8: entry "bb-algo": unknown key "client_id": a bitbucket_server configuration takes id, provider, name, urls, project_key, access_token, enabled, default`,
		file+`:11: entry "gh": urls: unknown key "www"`)
	top := d.write(t, "top.yaml", "scms: []\nsettings: {}\n")
	if _, err := d.run(t, nil, "", "apply", "-f", top); err == nil || !strings.Contains(err.Error(), top+`:2: unknown key "settings"`) {
		t.Errorf("an unknown top-level key: %v", err)
	}
	literal := d.write(t, "literal.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: BBDC-written-here"))
	if _, err := d.run(t, nil, "", "apply", "-f", literal); err == nil || !strings.Contains(err.Error(), `:7: entry "bb-algo": access_token: write a secret as ${ENV_VARIABLE} or file:PATH`) {
		t.Errorf("a secret written in the file: %v", err)
	}
}

// One invalid entry changes nothing at all, whether validation, a constraint or a lifecycle
// rule finds it, and the error names the entry and the field.
func TestApplyOneInvalidEntryChangesNothing(t *testing.T) {
	vars := map[string]string{"BB_TOKEN": "tok"}
	for _, tc := range []struct{ name, file, want string }{
		{"validation", "scms:\n" + bbEntry("good", "GOOD", "Good", "access_token: ${BB_TOKEN}") +
			strings.Replace(bbEntry("bad", "BAD", "Bad", "access_token: ${BB_TOKEN}"), ":8000", "", 1),
			`:11: entry "bad": urls.ssh: SSH URL needs the SSH port`},
		{"uniqueness, found by the database", "scms:\n" + bbEntry("first", "SAME", "First", "access_token: ${BB_TOKEN}") +
			bbEntry("second", "SAME", "Second", "access_token: ${BB_TOKEN}"),
			`:12: entry "second": project_key: Project key SAME is already registered`},
		{"a lifecycle rule", "scms:\n" + bbEntry("good", "GOOD", "Good", "access_token: ${BB_TOKEN}") +
			bbEntry("off", "OFF", "Off", "access_token: ${BB_TOKEN}", "enabled: false", "default: true"),
			`:15: entry "off": default: “Off” is disabled and cannot become the default`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newCacDB(t)
			file := d.write(t, "scms.yaml", tc.file)
			_, err := d.run(t, vars, "", "apply", "-f", file)
			if err == nil || !strings.Contains(err.Error(), file+tc.want) {
				t.Fatalf("apply = %v, want an error with %q", err, file+tc.want)
			}
			st := openStore(t, d.db, d.keys)
			cfgs, total, err := st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 10})
			if err != nil || total != 1 {
				t.Errorf("after the refused apply: %d configurations (%v), want the built-in one alone: %+v", total, err, cfgs)
			}
			if _, n, _ := st.ListAudit(context.Background(), store.AuditQuery{Limit: 1}); n != 0 {
				t.Errorf("the refused apply left %d audit events", n)
			}
		})
	}
}

// --prune deletes what the file manages and no longer lists, never a configuration it does
// not manage; without it, such a configuration is handed back to the pages.
func TestApplyPrune(t *testing.T) {
	d := newCacDB(t)
	vars := map[string]string{"BB_TOKEN": "tok"}
	st := openStore(t, d.db, d.keys)
	if _, err := st.CreateSCMConfig(context.Background(), store.SCMConfig{Ref: "by-hand", Provider: "bitbucket_server",
		WebsiteURL: "https://bb.example.com", APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:8000",
		ProjectKey: "HAND", UniqueKey: "bitbucket_server https://bb.example.com HAND"}, map[string]string{"access_token": "x"},
		store.Actor{Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	file := d.write(t, "scms.yaml", "scms:\n"+bbEntry("a", "AAA", "A", "access_token: ${BB_TOKEN}")+bbEntry("b", "BBB", "B", "access_token: ${BB_TOKEN}"))
	if _, err := d.run(t, vars, "", "apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	d.write(t, "scms.yaml", "scms:\n"+bbEntry("a", "AAA", "A", "access_token: ${BB_TOKEN}"))
	if _, err := d.run(t, vars, "", "apply", "-f", "-", "--prune"); err == nil {
		t.Error("--prune from standard input was taken")
	}
	out, err := d.run(t, vars, "", "apply", "-f", file, "--prune", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the prune's plan", out, "- b (B)\n", "Plan: 0 to create, 0 to update, 1 to delete.")
	wantLacks(t, "the prune's plan", out, "by-hand", "- a")
	if _, err := d.run(t, vars, "", "apply", "-f", file, "--prune"); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{"a": true, "b": false, "by-hand": true} {
		if _, ok := d.config(t, ref); ok != want {
			t.Errorf("after the prune, %s exists = %v, want %v", ref, ok, want)
		}
	}

	d.write(t, "scms.yaml", "scms: []\n")
	out, err = d.run(t, vars, "", "apply", "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the release's plan", out, "~ a (A)\n    managed by: ")
	if a, ok := d.config(t, "a"); !ok || a.ManagedBy != "" || a.CanChange() != nil {
		t.Errorf("a, no longer listed, without --prune: %+v (found %v), want it kept and handed back", a, ok)
	}
}

// SCMADMIN_CONFIG_FILE is applied at start and marks what it lists; a bad one stops the
// start, naming the entry and the field.
func TestConfigFileAtStart(t *testing.T) {
	d := newCacDB(t)
	file := d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: ${BB_TOKEN}", "default: true"))
	vars := map[string]string{"SCMADMIN_DB": d.db, "SCMADMIN_KEY_FILE": d.keys, "SCMADMIN_CONFIG_FILE": file, "BB_TOKEN": "tok",
		"SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	base, _ := startServer(t, vars)
	a := signInAdmin(t, base)
	status, doc, err := a.page("/admin/scm")
	if err != nil || status != http.StatusOK {
		t.Fatal(status, err)
	}
	row := doc.Find(`table#scm-configs tr[data-scm-id="bb-algo"] .badge`)
	if got := row.Text(); !strings.Contains(got, "Managed by file") || !strings.Contains(got, "Default") {
		t.Errorf("bb-algo's badges = %q", got)
	}

	bad := d.write(t, "bad.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: ${BB_TOKEN}", "default: maybe"))
	vars["SCMADMIN_CONFIG_FILE"] = bad
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, env(vars), strings.NewReader(""), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), bad+`:8: entry "bb-algo": default: must be true or false`) {
		t.Errorf("serve with a bad configuration file = %v, want an error naming the entry and field", err)
	}
}

// On SIGHUP the server applies the file again; a bad file is logged and the running
// configuration kept.
func TestConfigFileOnSIGHUP(t *testing.T) {
	bin := buildBinary(t)
	d := newCacDB(t)
	file := d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms", "access_token: file:token"))
	d.write(t, "token", "tok-1\n")
	p := startProcess(t, bin, map[string]string{"SCMADMIN_DB": d.db, "SCMADMIN_KEY_FILE": d.keys, "SCMADMIN_CONFIG_FILE": file,
		"SCMADMIN_ADMIN_PASSWORD": safetyPassword})
	name := func() string {
		c, _ := d.config(t, "bb-algo")
		return c.Name
	}
	if got := name(); got != "Algorithms" {
		t.Fatalf("at start, the name = %q", got)
	}

	d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Algorithms team", "access_token: file:token"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the name from the file after SIGHUP", func() bool { return name() == "Algorithms team" })
	st := openStore(t, d.db, d.keys)
	abs, _ := filepath.Abs(file)
	evs, _, err := st.ListAudit(context.Background(), store.AuditQuery{ConfigRef: "bb-algo", Action: store.ActionUpdate, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Actor != (store.Actor{Username: "config file " + abs, Addr: "SIGHUP"}) {
		t.Errorf("the update's audit event = %+v (%v)", evs, err)
	}
	st.Close()

	d.write(t, "scms.yaml", "scms:\n"+bbEntry("bb-algo", "ALGO", "Broken", "access_token: file:token", "colour: blue"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bad file logged", func() bool { return strings.Contains(p.output.String(), "the running configuration is kept") })
	wantContains(t, "the log", p.output.String(), `unknown key \"colour\"`)
	if got := name(); got != "Algorithms team" {
		t.Errorf("after a bad file, the name = %q, want the running one kept", got)
	}
	res, err := http.Get(p.base + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the server after a bad file: %v %v", res, err)
	}
	res.Body.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}
