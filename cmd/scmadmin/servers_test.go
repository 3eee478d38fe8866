package main

// Commands on a PostgreSQL URL, and `keys rotate` waiting for every running server.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/store/pgtest"
)

// seedSecret stores a configuration with a sealed token in the database at dsn.
func seedSecret(t *testing.T, dsn, keyFile, key string) {
	t.Helper()
	st := openStore(t, dsn, keyFile)
	if _, err := st.CreateSCMConfig(context.Background(), store.SCMConfig{Provider: "bitbucket_server",
		WebsiteURL: "https://bb.example.com", APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999",
		ProjectKey: key, UniqueKey: "rotate-" + key}, map[string]string{"access_token": "secret-" + key}, store.Actor{Username: "t"}); err != nil {
		t.Fatal(err)
	}
}

// A running server that has not loaded the new key holds rotation back, and rotation says
// which one it is; once it follows the key file, rotation goes through.
func TestKeysRotateWaitsForEveryServer(t *testing.T) {
	was := keySwitchTimeout
	keySwitchTimeout = time.Second
	t.Cleanup(func() { keySwitchTimeout = was })
	ctx := context.Background()
	dir := t.TempDir()
	dbPath, keyFile := filepath.Join(dir, "scm.db"), filepath.Join(dir, "scmadmin.key")
	if _, _, err := keyring.LoadOrCreate(keyFile); err != nil {
		t.Fatal(err)
	}
	seedSecret(t, dbPath, keyFile, "ALGO")

	// A server elsewhere whose key file is a stale copy: it keeps sealing with key 1.
	stale := filepath.Join(dir, "stale.key")
	copyFile(t, keyFile, stale)
	lagging := openStore(t, dbPath, stale)
	if err := lagging.RecordServer(ctx, "lagging", "old-host pid 7 on :8080", time.Now()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(ctx, []string{"keys", "rotate"}, env(map[string]string{"SCMADMIN_DB": dbPath}), strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "old-host pid 7 on :8080 (key 1") || !strings.Contains(err.Error(), "nothing was re-sealed") {
		t.Fatalf("keys rotate with a server on key 1: %v; want a refusal naming it", err)
	}
	if ids := secretKeyIDs(t, dbPath); ids[1] != 1 || len(ids) != 1 {
		t.Errorf("secrets by key after the refusal: %v, want still under key 1", ids)
	}

	// The same server, now following the key file, records itself as it runs.
	following := openStore(t, dbPath, keyFile)
	stop := make(chan struct{})
	recording := make(chan error, 1)
	go func() {
		defer close(recording)
		for {
			if err := following.RecordServer(ctx, "lagging", "old-host pid 7 on :8080", time.Now()); err != nil {
				recording <- err
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	keySwitchTimeout = 10 * time.Second // room for a busy machine; the wait itself is a poll every 100 ms
	start := time.Now()
	err = run(ctx, []string{"keys", "rotate"}, env(map[string]string{"SCMADMIN_DB": dbPath}), strings.NewReader(""), &out)
	close(stop)
	if rerr := <-recording; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("keys rotate with every server on the new key: %v\n%s", err, out.String())
	}
	if took := time.Since(start); took > keySwitchTimeout/2 {
		t.Errorf("rotation took %s: it should not sleep when the servers are there already", took)
	}
	if ids := secretKeyIDs(t, dbPath); ids[3] != 1 || len(ids) != 1 {
		t.Errorf("secrets by key after rotation: %v, want all under key 3", ids)
	}
}

// Every command takes the PostgreSQL URL as it takes a file, while a server serves on it.
func TestCommandsOnPostgres(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn, keyFile := pgtest.NewDatabase(t), filepath.Join(dir, "scmadmin.key")
	vars := map[string]string{"SCMADMIN_DB": dsn, "SCMADMIN_KEY_FILE": keyFile, "SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	command := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env(vars), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	if _, err := command("", "apikey", "list"); err == nil || !strings.Contains(err.Error(), "key file") {
		t.Errorf("apikey list before any key file: %v; want it to ask for the key file", err)
	}
	if out, err := command("alice's password 1\n", "user", "add", "alice", "--admin"); err != nil {
		t.Fatalf("user add on PostgreSQL: %v %s", err, out)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("user add on a new PostgreSQL database made no key file: %v", err)
	}
	seedSecret(t, dsn, keyFile, "PG")
	base, _ := startServer(t, vars)
	if code := signIn(t, base, "alice", "alice's password 1"); code != http.StatusSeeOther {
		t.Errorf("sign-in as the account user add made: %d", code)
	}
	out, err := command("", "apikey", "add", "ci", "--as", "alice", "--scope", "admin")
	if err != nil {
		t.Fatalf("apikey add: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/scms", nil)
	req.Header.Set("Authorization", "Bearer "+lines[len(lines)-1])
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the key apikey add made, on the running server: %v %v", res, err)
	}
	if out, err := command("", "apikey", "list"); err != nil || !strings.Contains(out, "ci ") {
		t.Errorf("apikey list: %v\n%s", err, out)
	}
	if _, err := command("", "apikey", "revoke", "ci"); err != nil {
		t.Errorf("apikey revoke: %v", err)
	}
	if _, err := command("alice's password 2\n", "user", "passwd", "alice"); err != nil {
		t.Errorf("user passwd: %v", err)
	}
	if code := signIn(t, base, "alice", "alice's password 2"); code != http.StatusSeeOther {
		t.Errorf("sign-in with the password user passwd set: %d", code)
	}
	if out, err := command("", "keys", "rotate"); err != nil || !strings.Contains(out, "with key 2") {
		t.Fatalf("keys rotate while a server serves on PostgreSQL: %v\n%s", err, out)
	}
	st := openStore(t, dsn, keyFile)
	if n, err := st.SecretsNotUnder(ctx, 2); err != nil || n != 0 {
		t.Errorf("%d secrets not under key 2 after rotation (%v)", n, err)
	}
	if err := st.CheckKeys(ctx); err != nil {
		t.Errorf("after rotation: %v", err)
	}
	if _, err := command("", "backup", filepath.Join(dir, "out.db")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup on PostgreSQL: %v", err)
	}

	// Another machine without the key file: no command makes a key file for a database that
	// holds secrets.
	vars["SCMADMIN_KEY_FILE"] = filepath.Join(dir, "elsewhere.key")
	if _, err := command("bob's password 1\n", "user", "add", "bob"); err == nil || !strings.Contains(err.Error(), "holds secrets") {
		t.Errorf("user add without the key file on a database with secrets: %v", err)
	}
	if _, err := os.Stat(vars["SCMADMIN_KEY_FILE"]); err == nil {
		t.Error("user add left a key file that opens none of the database's secrets")
	}
}

// scmadmin copy moves an installation to PostgreSQL and back; a server starts on each copy
// and its accounts sign in; a destination that is not empty is refused.
func TestCopyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	from, keyFile := filepath.Join(dir, "from.db"), filepath.Join(dir, "scmadmin.key")
	vars := map[string]string{"SCMADMIN_DB": from}
	if err := run(ctx, []string{"user", "add", "alice", "--admin"}, env(vars), strings.NewReader("alice's password 1\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	seedSecret(t, from, keyFile, "COPY")
	pg := pgtest.NewDatabase(t)
	var out bytes.Buffer
	if err := run(ctx, []string{"copy", "--from", from, "--to", pg}, env(nil), strings.NewReader(""), &out); err != nil {
		t.Fatalf("copy to PostgreSQL: %v", err)
	}
	if !strings.Contains(out.String(), "scm_configs 2") || !strings.Contains(out.String(), keyFile) {
		t.Errorf("copy printed %q; want the counts and the key file", out.String())
	}
	err := run(ctx, []string{"copy", "--from", from, "--to", pg}, env(nil), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("a second copy into the same database: %v", err)
	}
	missing := filepath.Join(dir, "missing.db")
	err = run(ctx, []string{"copy", "--from", missing, "--to", filepath.Join(dir, "to.db")}, env(nil), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no database at "+missing+": give its path with --from") {
		t.Errorf("a copy from a file that does not exist: %v, want the source named and --from", err)
	}
	back := filepath.Join(dir, "back.db")
	if err := run(ctx, []string{"copy", "--from", pg, "--to", back, "--key-file", keyFile}, env(nil), strings.NewReader(""), io.Discard); err != nil {
		t.Fatalf("copy back to SQLite: %v", err)
	}
	for _, db := range []string{pg, back} {
		base, _ := startServer(t, map[string]string{"SCMADMIN_DB": db, "SCMADMIN_KEY_FILE": keyFile})
		if code := signIn(t, base, "alice", "alice's password 1"); code != http.StatusSeeOther {
			t.Errorf("sign-in on the copy: %d", code)
		}
		st := openStore(t, db, keyFile)
		if cfg, err := st.SCMConfigByUniqueKey(ctx, "rotate-COPY"); err != nil {
			t.Errorf("the copied configuration: %v", err)
		} else if secrets, err := st.OpenSecrets(ctx, cfg.ID); err != nil || secrets["access_token"] != "secret-COPY" {
			t.Errorf("its secret on the copy: %v %v", secrets, err)
		}
	}
}
